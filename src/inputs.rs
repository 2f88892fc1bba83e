//! From the INPUT arguments to an ordered list of jobs: files, folders, URLs, stdin and path lists.
//!
//! The rules are the ones shell users expect from GNU tools (see the reference, §5):
//! - `-` means the video bytes are on stdin (at most once, and never together with
//!   `--files-from -`, which already reads stdin); name a file called `-` as `./-`.
//! - Anything that starts with a URL scheme (`http://`, `rtsp://`, `file:`, …) is handed to FFmpeg
//!   untouched. A scheme without `//` (`file:clip.mp4`) counts only when no local file has that
//!   exact name, so `clip:1.mp4` on disk stays a file (and `./clip:1.mp4` always does).
//! - A folder is scanned recursively for video extensions, sorted by name so that runs are
//!   reproducible, following symbolic links; a link back to an ancestor folder is not descended
//!   (its videos are listed once already), so loops cannot hang the scan. Hidden files and folders
//!   (names starting with `.`: macOS's `._clip.mp4` companions, `.git`) are skipped, as `fd` and
//!   `rg` skip them; name one explicitly to run it.
//! - `--files-from FILE|-` reads one entry per line (`\r\n` tolerated, empty lines ignored) or,
//!   with `-0`, NUL-separated entries as `find -print0` writes them. Each entry follows the rules
//!   above, so a list may hold folders and URLs too. A list on a pipe is read as it is written
//!   (see `inputs/list.rs`).
//!
//! Order is kept: arguments first, then list entries, and a folder expands in place. An input that
//! cannot be read (a missing path, a folder without videos) becomes a [`Job::Error`] at its place
//! so the batch reports it and goes on; only contradictory arguments or a list that cannot be read
//! stop the run.

mod list;

use std::ffi::OsStr;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::error::{Error, Result, one_line_path};
use list::{Entries, ListedJobs, StdinUse};
pub use list::{JobCount, JobList};

/// Extensions a folder scan picks up unless `--ext` replaces them.
pub const DEFAULT_VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "mkv", "webm", "avi", "mov", "m4v", "mpg", "mpeg", "ts", "mts", "m2ts", "vob", "flv", "wmv",
    "3gp", "ogv", "gif",
];

/// The file extensions a folder scan keeps, compared case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extensions(Vec<String>);

impl Extensions {
    /// Extensions as the user writes them: `mp4`, `.MP4` and `Mp4` are the same.
    pub fn new<S: AsRef<str>>(extensions: impl IntoIterator<Item = S>) -> Self {
        Extensions(
            extensions.into_iter().map(|e| e.as_ref().trim_start_matches('.').to_lowercase()).collect(),
        )
    }

    /// Whether `path`'s extension is one of these.
    pub fn matches(&self, path: &Path) -> bool {
        path.extension().and_then(OsStr::to_str).is_some_and(|ext| self.0.contains(&ext.to_lowercase()))
    }
}

impl Default for Extensions {
    fn default() -> Self {
        Extensions::new(DEFAULT_VIDEO_EXTENSIONS)
    }
}

/// Something FFmpeg can open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A local file (or device, FIFO, …), as given or as found in a folder.
    File(PathBuf),
    /// A URL, passed to FFmpeg untouched.
    Url(String),
    /// The video bytes on stdin (`-`).
    Stdin,
}

impl Input {
    /// The name results are reported under. Non-UTF-8 paths are converted lossily (invalid bytes
    /// become U+FFFD) because every output format is text; [`Self::name_bytes`] keeps them.
    pub fn name(&self) -> String {
        match self {
            Input::File(path) => path.to_string_lossy().into_owned(),
            Input::Url(url) => url.clone(),
            Input::Stdin => "-".to_owned(),
        }
    }

    /// The name's bytes where [`Self::name`] had to replace some (a path that is not UTF-8), so
    /// that a result can still be matched to its file; `None` where the name is exact.
    pub fn name_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Input::File(path) => bytes_if_not_utf8(path),
            Input::Url(_) | Input::Stdin => None,
        }
    }
}

fn bytes_if_not_utf8(path: &Path) -> Option<Vec<u8>> {
    path.to_str().is_none().then(|| path.as_os_str().as_encoded_bytes().to_vec())
}

/// One entry of the job list.
#[derive(Debug)]
pub enum Job {
    /// An input to classify.
    Input(Input),
    /// An argument that yields nothing to classify; report it under `name` and go on.
    Error {
        /// The argument or found path.
        name: PathBuf,
        /// Why it cannot be classified.
        error: Error,
    },
}

impl Job {
    /// The name results are reported under.
    pub fn name(&self) -> String {
        match self {
            Job::Input(input) => input.name(),
            Job::Error { name, .. } => name.to_string_lossy().into_owned(),
        }
    }

