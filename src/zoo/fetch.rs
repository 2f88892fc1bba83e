//! Downloading model weights into a cache folder, checked against the hash their name carries.
//!
//! mmaction2 publishes checkpoints as `…_YYYYMMDD-<first 8 hex digits of sha256>.pth`, so a model
//! card can name the expected hash prefix without a separate checksum file. A download streams into
//! `<name>.part`, is hashed on the way, and is renamed into place only after the hash matches and the
//! body is as long as the server announced; anything else removes the `.part` file, so the cache only
//! ever holds verified files (or files the user put there on purpose; `vidclass fetch` checks
//! those too, and replaces one that does not match once a download that does has arrived). The
//! rename is atomic within the cache folder, so a concurrent reader never sees half a checkpoint.
//!
//! Runs that start at once (`xargs -P`, a cluster's jobs sharing a cache) take turns: the `.part`
//! file is locked while it is written, and a run that waited for the lock finds the file in place.
//! Two writers of one `.part` file each hashed what they received, not what the file held, and one
//! renamed a file mixed from both into the cache.
//!
//! Every failure message says how to carry on without the network, since the machines that run
//! video models are often offline.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The weights cache: `$VIDCLASS_CACHE` if set, else `$XDG_CACHE_HOME/vidclass`, else
/// `$HOME/.cache/vidclass`. Empty variables count as unset and a relative `XDG_CACHE_HOME` is
/// ignored, as the XDG base directory specification asks. `None` when none of them is usable.
pub fn cache_dir() -> Option<PathBuf> {
    cache_dir_from(|name| std::env::var_os(name))
}

fn cache_dir_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name| var(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    set("VIDCLASS_CACHE")
        .or_else(|| set("XDG_CACHE_HOME").filter(|dir| dir.is_absolute()).map(|dir| dir.join("vidclass")))
        .or_else(|| set("HOME").map(|home| home.join(".cache").join("vidclass")))
}

/// How a download behaves.
#[derive(Clone, Copy, Debug)]
pub struct Transfer {
    /// Show a byte-count bar on stderr (indicatif hides it by itself when stderr is not a
    /// terminal).
    pub progress: bool,
    /// How long the server may take to accept the connection, and then stay silent, before the
    /// download fails instead of hanging the run: the `--url-timeout` of URL inputs.
    pub timeout: Duration,
    /// Check a file already in place against the hash, and download it again if it does not
    /// match (`vidclass fetch`); otherwise it is trusted.
    pub recheck: bool,
}

