//! Job list tests on real temporary folders.

use std::fs;
use std::path::Path;

use super::*;

/// Creates empty files (and their folders) under `root`.
fn touch(root: &Path, files: &[&str]) {
    for f in files {
        let path = root.join(f);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"").unwrap();
    }
}

/// Each job as `file:`, `url:`, `stdin` or `error:`, with paths relative to `root`.
fn describe(jobs: &[Job], root: &Path) -> Vec<String> {
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned();
    jobs.iter()
        .map(|job| match job {
            Job::Input(Input::File(p)) => format!("file:{}", rel(p)),
            Job::Input(Input::Url(u)) => format!("url:{u}"),
            Job::Input(Input::Stdin) => "stdin".to_owned(),
            Job::Error { name, .. } => format!("error:{}", rel(name)),
        })
        .collect()
}

fn plan_args(args: &[&Path], extensions: &Extensions) -> Vec<Job> {
    all_jobs(args, None, extensions, b"").unwrap()
}

/// Every job of a plan whose stdin holds `stdin`, or the error that stops it (at once, or where the
/// list meets it). The list is read both ways, whole (stdin a regular file) and as the jobs are
/// taken (a pipe), and must come out the same.
fn all_jobs<A: AsRef<OsStr>>(
    args: &[A],
    files_from: Option<&FilesFrom>,
    extensions: &Extensions,
    stdin: &[u8],
) -> Result<Vec<Job>> {
    let [whole, streamed] = [true, false].map(|regular_file| {
        let stdin = StdinList { reader: io::Cursor::new(stdin.to_vec()), regular_file };
        plan(args, files_from, extensions, stdin).and_then(|jobs| jobs.collect::<Result<Vec<_>>>())
    });
    assert_eq!(format!("{whole:?}"), format!("{streamed:?}"), "read whole, and as a stream");
    whole
}

#[test]
fn folders_expand_in_place_recursively_and_sorted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    touch(root, &["first.avi", "last.notes", "d/b.mp4", "d/a.MKV", "d/sub/c.webm", "d/sub/z.txt", "d/B.mov"]);
    let d = root.join("d");
    let jobs = plan_args(&[&root.join("first.avi"), &d, &root.join("last.notes")], &Extensions::default());
    assert_eq!(
        describe(&jobs, root),
        [
            "file:first.avi",
            "file:d/B.mov",
            "file:d/a.MKV",
            "file:d/b.mp4",
            "file:d/sub/c.webm",
            "file:last.notes"
        ]
    );
}

#[cfg(unix)]
#[test]
fn special_files_named_like_videos_in_a_folder_are_reported_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    touch(root, &["a.mp4"]);
    assert!(std::process::Command::new("mkfifo").arg(root.join("b.mp4")).status().unwrap().success());
    let _socket = std::os::unix::net::UnixListener::bind(root.join("s.mp4")).unwrap();
    let _other = std::os::unix::net::UnixListener::bind(root.join("s.sock")).unwrap();
    let jobs = plan_args(&[root], &Extensions::default());
    assert_eq!(describe(&jobs, root), ["file:a.mp4", "error:b.mp4", "error:s.mp4"]);
    let causes: Vec<String> = jobs[1..]
        .iter()
        .map(|job| match job {
            Job::Error { error, .. } => error.detail(),
            job => panic!("{job:?}"),
        })
        .collect();
    let rest = "not a regular file: a folder scan reads only files";
    assert_eq!(causes, [format!("a FIFO (name it alone to read it), {rest}"), format!("a socket, {rest}")]);
}

#[test]
fn ext_replaces_the_default_list_case_insensitively() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    touch(root, &["a.mp4", "b.TXT", "c.y4m", "noext"]);
    let jobs = plan_args(&[root], &Extensions::new([".txt", "Y4M"]));
    assert_eq!(describe(&jobs, root), ["file:b.TXT", "file:c.y4m"]);
}

#[test]
fn default_extensions_cover_common_containers() {
    let ext = Extensions::default();
    for name in ["a.mp4", "a.MKV", "a.WebM", "a.3gp", "a.ts", "a.gif", "a.mpeg"] {
        assert!(ext.matches(Path::new(name)), "{name}");
    }
    for name in ["a.txt", "a", "mp4", "a.mp4.part"] {
        assert!(!ext.matches(Path::new(name)), "{name}");
    }
}

