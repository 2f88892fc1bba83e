//! Opening an [`Input`] (a file, a URL FFmpeg opens itself, or standard input) as often as needed.
//!
//! Sampling needs the frame count before any frame is chosen, and decord counts frames by
//! reading every packet, so each video is read twice: once to index it, once to decode.
//! Files are simply opened again. Standard input and named pipes (a FIFO, `/dev/stdin`, a
//! shell's `<(…)`) can be read only once, so their bytes are kept: in memory up to [`IN_MEMORY`]
//! bytes (as mmaction2's `DecordInit` does with every file), beyond that in an unnamed temporary
//! file (in `$TMPDIR`), so that a long stream does not stay in memory. Opening a pipe a second
//! time would wait forever for a writer that is gone. A URL FFmpeg reads as a stream of bytes
//! (`http`, `https`, `ftp`, …) is downloaded once and kept the same way: the index pass reads
//! every packet, so it would download the whole video, and the decode pass much of it again.
//! Other URLs (`rtsp`, whose demuxer speaks the protocol itself) are opened again for each pass.
//!
//! Files are opened through FFmpeg's `file:` protocol with their name's bytes as they are, so
//! that any name opens (ffmpeg-next's own `input` panics on one that is not UTF-8, and FFmpeg
//! would read a name like `concat:a.mp4` as a protocol). URLs get a read timeout, so that a
//! server that accepts the connection and then sends nothing fails that input, not the batch; a
//! download that breaks off fails it too, since the part that arrived would otherwise be sampled
//! as if it were the whole video.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use ffmpeg_next as ffmpeg;

use crate::error::{Error, Result};
use crate::inputs::Input;

/// The most bytes of a once-readable input kept in memory; longer ones go to a temporary file.
const IN_MEMORY: usize = 256 << 20;

/// The bytes of a once-readable input, shared between the indexing and the decoding pass.
#[derive(Clone)]
enum Kept {
    Memory(Arc<Vec<u8>>),
    File(Arc<File>),
}

impl Kept {
    /// Reads all of `reader`, into a temporary file if it holds more than `in_memory` bytes.
    fn read(mut reader: impl Read, in_memory: usize) -> io::Result<Kept> {
        let mut bytes = Vec::new();
        reader.by_ref().take(in_memory as u64 + 1).read_to_end(&mut bytes)?;
        if bytes.len() <= in_memory {
            return Ok(Kept::Memory(Arc::new(bytes)));
        }
        let in_temporary_file = |e: io::Error| io::Error::new(e.kind(), format!("temporary file: {e}"));
        let mut file = tempfile::tempfile().map_err(in_temporary_file)?;
        file.write_all(&bytes).map_err(in_temporary_file)?;
        drop(bytes);
        io::copy(&mut reader, &mut file)?;
        Ok(Kept::File(Arc::new(file)))
    }

    fn is_empty(&self) -> bool {
        match self {
            Kept::Memory(bytes) => bytes.is_empty(),
            Kept::File(_) => false,
        }
    }

    /// A demuxer over the bytes, with a read position of its own.
    fn open(&self) -> std::result::Result<ffmpeg::format::context::Input, ffmpeg::Error> {
        let io = match self {
            Kept::Memory(bytes) => {
                ffmpeg::format::context::StreamIo::from_read_seek(Cursor::new(SharedBytes(bytes.clone())))
            }
            Kept::File(file) => ffmpeg::format::context::StreamIo::from_read_seek(FileCursor {
                file: file.clone(),
                position: 0,
            }),
        }?;
        ffmpeg::format::input_from_stream(io, None, None)
    }
}

/// Bytes in memory, shared between passes.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A read position in a shared file: each pass reads at its own (`pread`), where handles from
/// `try_clone` would share one.
struct FileCursor {
    file: Arc<File>,
    position: u64,
}

impl Read for FileCursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.position)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.position)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for FileCursor {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let base = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.file.metadata()?.len().checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position =
            base.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.position)
    }
}

/// A source that can be opened as many times as needed.
pub(crate) struct Reopenable {
    source: Input,
    /// The bytes of standard input or of a pipe.
    kept: Option<Kept>,
    url_timeout: Duration,
}