/// The lowercase hex SHA-256 of the file at `path`.
pub fn file_sha256(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Returns `dest_dir/file_name`, downloading it from `url` first unless it is already there.
///
/// A file already in place is trusted without rehashing unless `transfer.recheck`: it was
/// verified when it arrived (or put there by the user), and rehashing hundreds of megabytes would
/// slow every run. A rechecked file that does not match stays until a download that does replaces
/// it. A download must have a lowercase hex SHA-256 digest starting with `expected_sha256_prefix`
/// (case-insensitive; an empty prefix checks nothing, which model cards do not allow).
pub fn fetch(
    url: &str,
    expected_sha256_prefix: &str,
    dest_dir: &Path,
    file_name: &str,
    transfer: Transfer,
) -> Result<PathBuf> {
    let target = dest_dir.join(file_name);
    // `damaged`: the file already there failed its hash check, and the new one would replace it.
    let fail = |cause: String, damaged: bool| Error::Fetch {
        url: url.to_owned(),
        cause: format!(
            "{cause}; to work offline, download the file by other means and pass `--weights FILE`, \
             or save it as {}{}",
            target.display(),
            if damaged { " in place of the file there, which is not the published one" } else { "" }
        ),
    };
    if Path::new(file_name).file_name() != Some(OsStr::new(file_name)) {
        return Err(fail(format!("`{file_name}` is not a plain file name"), false));
    }
    let expected = expected_sha256_prefix.to_ascii_lowercase();
    let mismatch = |path: &Path| match file_sha256(path) {
        Ok(digest) if !digest.starts_with(&expected) => Some(digest),
        _ => None,
    };
    // The file in place, if it may be used as it is (rechecked once the lock is held, since
    // another run may have replaced it meanwhile).
    let in_place = || target.is_file() && !(transfer.recheck && mismatch(&target).is_some());
    let damaged = if transfer.recheck && target.is_file() { mismatch(&target) } else { None };
    if target.is_file() && damaged.is_none() {
        return Ok(target);
    }
    let replaces_damaged = damaged.is_some();
    if let Some(digest) = damaged.filter(|_| transfer.progress) {
        let _ = writeln!(
            io::stderr(),
            "vidclass: {}: its sha256 is {digest}, not {expected}…: downloading it again",
            target.display()
        );
    }
    check_cache_folder(dest_dir)?;
    // Something other than a file where the checkpoint goes (a folder, say) would refuse the
    // download once it arrived, and the offline advice, to save the file there, could not be
    // followed either.
    if fs::symlink_metadata(&target).is_ok_and(|meta| !meta.is_file() && !meta.file_type().is_symlink()) {
        let cause = "is no file, and is where the checkpoint goes; remove it".to_owned();
        return Err(Error::io(&target, io::Error::new(io::ErrorKind::AlreadyExists, cause)));
    }
    fs::create_dir_all(dest_dir)
        .map_err(|e| cache_error(dest_dir, format!("cannot create the weights cache: {e}")))?;

    let part_path = dest_dir.join(format!("{file_name}.part"));
    let Some(mut part) = PartFile::lock(part_path, &in_place, transfer.progress)
        .map_err(|(path, e)| cache_error(&path, format!("cannot write the download: {e}")))?
    else {
        // Another run downloaded it while this one waited.
        return Ok(target);
    };
    let digest = download(url, &mut part, file_name, transfer).map_err(|failure| match failure {
        Failure::Network(cause) => fail(cause, replaces_damaged),
        Failure::Cache(cause) => cache_error(&part.path, cause),
    })?;
    if !digest.starts_with(&expected) {
        return Err(fail(
            format!(
                "the file's sha256 is {digest}, not {expected}…: the download is corrupt or is not the \
                 file the model card names"
            ),
            replaces_damaged,
        ));
    }
    part.persist(&target).map_err(|e| {
        cache_error(&part.path, format!("cannot move the download to {}: {e}", target.display()))
    })?;
    Ok(target)
}

/// Fails where the weights cache `dest_dir` is there but no folder (a file), which no download
/// mends; a missing one is created when it is first needed.
pub fn check_cache_folder(dest_dir: &Path) -> Result<()> {
    if dest_dir.exists() && !dest_dir.is_dir() {
        return Err(cache_error(dest_dir, "the weights cache must be a folder".into()));
    }
    Ok(())
}

/// A failure of the cache folder rather than of the network, so without the advice to download
/// the file by other means and save it there.
fn cache_error(path: &Path, cause: String) -> Error {
    let advice = "set VIDCLASS_CACHE to a folder of your own with room for the file, or give predict the file with --weights";
    Error::io(path, io::Error::other(format!("{cause}; {advice}")))
}

/// Why a download failed: on the network's side (the caller adds how to work offline), or
/// writing into the cache folder (a full disk, say), which downloading elsewhere would not mend.
enum Failure {
    Network(String),
    Cache(String),
}

/// Downloads `url` into `part`, returning the hex SHA-256 of what was received.
fn download(
    url: &str,
    part: &mut PartFile,
    label: &str,
    Transfer { progress, timeout, .. }: Transfer,
) -> std::result::Result<String, Failure> {
    let crate::http::Download { body, announced } =
        crate::http::get(url, timeout).map_err(Failure::Network)?;
    let bar = progress_bar(label, announced, progress);
    // After "download of URL failed: ".
    let broke_off = |received, cause: Option<&io::Error>| {
        format!("it {}", crate::http::broke_off(received, announced, cause, timeout))
    };
    let streamed = stream(body, part, &bar, |e, received| broke_off(received, Some(&e)));
    bar.finish_and_clear();
    match streamed? {
        (_, received) if announced.is_some_and(|len| len != received) => {
            Err(Failure::Network(broke_off(received, None)))
        }
        (digest, _) => Ok(digest),
    }
}

/// Copies `body` into `part`, hashing as it goes; returns the hex digest and the byte count, or
/// why reading (described by `read_error` from the error and the bytes so far) or writing failed.
fn stream(
    mut body: impl Read,
    part: &mut PartFile,
    bar: &ProgressBar,
    read_error: impl Fn(io::Error, u64) -> String,
) -> std::result::Result<(String, u64), Failure> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    let mut received: u64 = 0;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok((format!("{:x}", hasher.finalize()), received)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Network(read_error(e, received))),
        };
        hasher.update(&buf[..n]);
        part.file
            .write_all(&buf[..n])
            .map_err(|e| Failure::Cache(format!("cannot write the download: {e}")))?;
        received += n as u64;
        bar.inc(n as u64);
    }
}