    /// The name's bytes where [`Self::name`] had to replace some (see [`Input::name_bytes`]).
    pub fn name_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Job::Input(input) => input.name_bytes(),
            Job::Error { name, .. } => bytes_if_not_utf8(name),
        }
    }
}

/// Where `--files-from` reads its list, and how entries are separated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilesFrom {
    /// The list file; `-` reads stdin.
    pub path: PathBuf,
    /// Entries end with NUL (`-0`) instead of a newline.
    pub null: bool,
}

impl FilesFrom {
    /// Whether the list is read from stdin: `-`, or a path naming it (`/dev/stdin`).
    pub fn reads_stdin(&self) -> bool {
        self.path.as_os_str() == "-" || names_stdin(&self.path)
    }
}

/// A file opened when it is first read: a FIFO's open waits for a writer.
struct OpenedOnFirstRead {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl Read for OpenedOnFirstRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(std::fs::File::open(&self.path)?),
        };
        file.read(buf)
    }
}

/// Standard input as `--files-from -` reads it.
pub struct StdinList<R> {
    /// Its bytes.
    pub reader: R,
    /// Whether it is redirected from a regular file (`< list.txt`), which can be read whole before
    /// the run starts; a pipe or a terminal is read as the run goes.
    pub regular_file: bool,
}

impl StdinList<io::Stdin> {
    /// The process's standard input.
    pub fn of_process() -> Self {
        StdinList { reader: io::stdin(), regular_file: stdin_is_a_regular_file() }
    }
}

/// Plans the jobs of the positional `args` and an optional `--files-from` list, which is read
/// from `stdin` when its path is `-`.
///
/// Fails at once on a usage error in the arguments (`-` twice, `-` with a list on stdin) or a list
/// that cannot be opened. A list in a regular file is read here, so its problems (an empty list
/// with nothing else to do, an entry naming stdin again, text that is no path list) fail here too;
/// any other list (a pipe) is read as the jobs are taken, and such a problem ends the [`JobList`]
/// with that error where it is met. Per-input problems are [`Job::Error`] entries.
pub fn plan<A: AsRef<OsStr>>(
    args: &[A],
    files_from: Option<&FilesFrom>,
    extensions: &Extensions,
    stdin: StdinList<impl Read + Send + 'static>,
) -> Result<JobList> {
    let list_on_stdin = files_from.filter(|f| f.reads_stdin()).map(|f| one_line_path(&f.path));
    let stdin_is_a_stream = !stdin.regular_file;
    let mut stdin_use = StdinUse { list_on_stdin, stdin_is_a_stream, video_on_stdin: false };
    // Before the list is read: the video's bytes are not to be read as a list.
    for arg in args {
        stdin_use.check(arg.as_ref())?;
    }
    let mut jobs = Vec::new();
    for arg in args {
        expand(arg.as_ref(), extensions, &mut jobs);
    }
    let Some(list) = files_from else { return Ok(JobList::planned(jobs)) };
    let list_name = one_line_path(&list.path);
    let unopened = |e| Error::Usage(format!("--files-from {list_name}: {}", crate::error::read_failure(&e)));
    let (reader, regular_file): (Box<dyn Read + Send>, bool) = if list.path.as_os_str() == "-" {
        (Box::new(stdin.reader), stdin.regular_file)
    } else {
        match std::fs::metadata(&list.path).map_err(unopened)? {
            meta if meta.is_file() => (Box::new(std::fs::File::open(&list.path).map_err(unopened)?), true),
            meta if meta.is_dir() => return Err(unopened(io::ErrorKind::IsADirectory.into())),
            // Opening a FIFO waits for a writer: not before the arguments' inputs have run.
            _ => (Box::new(OpenedOnFirstRead { path: list.path.clone(), file: None }), false),
        }
    };
    let entries = Entries::new(reader, list.null);
    let listed = ListedJobs::new(entries, list_name, stdin_use, extensions.clone(), args.is_empty());
    if regular_file {
        for job in listed {
            jobs.push(job?);
        }
        Ok(JobList::planned(jobs))
    } else {
        Ok(JobList::streaming(jobs, listed))
    }
}

/// The jobs of one argument: an input, the videos of a folder, or why it yields nothing.
pub fn jobs_of(arg: &OsStr, extensions: &Extensions) -> Vec<Job> {
    let mut jobs = Vec::new();
    expand(arg, extensions, &mut jobs);
    jobs
}

/// Appends the jobs of one argument or list entry.
fn expand(entry: &OsStr, extensions: &Extensions, jobs: &mut Vec<Job>) {
    if entry == "-" {
        return jobs.push(Job::Input(Input::Stdin));
    }
    let path = Path::new(entry);
    if let Some(url) = entry.to_str().filter(|s| is_url(s, path)) {
        return jobs.push(Job::Input(Input::Url(url.to_owned())));
    }
    match std::fs::metadata(path) {
        Err(e) => jobs.push(Job::Error { name: path.to_owned(), error: unreadable(path, e) }),
        Ok(meta) if meta.is_dir() => scan_folder(path, extensions, jobs),
        Ok(_) => jobs.push(Job::Input(Input::File(path.to_owned()))),
    }
}

