//! `--files-from` lists, read one entry at a time.
//!
//! A list on a pipe is read as it is written: `find … | vidclass predict --files-from -` starts on
//! the first path `find` prints, and a producer that never ends (a folder watcher printing each
//! new file) gets each file's result as the file arrives, not once the producer exits. So the
//! list is read on a thread of its own ([`JobList`] hands its jobs over as they come), and a
//! problem met partway (an entry naming stdin again, a read error) ends the run at that place,
//! after the records of the entries before it. A list in a regular file cannot keep anyone
//! waiting: it is read whole before the run starts, so that its problems stop the run before the
//! model loads, and the progress bar knows the total from the start.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use super::{Extensions, Job, expand};
use crate::error::{Error, Result, one_line_name};

/// The entries of a path list: NUL-terminated, or lines with an optional `\r` before the newline.
/// Empty entries are skipped. A line holding a NUL byte (which no path holds) ends the list with
/// an error saying what it looks like instead (see [`what_holds_nul_bytes`]).
pub(super) struct Entries<R> {
    reader: BufReader<R>,
    null: bool,
    first: bool,
    failed: bool,
    /// The number of the line (or NUL-terminated entry) read last, counting empty ones.
    line: usize,
    /// Whether the entry read last ended with its separator (else with the list).
    terminated: bool,
}

impl<R: Read> Entries<R> {
    pub(super) fn new(reader: R, null: bool) -> Self {
        Entries {
            reader: BufReader::new(reader),
            null,
            first: true,
            failed: false,
            line: 0,
            terminated: false,
        }
    }

    fn read_entry(&mut self) -> Option<io::Result<Vec<u8>>> {
        let separator = if self.null { b'\0' } else { b'\n' };
        loop {
            let mut entry = Vec::new();
            match self.reader.read_until(separator, &mut entry) {
                Ok(0) => return None,
                Ok(_) => self.line += 1,
                Err(e) => return Some(Err(e)),
            }
            if std::mem::take(&mut self.first) {
                // PowerShell 5's `>` writes UTF-16, whose NUL bytes -0 would not make sense of.
                if entry.starts_with(b"\xff\xfe") || entry.starts_with(b"\xfe\xff") {
                    let cause = "is UTF-16 text: save the list as UTF-8";
                    return Some(Err(io::Error::new(io::ErrorKind::InvalidData, cause)));
                }
                // A byte order mark (as Windows editors save UTF-8) is no part of the first name.
                if !self.null && entry.starts_with(b"\xef\xbb\xbf") {
                    entry.drain(..3);
                }
            }
            self.terminated = entry.last() == Some(&separator);
            if self.terminated {
                entry.pop();
            }
            if !self.null {
                if entry.contains(&0) {
                    return Some(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        what_holds_nul_bytes(&entry),
                    )));
                }
                if entry.last() == Some(&b'\r') {
                    entry.pop();
                }
            }
            if !entry.is_empty() {
                return Some(Ok(entry));
            }
        }
    }
}

/// Why a line holds NUL bytes: a `find -print0` list (paths of text between them), UTF-16 text
/// without a byte order mark (a NUL every other byte), or no text at all (a video piped where a
/// list was expected).
fn what_holds_nul_bytes(line: &[u8]) -> &'static str {
    let every_other = |start: usize| line.iter().skip(start).step_by(2).all(|&b| b == 0);
    if line.len() >= 4 && (every_other(0) || every_other(1)) {
        return "is UTF-16 text: save the list as UTF-8";
    }
    let text = |piece: &[u8]| {
        std::str::from_utf8(piece).is_ok_and(|s| !s.chars().any(|c| c.is_control() && c != '\t'))
    };
    if line.split(|&b| b == 0).all(text) {
        "holds NUL bytes, as a NUL-separated list does (find -print0): add -0"
    } else {
        "holds binary data, not a list of paths (a video? name it as an input, or `-` for one on stdin)"
    }
}

impl<R: Read> Iterator for Entries<R> {
    type Item = io::Result<OsString>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let entry = self.read_entry()?;
        self.failed = entry.is_err();
        Some(entry.map(os_string_from_bytes))
    }
}

