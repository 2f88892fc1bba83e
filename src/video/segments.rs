//! Playlist segments that FFmpeg failed to fetch, counted from its log and from the segments'
//! own I/O contexts.
//!
//! The HLS and DASH demuxers skip a segment that will not download (a 404, a connection that
//! ends before the announced length) and go on with the next, saying so only in FFmpeg's log;
//! the video then reads as a shorter one, and its clips would be sampled from what arrived. So
//! vidclass's log callback counts those messages, per thread (a demuxer logs on the thread that
//! reads it), and passes every message on to FFmpeg's own printer, which applies the `-v` level
//! (or prints whole lines through [`print_log_lines_with`]'s function, so that a progress bar
//! on the same terminal can step aside).
//! A segment whose server falls silent past the timeout halfway leaves no line at all: the
//! demuxer takes the failed read for the segment's end. Its error stays in the segment's I/O
//! context, which the demuxer closes through the format context's close callback, so vidclass
//! installs one that counts a context closed with an error. The callback also notes a server
//! certificate that FFmpeg's TLS refused, which the demuxer reports only as a segment it could
//! not open.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::sync::OnceLock;

use ffmpeg_next as ffmpeg;

/// How the messages of a skipped segment begin (their format strings, as in FFmpeg 5.1):
/// HLS's "Failed to open segment %d of playlist %d" and "Failed to open segment '%s'", DASH's
/// "Failed to open fragment of playlist", and the HTTP protocol's "Stream ends prematurely at
/// %d, should be %d".
const SKIPPED_SEGMENT: [&[u8]; 3] =
    [b"Failed to open segment", b"Failed to open fragment", b"Stream ends prematurely"];

/// How FFmpeg's TLS code says that it refused a server's certificate (GnuTLS's messages, as in
/// FFmpeg 5.1): the demuxer then reports only a segment it could not open, or invalid data.
const REFUSED_CERTIFICATE: [&[u8]; 2] =
    [b"Peer certificate failed verification", b"The certificate's owner does not match hostname"];

/// How FFmpeg's bindings spell a `va_list` argument: System V x86-64's is an array, passed as a
/// pointer to its element; elsewhere it is passed as it is.
#[cfg(all(target_arch = "x86_64", not(windows)))]
type Arguments = *mut ffmpeg::ffi::__va_list_tag;
#[cfg(not(all(target_arch = "x86_64", not(windows))))]
type Arguments = ffmpeg::ffi::va_list;

thread_local! {
    static SKIPPED: Cell<usize> = const { Cell::new(0) };
    static CERTIFICATE_REFUSED: Cell<bool> = const { Cell::new(false) };
    /// The line being assembled on this thread: FFmpeg writes some in pieces.
    static OPEN_LINE: RefCell<String> = const { RefCell::new(String::new()) };
    /// Whether the next piece starts a line (and so gets its `[context @ …]` prefix).
    static AT_LINE_START: Cell<libc::c_int> = const { Cell::new(1) };
}

/// Whether FFmpeg refused a server's certificate on this thread since the last
/// [`forget_refused_certificates`].
pub(crate) fn refused_a_certificate() -> bool {
    CERTIFICATE_REFUSED.get()
}

/// Starts [`refused_a_certificate`] afresh (as an input is opened).
pub(crate) fn forget_refused_certificates() {
    CERTIFICATE_REFUSED.set(false);
}

/// Where FFmpeg's log lines go when not to FFmpeg's own printer (see [`print_log_lines_with`]).
static PRINT_LINE: OnceLock<fn(&str)> = OnceLock::new();

/// Makes every line FFmpeg's log prints (at the `-v` level) go to `print` whole, once the last of
/// its pieces has come, instead of to FFmpeg's own printer, which writes each piece as it comes:
/// `print` can then clear a progress bar drawn on stderr first and draw it again after, without
/// the bar landing inside a line or erasing its first half. Once per process; later calls change
/// nothing.
pub fn print_log_lines_with(print: fn(&str)) {
    let _ = PRINT_LINE.set(print);
}

