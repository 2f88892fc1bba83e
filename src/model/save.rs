//! Writing tensors as a `.safetensors` file (`vidclass convert`, `inspect --dump-input`).
//!
//! The file is written whole or not at all ([`write_whole`]). The safetensors crate writes
//! through a temporary file that only its owner may read, so a converted checkpoint in a shared
//! cache would be unreadable to everyone else. Here the file ends up with the permissions of any
//! newly created file: `0666` less the process's umask (on Linux, which reports the umask without
//! changing it).

use std::collections::HashMap;
use std::fmt::Display;
use std::io;
use std::path::Path;

use candle_core::Tensor;

use crate::writable::{check_writable, write_whole};
use crate::{Error, Result};

/// Writes `tensors` to `path`; errors name `path` (see [`check_writable`]).
pub fn save_safetensors<K: AsRef<str> + Ord + Display>(
    tensors: &HashMap<K, Tensor>,
    path: &Path,
) -> Result<()> {
    check_writable(path)?;
    write_whole(path, |scratch| {
        candle_core::safetensors::save(tensors, scratch)
            .map_err(|e| Error::io(path, io::Error::other(e.to_string())))
    })?;
    #[cfg(unix)]
    if let Some(umask) = umask() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666 & !umask))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// The process's umask, as Linux reports it in `/proc/self/status` (reading it there leaves it
/// unchanged, which `umask(2)` cannot). Where that is unavailable the file keeps the owner-only
/// permissions it was written with, rather than some guess wider than the user's umask.
#[cfg(unix)]
fn umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = status.lines().find_map(|line| line.strip_prefix("Umask:"))?;
    u32::from_str_radix(field.trim(), 8).ok()
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use candle_core::{Device, Tensor};

    use super::*;

    #[test]
    fn the_file_gets_the_permissions_of_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let reference = dir.path().join("created.txt");
        std::fs::write(&reference, b"").unwrap();
        let path = dir.path().join("t.safetensors");
        let tensors = HashMap::from([("x", Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap())]);
        save_safetensors(&tensors, &path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&reference));
        let back = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
        assert_eq!(back["x"].to_vec1::<f32>().unwrap(), [1.0, 2.0]);
    }

    #[test]
    fn a_missing_folder_is_named() {
        let tensors = HashMap::from([("x", Tensor::new(&[1f32], &Device::Cpu).unwrap())]);
        let err = save_safetensors(&tensors, Path::new("/no/such/folder/t.safetensors")).unwrap_err();
        assert_eq!(err.to_string(), "/no/such/folder/t.safetensors: no folder /no/such/folder");
    }
}
