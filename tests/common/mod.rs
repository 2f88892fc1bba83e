//! Test videos whose frames say which frame they are.
//!
//! Frame `i` is painted flat with red = 16·(i mod 16) + 8 and green = 16·(i / 16) + 8, so the
//! index survives lossy codecs (±7 per channel) and reads back from the mean colour; a white
//! square marks the top-left corner so rotations can be checked. Videos are encoded with the
//! `ffmpeg` command-line tool from raw frames written to its stdin.

#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use vidclass::frame::RgbFrame;

/// How to encode a generated video.
pub struct Spec<'a> {
    pub width: usize,
    pub height: usize,
    pub frames: usize,
    pub fps: u32,
    /// Extra ffmpeg output arguments (codec, container options, filters).
    pub args: &'a [&'a str],
}

impl Spec<'_> {
    pub fn h264(width: usize, height: usize, frames: usize) -> Spec<'static> {
        Spec { width, height, frames, fps: 25, args: &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "12"] }
    }
}

/// Size of the corner marker.
fn marker(width: usize, height: usize) -> usize {
    (width.min(height) / 4).max(2)
}

/// The colour that encodes frame `i`.
pub fn colour_of(i: usize) -> [u8; 3] {
    [(16 * (i % 16) + 8) as u8, (16 * (i / 16) + 8) as u8, 128]
}

/// Frame `i` of a generated video, before encoding.
pub fn painted_frame(width: usize, height: usize, i: usize) -> RgbFrame {
    let m = marker(width, height);
    let mut data = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            data.extend_from_slice(&if x < m && y < m { [255, 255, 255] } else { colour_of(i) });
        }
    }
    RgbFrame::new(width, height, data)
}

/// Reads the frame index back from a decoded frame, ignoring the corner marker.
pub fn index_of(frame: &RgbFrame) -> usize {
    let (mut r, mut g, mut n) = (0u64, 0u64, 0u64);
    // Sample the middle band, far from every corner the marker could have been rotated to.
    for y in frame.height / 3..frame.height * 2 / 3 {
        for x in frame.width / 3..frame.width * 2 / 3 {
            let p = frame.pixel(x, y);
            r += p[0] as u64;
            g += p[1] as u64;
            n += 1;
        }
    }
    let (r, g) = (r / n, g / n);
    (g as usize / 16) * 16 + r as usize / 16
}

/// Which corner of `frame` holds the white marker: (right?, bottom?).
pub fn marker_corner(frame: &RgbFrame) -> (bool, bool) {
    let bright = |x: usize, y: usize| frame.pixel(x, y).iter().all(|&v| v > 200);
    let (w, h) = (frame.width - 1, frame.height - 1);
    let corners = [(false, false, 0, 0), (true, false, w, 0), (false, true, 0, h), (true, true, w, h)];
    let found: Vec<_> = corners.iter().filter(|c| bright(c.2, c.3)).map(|c| (c.0, c.1)).collect();
    assert_eq!(found.len(), 1, "expected exactly one marked corner, found {found:?}");
    found[0]
}

/// Encodes a video at `dir/name` (the extension picks the container).
pub fn make_video(dir: &Path, name: &str, spec: &Spec) -> PathBuf {
    make_video_of(dir, name, spec, &|i| painted_frame(spec.width, spec.height, i))
}

/// Encodes a video at `dir/name` whose frame `i` is `paint(i)`.
pub fn make_video_of(dir: &Path, name: &str, spec: &Spec, paint: &dyn Fn(usize) -> RgbFrame) -> PathBuf {
    let path = dir.join(name);
    let size = format!("{}x{}", spec.width, spec.height);
    let rate = spec.fps.to_string();
    let mut child = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            &size,
        ])
        .args(["-r", &rate])
        .args(["-i", "-"])
        .args(spec.args)
        .arg(&path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("the ffmpeg command-line tool is needed to make test videos");
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..spec.frames {
        stdin.write_all(&paint(i).data).unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success(), "ffmpeg failed to make {name}");
    path
}

/// Runs an ffmpeg command line (for remuxing or making odd files).
/// A 50-frame video at `dir/name` whose middle 400 bytes of frame data are garbled (an MP4's
/// index, at the end, stays intact).
pub fn garbled_in_the_middle(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = make_video(dir, name, &Spec { width: 64, height: 48, frames: 50, fps: 25, args });
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 400] {
        *b = 0xff;
    }
    std::fs::write(&path, &bytes).unwrap();
    path
}

pub fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg {args:?} failed");
}

/// Cuts `video` into an HLS playlist `dir/index.m3u8` of segments of about `seconds` (with
/// `-hls_flags flags`), and returns its files (name, bytes).
pub fn hls_files(video: &Path, dir: &Path, seconds: &str, flags: &str) -> Vec<(String, Vec<u8>)> {
    std::fs::create_dir(dir).unwrap();
    let segmented = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(video)
        .args(["-c", "copy", "-f", "hls", "-hls_time", seconds, "-hls_list_size", "0", "-hls_flags", flags])
        .arg(dir.join("index.m3u8"))
        .status()
        .unwrap();
    assert!(segmented.success());
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.file_name().unwrap().to_str().unwrap().to_owned(), std::fs::read(&path).unwrap())
        })
        .collect()
}

pub mod cli;
pub mod device;
pub mod http;
pub mod https;