/// FFmpeg's log callback: counts skipped segments, then prints as FFmpeg would (or through
/// [`print_log_lines_with`]'s function).
unsafe extern "C" fn watch(
    context: *mut libc::c_void,
    level: libc::c_int,
    format: *const libc::c_char,
    arguments: Arguments,
) {
    // SAFETY: FFmpeg passes a NUL-terminated format string (or null).
    let text = if format.is_null() { &[][..] } else { unsafe { CStr::from_ptr(format) }.to_bytes() };
    if SKIPPED_SEGMENT.iter().any(|start| text.starts_with(start)) {
        SKIPPED.with(|skipped| skipped.set(skipped.get() + 1));
    }
    if REFUSED_CERTIFICATE.iter().any(|start| text.starts_with(start)) {
        CERTIFICATE_REFUSED.set(true);
    }
    let Some(print) = PRINT_LINE.get() else {
        // SAFETY: the arguments are handed on untouched, as FFmpeg handed them over.
        unsafe { ffmpeg::ffi::av_log_default_callback(context, level, format, arguments) };
        return;
    };
    // SAFETY: reads FFmpeg's log level, an integer.
    if format.is_null() || level > unsafe { ffmpeg::ffi::av_log_get_level() } {
        return;
    }
    let mut piece = [0 as libc::c_char; 1024];
    let mut at_start = AT_LINE_START.get();
    // SAFETY: formats FFmpeg's own arguments once, into `piece` (NUL-terminated, cut to fit).
    unsafe {
        ffmpeg::ffi::av_log_format_line2(
            context,
            level,
            format,
            arguments,
            piece.as_mut_ptr(),
            piece.len() as libc::c_int,
            &mut at_start,
        );
    }
    AT_LINE_START.set(at_start);
    // SAFETY: `av_log_format_line2` wrote a NUL-terminated string into `piece`.
    let piece = unsafe { CStr::from_ptr(piece.as_ptr()) }.to_string_lossy();
    OPEN_LINE.with_borrow_mut(|line| {
        line.push_str(&piece);
        if line.ends_with('\n') {
            print(line);
            line.clear();
        }
    });
}

/// Counts the I/O context a demuxer opened itself (a playlist's segment) and is about to close, if
/// its reads ended in an error. HLS's demuxer takes a segment whose server stalled past the
/// timeout, or hung up, for a segment that ended and goes on with the next in silence: the read
/// error is left only in the segment's context.
///
/// # Safety
/// `pb` is an open I/O context, or null.
unsafe fn count_if_failed(pb: *mut ffmpeg::ffi::AVIOContext) {
    // SAFETY: the caller's promise.
    let error = if pb.is_null() { 0 } else { unsafe { (*pb).error } };
    if error < 0 && error != ffmpeg::ffi::AVERROR_EOF {
        SKIPPED.with(|skipped| skipped.set(skipped.get() + 1));
    }
}

/// A format context's `io_close2` (FFmpeg 5.0 on): [`count_if_failed`], then close as FFmpeg's
/// default does.
#[cfg(ffmpeg_io_close2)]
unsafe extern "C" fn close_nested(
    _: *mut ffmpeg::ffi::AVFormatContext,
    pb: *mut ffmpeg::ffi::AVIOContext,
) -> libc::c_int {
    // SAFETY: FFmpeg hands over a context it opened (or null), closed here once.
    unsafe {
        count_if_failed(pb);
        ffmpeg::ffi::avio_close(pb)
    }
}

/// A format context's `io_close` (before FFmpeg 5.0): as above.
#[cfg(not(ffmpeg_io_close2))]
unsafe extern "C" fn close_nested(_: *mut ffmpeg::ffi::AVFormatContext, pb: *mut ffmpeg::ffi::AVIOContext) {
    // SAFETY: as above.
    unsafe {
        count_if_failed(pb);
        ffmpeg::ffi::avio_close(pb);
    }
}

/// Counts, from now on, the segments `context`'s demuxer drops after a read error (see
/// [`count_if_failed`]), along with those FFmpeg's log tells of.
///
/// # Safety
/// `context` is an allocated format context, not yet opened.
pub(crate) unsafe fn watch_nested_inputs(context: *mut ffmpeg::ffi::AVFormatContext) {
    // SAFETY: the caller's promise.
    unsafe {
        #[cfg(ffmpeg_io_close2)]
        {
            (*context).io_close2 = Some(close_nested);
        }
        #[cfg(not(ffmpeg_io_close2))]
        {
            (*context).io_close = Some(close_nested);
        }
    }
}

/// Installs the callback (once per process, with FFmpeg's initialisation).
pub(crate) fn watch_log() {
    // SAFETY: `watch` has the callback's signature and lives as long as the process.
    unsafe { ffmpeg::ffi::av_log_set_callback(Some(watch)) };
}

/// `read()`'s result, and how many lines about skipped playlist segments FFmpeg logged on this
/// thread meanwhile (a segment may take several).
pub(crate) fn skipped_while<T>(read: impl FnOnce() -> T) -> (T, usize) {
    let before = SKIPPED.with(Cell::get);
    let result = read();
    (result, SKIPPED.with(Cell::get) - before)
}
