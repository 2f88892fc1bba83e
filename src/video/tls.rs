//! Certificate checks on the connections FFmpeg opens itself.
//!
//! FFmpeg's `tls` protocol checks no certificate unless asked (`tls_verify` is 0 by default), and
//! the HLS and DASH demuxers hand on only a few chosen options (`rw_timeout`, `http_proxy`, …) to
//! the segments they open. A playlist's segments, and any URL each pass reads itself, would then
//! be taken from whichever server answered, where vidclass's own downloads ([`crate::http`])
//! check certificates. So every I/O context opened for an input goes through a format context's
//! `io_open` callback that asks for the check: against the file `SSL_CERT_FILE` names where it is
//! set, else the system's trusted roots (GnuTLS's or OpenSSL's, as FFmpeg was built;
//! `SSL_CERT_DIR` is not read here).

use std::ffi::CString;
use std::sync::OnceLock;

use ffmpeg::ffi::{AVDictionary, AVFormatContext, AVIOContext};
use ffmpeg_next as ffmpeg;

/// The signature of a format context's `io_open`.
type IoOpen = unsafe extern "C" fn(
    *mut AVFormatContext,
    *mut *mut AVIOContext,
    *const libc::c_char,
    libc::c_int,
    *mut *mut AVDictionary,
) -> libc::c_int;

/// FFmpeg's own `io_open`, which a fresh format context holds (the same for every context).
static DEFAULT_OPEN: OnceLock<IoOpen> = OnceLock::new();

/// Sets `tls_verify` (and `ca_file`, from `SSL_CERT_FILE`) in `options` unless already there.
///
/// # Safety
/// `options` points to a dictionary pointer (null for an empty dictionary).
unsafe fn ask_for_checks(options: *mut *mut AVDictionary) {
    let keep = ffmpeg::ffi::AV_DICT_DONT_OVERWRITE;
    let ca_file = crate::http::cert_file().and_then(|file| CString::new(file.into_encoded_bytes()).ok());
    // SAFETY: the caller's promise; the strings are NUL-terminated and copied by FFmpeg.
    unsafe {
        ffmpeg::ffi::av_dict_set(options, c"tls_verify".as_ptr(), c"1".as_ptr(), keep);
        if let Some(ca_file) = ca_file {
            ffmpeg::ffi::av_dict_set(options, c"ca_file".as_ptr(), ca_file.as_ptr(), keep);
        }
    }
}

/// The `io_open` callback: FFmpeg's own, with certificate checks asked for.
unsafe extern "C" fn open_checked(
    context: *mut AVFormatContext,
    pb: *mut *mut AVIOContext,
    url: *const libc::c_char,
    flags: libc::c_int,
    options: *mut *mut AVDictionary,
) -> libc::c_int {
    let default = DEFAULT_OPEN.get().expect("set before the callback is installed");
    let mut own = std::ptr::null_mut();
    let options = if options.is_null() { &mut own } else { options };
    // SAFETY: FFmpeg's arguments, handed on; `options` points to a dictionary pointer, and the
    // dictionary made here (if any) is freed once the open has taken what it needs.
    unsafe {
        ask_for_checks(options);
        let opened = default(context, pb, url, flags, options);
        ffmpeg::ffi::av_dict_free(&mut own);
        opened
    }
}

/// Makes every I/O context `context` opens from now on (its input, a playlist's segments) check
/// the server's certificate.
///
/// # Safety
/// `context` is a freshly allocated format context, not yet opened.
pub(crate) unsafe fn check_certificates(context: *mut AVFormatContext) {
    // SAFETY: the caller's promise.
    unsafe {
        if let Some(default) = (*context).io_open {
            DEFAULT_OPEN.get_or_init(|| default);
            (*context).io_open = Some(open_checked);
        }
    }
}
