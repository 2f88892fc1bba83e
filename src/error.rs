//! One error type for the whole library.
//!
//! Every failure a user can meet names what it was working on (a file, a model, a URL) and the cause,
//! in one line, so that a batch run can print it next to the input and carry on with the next one.
//! The CLI maps these to exit codes: input errors count as "some inputs failed" (1), everything that
//! stops the run (usage, model, weights: before any input is read, or for weights whose scores
//! overflow, at the first input they reach) is 2.

use std::path::PathBuf;

/// Errors of vidclass. `Display` is the one-line message shown to users.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A video could not be opened, probed or decoded.
    #[error("{}: {cause}", one_line_name(input))]
    Video { input: String, cause: String },

    /// Reading or writing a file failed.
    #[error("{}: {source}", one_line_path(path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A checkpoint does not fit the architecture, or cannot be read.
    #[error("checkpoint {}: {cause}", one_line_path(path))]
    Checkpoint { path: PathBuf, cause: String },

    /// A model card is missing or malformed.
    #[error("model card {}: {cause}", one_line_name(name))]
    Card { name: String, cause: String },

    /// Downloading weights failed.
    #[error("download of {url} failed: {cause}")]
    Fetch { url: String, cause: String },

    /// The class names do not match the checkpoint's classifier.
    #[error("the label map has {names} names but the checkpoint scores {classes} classes")]
    LabelCount { names: usize, classes: usize },

    /// The network's scores came out as NaN or infinity: weights that overflow the network (a
    /// BatchNorm variance below zero, values near f32's limit). A weights error, so `predict`
    /// stops there (exit 2) rather than failing every input alike.
    #[error(
        "the network's scores are not finite numbers (NaN or infinity): its weights hold values it \
         cannot use (a damaged or badly converted checkpoint?)"
    )]
    NonFiniteScores,

    /// Views of a protocol's shape that cannot run: the network cannot take them (too few frames
    /// for its strides in time), or their activations would not fit the memory available.
    /// `cause` says which, starting with its verb.
    #[error("views of {frames} frame(s) of {size}×{size} pixels {cause}")]
    ViewShape { frames: usize, size: usize, cause: String },

    /// Arguments that do not make sense together (caught after clap's own parsing).
    #[error("{0}")]
    Usage(String),

    /// A tensor operation failed: a bug or an input of an unexpected shape.
    #[error("tensor operation failed: {}", one_line(.0))]
    Tensor(#[from] candle_core::Error),
}

/// A name (a file's, a URL) as one line: control characters (a newline, an escape) are escaped,
/// as `ls` shows them, so that a message naming a file stays one line and cannot drive the
/// terminal.
pub fn one_line_name(name: &str) -> String {
    name.chars().flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] }).collect()
}

/// [`one_line_name`] of a path.
pub fn one_line_path(path: &std::path::Path) -> String {
    one_line_name(&path.to_string_lossy())
}

/// Why a file named on the command line could not be read: "no such file" where it is missing, as
/// every missing input, card and checkpoint is told, "is a folder" where it is one, else the
/// system's words.
pub fn read_failure(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::IsADirectory => "is a folder, not a file".to_owned(),
        _ => e.to_string(),
    }
}

/// candle's message without the backtrace it appends when `RUST_BACKTRACE` is set (users set it
/// for other programs; a batch's error line is no place for twenty stack frames), on one line.
fn one_line(error: &candle_core::Error) -> String {
    use candle_core::Error as E;
    let message = match error {
        E::WithBacktrace { inner, .. } => return one_line(inner),
        E::Context { inner, context } => format!("{context}: {}", one_line(inner)),
        E::WithPath { inner, path } => format!("{}: {}", path.display(), one_line(inner)),
        other => other.to_string(),
    };
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Error {
    /// A video error for `input` (a path, URL or `-`).
    pub fn video(input: impl std::fmt::Display, cause: impl std::fmt::Display) -> Self {
        Error::Video { input: input.to_string(), cause: cause.to_string() }
    }

    /// The message without the subject it names, for records that already carry the input's name:
    /// `no video stream` rather than `clip.mp4: no video stream`.
    pub fn detail(&self) -> String {
        match self {
            Error::Video { cause, .. } => cause.clone(),
            Error::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// Result with vidclass's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a download failed when its server went quiet for `timeout` (`--url-timeout`): the same
/// words for video URLs and for weights downloads.
pub(crate) fn server_silent_for(timeout: std::time::Duration) -> String {
    format!("the server sent nothing for {} s (--url-timeout)", timeout.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tensor_error_is_one_line_without_backtrace() {
        let inner = candle_core::Error::Msg("shape mismatch\nin cat".into());
        let traced = candle_core::Error::WithBacktrace {
            inner: Box::new(inner),
            backtrace: Box::new(std::backtrace::Backtrace::force_capture()),
        };
        let error = Error::Tensor(traced.context("forward"));
        assert_eq!(error.to_string(), "tensor operation failed: forward: shape mismatch in cat");
    }
}
