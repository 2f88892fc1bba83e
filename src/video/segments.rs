//! Playlist segments that FFmpeg failed to fetch, counted from its log.
//!
//! The HLS and DASH demuxers skip a segment that will not download (a 404, a connection that
//! ends before the announced length) and go on with the next, saying so only in FFmpeg's log;
//! the video then reads as a shorter one, and its clips would be sampled from what arrived. So
//! vidclass's log callback counts those messages, per thread (a demuxer logs on the thread that
//! reads it), and passes every message on to FFmpeg's own printer, which applies the `-v` level.

use std::cell::Cell;
use std::ffi::CStr;

use ffmpeg_next as ffmpeg;

/// How the messages of a skipped segment begin (their format strings, as in FFmpeg 5.1):
/// HLS's "Failed to open segment %d of playlist %d" and "Failed to open segment '%s'", DASH's
/// "Failed to open fragment of playlist", and the HTTP protocol's "Stream ends prematurely at
/// %d, should be %d".
const SKIPPED_SEGMENT: [&[u8]; 3] =
    [b"Failed to open segment", b"Failed to open fragment", b"Stream ends prematurely"];

/// How FFmpeg's bindings spell a `va_list` argument: System V x86-64's is an array, passed as a
/// pointer to its element; elsewhere it is passed as it is.
#[cfg(all(target_arch = "x86_64", not(windows)))]
type Arguments = *mut ffmpeg::ffi::__va_list_tag;
#[cfg(not(all(target_arch = "x86_64", not(windows))))]
type Arguments = ffmpeg::ffi::va_list;

thread_local! {
    static SKIPPED: Cell<usize> = const { Cell::new(0) };
}

/// FFmpeg's log callback: counts skipped segments, then prints as FFmpeg would.
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
    // SAFETY: the arguments are handed on untouched, as FFmpeg handed them over.
    unsafe { ffmpeg::ffi::av_log_default_callback(context, level, format, arguments) };
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
