//! Opening an [`Input`] (a file, a URL, or standard input) as often as needed.
//!
//! Sampling needs the frame count before any frame is chosen, and decord counts frames by
//! reading every packet, so each video is read twice: once to index it, once to decode.
//! Files are simply opened again. Standard input and named pipes (a FIFO, `/dev/stdin`, a shell's
//! `<(…)`) can be read only once, so their bytes are kept: in memory up to [`IN_MEMORY`] bytes (as
//! mmaction2's `DecordInit` does with every file), beyond that in an unnamed temporary file (in
//! `$TMPDIR`), so that a long stream does not stay in memory, until its disk is down to its last
//! tenth or GiB: a pipe that never ends must fail before it fills the disk. Opening a pipe a second
//! time would wait forever for a writer that is gone. An `http` or `https` URL is downloaded once
//! ([`crate::http`]) and kept the same way, up to [`MAX_KEPT_URL`] bytes: the index pass reads
//! every packet, so it would download the whole video, and the decode pass much of it again. Other
//! URLs (`rtsp`, whose demuxer speaks the protocol itself; `file:`, which needs no copy), a plain
//! `http` URL behind a proxy, playlists and manifests (HLS, DASH: their demuxers fetch further
//! URLs), and longer or endless downloads, or ones `$TMPDIR` has no room for, are opened again by
//! each pass.
//!
//! Files are opened through FFmpeg's `file:` protocol with their name's bytes as they are, so
//! that any name opens (ffmpeg-next's own `input` panics on one that is not UTF-8, and FFmpeg
//! would read a name like `concat:a.mp4` as a protocol). URLs get a read timeout, so that a
//! server that accepts the connection and then sends nothing fails that input, not the batch; a
//! download that breaks off fails it too, since the part that arrived would otherwise be sampled
//! as if it were the whole video.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Cursor, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use ffmpeg_next as ffmpeg;

use super::segments;
use crate::error::{Error, Result, server_silent_for};
use crate::http;
use crate::inputs::Input;

/// The most bytes of a once-readable input kept in memory; longer ones go to a temporary file.
const IN_MEMORY: usize = 256 << 20;

/// Where the bytes of a once-readable input are kept: up to `in_memory` bytes in memory, beyond
/// that in an unnamed temporary file in `folder`, as long as its file system keeps `leave_free`
/// bytes free.
#[derive(Clone, Copy)]
struct Keep<'a> {
    in_memory: usize,
    folder: &'a Path,
    leave_free: u64,
}

impl<'a> Keep<'a> {
    /// Keeps up to [`IN_MEMORY`] bytes in memory and the rest in `folder`, leaving a tenth of its
    /// file system free, or 1 GiB of a larger one: a pipe that never ends (a live stream sent to
    /// stdin) then fails its input before the disk, or a `/tmp` held in memory, fills up.
    fn in_folder(folder: &'a Path) -> Self {
        let leave_free = file_system_space(folder).map_or(0, |space| (space.total / 10).min(1 << 30));
        Keep { in_memory: IN_MEMORY, folder, leave_free }
    }
}

/// How much of a temporary file is written between checks of the room left on its file system.
const ROOM_CHECKED_EVERY: u64 = 64 << 20;

/// The space of the file system holding `folder`, in bytes.
struct FileSystemSpace {
    /// Free for unprivileged users.
    available: u64,
    total: u64,
}

#[cfg(unix)]
fn file_system_space(folder: &Path) -> Option<FileSystemSpace> {
    use std::os::unix::ffi::OsStrExt;
    let path = CString::new(folder.as_os_str().as_bytes()).ok()?;
    // SAFETY: `path` is a NUL-terminated string and `stat` a buffer statvfs fills.
    let stat = unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(path.as_ptr(), &mut stat) == 0).then_some(stat)
    }?;
    let block = stat.f_frsize as u64;
    Some(FileSystemSpace { available: stat.f_bavail as u64 * block, total: stat.f_blocks as u64 * block })
}

#[cfg(not(unix))]
fn file_system_space(_: &Path) -> Option<FileSystemSpace> {
    None
}

/// The bytes of a once-readable input, shared between the indexing and the decoding pass.
#[derive(Clone)]
enum Kept {
    Memory(Arc<Vec<u8>>),
    File(Arc<File>),
}

