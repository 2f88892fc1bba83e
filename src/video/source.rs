//! Where video bytes come from: a file, a URL FFmpeg opens itself, or standard input.
//!
//! Sampling needs the frame count before any frame is chosen, and decord counts frames by
//! reading every packet, so each video is read twice: once to index it, once to decode.
//! Files and URLs are simply opened again; standard input can only be read once, so its bytes
//! are kept in memory (as mmaction2's `DecordInit` does with every file) and served from there.

use std::io::{Cursor, Read};
use std::path::PathBuf;
use std::sync::Arc;

use ffmpeg_next as ffmpeg;

use crate::error::{Error, Result};

/// A video input as the user named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VideoSource {
    /// A local file.
    Path(PathBuf),
    /// Anything with a URL scheme (`http://`, `rtsp://`, `file:` …), handed to FFmpeg untouched.
    Url(String),
    /// `-`: the video's bytes arrive on standard input.
    Stdin,
}

impl VideoSource {
    /// Interprets a command-line argument: `-` is stdin, `scheme://…` a URL, anything else a path.
    pub fn from_arg(arg: &str) -> VideoSource {
        if arg == "-" {
            VideoSource::Stdin
        } else if is_url(arg) {
            VideoSource::Url(arg.to_string())
        } else {
            VideoSource::Path(PathBuf::from(arg))
        }
    }

    /// How the input is named in messages and results.
    pub fn name(&self) -> String {
        match self {
            VideoSource::Path(p) => p.display().to_string(),
            VideoSource::Url(u) => u.clone(),
            VideoSource::Stdin => "-".to_string(),
        }
    }
}

/// `scheme:` followed by `//`, or FFmpeg's `file:`/`pipe:` protocols.
fn is_url(arg: &str) -> bool {
    match arg.split_once(':') {
        Some((scheme, rest)) => {
            let valid_scheme = scheme.len() > 1
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic());
            valid_scheme && (rest.starts_with("//") || scheme == "file" || scheme == "pipe")
        }
        None => false,
    }
}

/// Bytes shared between the indexing and the decoding pass.
#[derive(Clone)]
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A source that can be opened as many times as needed.
pub(crate) struct Reopenable {
    source: VideoSource,
    stdin: Option<SharedBytes>,
}

impl Reopenable {
    /// Prepares `source`; for stdin this reads all of it now.
    pub(crate) fn new(source: VideoSource) -> Result<Reopenable> {
        let stdin = match source {
            VideoSource::Stdin => {
                let mut bytes = Vec::new();
                std::io::stdin().lock().read_to_end(&mut bytes).map_err(|e| Error::video("-", e))?;
                if bytes.is_empty() {
                    return Err(Error::video("-", "standard input is empty"));
                }
                Some(SharedBytes(Arc::new(bytes)))
            }
            _ => None,
        };
        Ok(Reopenable { source, stdin })
    }

    pub(crate) fn source(&self) -> &VideoSource {
        &self.source
    }

    /// Opens a fresh demuxer on the input.
    pub(crate) fn open(&self) -> Result<ffmpeg::format::context::Input> {
        let name = self.source.name();
        let opened = match (&self.source, &self.stdin) {
            (VideoSource::Path(path), _) => {
                if !path.exists() {
                    return Err(Error::video(&name, "no such file"));
                }
                if path.is_dir() {
                    return Err(Error::video(&name, "is a directory, not a video"));
                }
                ffmpeg::format::input(path)
            }
            (VideoSource::Url(url), _) => ffmpeg::format::input(url.as_str()),
            (VideoSource::Stdin, Some(bytes)) => {
                let io = ffmpeg::format::context::StreamIo::from_read_seek(Cursor::new(bytes.clone()))
                    .map_err(|e| Error::video(&name, e))?;
                ffmpeg::format::input_from_stream(io, None, None)
            }
            (VideoSource::Stdin, None) => unreachable!("stdin bytes are read when the source is prepared"),
        };
        opened.map_err(|e| Error::video(&name, describe_open_error(e)))
    }
}

fn describe_open_error(e: ffmpeg::Error) -> String {
    match e {
        ffmpeg::Error::InvalidData => {
            "not a video FFmpeg can read (invalid data found when processing input)".into()
        }
        other => format!("cannot open: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_map_to_sources() {
        assert_eq!(VideoSource::from_arg("-"), VideoSource::Stdin);
        assert_eq!(VideoSource::from_arg("clip.mp4"), VideoSource::Path("clip.mp4".into()));
        assert_eq!(VideoSource::from_arg("C:video.mp4"), VideoSource::Path("C:video.mp4".into()));
        assert_eq!(VideoSource::from_arg("dir/a:b.mp4"), VideoSource::Path("dir/a:b.mp4".into()));
        assert_eq!(VideoSource::from_arg("https://x/y.mp4"), VideoSource::Url("https://x/y.mp4".into()));
        assert_eq!(VideoSource::from_arg("rtsp://cam/1"), VideoSource::Url("rtsp://cam/1".into()));
        assert_eq!(VideoSource::from_arg("file:clip.mp4"), VideoSource::Url("file:clip.mp4".into()));
    }
}