impl<R> Entries<R> {
    /// Whether a `-0` list's `entry`, read last, is a list of lines read as one entry: the list's
    /// only entry, with no NUL byte to end it, holding a line break and naming nothing. (A name
    /// may hold line breaks, which is why `-0` exists: in a list with NUL bytes, or naming a
    /// file, such an entry is taken as it is.)
    fn is_a_list_of_lines(&self, entry: &OsStr) -> bool {
        self.null
            && self.line == 1
            && !self.terminated
            && entry.as_encoded_bytes().contains(&b'\n')
            && Path::new(entry).symlink_metadata().is_err()
    }
}

/// Paths are bytes on Unix, so a list entry is kept exactly; elsewhere it must be text.
#[cfg(unix)]
fn os_string_from_bytes(bytes: Vec<u8>) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes)
}

#[cfg(not(unix))]
fn os_string_from_bytes(bytes: Vec<u8>) -> OsString {
    OsString::from(String::from_utf8_lossy(&bytes).into_owned())
}

/// The jobs of a list's entries, in order, each entry expanded as an argument is (a folder into
/// its videos). Ends with an error, and nothing after it, where the list cannot be read on, where
/// an entry names stdin that cannot be read for a video (see [`StdinUse`]), and where the whole
/// run would have nothing to do (an empty list and no arguments: a `find` that matched nothing is
/// no empty success).
pub(super) struct ListedJobs<R> {
    entries: Entries<R>,
    /// The list's name as the user gave it, for error messages.
    list_name: String,
    stdin: StdinUse,
    extensions: Extensions,
    /// Whether the arguments named nothing besides the list.
    nothing_else: bool,
    expanded: VecDeque<Job>,
    any: bool,
    ended: bool,
}

impl<R: Read> ListedJobs<R> {
    pub(super) fn new(
        entries: Entries<R>,
        list_name: String,
        stdin: StdinUse,
        extensions: Extensions,
        nothing_else: bool,
    ) -> Self {
        let expanded = VecDeque::new();
        ListedJobs { entries, list_name, stdin, extensions, nothing_else, expanded, any: false, ended: false }
    }

    /// `cause`, at the list's line (or, with `-0`, entry) read last.
    fn error_at_line(&self, cause: impl std::fmt::Display) -> Error {
        let line = if self.entries.null { "entry" } else { "line" };
        Error::Usage(format!("--files-from {}, {line} {}: {cause}", self.list_name, self.entries.line))
    }

    /// Expands the next entry into `expanded`; `Ok(false)` at the end of the list.
    fn expand_next(&mut self) -> Result<bool> {
        let Some(entry) = self.entries.next() else {
            if !self.any && self.nothing_else {
                return Err(Error::Usage(format!(
                    "--files-from {}: the list names no inputs",
                    self.list_name
                )));
            }
            return Ok(false);
        };
        // What is wrong with the list's text is at a line; a failed read (an I/O error) is not.
        let entry = entry.map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => self.error_at_line(e),
            _ => Error::Usage(format!("--files-from {}: {}", self.list_name, crate::error::read_failure(&e))),
        })?;
        self.any = true;
        self.stdin.check(&entry).map_err(|e| self.error_at_line(e))?;
        if self.entries.is_a_list_of_lines(&entry) {
            let cause = "holds line breaks and no NUL byte, as a list of lines does, and names no file: \
                         drop -0";
            return Err(self.error_at_line(cause));
        }
        let mut jobs = Vec::new();
        expand(&entry, &self.extensions, &mut jobs);
        self.expanded.extend(jobs);
        Ok(true)
    }
}

impl<R: Read> Iterator for ListedJobs<R> {
    type Item = Result<Job>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.expanded.is_empty() && !self.ended {
            match self.expand_next() {
                Ok(more) => self.ended = !more,
                Err(error) => {
                    self.ended = true;
                    return Some(Err(error));
                }
            }
        }
        self.expanded.pop_front().map(Ok)
    }
}

/// Who reads stdin: `-` (a video's bytes) at most once, and never when the list itself is read
/// from stdin. A path naming stdin (`/dev/stdin`, `/proc/self/fd/0`) is `-` too where stdin is a
/// pipe or a terminal: FFmpeg would read the same bytes, taking some of the list's lines for a
/// video. (Where stdin is a regular file, such a path opens it afresh, at its start.)
pub(super) struct StdinUse {
    /// The list's name where the list is read from stdin (`-`, `/dev/stdin`).
    pub(super) list_on_stdin: Option<String>,
    /// Whether stdin is read as it comes (not a regular file).
    pub(super) stdin_is_a_stream: bool,
    /// Whether a video on stdin was met already.
    pub(super) video_on_stdin: bool,
}

