//! Opening an [`Input`] (a file, a URL FFmpeg opens itself, or standard input) as often as needed.
//!
//! Sampling needs the frame count before any frame is chosen, and decord counts frames by
//! reading every packet, so each video is read twice: once to index it, once to decode.
//! Files and URLs are simply opened again; standard input can only be read once, so its bytes
//! are kept in memory (as mmaction2's `DecordInit` does with every file) and served from there.
//!
//! Files are opened through FFmpeg's `file:` protocol with their name's bytes as they are, so
//! that any name opens (ffmpeg-next's own `input` panics on one that is not UTF-8, and FFmpeg
//! would read a name like `concat:a.mp4` as a protocol). URLs get a read timeout, so that a
//! server that accepts the connection and then sends nothing fails that input, not the batch.

use std::ffi::CString;
use std::io::{Cursor, Read};
use std::path::Path;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

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
    url_timeout: Duration,
}

impl Reopenable {
    /// Prepares `source`; for stdin this reads all of it now. A URL whose server sends nothing
    /// for `url_timeout` fails.
    pub(crate) fn new(source: Input, url_timeout: Duration) -> Result<Reopenable> {
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
        Ok(Reopenable { source, stdin, url_timeout })
    }

    pub(crate) fn source(&self) -> &Input {
        &self.source
    }

    /// How a pass over this input treats failed reads: `Some` for a URL.
    pub(crate) fn url_reads(&self) -> Option<UrlReads> {
        matches!(self.source, Input::Url(_)).then_some(UrlReads { timeout: self.url_timeout })
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
                open_file(path)
            }
            (Input::Url(url), _) => {
                let mut options = ffmpeg::Dictionary::new();
                // FFmpeg's generic read/write timeout of every protocol, in microseconds.
                options.set("rw_timeout", &self.url_timeout.as_micros().to_string());
                ffmpeg::format::input_with_dictionary(url.as_str(), options)
            }
            (Input::Stdin, Some(bytes)) => {
                let io = ffmpeg::format::context::StreamIo::from_read_seek(Cursor::new(bytes.clone()))
                    .map_err(|e| Error::video(&name, e))?;
                ffmpeg::format::input_from_stream(io, None, None)
            }
            (Input::Stdin, None) => unreachable!("stdin bytes are read when the source is prepared"),
        };
        opened.map_err(|e| Error::video(&name, self.describe_open_error(e)))
    }

    fn describe_open_error(&self, e: ffmpeg::Error) -> String {
        match e {
            ffmpeg::Error::InvalidData => {
                "not a video FFmpeg can read (invalid data found when processing input)".into()
            }
            e if stalled(&e) && self.url_reads().is_some() => {
                format!("cannot open: {}", silent_for(self.url_timeout))
            }
            other => format!("cannot open: {other}"),
        }
    }
}

/// Whether a read failed because nothing arrived within the `rw_timeout` (a URL's server went
/// silent).
fn stalled(e: &ffmpeg::Error) -> bool {
    matches!(e, ffmpeg::Error::Other { errno: libc::ETIMEDOUT })
}

/// Why a [`stalled`] read failed.
fn silent_for(url_timeout: Duration) -> String {
    format!("the server sent nothing for {} s (--url-timeout)", url_timeout.as_secs_f64())
}

/// How the passes over a URL treat a read that fails. A local file whose read fails is taken as
/// truncated there and read as far as it goes; a download that breaks off (FFmpeg reports a
/// timeout, or an I/O error for a connection closed before the announced length) must fail the
/// input, or the part that arrived would be sampled as if it were the whole video.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UrlReads {
    timeout: Duration,
}

impl UrlReads {
    /// Why the failed read `e` fails the input.
    pub(crate) fn read_failed(self, e: &ffmpeg::Error) -> String {
        if stalled(e) { silent_for(self.timeout) } else { format!("the download broke off: {e}") }
    }
}

/// Opens the file at `path` as `ffmpeg::format::input` does, but with the name's bytes as they
/// are, behind `file:`.
fn open_file(path: &Path) -> std::result::Result<ffmpeg::format::context::Input, ffmpeg::Error> {
    let mut url = b"file:".to_vec();
    url.extend_from_slice(path.as_os_str().as_encoded_bytes());
    // A path from the OS holds no NUL byte.
    let url = CString::new(url).map_err(|_| ffmpeg::Error::InvalidData)?;
    // SAFETY: `url` is a NUL-terminated string that outlives the call; `context` starts null, so
    // FFmpeg allocates it, frees it itself when opening fails, and is closed here when reading
    // the stream info fails; once wrapped, `Input` owns it and closes it on drop.
    unsafe {
        let mut context = ptr::null_mut();
        match ffmpeg::ffi::avformat_open_input(&mut context, url.as_ptr(), ptr::null_mut(), ptr::null_mut()) {
            0 => match ffmpeg::ffi::avformat_find_stream_info(context, ptr::null_mut()) {
                found if found >= 0 => Ok(ffmpeg::format::context::Input::wrap(context)),
                e => {
                    ffmpeg::ffi::avformat_close_input(&mut context);
                    Err(ffmpeg::Error::from(e))
                }
            },
            e => Err(ffmpeg::Error::from(e)),
        }
    }
}