impl Reopenable {
    /// Prepares `source`; standard input, pipes and URLs of byte streams are read in full now. A
    /// URL whose server sends nothing for `url_timeout` fails.
    pub(crate) fn new(source: Input, url_timeout: Duration) -> Result<Reopenable> {
        let name = source.name();
        let keep = |reader: &mut dyn Read| {
            let kept = Kept::read(reader, IN_MEMORY)
                .map_err(|e| Error::video(&name, format!("cannot read: {e}")))?;
            if kept.is_empty() {
                let what = if matches!(source, Input::Stdin) { "standard input" } else { "the pipe" };
                return Err(Error::video(&name, format!("{what} is empty")));
            }
            Ok(Some(kept))
        };
        let kept = match &source {
            Input::Stdin => keep(&mut std::io::stdin().lock())?,
            Input::File(path) if is_pipe(path) => {
                keep(&mut File::open(path).map_err(|e| Error::video(&name, format!("cannot open: {e}")))?)?
            }
            Input::Url(url) => download(url, url_timeout).map_err(|e| Error::video(&name, e))?,
            Input::File(_) => None,
        };
        Ok(Reopenable { source, kept, url_timeout })
    }

    pub(crate) fn source(&self) -> &Input {
        &self.source
    }

    /// How a pass over this input treats failed reads: `Some` for a URL each pass reads anew.
    pub(crate) fn url_reads(&self) -> Option<UrlReads> {
        let read_anew = matches!(self.source, Input::Url(_)) && self.kept.is_none();
        read_anew.then_some(UrlReads { timeout: self.url_timeout })
    }

