//! Opening an [`Input`] (a file, a URL FFmpeg opens itself, or standard input) as often as needed.
//!
//! Sampling needs the frame count before any frame is chosen, and decord counts frames by
//! reading every packet, so each video is read twice: once to index it, once to decode.
//! Files and URLs are simply opened again; standard input can only be read once, so its bytes
//! are kept in memory (as mmaction2's `DecordInit` does with every file) and served from there.

use std::io::{Cursor, Read};
use std::sync::Arc;

use ffmpeg_next as ffmpeg;

use crate::error::{Error, Result};
use crate::inputs::Input;

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
    source: Input,
    stdin: Option<SharedBytes>,
}

impl Reopenable {
    /// Prepares `source`; for stdin this reads all of it now.
    pub(crate) fn new(source: Input) -> Result<Reopenable> {
        let stdin = match source {
            Input::Stdin => {
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

    pub(crate) fn source(&self) -> &Input {
        &self.source
    }

    /// Opens a fresh demuxer on the input.
    pub(crate) fn open(&self) -> Result<ffmpeg::format::context::Input> {
        let name = self.source.name();
        let opened = match (&self.source, &self.stdin) {
            (Input::File(path), _) => {
                match std::fs::metadata(path) {
                    Err(_) => return Err(Error::video(&name, "no such file")),
                    Ok(meta) if meta.is_dir() => {
                        return Err(Error::video(&name, "is a directory, not a video"));
                    }
                    Ok(_) => {}
                }
                ffmpeg::format::input(path)
            }
            (Input::Url(url), _) => ffmpeg::format::input(url.as_str()),
            (Input::Stdin, Some(bytes)) => {
                let io = ffmpeg::format::context::StreamIo::from_read_seek(Cursor::new(bytes.clone()))
                    .map_err(|e| Error::video(&name, e))?;
                ffmpeg::format::input_from_stream(io, None, None)
            }
            (Input::Stdin, None) => unreachable!("stdin bytes are read when the source is prepared"),
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