/// A byte-count bar on stderr (a spinner when the length is unknown), or a hidden one.
fn progress_bar(label: &str, len: Option<u64>, show: bool) -> ProgressBar {
    let target = if show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let template = match len {
        Some(_) => "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        None => "{spinner} {msg} {bytes} {bytes_per_sec}",
    };
    let style =
        ProgressStyle::with_template(template).expect("the templates are valid").progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(len, target).with_style(style);
    bar.set_message(label.to_owned());
    bar
}

/// A `.part` file that removes itself unless it is moved into place.
struct PartFile {
    path: PathBuf,
    file: File,
    persisted: bool,
}

impl PartFile {
    /// Opens `path` (a stale one is emptied) and locks it, waiting while another process writes
    /// it (saying so on stderr if `tell`); `None` when `in_place()` says that the target is there
    /// (another run put it there) once the lock is held. A
    /// file system without locks (NFS without its lock daemon, some FUSE mounts) goes unlocked,
    /// as before locking.
    fn lock(
        path: PathBuf,
        in_place: &dyn Fn() -> bool,
        tell: bool,
    ) -> std::result::Result<Option<Self>, (PathBuf, io::Error)> {
        loop {
            let opened = fs::OpenOptions::new().write(true).create(true).truncate(false).open(&path);
            let file = match opened.and_then(|file| wait_for_lock(&file, &path, tell).map(|()| file)) {
                Ok(file) => file,
                Err(e) => return Err((path, e)),
            };
            let current = is_at(&file, &path);
            if in_place() {
                if current {
                    // Opened after the other run's rename: an empty file of this run's making.
                    let _ = fs::remove_file(&path);
                }
                return Ok(None);
            }
            if current {
                if let Err(e) = file.set_len(0) {
                    return Err((path, e));
                }
                crate::unfinished::begin(&path);
                return Ok(Some(PartFile { path, file, persisted: false }));
            }
            // The file waited on was renamed or removed meanwhile: lock the one there now.
        }
    }

    /// Flushes the data to disk, then renames the file to `target`.
    fn persist(&mut self, target: &Path) -> io::Result<()> {
        self.file.sync_all()?;
        fs::rename(&self.path, target)?;
        self.persisted = true;
        Ok(())
    }
}

/// Locks `file`, telling (if `tell`) that another run holds it; `Ok` without a lock where the
/// file system has none.
fn wait_for_lock(file: &File, path: &Path, tell: bool) -> io::Result<()> {
    match file.try_lock() {
        Ok(()) => return Ok(()),
        Err(fs::TryLockError::WouldBlock) => {
            if tell {
                let _ = writeln!(
                    io::stderr(),
                    "vidclass: waiting for another run's download into {}",
                    path.display()
                );
            }
        }
        Err(fs::TryLockError::Error(e)) if no_locks_here(&e) => return Ok(()),
        Err(fs::TryLockError::Error(e)) => return Err(e),
    }
    loop {
        match file.lock() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if no_locks_here(&e) => return Ok(()),
            other => return other,
        }
    }
}

/// Whether a lock failed because the file system (or platform) has no locks.
fn no_locks_here(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
        || matches!(e.raw_os_error(), Some(code) if code == libc::ENOLCK || code == libc::EOPNOTSUPP)
}

/// True when `file` is still the file at `path` (not renamed or removed since it was opened).
#[cfg(unix)]
fn is_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

#[cfg(not(unix))]
fn is_at(_: &File, path: &Path) -> bool {
    path.is_file()
}

impl Drop for PartFile {
    fn drop(&mut self) {
        crate::unfinished::end(&self.path);
        if !self.persisted {
            // Nothing more can be done about a failed cleanup; the next download truncates it.
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests;
