//! Download tests against a one-shot HTTP server on 127.0.0.1 started by each test.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use super::*;

/// Serves `response` (raw HTTP/1.1 bytes) to the first connection, then closes it and stops.
/// Gives up after ten seconds without a client so that a failing test cannot hang.
fn serve_once(response: Vec<u8>) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/weights/model_20200817-abcdef12.pth", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let server = thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(5))
                }
                Err(_) => return,
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut request = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while request.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            line.clear();
        }
        let _ = stream.write_all(&response);
        let _ = stream.flush();
    });
    (url, server)
}

/// A transfer with a timeout long enough for any test that does not test it.
fn transfer(progress: bool) -> Transfer {
    Transfer { progress, timeout: Duration::from_secs(30), recheck: false }
}

fn ok_response(body: &[u8], content_length: usize) -> Vec<u8> {
    let mut response =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {content_length}\r\nConnection: close\r\n\r\n")
            .into_bytes();
    response.extend_from_slice(body);
    response
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn assert_offline_hint(err: &Error, dir: &Path) {
    let message = err.to_string();
    assert!(message.contains("--weights FILE"), "{message}");
    assert!(message.contains(&dir.join("w.pth").display().to_string()), "{message}");
}

#[test]
fn download_lands_in_place_and_is_reused() {
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (url, server) = serve_once(ok_response(&body, body.len()));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache/nested");
    let prefix = sha256_hex(&body)[..8].to_ascii_uppercase();

    let path = fetch(&url, &prefix, &dir, "w.pth", transfer(true)).unwrap();
    server.join().unwrap();
    assert_eq!(path, dir.join("w.pth"));
    assert_eq!(fs::read(&path).unwrap(), body);
    assert_eq!(listing(&dir), ["w.pth"]);

    // The server is gone: a second call must not touch the network.
    assert_eq!(fetch(&url, &prefix, &dir, "w.pth", transfer(false)).unwrap(), path);
}

#[test]
fn hash_mismatch_leaves_nothing_behind() {
    let body = b"not the checkpoint you are looking for";
    let (url, server) = serve_once(ok_response(body, body.len()));
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch(&url, "00000000", tmp.path(), "w.pth", transfer(false)).unwrap_err();
    server.join().unwrap();
    let message = err.to_string();
    assert!(matches!(&err, Error::Fetch { url: u, .. } if *u == url), "{err:?}");
    assert!(message.contains(&sha256_hex(body)), "{message}");
    assert_offline_hint(&err, tmp.path());
    assert!(listing(tmp.path()).is_empty());
}

#[test]
fn dropped_connection_leaves_nothing_behind() {
    let (url, server) = serve_once(ok_response(&[7u8; 1000], 100_000));
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch(&url, "", tmp.path(), "w.pth", transfer(false)).unwrap_err();
    server.join().unwrap();
    assert!(matches!(err, Error::Fetch { .. }), "{err:?}");
    assert!(err.to_string().contains("after 1000 of 100000 bytes"), "{err}");
    assert_offline_hint(&err, tmp.path());
    assert!(listing(tmp.path()).is_empty());
}

#[test]
fn http_404_is_reported_and_leaves_nothing_behind() {
    let (url, server) = serve_once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec());
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch(&url, "", tmp.path(), "w.pth", transfer(false)).unwrap_err();
    server.join().unwrap();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert_offline_hint(&err, tmp.path());
    assert!(listing(tmp.path()).is_empty());
}

#[test]
fn refused_connection_is_an_error() {
    // Bind then drop: nothing listens on this port any more.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let err = fetch(&format!("http://127.0.0.1:{port}/w.pth"), "", tmp.path(), "w.pth", transfer(false))
        .unwrap_err();
    assert_offline_hint(&err, tmp.path());
    assert!(listing(tmp.path()).is_empty());
}

#[test]
fn stale_part_file_is_replaced() {
    let body = b"fresh";
    let (url, server) = serve_once(ok_response(body, body.len()));
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("w.pth.part"), b"left over from a crash, longer than the body").unwrap();
    let path = fetch(&url, &sha256_hex(body)[..8], tmp.path(), "w.pth", transfer(false)).unwrap();
    server.join().unwrap();
    assert_eq!(fs::read(path).unwrap(), body);
    assert_eq!(listing(tmp.path()), ["w.pth"]);
}