#[test]
fn missing_paths_become_errors_at_their_place() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    touch(root, &["a.mp4"]);
    let missing = root.join("missing.mp4");
    let jobs = plan_args(&[&missing, &root.join("a.mp4")], &Extensions::default());
    assert_eq!(describe(&jobs, root), ["error:missing.mp4", "file:a.mp4"]);
    let Job::Error { error, .. } = &jobs[0] else { panic!("{:?}", jobs[0]) };
    // As the decoder says it of a file that vanished before it was opened.
    assert_eq!(error.to_string(), format!("{}: no such file", missing.display()));
}

#[test]
fn folder_without_videos_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    touch(tmp.path(), &["notes.txt"]);
    let jobs = plan_args(&[tmp.path()], &Extensions::default());
    assert_eq!(jobs.len(), 1);
    let Job::Error { error, .. } = &jobs[0] else { panic!("{:?}", jobs[0]) };
    assert!(error.to_string().contains("no file with a video extension (mp4, mkv"), "{error}");
}

#[test]
fn urls_pass_through_untouched() {
    let args = ["https://example.com/a%20b.mp4?x=1", "rtsp://cam.local:554/stream", "file:clip.mp4", "-"];
    let jobs = all_jobs(&args, None, &Extensions::default(), b"").unwrap();
    assert_eq!(
        describe(&jobs, Path::new("/")),
        [
            "url:https://example.com/a%20b.mp4?x=1",
            "url:rtsp://cam.local:554/stream",
            "url:file:clip.mp4",
            "stdin"
        ]
    );
}

#[test]
fn scheme_without_slashes_yields_to_an_existing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let existing = tmp.path().join("clip:1.mp4");
    touch(tmp.path(), &["clip:1.mp4"]);
    assert!(!is_url("clip:1.mp4", &existing));
    assert!(is_url("clip:1.mp4", &tmp.path().join("missing")));
    assert!(is_url("http://x", &existing));
    assert!(!is_url("C:\\videos\\a.mp4", Path::new("C:\\videos\\a.mp4")));
    assert!(!is_url("1x:foo", Path::new("1x:foo")));
    assert!(!is_url("plain.mp4", Path::new("plain.mp4")));
}

#[test]
fn stdin_dash_at_most_once() {
    let err = all_jobs(&["-", "-"], None, &Extensions::default(), b"").unwrap_err();
    assert!(matches!(err, Error::Usage(_)), "{err}");
}

#[test]
fn stdin_dash_conflicts_with_files_from_stdin() {
    let list = FilesFrom { path: "-".into(), null: false };
    // Refused before stdin is read: a reader that fails if it is.
    struct Unread;
    impl io::Read for Unread {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            panic!("stdin was read")
        }
    }
    let unread = StdinList { reader: Unread, regular_file: false };
    let err = plan(&["-"], Some(&list), &Extensions::default(), unread).unwrap_err();
    assert!(matches!(err, Error::Usage(_)), "{err}");
    // A `-` inside the list read from stdin is stdin again.
    let no_args: [&str; 0] = [];
    for (listed, at) in [(&b"a.mp4\n\n-\n"[..], "line 3"), (b"-\n-\n", "line 1")] {
        let err = all_jobs(&no_args, Some(&list), &Extensions::default(), listed).unwrap_err().to_string();
        assert!(err.starts_with(&format!("--files-from -, {at}: ")), "{err}");
        assert!(err.contains("cannot be combined with `--files-from -`"), "{err}");
    }
}

