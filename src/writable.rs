//! Output files (`convert`'s checkpoint, `inspect`'s contact sheet and input dump): checked
//! before any work is done, so that a long run does not end in a failure it could have reported
//! at once, and written whole or not at all.

use std::io::{self, Read};
use std::path::Path;

use crate::error::one_line_path;
use crate::{Error, Result};

/// What an output file holds, told by its first bytes.
#[derive(Clone, Copy, Debug)]
pub enum OutputKind {
    Png,
    Safetensors,
    /// `inspect --dump-input`'s file: safetensors holding one tensor, `input`. Told apart from a
    /// checkpoint (safetensors too, and no output to replace by a slip).
    InputDump,
}

impl OutputKind {
    /// Whether a file of `len` bytes starting with `head` (its first 10 bytes, or all of a shorter
    /// file) holds this kind: PNG's signature, or safetensors' header length (which text read as a
    /// number makes far longer than the file) followed by the start of its JSON header.
    fn starts(self, head: &[u8], len: u64) -> bool {
        match self {
            OutputKind::Png => head.starts_with(b"\x89PNG\r\n\x1a\n"),
            OutputKind::Safetensors | OutputKind::InputDump => {
                let Some((size, json)) = head.split_first_chunk::<8>() else { return false };
                let header = u64::from_le_bytes(*size);
                (2..=len.saturating_sub(8)).contains(&header) && matches!(json, [b'{', b'"' | b'}'])
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            OutputKind::Png => "PNG",
            OutputKind::Safetensors => "safetensors",
            OutputKind::InputDump => "input dump",
        }
    }
}

/// `Ok` when `path` is not a folder and its folder exists and may be written to (or, for a device
/// or a pipe, it may be written to itself), and it is no existing file other than an empty one or
/// one of `kind`, and not write-protected; otherwise an error naming `path` and the reason (a
/// missing folder, a read-only file system, no permission). An existing file of the kind being
/// written is the user's own earlier output; any other (`clip.mp4` named by a slip where
/// `clip.safetensors` was meant) may be data that nothing can bring back.
pub fn check_writable(path: &Path, kind: OutputKind) -> Result<()> {
    let fail =
        |error_kind: io::ErrorKind, cause: String| Err(Error::io(path, io::Error::new(error_kind, cause)));
    if path == Path::new("-") {
        // `-` means stdout elsewhere on the command line; here stdout carries the report.
        return fail(io::ErrorKind::InvalidInput, "name a file, not stdout (./- for a file called -)".into());
    }
    if path.is_dir() {
        return fail(io::ErrorKind::IsADirectory, "is a folder".into());
    }
    match std::fs::metadata(path) {
        // A device or a pipe, written to as it is (see `write_whole`).
        Ok(meta) if !meta.is_file() => return may_write(path).map_err(|e| Error::io(path, e)),
        // As `rm` asks first, even of root: a file without write permission was protected on
        // purpose, and the write goes through a rename that its permission does not stop.
        Ok(meta) if meta.permissions().readonly() => {
            let cause = "is write-protected, so it is not replaced; name a new file".to_owned();
            return fail(io::ErrorKind::PermissionDenied, cause);
        }
        Ok(meta) if meta.len() > 0 => match holds(path, kind) {
            Ok(true) => {}
            Ok(false) => {
                let cause =
                    format!("exists and is no {} file, so it is not replaced; name a new file", kind.name());
                return fail(io::ErrorKind::AlreadyExists, cause);
            }
            Err(e) => {
                let cause = format!("exists and cannot be read to tell what it holds ({e}); name a new file");
                return fail(e.kind(), cause);
            }
        },
        _ => {}
    }
    let folder = folder_of(path);
    if !folder.exists() {
        return fail(io::ErrorKind::NotFound, format!("no folder {}", one_line_path(folder)));
    }
    if !folder.is_dir() {
        return fail(io::ErrorKind::NotADirectory, format!("{} is not a folder", one_line_path(folder)));
    }
    may_write(folder).map_err(|e| Error::io(path, e))
}

/// Whether the file at `path` holds `kind`.
fn holds(path: &Path, kind: OutputKind) -> io::Result<bool> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = Vec::with_capacity(10);
    (&mut file).take(10).read_to_end(&mut head)?;
    if !kind.starts(&head, len) {
        return Ok(false);
    }
    match kind {
        OutputKind::InputDump => only_input_tensor(file, &head),
        OutputKind::Png | OutputKind::Safetensors => Ok(true),
    }
}

