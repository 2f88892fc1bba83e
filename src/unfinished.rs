//! Files being written, removed if the run is interrupted (Ctrl-C, `kill`): the process then
//! exits without running destructors, and a half-written download or checkpoint must not stay
//! behind, where it takes disk space or could be taken for a whole one.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn unfinished() -> MutexGuard<'static, Vec<PathBuf>> {
    UNFINISHED.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Marks `path` (a file, or a folder of scratch files) as being written.
pub(crate) fn begin(path: &Path) {
    unfinished().push(path.to_owned());
}

/// Marks `path` as finished (renamed into place, or removed).
pub(crate) fn end(path: &Path) {
    unfinished().retain(|p| p != path);
}

/// Removes everything still being written. For a signal handler that is about to exit the
/// process.
pub fn remove_all() {
    for path in unfinished().iter() {
        // Nothing more can be done about a failed removal on the way out.
        let _ = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    }
}

/// Whether `path` is marked as being written.
#[cfg(test)]
pub(crate) fn includes(path: &Path) -> bool {
    unfinished().iter().any(|p| p == path)
}
