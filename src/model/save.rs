//! Writing tensors as a `.safetensors` file (`vidclass convert`, `inspect --dump-input`).
//!
//! The tensors are laid out in memory and written whole or not at all ([`write_whole`]), with the
//! permissions of any new file (`0666` less the umask) or those of the file replaced. The
//! safetensors crate's own writer goes through a temporary file that only its owner may read, so
//! a converted checkpoint in a shared cache was unreadable to everyone else, and it cannot write
//! to `/dev/stdout` or a pipe.

use std::collections::HashMap;
use std::fmt::Display;
use std::io;
use std::path::Path;

use candle_core::Tensor;

use crate::writable::{OutputKind, check_writable, write_whole};
use crate::{Error, Result};

/// Writes `tensors` to `path`; errors name `path` (see [`check_writable`]).
pub fn save_safetensors<K: AsRef<str> + Ord + Display>(
    tensors: &HashMap<K, Tensor>,
    path: &Path,
) -> Result<()> {
    check_writable(path, OutputKind::Safetensors)?;
    let bytes = safetensors::tensor::serialize(tensors, None)
        .map_err(|e| Error::io(path, io::Error::other(e.to_string())))?;
    write_whole(path, |to| std::fs::write(to, &bytes).map_err(|e| Error::io(path, e)))
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