/// The longest safetensors header read to tell an input dump (whose header is a few dozen bytes)
/// from a checkpoint.
const DUMP_HEADER_MAX: u64 = 1 << 16;

/// Whether the safetensors `file`, whose first bytes `head` were read already, names one tensor,
/// `input` (besides any metadata).
fn only_input_tensor(mut file: std::fs::File, head: &[u8]) -> io::Result<bool> {
    let header_len = u64::from_le_bytes(head[..8].try_into().expect("a safetensors head"));
    if header_len > DUMP_HEADER_MAX {
        return Ok(false);
    }
    let mut header = head[8..].to_vec();
    (&mut file).take(header_len - header.len() as u64).read_to_end(&mut header)?;
    let names = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&header)
        .map(|tensors| tensors.keys().filter(|name| *name != "__metadata__").cloned().collect::<Vec<_>>());
    Ok(names.is_ok_and(|names| names == ["input"]))
}

/// The folder `path` is in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Writes the file at `path` through `write`, which is handed a path of the same name in a
/// scratch folder next to it, then moves it into place (one rename, within one file system). A
/// write that fails, or a run interrupted meanwhile ([`crate::unfinished`]), leaves neither a
/// partial `path` nor the scratch folder. Where `path` is a link, the file it points to is
/// replaced and the link kept; a file replaced keeps its permissions. Where `path` is no regular
/// file (`/dev/null`, a pipe, `/dev/stdout`), `write` writes to it directly.
pub fn write_whole(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let existing = std::fs::metadata(path).ok();
    if existing.as_ref().is_some_and(|meta| !meta.is_file()) {
        return write(path);
    }
    // Named as the user named it, whatever the link's target is called: the image writer reads
    // the format from the name.
    let name = path.file_name().unwrap_or("output".as_ref()).to_owned();
    let linked = link_target(path);
    let path = linked.as_deref().unwrap_or(path);
    // The system's words without the scratch folder's made-up name, which tempfile adds.
    let scratch = tempfile::Builder::new().prefix(".vidclass-").tempdir_in(folder_of(path)).map_err(|e| {
        let words = e.to_string();
        let words = words.split(" at path ").next().unwrap_or_default();
        Error::io(path, std::io::Error::new(e.kind(), words))
    })?;
    crate::unfinished::begin(scratch.path());
    let written = scratch.path().join(name);
    let keep_permissions = |()| match &existing {
        Some(meta) => std::fs::set_permissions(&written, meta.permissions()).map_err(|e| Error::io(path, e)),
        None => Ok(()),
    };
    let result = write(&written)
        .and_then(keep_permissions)
        .and_then(|()| std::fs::rename(&written, path).map_err(|e| Error::io(path, e)));
    crate::unfinished::end(scratch.path());
    result
}

/// Whether writing `output` would overwrite `input`: the same file (also through links), or the
/// same name in the same folder where neither exists yet.
pub fn same_file(input: &Path, output: &Path) -> bool {
    match (std::fs::metadata(input), std::fs::metadata(output)) {
        (Ok(a), Ok(b)) => same_existing((input, &a), (output, &b)),
        (Err(_), Err(_)) => {
            let folder = |p: &Path| std::fs::canonicalize(folder_of(p)).ok();
            input.file_name() == output.file_name()
                && folder(input).is_some_and(|f| folder(output) == Some(f))
        }
        _ => false,
    }
}

/// Whether two existing files are one.
#[cfg(unix)]
fn same_existing((_, a): (&Path, &std::fs::Metadata), (_, b): (&Path, &std::fs::Metadata)) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_existing((a, _): (&Path, &std::fs::Metadata), (b, _): (&Path, &std::fs::Metadata)) -> bool {
    std::fs::canonicalize(a).ok().is_some_and(|a| std::fs::canonicalize(b).ok() == Some(a))
}

/// The file the link at `path` points to, whether it is there yet or not (a link to a file not
/// there yet is written through too, as `cp` does); `None` where `path` is no link.
fn link_target(path: &Path) -> Option<std::path::PathBuf> {
    if !path.is_symlink() {
        return None;
    }
    std::fs::canonicalize(path).ok().or_else(|| Some(folder_of(path).join(std::fs::read_link(path).ok()?)))
}