#[test]
fn downloads_of_one_file_at_once_take_turns() {
    // The server answers one request, slowly: a second run that did not wait for the first
    // would find nothing listening, or write into the same `.part` file.
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/w.pth", listener.local_addr().unwrap());
    let response = ok_response(&body, body.len());
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while request.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            line.clear();
        }
        for piece in response.chunks(20_000) {
            stream.write_all(piece).unwrap();
            thread::sleep(Duration::from_millis(30));
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let prefix = &sha256_hex(&body)[..8];
    let runs: Vec<_> = (0..2)
        .map(|run| {
            let (url, dir, prefix) = (url.clone(), tmp.path().to_path_buf(), prefix.to_owned());
            thread::sleep(Duration::from_millis(100 * run));
            thread::spawn(move || fetch(&url, &prefix, &dir, "w.pth", transfer(false)))
        })
        .collect();
    for (i, run) in runs.into_iter().enumerate() {
        let path = run.join().unwrap().unwrap();
        assert!(fs::read(path).unwrap() == body, "run {i} found a file that differs from the body");
    }
    server.join().unwrap();
    assert_eq!(listing(tmp.path()), ["w.pth"]);
}

#[test]
fn a_cache_that_is_a_file_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    fs::write(&cache, b"not a folder").unwrap();
    let err = fetch("http://127.0.0.1:9/w.pth", "", &cache, "w.pth", transfer(false)).unwrap_err();
    let says = format!("{}: the weights cache must be a folder; set VIDCLASS_CACHE", cache.display());
    assert!(err.to_string().contains(&says), "{err}");
    // No download was tried, and the file cannot be saved there.
    assert!(!err.to_string().contains("save it as"), "{err}");
}

#[test]
fn a_folder_where_the_checkpoint_goes_is_named_before_any_download() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("w.pth")).unwrap();
    // Port 9: nothing listens there, so a download tried would fail with another message.
    let err = fetch("http://127.0.0.1:9/w.pth", "", tmp.path(), "w.pth", transfer(false)).unwrap_err();
    let says = format!(
        "{}: is no file, and is where the checkpoint goes; remove it",
        tmp.path().join("w.pth").display()
    );
    assert_eq!(err.to_string(), says);
    assert!(tmp.path().join("w.pth").is_dir(), "left as it was");
}

#[test]
fn file_names_with_separators_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["../w.pth", "a/w.pth", "", ".."] {
        let err = fetch("http://127.0.0.1:9/x", "", tmp.path(), name, transfer(false)).unwrap_err();
        assert!(err.to_string().contains("not a plain file name"), "{name}: {err}");
    }
}

#[test]
fn cache_dir_precedence() {
    fn env<'a>(pairs: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
    }
    let all = [("VIDCLASS_CACHE", "/v"), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")];
    assert_eq!(cache_dir_from(env(&all)), Some(PathBuf::from("/v")));
    assert_eq!(
        cache_dir_from(env(&[("VIDCLASS_CACHE", ""), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])),
        Some(PathBuf::from("/x/vidclass"))
    );
    assert_eq!(
        cache_dir_from(env(&[("XDG_CACHE_HOME", "relative"), ("HOME", "/h")])),
        Some(PathBuf::from("/h/.cache/vidclass"))
    );
    assert_eq!(cache_dir_from(env(&[("HOME", "/h")])), Some(PathBuf::from("/h/.cache/vidclass")));
    assert_eq!(cache_dir_from(env(&[])), None);
}

#[test]
fn a_silent_server_fails_the_download_after_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let timeout = Duration::from_millis(300);
    // One server accepts the connection and never answers; one sends headers and half the body,
    // then stays silent. Both hold the connection open far longer than the timeout.
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let mut half = ok_response(&body, body.len());
    half.truncate(half.len() - body.len() / 2);
    for (response, received) in [(None, None), (Some(half), Some(body.len() / 2))] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/w.pth", listener.local_addr().unwrap());
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            if let Some(response) = response {
                stream.write_all(&response).unwrap();
            }
            thread::sleep(Duration::from_secs(3));
        });
        let started = Instant::now();
        let err = fetch(&url, "", tmp.path(), "w.pth", Transfer { progress: false, timeout, recheck: false })
            .unwrap_err();
        let waited = started.elapsed();
        let message = err.to_string();
        assert!(message.contains("sent nothing for 0.3 s (--url-timeout)"), "{message}");
        if let Some(received) = received {
            assert!(message.contains(&format!("after {received} of {} bytes", body.len())), "{message}");
        }
        assert!(waited < Duration::from_secs(2), "failed only after {waited:?}: {message}");
        assert_eq!(listing(tmp.path()), Vec::<String>::new(), "no partial file left");
        server.join().unwrap();
    }
}