impl Kept {
    /// Reads all of `reader`, into a temporary file if it holds more than `keep.in_memory` bytes.
    fn read(mut reader: impl Read, keep: Keep) -> io::Result<Kept> {
        let mut bytes = Vec::new();
        reader.by_ref().take(keep.in_memory as u64 + 1).read_to_end(&mut bytes)?;
        if bytes.len() <= keep.in_memory {
            return Ok(Kept::Memory(Arc::new(bytes)));
        }
        let in_temporary_file = |e: io::Error| {
            let folder = keep.folder.display();
            io::Error::new(e.kind(), format!("a temporary file in {folder} ($TMPDIR): {e}"))
        };
        // Room is checked before each stretch is written: the disk keeps `leave_free` even when a
        // pipe never ends.
        let room_for = |written: u64, stretch: u64| match file_system_space(keep.folder) {
            Some(space) if space.available < keep.leave_free.saturating_add(stretch) => {
                let (read, left) = (written >> 20, space.available >> 20);
                let cause = format!(
                    "{read} MiB read and more coming, and the disk of {} ($TMPDIR), where they are kept, \
                     is down to {left} MiB free: a video read from a pipe must end (record a piece of a \
                     live stream first)",
                    keep.folder.display()
                );
                Err(io::Error::new(io::ErrorKind::StorageFull, cause))
            }
            _ => Ok(()),
        };
        room_for(bytes.len() as u64, bytes.len() as u64)?;
        let mut file = tempfile::tempfile_in(keep.folder).map_err(in_temporary_file)?;
        file.write_all(&bytes).map_err(in_temporary_file)?;
        let mut written = bytes.len() as u64;
        drop(bytes);
        let mut room_checked_up_to = written;
        // Not `io::copy`, whose errors do not tell a failed read from a failed write.
        let mut buf = vec![0; 1 << 16];
        loop {
            if written >= room_checked_up_to {
                room_for(written, ROOM_CHECKED_EVERY)?;
                room_checked_up_to = written + ROOM_CHECKED_EVERY;
            }
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(Kept::File(Arc::new(file))),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            file.write_all(&buf[..n]).map_err(in_temporary_file)?;
            written += n as u64;
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Kept::Memory(bytes) => bytes.is_empty(),
            Kept::File(_) => false,
        }
    }