    /// Opens a fresh demuxer on the input.
    pub(crate) fn open(&self) -> Result<ffmpeg::format::context::Input> {
        let name = self.source.name();
        let opened = match (&self.source, &self.kept) {
            (_, Some(kept)) => kept.open(),
            (Input::File(path), None) => {
                match std::fs::metadata(path) {
                    Err(_) => return Err(Error::video(&name, "no such file")),
                    Ok(meta) if meta.is_dir() => {
                        return Err(Error::video(&name, "is a directory, not a video"));
                    }
                    Ok(_) => {}
                }
                open_file(path)
            }
            (Input::Url(url), None) => {
                let mut options = ffmpeg::Dictionary::new();
                // FFmpeg's generic read/write timeout of every protocol, in microseconds.
                options.set("rw_timeout", &self.url_timeout.as_micros().to_string());
                ffmpeg::format::input_with_dictionary(url.as_str(), options)
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
            e if stalled(&e) && matches!(self.source, Input::Url(_)) => {
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

/// The bytes at `url`, kept, or `None` for a URL FFmpeg does not read as a stream of bytes (its
/// demuxer opens it, each pass anew). Fails with the cause when the server cannot be reached,
/// goes silent for `timeout`, or hangs up before the length it announced (FFmpeg's `http`
/// reports that as an I/O error).
fn download(url: &str, timeout: Duration) -> std::result::Result<Option<Kept>, String> {
    let mut bytes = match UrlBytes::open(url, timeout) {
        Ok(bytes) => bytes,
        Err(ffmpeg::Error::ProtocolNotFound) => return Ok(None),
        Err(e) if stalled(&e) => return Err(format!("cannot open: {}", silent_for(timeout))),
        Err(e) => return Err(format!("cannot open: {e}")),
    };
    match (Kept::read(&mut bytes, IN_MEMORY), bytes.failure) {
        (Err(_), Some(failure)) => Err(UrlReads { timeout }.read_failed(&failure)),
        (Err(e), None) => Err(format!("cannot keep the download: {e}")),
        (Ok(kept), _) if kept.is_empty() => Err("the server sent an empty file".into()),
        (Ok(kept), _) => Ok(Some(kept)),
    }
}

/// A URL read as a stream of bytes through FFmpeg's protocols (`avio`), with FFmpeg's timeout
/// on every read.
struct UrlBytes {
    context: *mut ffmpeg::ffi::AVIOContext,
    /// Why the last read failed, for the message (the `io::Error` handed on loses the code).
    failure: Option<ffmpeg::Error>,
}

impl UrlBytes {
    fn open(url: &str, timeout: Duration) -> std::result::Result<UrlBytes, ffmpeg::Error> {
        let url = CString::new(url).map_err(|_| ffmpeg::Error::InvalidData)?;
        let mut options = ffmpeg::Dictionary::new();
        options.set("rw_timeout", &timeout.as_micros().to_string());
        let mut context = ptr::null_mut();
        // SAFETY: `url` is NUL-terminated and outlives the call; the dictionary, handed over for
        // FFmpeg to change, is taken back (and freed) right after; `context` is set only on
        // success.
        let opened = unsafe {
            let mut options = options.disown();
            let opened = ffmpeg::ffi::avio_open2(
                &mut context,
                url.as_ptr(),
                ffmpeg::ffi::AVIO_FLAG_READ,
                ptr::null(),
                &mut options,
            );
            drop(ffmpeg::Dictionary::own(options));
            opened
        };
        match opened {
            0.. => Ok(UrlBytes { context, failure: None }),
            e => Err(ffmpeg::Error::from(e)),
        }
    }
}

impl Read for UrlBytes {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(i32::MAX as usize) as i32;
        // SAFETY: `context` is open and `buf` holds at least `len` bytes.
        match unsafe { ffmpeg::ffi::avio_read(self.context, buf.as_mut_ptr(), len) } {
            n @ 0.. => Ok(n as usize),
            e => match ffmpeg::Error::from(e) {
                ffmpeg::Error::Eof => Ok(0),
                e => {
                    self.failure = Some(e);
                    Err(io::Error::other(e))
                }
            },
        }
    }
}

impl Drop for UrlBytes {
    fn drop(&mut self) {
        // SAFETY: `context` was opened by `avio_open2` and is closed only here.
        unsafe { ffmpeg::ffi::avio_closep(&mut self.context) };
    }
}

/// Whether `path` is a pipe or a socket (also through a link such as `/dev/stdin`).
#[cfg(unix)]
fn is_pipe(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.file_type().is_fifo() || meta.file_type().is_socket())
}

#[cfg(not(unix))]
fn is_pipe(_: &Path) -> bool {
    false
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `len` bytes at `at` through `cursor`.
    fn read_at(cursor: &mut (impl Read + Seek), at: SeekFrom, len: usize) -> Vec<u8> {
        cursor.seek(at).unwrap();
        let mut buf = vec![0; len];
        cursor.read_exact(&mut buf).unwrap();
        buf
    }

    #[test]
    fn a_long_stream_is_kept_in_a_file_that_each_pass_reads_on_its_own() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let kept = Kept::read(Cursor::new(data.clone()), 1000).unwrap();
        let Kept::File(file) = kept else { panic!("10 000 bytes over a limit of 1000 stay in memory") };
        let mut first = FileCursor { file: file.clone(), position: 0 };
        let mut second = FileCursor { file, position: 0 };
        assert_eq!(read_at(&mut first, SeekFrom::Start(9000), 500), data[9000..9500]);
        assert_eq!(read_at(&mut second, SeekFrom::Current(0), 300), data[..300], "its own position");
        assert_eq!(read_at(&mut first, SeekFrom::Current(-100), 100), data[9400..9500]);
        assert_eq!(read_at(&mut second, SeekFrom::End(-10), 10), data[9990..]);
        assert!(first.seek(SeekFrom::Current(-20_000)).is_err());
        let mut all = Vec::new();
        second.seek(SeekFrom::Start(0)).unwrap();
        second.read_to_end(&mut all).unwrap();
        assert!(all == data);
    }

    #[test]
    fn a_short_stream_stays_in_memory() {
        let kept = Kept::read(Cursor::new(vec![1u8; 1000]), 1000).unwrap();
        assert!(matches!(kept, Kept::Memory(bytes) if *bytes == vec![1u8; 1000]));
        assert!(Kept::read(io::empty(), 1000).unwrap().is_empty());
    }
}
