//! Tells the code which FFmpeg API it builds against, from what `ffmpeg-sys-next` found (it
//! reports each version's mark to the crates that depend on it directly, as `DEP_FFMPEG_*`).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ffmpeg_io_close2)");
    println!("cargo::rerun-if-env-changed=DEP_FFMPEG_FFMPEG_5_0");
    // A format context's `io_close2` came with FFmpeg 5.0; FFmpeg 7 removed the `io_close` before it.
    if std::env::var("DEP_FFMPEG_FFMPEG_5_0").as_deref() == Ok("true") {
        println!("cargo::rustc-cfg=ffmpeg_io_close2");
    }
}