    fn len(&self) -> io::Result<u64> {
        match self {
            Kept::Memory(bytes) => Ok(bytes.len() as u64),
            Kept::File(file) => Ok(file.metadata()?.len()),
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
        let temp_dir = std::env::temp_dir();
        let keeping = Keep::in_folder(&temp_dir);
        let keep = |reader: &mut dyn Read| {
            let kept = Kept::read(reader, keeping)
                .map_err(|e| Error::video(&name, format!("cannot read and keep its bytes: {e}")))?;
            if kept.is_empty() {
                let what = if matches!(source, Input::Stdin) { "standard input" } else { "the pipe" };
                return Err(Error::video(&name, format!("{what} is empty")));
            }
            Ok(Some(kept))
        };
        let kept = match &source {
            // Read, it would wait for typing that no one means to do.
            Input::Stdin if std::io::stdin().is_terminal() => {
                return Err(Error::video(
                    &name,
                    "standard input is a terminal, not a video: pipe one in (`< clip.mp4`, `curl … |`)",
                ));
            }
            Input::Stdin => keep(&mut std::io::stdin().lock())?,
            Input::File(path) if is_pipe(path) => {
                keep(&mut File::open(path).map_err(|e| Error::video(&name, format!("cannot open: {e}")))?)?
            }
            Input::Url(url) => download(&lowercase_scheme(url), url_timeout, MAX_KEPT_URL, keeping)
                .map_err(|e| Error::video(&name, e))?,
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
        segments::forget_refused_certificates();
        let opened = match (&self.source, &self.kept) {
            (_, Some(kept)) => kept.open(),
            (Input::File(path), None) => {
                match std::fs::metadata(path) {
                    Err(e) => return Err(crate::inputs::unreadable(path, e)),
                    Ok(meta) if meta.is_dir() => {
                        return Err(Error::video(&name, "is a directory, not a video"));
                    }
                    Ok(meta) if meta.is_file() && meta.len() == 0 => {
                        return Err(Error::video(&name, "the file is empty"));
                    }
                    Ok(_) => {}
                }
                open_file(path)
            }
            (Input::Url(url), None) => {
                let url = lowercase_scheme(url);
                open_watched(url.as_bytes().to_vec(), url_options(&url, self.url_timeout))
            }
            (Input::Stdin, None) => unreachable!("stdin bytes are read when the source is prepared"),
        };
        opened.map_err(|e| Error::video(&name, self.describe_open_error(e)))
    }

    fn describe_open_error(&self, e: ffmpeg::Error) -> String {
        match e {
            ffmpeg::Error::InvalidData if segments::refused_a_certificate() => REFUSED_CERTIFICATE.into(),
            // A playlist's segments, say, which FFmpeg fetched itself and logged failing.
            ffmpeg::Error::InvalidData if self.url_reads().is_some() => "not a video FFmpeg can read \
                 (invalid data found when processing input; -v shows what FFmpeg fetched)"
                .into(),
            ffmpeg::Error::InvalidData => {
                "not a video FFmpeg can read (invalid data found when processing input)".into()
            }
            // Matroska's reader, for one: a header and no stream data.
            ffmpeg::Error::Eof => "it ends before any video data (empty or cut short)".into(),
            // `cam1:clip.mp4` names a file, unless one by that name is missing; then it reads as a
            // URL (see `inputs`).
            ffmpeg::Error::ProtocolNotFound if matches!(self.source, Input::Url(_)) => {
                let url = self.source.name();
                let scheme = url.split(':').next().unwrap_or_default();
                let file = if url.contains("://") { "" } else { "no such file, and " };
                format!("{file}`{scheme}:` is no protocol FFmpeg knows")
            }
            e if stalled(&e) && matches!(self.source, Input::Url(_)) => {
                format!("cannot open: {}", server_silent_for(self.url_timeout))
            }
            other => {
                // FFmpeg sends a plain http URL's request to the proxy (see `http::plain_http_proxy`).
                let proxy = match &self.source {
                    Input::Url(url) => http::plain_http_proxy(&lowercase_scheme(url)),
                    _ => None,
                };
                match proxy {
                    Some(proxy) => {
                        format!("cannot open: {other} (through the proxy {proxy}, from the environment)")
                    }
                    None => format!("cannot open: {other}"),
                }
            }
        }
    }
}

/// What a URL that FFmpeg read (a playlist's segment, say) says when a server's certificate was
/// refused on the way.
pub(crate) const REFUSED_CERTIFICATE: &str = "a server it was fetched from has a certificate that is not trusted \
     (checked against the file SSL_CERT_FILE names, else the system's roots; -v shows which)";

/// `url` with its scheme in lower case: schemes are case-insensitive (RFC 3986), FFmpeg's protocol
/// names are not (`HTTP://` was "Protocol not found").
fn lowercase_scheme(url: &str) -> std::borrow::Cow<'_, str> {
    match url.split_once(':') {
        Some((scheme, rest)) if scheme.bytes().any(|b| b.is_ascii_uppercase()) => {
            format!("{}:{rest}", scheme.to_ascii_lowercase()).into()
        }
        _ => url.into(),
    }
}

/// Whether a read failed because nothing arrived within the `rw_timeout` (a URL's server went
/// silent).
fn stalled(e: &ffmpeg::Error) -> bool {
    matches!(e, ffmpeg::Error::Other { errno: libc::ETIMEDOUT })
}

/// FFmpeg's options for `url`: its generic read/write timeout of every protocol, which it counts in
/// microseconds, and for a plain `http` URL the proxy the environment names
/// ([`http::plain_http_proxy`]; FFmpeg itself reads only `http_proxy`).
fn url_options(url: &str, timeout: Duration) -> ffmpeg::Dictionary<'static> {
    let mut options = ffmpeg::Dictionary::new();
    options.set("rw_timeout", &timeout.as_micros().to_string());
    if let Some(proxy) = http::plain_http_proxy(url) {
        options.set("http_proxy", &proxy);
    }
    options
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
        let cause = if stalled(e) { server_silent_for(self.timeout) } else { e.to_string() };
        format!("the download broke off: {cause}")
    }
}

/// The most bytes of a URL kept: a longer download (or a live stream, which never ends) is
/// dropped and the URL read from the server by each pass instead, as before it was kept.
const MAX_KEPT_URL: u64 = 4 << 30;