/// Whether `path` is the file standard input reads (`/dev/stdin`, or the file given with `<`).
#[cfg(unix)]
fn names_stdin(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(list), Ok(stdin)) = (std::fs::metadata(path), std::fs::metadata("/dev/stdin")) else {
        return false;
    };
    (list.dev(), list.ino()) == (stdin.dev(), stdin.ino())
}

#[cfg(not(unix))]
fn names_stdin(_: &Path) -> bool {
    false
}

/// Whether stdin is redirected from a regular file (`< list.txt`), which can be read whole at once.
#[cfg(unix)]
fn stdin_is_a_regular_file() -> bool {
    std::fs::metadata("/dev/stdin").is_ok_and(|meta| meta.is_file())
}

#[cfg(not(unix))]
fn stdin_is_a_regular_file() -> bool {
    false
}

/// `scheme://…` always; `scheme:…` when no local file has that name. A scheme is a letter followed
/// by letters, digits, `+`, `-` or `.` (RFC 3986), at least two characters so that a Windows drive
/// (`C:\…`) is not mistaken for one.
fn is_url(s: &str, path: &Path) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    let valid_scheme = scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid_scheme && (rest.starts_with("//") || std::fs::symlink_metadata(path).is_err())
}

/// Why the input at `path` cannot be read, found when the batch is planned or when the decoder
/// opens it (a file that vanished meanwhile), in the same words either way.
pub(crate) fn unreadable(path: &Path, e: io::Error) -> Error {
    let cause = match e.kind() {
        io::ErrorKind::NotFound if path.is_symlink() => "a link to a file that does not exist".to_owned(),
        io::ErrorKind::NotFound => "no such file".to_owned(),
        _ => format!("cannot open: {e}"),
    };
    Error::video(path.to_string_lossy(), cause)
}

/// Appends the videos under `dir`, depth first with each folder's entries sorted by name.
///
/// Unreadable entries become errors at their place, except dangling links whose extension says
/// they are not videos anyway; a folder with no video at all is an error too, so that a typo'd
/// `--ext` or a wrong folder does not pass as an empty success.
fn scan_folder(dir: &Path, extensions: &Extensions, jobs: &mut Vec<Job>) {
    let before = jobs.len();
    let hidden_name = |name: &OsStr| name.as_encoded_bytes().first() == Some(&b'.');
    let hidden = |entry: &walkdir::DirEntry| entry.depth() > 0 && hidden_name(entry.file_name());
    let entries = WalkDir::new(dir).follow_links(true).sort_by_file_name().into_iter();
    for entry in entries.filter_entry(|entry| !hidden(entry)) {
        match entry {
            Ok(entry) if entry.file_type().is_dir() || !extensions.matches(entry.path()) => {}
            Ok(entry) if entry.file_type().is_file() => jobs.push(Job::Input(Input::File(entry.into_path()))),
            // A FIFO or a device named like a video: not read (a FIFO would wait for a writer),
            // but not passed over in silence either.
            Ok(entry) => {
                let cause = format!(
                    "{}, not a regular file: a folder scan reads only files",
                    special_file_kind(&entry.file_type())
                );
                jobs.push(Job::Error {
                    error: Error::video(entry.path().to_string_lossy(), cause),
                    name: entry.into_path(),
                });
            }
            Err(err) if err.loop_ancestor().is_some() => {}
            Err(err) => {
                let path = err.path().unwrap_or(dir).to_owned();
                // Errors pass the hidden-entry filter (a hidden link to nothing).
                if path != dir && path.file_name().is_some_and(hidden_name) {
                    continue;
                }
                // A link to nothing is a video only by its name.
                let dangling = path.symlink_metadata().is_ok() && path.metadata().is_err();
                if !extensions.matches(&path) && (dangling || path.extension().is_some()) {
                    continue;
                }
                let cause = err.into_io_error().unwrap_or_else(|| io::Error::other("cannot be read"));
                jobs.push(Job::Error { error: unreadable(&path, cause), name: path });
            }
        }
    }
    if jobs.len() == before {
        let cause = io::Error::new(
            io::ErrorKind::NotFound,
            format!("no file with a video extension ({}) in this folder", extensions.0.join(", ")),
        );
        jobs.push(Job::Error { name: dir.to_owned(), error: Error::io(dir, cause) });
    }
}

/// What a file that is neither a regular file nor a folder is, in words, with how to read it
/// where it can be read.
#[cfg(unix)]
fn special_file_kind(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "a FIFO (name it alone to read it)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device (name it alone to read it)"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_file_kind(_: &std::fs::FileType) -> &'static str {
    "a special file"
}

#[cfg(test)]
mod tests;
