//! Checking, before any work is done, that an output file (`convert`'s checkpoint, `inspect`'s
//! contact sheet and input dump) can be written, so that a long run does not end in a failure it
//! could have reported at once.

use std::io;
use std::path::Path;

use crate::{Error, Result};

/// `Ok` when `path` is not a folder and its folder exists and may be written to; otherwise an
/// error naming `path` and the reason (a missing folder, a read-only file system, no permission).
pub fn check_writable(path: &Path) -> Result<()> {
    let fail = |kind, cause: String| Err(Error::io(path, io::Error::new(kind, cause)));
    if path.is_dir() {
        return fail(io::ErrorKind::IsADirectory, "is a folder".into());
    }
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !folder.exists() {
        return fail(io::ErrorKind::NotFound, format!("no folder {}", folder.display()));
    }
    if !folder.is_dir() {
        return fail(io::ErrorKind::NotADirectory, format!("{} is not a folder", folder.display()));
    }
    writable_folder(folder).map_err(|e| Error::io(path, e))
}

/// Whether this process may create files in `folder` (`access(2)` with `W_OK`, which also
/// reports a read-only file system to root).
#[cfg(unix)]
fn writable_folder(folder: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let folder = std::ffi::CString::new(folder.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: `folder` is a NUL-terminated path that outlives the call.
    match unsafe { libc::access(folder.as_ptr(), libc::W_OK) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(not(unix))]
fn writable_folder(_folder: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_why_a_file_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file.txt");
        std::fs::write(&file, b"").unwrap();
        assert!(check_writable(&dir.path().join("new.png")).is_ok());
        assert!(check_writable(&file).is_ok(), "an existing file is replaced");
        let said = |path: &Path| check_writable(path).unwrap_err().to_string();
        assert_eq!(said(dir.path()), format!("{}: is a folder", dir.path().display()));
        assert!(
            said(&dir.path().join("no/x.png"))
                .ends_with(&format!("no folder {}", dir.path().join("no").display()))
        );
        assert!(said(&file.join("x.png")).ends_with("file.txt is not a folder"));
    }
}
