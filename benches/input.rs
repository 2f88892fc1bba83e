//! Benchmark: how long building a model's input takes, next to the model's own time.
//!
//! Generates a 10 s 1080p H.264 video (the `ffmpeg` tool's `testsrc2` pattern) and times
//! SlowFast's full test protocol (10 clips × 32 frames, interval 2, short side 256, three
//! 256-pixel crops) and its single-view val protocol, stage by stage. Run with
//! `cargo bench --bench input`; it prints figures and asserts nothing.

use std::time::Instant;

use candle_core::Device;
use vidclass::inputs::Input;
use vidclass::prepare::{ViewProtocol, prepare};
use vidclass::sample::SampleFrames;
use vidclass::transform::{Crop, CropKind, Layout, Normalize};
use vidclass::video::{DecodeOptions, FfmpegLog, Video};

fn main() {
    vidclass::memory::reuse_freed_memory();
    vidclass::video::init(FfmpegLog::Quiet);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1080p.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1920x1080:rate=30:duration=10",
        ])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast"])
        .arg(&path)
        .status()
        .expect("the ffmpeg command-line tool makes the benchmark video");
    assert!(status.success());

    let sample = SampleFrames { clip_len: 32, frame_interval: 2, num_clips: 10 };
    let protocols = [
        (
            "full: 10 clips x 3 crops",
            ViewProtocol { sample, resize_short_side: 256, crop: Crop { kind: CropKind::Three, size: 256 } },
        ),
        (
            "fast: 1 clip x centre crop",
            ViewProtocol {
                sample: SampleFrames { num_clips: 1, ..sample },
                resize_short_side: 256,
                crop: Crop { kind: CropKind::Center, size: 224 },
            },
        ),
    ];
    println!("input: 10 s, 1920x1080, 30 fps H.264 ({} threads)", rayon::current_num_threads());
    for (name, protocol) in protocols {
        for threads in [1, 0] {
            let start = Instant::now();
            let video =
                Video::open(Input::File(path.clone()), DecodeOptions { threads, ..Default::default() })
                    .unwrap();
            let opened = start.elapsed();
            let prepared = prepare(&video, &protocol).unwrap();
            let decoded = start.elapsed();
            let tensor = prepared
                .views
                .tensor(0..prepared.views.len(), &Normalize::IMAGENET, Layout::Ncthw, &Device::Cpu)
                .unwrap();
            let total = start.elapsed();
            println!(
                "{name:28} decoder threads {:>4}: index {:>6.1} ms, decode+resize+crop {:>7.1} ms, normalise {:>6.1} ms, total {:>7.1} ms  {:?}",
                if threads == 0 { "auto".to_string() } else { threads.to_string() },
                opened.as_secs_f64() * 1e3,
                (decoded - opened).as_secs_f64() * 1e3,
                (total - decoded).as_secs_f64() * 1e3,
                total.as_secs_f64() * 1e3,
                tensor.dims()
            );
        }
    }
}