/// The bytes at `url`, kept as `keep` says, or `None` where each pass should open the URL itself:
/// a protocol other than `http`/`https` (`file:` needs no copy, `rtsp` is no stream of bytes), a
/// plain `http` URL behind a proxy ([`http::plain_http_proxy`]), a playlist or manifest, a
/// download longer than `limit` bytes (told by its announced length where there is one), or one
/// the temporary folder cannot hold (a small `/tmp`, an unwritable or missing `$TMPDIR`). Fails
/// with the cause when the server cannot be reached, goes silent for `timeout`, or hangs up
/// before the end of the body (the length it announced, or the last chunk of a chunked one).
fn download(
    url: &str,
    timeout: Duration,
    limit: u64,
    keep: Keep,
) -> std::result::Result<Option<Kept>, String> {
    // Told by the scheme, not by FFmpeg's protocols: one built without TLS has no `https`.
    if !(url.starts_with("http://") || url.starts_with("https://")) || http::plain_http_proxy(url).is_some() {
        return Ok(None);
    }
    let download = http::get(url, timeout).map_err(|e| format!("cannot open: {e}"))?;
    let announced = download.announced;
    // Announced too long to keep: each pass reads the URL itself, without a first download.
    if announced.is_some_and(|len| len > limit) {
        return Ok(None);
    }
    let mut body = Counted { inner: download.body, received: 0, failed: false };
    let broke_off = |e: io::Error, body: &Counted<_>| {
        format!("the download {}", http::broke_off(body.received, announced, Some(&e), timeout))
    };
    let mut head = Vec::new();
    if let Err(e) = (&mut body).take(HEAD).read_to_end(&mut head) {
        return Err(broke_off(e, &body));
    }
    if names_other_urls(&head) {
        return Ok(None);
    }
    let rest = (&mut body).take((limit + 1).saturating_sub(head.len() as u64));
    let kept = match Kept::read(Cursor::new(head).chain(rest), keep) {
        Ok(kept) => kept,
        Err(e) if body.failed => return Err(broke_off(e, &body)),
        // Nowhere to keep it: each pass reads the URL itself, as for one too long to keep.
        Err(_) => return Ok(None),
    };
    match kept.len().map_err(|e| format!("cannot keep the download: {e}"))? {
        0 => Err("the server sent an empty file".into()),
        len if len > limit => Ok(None),
        _ => Ok(Some(kept)),
    }
}

/// A reader that counts the bytes it hands out and remembers whether a read failed (so a
/// download's failure is told from a failure to keep it).
struct Counted<R> {
    inner: R,
    received: u64,
    failed: bool,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf);
        match &read {
            Ok(n) => self.received += *n as u64,
            Err(e) => self.failed |= e.kind() != io::ErrorKind::Interrupted,
        }
        read
    }
}

/// Bytes read before deciding whether a download is a playlist.
const HEAD: u64 = 4096;

/// Whether a download starting with `head` is a playlist or manifest (HLS, DASH) whose demuxer
/// fetches the media from further URLs itself, which a copy cannot do. These are the marks
/// FFmpeg's own probes for the two formats look for.
fn names_other_urls(head: &[u8]) -> bool {
    let text = head.trim_ascii_start();
    let xml = text.starts_with(b"<?xml") || text.starts_with(b"<MPD");
    text.starts_with(b"#EXTM3U") || (xml && text.windows(4).any(|w| w == b"<MPD"))
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
    open_watched(url, ffmpeg::Dictionary::new())
}