#[test]
fn a_list_on_a_pipe_yields_each_entry_as_it_is_written() {
    use std::io::Write;
    use std::sync::mpsc;
    use std::time::Duration;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    touch(&root, &["a.mp4", "b.mp4"]);
    let (reader, mut writer) = io::pipe().unwrap();
    // Planned and taken on another thread, so that a list read to its end first fails the test
    // rather than hanging it.
    let (count_sender, count) = mpsc::channel();
    let (sender, taken) = mpsc::channel();
    std::thread::spawn(move || {
        let from = FilesFrom { path: "-".into(), null: false };
        let stdin = StdinList { reader, regular_file: false };
        let jobs = plan(&[root.join("a.mp4")], Some(&from), &Extensions::default(), stdin).unwrap();
        count_sender.send(jobs.job_count()).unwrap();
        for job in jobs {
            sender.send(job.map(|job| describe(&[job], &root).remove(0)).map_err(|e| e.to_string())).unwrap();
        }
    });
    let count = count.recv_timeout(Duration::from_secs(10)).expect("planned with the list still open");
    assert_eq!((count.known(), count.complete()), (1, false), "the argument, and a list not yet read");
    let next =
        || taken.recv_timeout(Duration::from_secs(10)).expect("the next job, with the list still open");
    assert_eq!(next(), Ok("file:a.mp4".to_owned()));
    writeln!(writer, "{}", tmp.path().join("b.mp4").display()).unwrap();
    assert_eq!(next(), Ok("file:b.mp4".to_owned()));
    assert_eq!((count.known(), count.complete()), (2, false));
    // A problem partway ends the list there, after the jobs before it.
    writeln!(writer, "-").unwrap();
    let error = next().unwrap_err();
    assert!(error.contains("cannot be combined with `--files-from -`"), "{error}");
    assert!(taken.recv_timeout(Duration::from_secs(10)).is_err(), "nothing after the error");
    drop(writer);
}

#[test]
fn a_list_on_a_pipe_is_read_only_so_far_ahead() {
    let list: String = (0..10_000).map(|i| format!("missing-{i}.mp4\n")).collect();
    let from = FilesFrom { path: "-".into(), null: false };
    let stdin = StdinList { reader: io::Cursor::new(list), regular_file: false };
    let jobs = plan(&["x"; 0], Some(&from), &Extensions::default(), stdin).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let read_ahead = jobs.job_count().known();
    assert!((1..=list::LISTED_AHEAD + 1).contains(&read_ahead), "{read_ahead} entries read ahead");
    let jobs: Vec<Job> = jobs.collect::<Result<_>>().unwrap();
    assert_eq!(jobs.len(), 10_000);
    assert_eq!(jobs[9_999].name(), "missing-9999.mp4", "in order, to the end");
}

#[test]
fn a_list_that_is_no_list_of_paths_says_what_it_looks_like() {
    let from = FilesFrom { path: "-".into(), null: false };
    let no_args: [&str; 0] = [];
    let utf16_be: Vec<u8> = "a.mp4\nb.mp4\n".encode_utf16().flat_map(u16::to_be_bytes).collect();
    let video = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41\0\0\x08\x01free".to_vec();
    let cases = [
        (utf16_be, "is UTF-16 text: save the list as UTF-8"),
        (video, "holds binary data, not a list of paths"),
        (b"a.mp4\0b.mp4\0".to_vec(), "holds NUL bytes, as a NUL-separated list does (find -print0): add -0"),
    ];
    for (list, says) in cases {
        let err = all_jobs(&no_args, Some(&from), &Extensions::default(), &list).unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
    }
    // Found partway, it is named by its line.
    let err = all_jobs(&no_args, Some(&from), &Extensions::default(), b"a.mp4\n\nb\0c\n").unwrap_err();
    assert!(err.to_string().starts_with("--files-from -, line 3: holds NUL bytes"), "{err}");
}

#[test]
fn files_from_stdin_reads_lines_after_the_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    touch(root, &["a.mp4", "b.mp4", "c.mp4"]);
    // As a Windows editor saves it: a byte order mark, CRLF line ends.
    let list = format!("\u{feff}{0}/c.mp4\r\n\n{0}/a.mp4\n\r\n{0}/missing.mp4", root.display());
    let from = FilesFrom { path: "-".into(), null: false };
    let jobs = all_jobs(&[root.join("b.mp4")], Some(&from), &Extensions::default(), list.as_bytes()).unwrap();
    assert_eq!(describe(&jobs, root), ["file:b.mp4", "file:c.mp4", "file:a.mp4", "error:missing.mp4"]);
}