/// Whether this process may write to `path`, or create files in it if it is a folder
/// (`access(2)` with `W_OK`, which also reports a read-only file system to root).
#[cfg(unix)]
fn may_write(path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: `path` is a NUL-terminated path that outlives the call.
    match unsafe { libc::access(path.as_ptr(), libc::W_OK) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(not(unix))]
fn may_write(_path: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in `folder`.
    fn listed(folder: &Path) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().file_name()).collect()
    }

    #[test]
    fn a_file_is_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_whole(&path, |scratch| {
            assert_ne!(scratch, path, "written elsewhere first");
            std::fs::write(scratch, b"whole").map_err(|e| Error::io(scratch, e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert_eq!(listed(dir.path()), ["out.bin"], "no scratch folder left");

        let other = dir.path().join("failed.bin");
        let failed = write_whole(&other, |scratch| {
            std::fs::write(scratch, b"half").unwrap();
            Err(Error::io(scratch, io::Error::other("disk full")))
        });
        assert!(failed.is_err());
        assert_eq!(listed(dir.path()), ["out.bin"], "neither the file nor its scratch folder");

        // A link stays a link: the file it points to is what is written.
        #[cfg(unix)]
        {
            let link = dir.path().join("link.bin");
            std::os::unix::fs::symlink("out.bin", &link).unwrap();
            write_whole(&link, |scratch| std::fs::write(scratch, b"new").map_err(|e| Error::io(scratch, e)))
                .unwrap();
            assert!(link.is_symlink());
            assert_eq!(std::fs::read(&path).unwrap(), b"new");
        }

        // A file replaced keeps its permissions; what is no file is written to as it is.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            write_whole(&path, |scratch| {
                std::fs::write(scratch, b"again").map_err(|e| Error::io(scratch, e))
            })
            .unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            let null = Path::new("/dev/null");
            write_whole(null, |to| {
                assert_eq!(to, null, "directly");
                std::fs::write(to, b"gone").map_err(|e| Error::io(to, e))
            })
            .unwrap();
            assert!(!std::fs::metadata(null).unwrap().is_file(), "still the device");
        }

        // What an interrupted run's signal handler removes.
        write_whole(&dir.path().join("again.bin"), |scratch| {
            assert!(crate::unfinished::includes(scratch.parent().unwrap()));
            std::fs::write(scratch, b"whole").map_err(|e| Error::io(scratch, e))
        })
        .unwrap();
    }

    #[test]
    fn a_file_that_cannot_be_written_is_named_without_its_scratch_folder() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_folder = dir.path().join("file");
        std::fs::write(&not_a_folder, b"").unwrap();
        let path = not_a_folder.join("out.bin");
        let error = write_whole(&path, |_| panic!("no scratch file to write")).unwrap_err().to_string();
        assert!(error.starts_with(&format!("{}: ", path.display())), "{error}");
        assert!(!error.contains(".vidclass-"), "{error}");
    }

    #[test]
    fn says_why_a_file_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file.txt");
        std::fs::write(&file, b"").unwrap();
        assert!(check_writable(&dir.path().join("new.png"), OutputKind::Png).is_ok());
        assert!(
            check_writable(&dir.path().join("new.mp4"), OutputKind::Png).is_ok(),
            "a new file of any name"
        );
        assert!(check_writable(&file, OutputKind::Png).is_ok(), "an empty file loses nothing");
        let said = |path: &Path| check_writable(path, OutputKind::Png).unwrap_err().to_string();
        assert_eq!(said(dir.path()), format!("{}: is a folder", dir.path().display()));
        assert!(
            said(&dir.path().join("no/x.png"))
                .ends_with(&format!("no folder {}", dir.path().join("no").display()))
        );
        assert!(said(&file.join("x.png")).ends_with("file.txt is not a folder"));
        assert!(said(Path::new("-")).contains("not stdout"));
        assert!(check_writable(Path::new("./-"), OutputKind::Png).is_ok());
        // A PNG of its own kind, but write-protected (as root too, whom permissions do not stop).
        let protected = dir.path().join("keep.png");
        std::fs::write(&protected, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
        assert!(check_writable(&protected, OutputKind::Png).is_ok());
        let mut permissions = std::fs::metadata(&protected).unwrap().permissions();
        permissions.set_readonly(true);
        std::fs::set_permissions(&protected, permissions).unwrap();
        assert_eq!(
            said(&protected),
            format!("{}: is write-protected, so it is not replaced; name a new file", protected.display())
        );
        #[cfg(unix)]
        assert!(
            check_writable(Path::new("/dev/null"), OutputKind::Png).is_ok(),
            "a device is written as it is"
        );
    }

    #[test]
    fn an_existing_file_is_replaced_only_by_one_of_its_kind() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        // What the writers themselves leave: an image, and tensors.
        let png = write("sheet.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
        let tensors = write("t.bin", &[&2u64.to_le_bytes()[..], b"{}"].concat());
        let safetensors = |names: &[&str]| {
            let entry = |name: &&str| {
                format!("\"{name}\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}")
            };
            let header = format!("{{{}}}", names.iter().map(entry).collect::<Vec<_>>().join(","));
            [&(header.len() as u64).to_le_bytes()[..], header.as_bytes(), &[0; 4]].concat()
        };
        let dump = write("input.safetensors", &safetensors(&["input"]));
        // A converted checkpoint: what `--dump-input` named by a slip must not replace.
        let checkpoint = write("w.safetensors", &safetensors(&["backbone.conv1.weight", "cls_head.fc.bias"]));
        let one_weight = write("fc.safetensors", &safetensors(&["cls_head.fc.weight"]));
        // Whatever the names say.
        let video = write("clip.png", b"\0\0\0\x20ftypisom");
        let text = write("notes.safetensors", b"{\"a\": 1}");
        // Text whose ninth byte opens a brace, as a safetensors header does.
        let css = write("style.css", b"section {color:red}\n");
        let jsonl = write("log.jsonl", b"{\"a\":1}\n{\"b\":2}\n");
        assert!(check_writable(&png, OutputKind::Png).is_ok());
        assert!(check_writable(&tensors, OutputKind::Safetensors).is_ok());
        assert!(check_writable(&dump, OutputKind::InputDump).is_ok());
        assert!(check_writable(&checkpoint, OutputKind::Safetensors).is_ok());
        let refused = [
            (&checkpoint, OutputKind::InputDump),
            (&one_weight, OutputKind::InputDump),
            (&tensors, OutputKind::InputDump),
            (&video, OutputKind::Png),
            (&text, OutputKind::Safetensors),
            (&png, OutputKind::Safetensors),
            (&css, OutputKind::Safetensors),
            (&jsonl, OutputKind::Safetensors),
        ];
        for (path, kind) in refused {
            let error = check_writable(path, kind).unwrap_err().to_string();
            let says =
                format!("exists and is no {} file, so it is not replaced; name a new file", kind.name());
            assert_eq!(error, format!("{}: {says}", path.display()));
        }
        // A link is judged by the file it points to, which is replaced under the link's name.
        #[cfg(unix)]
        {
            let link = dir.path().join("link.png");
            std::os::unix::fs::symlink(&text, &link).unwrap();
            assert!(check_writable(&link, OutputKind::Png).is_err());
            let to_png = dir.path().join("old.png");
            std::os::unix::fs::symlink(&tensors, &to_png).unwrap();
            write_whole(&to_png, |scratch| {
                assert_eq!(scratch.file_name(), to_png.file_name(), "the name the format is told by");
                std::fs::write(scratch, b"new").map_err(|e| Error::io(scratch, e))
            })
            .unwrap();
            assert_eq!(std::fs::read(&tensors).unwrap(), b"new");
            let dangling = dir.path().join("later.safetensors");
            std::os::unix::fs::symlink("made.safetensors", &dangling).unwrap();
            write_whole(&dangling, |scratch| {
                std::fs::write(scratch, b"made").map_err(|e| Error::io(scratch, e))
            })
            .unwrap();
            assert!(dangling.is_symlink(), "still a link");
            assert_eq!(std::fs::read(dir.path().join("made.safetensors")).unwrap(), b"made");
        }
    }

    #[test]
    fn tells_when_an_output_would_overwrite_an_input() {
        let dir = tempfile::tempdir().unwrap();
        let (file, other) = (dir.path().join("a.mp4"), dir.path().join("b.mp4"));
        std::fs::write(&file, b"video").unwrap();
        std::fs::write(&other, b"video").unwrap();
        assert!(same_file(&file, &file));
        assert!(same_file(&file, &dir.path().join(".").join("a.mp4")), "another spelling");
        assert!(!same_file(&file, &other), "equal bytes, another file");
        assert!(!same_file(&file, &dir.path().join("new.png")), "a new file");
        let new = dir.path().join("new.png");
        assert!(same_file(&new, &dir.path().join(".").join("new.png")), "one new file, two spellings");
        assert!(!same_file(&new, &dir.path().join("other.png")));
        #[cfg(unix)]
        {
            let link = dir.path().join("link.mp4");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            assert!(same_file(&file, &link), "a link to the input");
        }
    }
}