/// Opens `url` with `options` as `ffmpeg::format::input_with_dictionary` does, with the segments
/// a playlist's demuxer drops after a read error counted ([`segments::watch_nested_inputs`]) and
/// the certificates of every server it connects to checked ([`super::tls::check_certificates`]).
fn open_watched(
    url: Vec<u8>,
    options: ffmpeg::Dictionary,
) -> std::result::Result<ffmpeg::format::context::Input, ffmpeg::Error> {
    // A path from the OS holds no NUL byte; a URL with one names nothing FFmpeg could open.
    let url = CString::new(url).map_err(|_| ffmpeg::Error::InvalidData)?;
    // SAFETY: `url` is a NUL-terminated string that outlives the call; `context` is allocated
    // here and then freed by FFmpeg itself when opening fails, or closed here when reading the
    // stream info fails; once wrapped, `Input` owns it and closes it on drop. The options are
    // handed back and freed whatever happens.
    unsafe {
        let mut context = ffmpeg::ffi::avformat_alloc_context();
        if context.is_null() {
            return Err(ffmpeg::Error::Other { errno: libc::ENOMEM });
        }
        segments::watch_nested_inputs(context);
        super::tls::check_certificates(context);
        let mut options = options.disown();
        let opened =
            ffmpeg::ffi::avformat_open_input(&mut context, url.as_ptr(), ptr::null_mut(), &mut options);
        drop(ffmpeg::Dictionary::own(options));
        match opened {
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
        let kept = Kept::read(
            Cursor::new(data.clone()),
            Keep { in_memory: 1000, folder: &std::env::temp_dir(), leave_free: 0 },
        )
        .unwrap();
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
    fn a_pipe_that_would_fill_the_temporary_disk_fails_before_it_does() {
        let folder = tempfile::tempdir().unwrap();
        let free = file_system_space(folder.path()).unwrap().available;
        // All but 16 MiB of what is free now to be left free: 200 MiB of input would cross that.
        let keep =
            Keep { in_memory: 1 << 20, folder: folder.path(), leave_free: free.saturating_sub(16 << 20) };
        let error =
            Kept::read(io::repeat(7).take(200 << 20), keep).err().expect("refused before it is all kept");
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        let message = error.to_string();
        assert!(message.contains("MiB read and more coming, and the disk of"), "{message}");
        let read: u64 = message.split(' ').next().unwrap().parse().unwrap();
        assert!(read < 200, "stopped before the end: {message}");
    }

    /// Keeping up to 1 MiB in memory, with no folder for more.
    fn memory_only() -> Keep<'static> {
        Keep { in_memory: 1 << 20, folder: Path::new("/no/such/folder"), leave_free: 0 }
    }

    #[test]
    fn a_download_the_temporary_folder_cannot_hold_is_read_by_each_pass() {
        let body: Vec<u8> = (0..10_000u32).map(|i| (i % 247) as u8).collect();
        let timeout = Duration::from_secs(5);
        let folder = tempfile::tempdir().unwrap();
        let keep = Keep { in_memory: 1000, folder: folder.path(), leave_free: 0 };
        let kept = download(&serve(body.clone()), timeout, 1 << 20, keep).unwrap();
        let Some(Kept::File(file)) = kept else { panic!("10 000 bytes over 1000 in memory go to a file") };
        let mut all = Vec::new();
        FileCursor { file, position: 0 }.read_to_end(&mut all).unwrap();
        assert!(all == body);
        // A file where the folder should be (a full or missing $TMPDIR fails alike).
        let not_a_folder = folder.path().join("file");
        std::fs::write(&not_a_folder, b"").unwrap();
        let keep = Keep { in_memory: 1000, folder: &not_a_folder, leave_free: 0 };
        assert!(download(&serve(body.clone()), timeout, 1 << 20, keep).unwrap().is_none());
        // A download that breaks off while it goes to the file says so.
        let mut cut = chunked(&body, false);
        cut.truncate(cut.len() - 4000);
        let keep = Keep { in_memory: 1000, folder: folder.path(), leave_free: 0 };
        let error = download(&serve_raw(|_| cut), timeout, 1 << 20, keep).err().unwrap();
        assert!(error.starts_with("the download broke off after 6000 bytes: "), "{error}");
    }

    /// Answers every request on 127.0.0.1 with the raw bytes `response(url)`, then closes the
    /// connection; returns `url`, that of `/v.mp4` there.
    fn serve_raw(response: impl FnOnce(&str) -> Vec<u8>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v.mp4", listener.local_addr().unwrap());
        let response = response(&url);
        std::thread::spawn(move || {
            for mut stream in listener.incoming().map_while(|s| s.ok()) {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(&response);
            }
        });
        url
    }

    /// Serves `body` with its length; returns its URL.
    fn serve(body: Vec<u8>) -> String {
        let header =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        serve_raw(|_| [header.into_bytes(), body].concat())
    }

    /// `body` as one chunk of a chunked response, followed by the last (empty) chunk if `complete`.
    fn chunked(body: &[u8], complete: bool) -> Vec<u8> {
        let head = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n", body.len());
        let tail: &[u8] = if complete { b"\r\n0\r\n\r\n" } else { b"" };
        [head.as_bytes(), body, tail].concat()
    }

    #[test]
    fn a_chunked_download_is_kept_whole_or_fails_where_it_broke_off() {
        let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let timeout = Duration::from_secs(5);
        let whole = download(&serve_raw(|_| chunked(&body, true)), timeout, 1 << 20, memory_only()).unwrap();
        assert!(matches!(whole, Some(Kept::Memory(bytes)) if *bytes == body));
        // The connection closes inside the chunk: half of it arrived.
        let mut cut = chunked(&body, false);
        cut.truncate(cut.len() - body.len() / 2);
        let error = download(&serve_raw(|_| cut), timeout, 1 << 20, memory_only()).err().unwrap();
        assert!(error.starts_with("the download broke off after 5000 bytes: "), "{error}");
    }

    #[test]
    fn a_scheme_in_capitals_is_the_same_scheme() {
        ffmpeg::init().unwrap();
        let body = vec![7u8; 100];
        let url = serve(body.clone()).replacen("http", "HTTP", 1);
        let source = Reopenable::new(Input::Url(url), Duration::from_secs(5)).unwrap();
        assert!(matches!(source.kept, Some(Kept::Memory(bytes)) if *bytes == body), "downloaded and kept");
        assert_eq!(lowercase_scheme("HTTPS://Example.org/A.mp4"), "https://Example.org/A.mp4");
        assert_eq!(lowercase_scheme("rtsp://h/v"), "rtsp://h/v");
    }

    #[test]
    fn a_redirect_loop_is_named() {
        let looping = serve_raw(|url| {
            let close = "Content-Length: 0\r\nConnection: close";
            format!("HTTP/1.1 302 Found\r\nLocation: {url}\r\n{close}\r\n\r\n").into_bytes()
        });
        let error = download(&looping, Duration::from_secs(5), 1 << 20, memory_only()).err().unwrap();
        assert_eq!(error, "cannot open: too many redirects");
    }

    #[test]
    fn a_download_is_kept_up_to_the_limit_and_dropped_beyond() {
        ffmpeg::init().unwrap();
        let body: Vec<u8> = (0..10_000u32).map(|i| (i % 249) as u8).collect();
        let timeout = Duration::from_secs(5);
        let kept = download(&serve(body.clone()), timeout, 10_000, memory_only()).unwrap();
        assert!(matches!(kept, Some(Kept::Memory(bytes)) if *bytes == body));
        assert!(
            download(&serve(body), timeout, 9_999, memory_only()).unwrap().is_none(),
            "one byte over the limit"
        );
        // A length announced over the limit is not downloaded first: this body, cut off after
        // its first 10 bytes, would otherwise fail as a download that broke off.
        let header = "HTTP/1.1 200 OK\r\nContent-Length: 5000000000\r\nConnection: close\r\n\r\n";
        let announced = serve_raw(move |_| [header.as_bytes(), &[0u8; 10]].concat());
        assert!(
            download(&announced, timeout, 10_000, memory_only()).unwrap().is_none(),
            "over the limit by its length"
        );
        assert!(
            download("file:/no/such/video.mp4", timeout, 10_000, memory_only()).unwrap().is_none(),
            "not a network URL"
        );
    }

    #[test]
    fn playlists_and_manifests_are_told_from_media() {
        assert!(names_other_urls(b"#EXTM3U\n#EXT-X-VERSION:3\n"));
        assert!(names_other_urls(
            b"\n<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\">"
        ));
        assert!(names_other_urls(b"<MPD type=\"static\">"));
        assert!(!names_other_urls(b"\x00\x00\x00\x20ftypisom<MPD"), "media that happens to hold the mark");
        assert!(!names_other_urls(b"<?xml version=\"1.0\"?><svg/>"));
    }

    #[test]
    fn a_short_stream_stays_in_memory() {
        let keep = Keep { in_memory: 1000, ..memory_only() };
        let kept = Kept::read(Cursor::new(vec![1u8; 1000]), keep).unwrap();
        assert!(matches!(kept, Kept::Memory(bytes) if *bytes == vec![1u8; 1000]));
        assert!(Kept::read(io::empty(), keep).unwrap().is_empty());
    }
}