#[test]
fn files_from_file_with_nul_separators_keeps_newlines_in_names() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    touch(root, &["line\nbreak.mp4", "plain.mp4", "d/x.mkv"]);
    let list_path = root.join("list");
    let list = format!("{0}/line\nbreak.mp4\0\0{0}/d\0{0}/plain.mp4\0", root.display());
    fs::write(&list_path, list).unwrap();
    let from = FilesFrom { path: list_path, null: true };
    let no_args: [&str; 0] = [];
    let jobs = all_jobs(&no_args, Some(&from), &Extensions::default(), b"").unwrap();
    assert_eq!(describe(&jobs, root), ["file:line\nbreak.mp4", "file:d/x.mkv", "file:plain.mp4"]);
    // The same list read as lines says how to read it.
    let from = FilesFrom { null: false, ..from };
    let err = all_jobs(&no_args, Some(&from), &Extensions::default(), b"").unwrap_err();
    assert!(
        err.to_string().ends_with("holds NUL bytes, as a NUL-separated list does (find -print0): add -0")
    );
    // And a list of lines read with -0 says to drop it, whether its names exist or not; in a
    // list with NUL bytes, a missing name with a line break in it is only missing, even one whose
    // first line names a file.
    let from = FilesFrom { null: true, ..from };
    let says = "entry 1: holds line breaks and no NUL byte, as a list of lines does, and names no file: \
                drop -0";
    for lines in [format!("{0}/plain.mp4\n{0}/d/x.mkv\n", root.display()), "gone.mp4\nalso-gone.mp4".into()] {
        fs::write(&from.path, &lines).unwrap();
        let err = all_jobs(&no_args, Some(&from), &Extensions::default(), b"").unwrap_err();
        assert!(err.to_string().ends_with(says), "{err}");
    }
    let list = format!("{0}/gone\nfile.mp4\0{0}/plain.mp4\nmissing.mp4\0{0}/plain.mp4", root.display());
    fs::write(&from.path, list).unwrap();
    let jobs = all_jobs(&no_args, Some(&from), &Extensions::default(), b"").unwrap();
    assert_eq!(
        describe(&jobs, root),
        ["error:gone\nfile.mp4", "error:plain.mp4\nmissing.mp4", "file:plain.mp4"]
    );
    let from = FilesFrom { null: false, ..from };
    // A list saved as UTF-16 is full of NUL bytes too, which -0 would not mend.
    let utf16: Vec<u8> = "\u{feff}a.mp4\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    fs::write(&from.path, utf16).unwrap();
    let err = all_jobs(&no_args, Some(&from), &Extensions::default(), b"").unwrap_err();
    assert!(err.to_string().ends_with("is UTF-16 text: save the list as UTF-8"), "{err}");
}

#[test]
fn dash_in_a_list_counts_as_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    let list_path = tmp.path().join("list");
    fs::write(&list_path, "-\n").unwrap();
    let from = FilesFrom { path: list_path, null: false };
    let jobs = all_jobs(&["x"; 0], Some(&from), &Extensions::default(), b"").unwrap();
    assert_eq!(describe(&jobs, tmp.path()), ["stdin"]);
    let err = all_jobs(&["-"], Some(&from), &Extensions::default(), b"").unwrap_err();
    assert!(matches!(err, Error::Usage(_)), "{err}");
}

#[test]
fn unreadable_list_stops_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let from = FilesFrom { path: tmp.path().join("nope.txt"), null: false };
    let err = all_jobs(&["x"; 0], Some(&from), &Extensions::default(), b"").unwrap_err();
    let says = format!("--files-from {}: no such file", tmp.path().join("nope.txt").display());
    assert!(matches!(&err, Error::Usage(message) if message.starts_with(&says)), "{err}");
}

#[test]
fn input_names() {
    assert_eq!(Input::Stdin.name(), "-");
    assert_eq!(Input::Url("rtsp://cam".into()).name(), "rtsp://cam");
    assert_eq!(Input::File("dir/a.mp4".into()).name(), "dir/a.mp4");
}

