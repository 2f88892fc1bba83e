//! vidclass as a library, in a process that makes none of the binary's set-up calls
//! (`video::init`, `memory::reuse_freed_memory`): what it does must not depend on them.

mod common;

use common::{Spec, make_video};
use vidclass::inputs::Input;
use vidclass::video::{DecodeOptions, Video};

#[test]
fn a_playlist_that_lost_a_segment_fails_without_video_init() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "v.mp4", &Spec::h264(64, 48, 150));
    let files = common::hls_files(&video, &dir.path().join("hls"), "1", "+independent_segments");
    let whole = files.len();
    let kept: Vec<_> = files.into_iter().filter(|(name, _)| name != "index2.ts").collect();
    assert_eq!(kept.len(), whole - 1, "a segment to lose");
    let (base, _server) = common::http::serve_files(kept, 10 * whole, true);
    // FFmpeg skips the missing segment with only a line in its log, which vidclass watches.
    let error = match Video::open(Input::Url(format!("{base}index.m3u8")), DecodeOptions::default()) {
        Ok(video) => panic!("opened as {} frames, one segment short", video.info().frame_count),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("a segment of its playlist failed to download"), "{error}");
}

#[test]
fn loaded_models_can_be_shared_between_threads() {
    // As the crate's docs promise: one model serving many threads needs no lock of the caller's.
    fn shareable<T: Send + Sync>() {}
    shareable::<vidclass::Classifier>();
    shareable::<vidclass::Recognizer>();
    shareable::<vidclass::ModelCard>();
}