impl StdinUse {
    /// Counts `entry` (an argument or a list entry) if it names stdin, and refuses it where stdin
    /// is taken already.
    pub(super) fn check(&mut self, entry: &OsStr) -> Result<()> {
        let names_stdin = entry == "-" || (self.stdin_is_a_stream && super::names_stdin(Path::new(entry)));
        if !names_stdin {
            return Ok(());
        }
        let entry = one_line_name(&entry.to_string_lossy());
        if let Some(list) = &self.list_on_stdin {
            return Err(Error::Usage(format!(
                "`{entry}` (a video on stdin) cannot be combined with `--files-from {list}` (a list on stdin)"
            )));
        }
        if std::mem::replace(&mut self.video_on_stdin, true) {
            return Err(Error::Usage(format!("`{entry}` (a video on stdin) can be given only once")));
        }
        Ok(())
    }
}

/// How many jobs a run has, as far as its list has been read.
#[derive(Clone, Debug)]
pub struct JobCount(Arc<CountState>);

#[derive(Debug)]
struct CountState {
    known: AtomicUsize,
    complete: AtomicBool,
}

impl JobCount {
    fn new(known: usize, complete: bool) -> Self {
        JobCount(Arc::new(CountState { known: AtomicUsize::new(known), complete: AtomicBool::new(complete) }))
    }

    /// The jobs known so far.
    pub fn known(&self) -> usize {
        self.0.known.load(Ordering::Relaxed)
    }

    /// Whether the list has been read to its end, so that [`Self::known`] is the total.
    pub fn complete(&self) -> bool {
        self.0.complete.load(Ordering::Relaxed)
    }
}

/// How many jobs of a list on a pipe are read before they are taken.
pub(super) const LISTED_AHEAD: usize = 256;

/// The jobs of a run in order: those of the arguments and of a list read whole, then, for a list
/// still being written, those of its entries as they are read. An `Err` ends the list: one that
/// cannot be read on, an entry that names stdin again, or an empty list with nothing else to do.
#[derive(Debug)]
pub struct JobList {
    planned: std::vec::IntoIter<Job>,
    streamed: Option<mpsc::Receiver<Result<Job>>>,
    count: JobCount,
}

impl JobList {
    /// Jobs all known now.
    pub(super) fn planned(jobs: Vec<Job>) -> Self {
        let count = JobCount::new(jobs.len(), true);
        JobList { planned: jobs.into_iter(), streamed: None, count }
    }

    /// `jobs`, then those of `listed`, read on a thread of their own. The thread is not joined: it
    /// may wait on a producer that never ends; it stops at the end of the list, or at the next
    /// entry once the list is dropped.
    pub(super) fn streaming(jobs: Vec<Job>, listed: ListedJobs<impl Read + Send + 'static>) -> Self {
        let count = JobCount::new(jobs.len(), false);
        // Read ahead only so far: a producer faster than the network (`yes clip.mp4`) must not
        // fill the memory with the list.
        let (sender, receiver) = mpsc::sync_channel(LISTED_AHEAD);
        let counter = count.clone();
        std::thread::spawn(move || {
            for job in listed {
                if job.is_ok() {
                    counter.0.known.fetch_add(1, Ordering::Relaxed);
                }
                if sender.send(job).is_err() {
                    return;
                }
            }
            counter.0.complete.store(true, Ordering::Relaxed);
        });
        JobList { planned: jobs.into_iter(), streamed: Some(receiver), count }
    }

    /// The jobs known before the run starts and not yet taken (all of them, unless a list is
    /// still being read).
    pub fn known_now(&self) -> &[Job] {
        self.planned.as_slice()
    }

    /// A count of the jobs that follows the list as it is read.
    pub fn job_count(&self) -> JobCount {
        self.count.clone()
    }
}

impl Iterator for JobList {
    type Item = Result<Job>;

    /// The next job, waiting for the list's next entry where it is still being written.
    fn next(&mut self) -> Option<Self::Item> {
        self.planned.next().map(Ok).or_else(|| self.streamed.as_ref()?.recv().ok())
    }
}