#[cfg(unix)]
mod unix {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn symlink_loops_do_not_hang_and_linked_videos_count_once() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(root, &["d/a.mp4", "d/sub/b.mp4", "elsewhere/c.mp4"]);
        symlink(root.join("d"), root.join("d/sub/back")).unwrap();
        symlink(root.join("elsewhere/c.mp4"), root.join("d/linked.mp4")).unwrap();
        let jobs = plan_args(&[&root.join("d")], &Extensions::default());
        assert_eq!(describe(&jobs, root), ["file:d/a.mp4", "file:d/linked.mp4", "file:d/sub/b.mp4"]);
    }

    #[test]
    fn dangling_links_are_errors_only_when_they_look_like_videos() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(root, &["d/a.mp4"]);
        symlink(root.join("gone.mp4"), root.join("d/broken.mp4")).unwrap();
        symlink(root.join("gone.txt"), root.join("d/broken.txt")).unwrap();
        symlink(root.join("gone"), root.join("d/broken")).unwrap();
        let jobs = plan_args(&[&root.join("d")], &Extensions::default());
        assert_eq!(describe(&jobs, root), ["file:d/a.mp4", "error:d/broken.mp4"]);
        let Job::Error { error, .. } = &jobs[1] else { unreachable!() };
        assert_eq!(error.detail(), "a link to a file that does not exist", "the path named once");
    }

    #[test]
    fn hidden_files_and_folders_are_skipped_unless_named() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(root, &["d/a.mp4", "d/._a.mp4", "d/.cache/b.mp4", ".hidden/c.mp4"]);
        symlink(root.join("gone.mp4"), root.join("d/.broken.mp4")).unwrap();
        let jobs = plan_args(&[&root.join("d"), &root.join(".hidden")], &Extensions::default());
        assert_eq!(describe(&jobs, root), ["file:d/a.mp4", "file:.hidden/c.mp4"]);
    }

    #[test]
    fn non_utf8_names_keep_their_bytes_and_report_lossily() {
        let tmp = tempfile::tempdir().unwrap();
        let name = OsStr::from_bytes(b"caf\xe9.mp4");
        fs::write(tmp.path().join(name), b"").unwrap();
        let jobs = plan_args(&[tmp.path()], &Extensions::default());
        let [Job::Input(Input::File(path))] = &jobs[..] else { panic!("{jobs:?}") };
        assert_eq!(path.file_name(), Some(name));
        assert!(jobs[0].name().ends_with("caf\u{FFFD}.mp4"));
    }

    #[test]
    fn non_utf8_list_entries_keep_their_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let name = OsStr::from_bytes(b"caf\xe9.mp4");
        fs::write(tmp.path().join(name), b"").unwrap();
        let mut list = tmp.path().as_os_str().as_bytes().to_vec();
        list.extend_from_slice(b"/caf\xe9.mp4\n");
        let from = FilesFrom { path: "-".into(), null: false };
        let jobs = all_jobs(&["x"; 0], Some(&from), &Extensions::default(), &list).unwrap();
        let [Job::Input(Input::File(path))] = &jobs[..] else { panic!("{jobs:?}") };
        assert_eq!(path.file_name(), Some(name));
    }
}

#[test]
fn an_empty_list_with_nothing_else_to_do_is_an_error() {
    let from = FilesFrom { path: "-".into(), null: true };
    let no_args: [&str; 0] = [];
    // What `find … -print0` sends when nothing matched, and a list of blank lines.
    for list in [&b""[..], b"\n\r\n"] {
        let from = FilesFrom { null: list.is_empty(), ..from.clone() };
        let err = all_jobs(&no_args, Some(&from), &Extensions::default(), list).unwrap_err();
        assert_eq!(err.to_string(), "--files-from -: the list names no inputs");
    }
    // With an argument besides, the empty list adds nothing and takes nothing away.
    let tmp = tempfile::tempdir().unwrap();
    touch(tmp.path(), &["a.mp4"]);
    let jobs = all_jobs(&[tmp.path().join("a.mp4")], Some(&from), &Extensions::default(), b"").unwrap();
    assert_eq!(describe(&jobs, tmp.path()), ["file:a.mp4"]);
}
