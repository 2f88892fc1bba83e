//! The `vidclass` command line end to end: batches with failures, path lists, stdin, output
//! formats, pipes, downloads and exit codes, on a small random-weight model and generated videos.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use common::cli::{json_lines, tiny_weights, vidclass, write_labels, write_tiny_card};
use common::http::Fault;
use common::{Spec, make_video};
use sha2::{Digest, Sha256};

/// A temporary folder with the tiny card (offline: its URL is never used) and labels.
struct Setup {
    dir: tempfile::TempDir,
    card: String,
    labels: String,
    weights: String,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let card = write_tiny_card(dir.path(), "http://127.0.0.1:9/unused.pth", "00000000");
        let labels = write_labels(dir.path());
        let path = |p: &Path| p.to_str().unwrap().to_string();
        Setup { card: path(&card), labels: path(&labels), weights: path(&tiny_weights()), dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// `vidclass predict` with the tiny model and `rest` (shell words), run by `script` with a
    /// terminal for its stdin, stdout and stderr, and ended after a minute if it waits on that
    /// terminal: the exit status and what the terminal showed.
    fn predict_in_a_terminal(&self, rest: &str) -> (Option<i32>, String) {
        let (vidclass, card, weights, labels) =
            (env!("CARGO_BIN_EXE_vidclass"), &self.card, &self.weights, &self.labels);
        let command =
            format!("'{vidclass}' predict --model '{card}' --weights '{weights}' --labels '{labels}' {rest}");
        let output = std::process::Command::new("timeout")
            .args(["60", "script", "-qec", &command, "/dev/null"])
            .env("VIDCLASS_CACHE", self.dir.path().join("cache"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `vidclass predict` with the tiny model and `args`.
    fn predict(&self, args: &[&str], stdin: &[u8]) -> std::process::Output {
        let mut all =
            vec!["predict", "--model", &self.card, "--weights", &self.weights, "--labels", &self.labels];
        all.extend_from_slice(args);
        vidclass(&all, stdin, &self.dir.path().join("cache"))
    }
}

/// A named pipe at `path`.
fn make_fifo(path: &Path) {
    assert!(std::process::Command::new("mkfifo").arg(path).status().unwrap().success());
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_folder_with_bad_files_reports_every_input_and_exits_1() {
    let s = Setup::new();
    let folder = s.dir.path().join("videos");
    std::fs::create_dir_all(folder.join("nested")).unwrap();
    make_video(&folder, "a.mp4", &Spec::h264(64, 48, 40));
    make_video(&folder.join("nested"), "b.mkv", &Spec::h264(80, 48, 24));
    std::fs::write(folder.join("notes.mp4"), "this is text, not a video\n").unwrap();
    let mut corrupt = std::fs::read(folder.join("a.mp4")).unwrap();
    corrupt.truncate(600); // the header survives, the frames do not
    std::fs::write(folder.join("c_truncated.mp4"), corrupt).unwrap();
    std::fs::write(folder.join("readme.txt"), "not picked: wrong extension").unwrap();

    let output = s.predict(&[folder.to_str().unwrap(), "--format", "jsonl"], b"");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let records = json_lines(&output);
    let names: Vec<&str> = records.iter().map(|r| r["input"].as_str().unwrap()).collect();
    let expected: Vec<String> = ["a.mp4", "c_truncated.mp4", "nested/b.mkv", "notes.mp4"]
        .iter()
        .map(|n| folder.join(n).display().to_string())
        .collect();
    assert_eq!(names, expected, "sorted, recursive, video extensions only");
    assert!(records[0]["top"].is_array() && records[2]["top"].is_array());
    assert!(records[1]["error"].is_string(), "{}", records[1]);
    assert!(records[3]["error"].as_str().unwrap().contains("not a video"), "{}", records[3]);
    // A table sent to a file leaves the terminal (stderr) to say what failed; one shown in the
    // terminal says it once.
    let notes = folder.join("notes.mp4").display().to_string();
    let output = s.predict(&[folder.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!("{notes}: not a video")), "{}", stderr(&output));
    let (code, shown) = s.predict_in_a_terminal(&format!("'{}'", folder.display()));
    assert_eq!(code, Some(1), "{shown}");
    assert_eq!(shown.matches("notes.mp4").count(), 1, "{shown}");
    // A log of stderr keeps them while the table is on screen.
    let log = s.path("stderr.log");
    let (code, shown) = s.predict_in_a_terminal(&format!("'{}' 2> '{log}'", folder.display()));
    assert_eq!(code, Some(1), "{shown}");
    assert_eq!(shown.matches("notes.mp4").count(), 1, "{shown}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains(&format!("{notes}: not a video")), "{logged}");
}

#[cfg(unix)]
#[test]
fn any_file_name_opens_as_a_file() {
    use std::os::unix::ffi::OsStrExt;
    let s = Setup::new();
    let folder = s.dir.path().join("names");
    std::fs::create_dir(&folder).unwrap();
    let video = make_video(&folder, "plain.mp4", &Spec::h264(64, 48, 24));
    // Not UTF-8 (ffmpeg-next's own opener panics on it), and a name FFmpeg would read as a protocol.
    let odd = [std::ffi::OsStr::from_bytes(b"latin1_\xe9t\xe9.mp4"), "concat:plain.mp4".as_ref()];
    for name in odd {
        std::fs::copy(&video, folder.join(name)).unwrap();
    }

    let output = s.predict(&[folder.to_str().unwrap(), "--format", "jsonl"], b"");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let records = json_lines(&output);
    let names: Vec<&str> = records.iter().map(|r| r["input"].as_str().unwrap()).collect();
    let shown = |name: &str| folder.join(name).display().to_string();
    assert_eq!(names, [shown("concat:plain.mp4"), shown("latin1_\u{fffd}t\u{fffd}.mp4"), shown("plain.mp4")]);
    // The lossy name keeps its exact bytes, in base64 (decoded here by coreutils' base64).
    let encoded: Vec<Option<&str>> = records.iter().map(|r| r["input_bytes"].as_str()).collect();
    assert!(encoded[0].is_none() && encoded[2].is_none(), "only where the name is lossy: {encoded:?}");
    let mut decoder = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut decoder.stdin.take().unwrap(),
        encoded[1].expect("the lossy name's bytes").as_bytes(),
    )
    .unwrap();
    let decoded = decoder.wait_with_output().unwrap().stdout;
    assert_eq!(decoded, folder.join(odd[0]).as_os_str().as_bytes());
    // A failed input keeps its bytes too (a missing file, named in a NUL-separated list).
    let mut list = folder.join("missing_\u{1}").as_os_str().as_bytes().to_vec();
    list.extend_from_slice(b"\xff.mp4\0");
    let output = s.predict(&["--files-from", "-", "-0", "--format", "jsonl"], &list);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let record = &json_lines(&output)[0];
    assert!(record["error"].is_string() && record["input_bytes"].is_string(), "{record}");
    for record in &records {
        assert_eq!(record["top"], records[2]["top"], "the same video under every name: {record}");
    }
}

#[test]
fn a_url_is_downloaded_once_and_classified_like_the_file() {
    let s = Setup::new();
    // Index last (no faststart): the demuxer must seek to the end and back.
    let video = make_video(s.dir.path(), "v.mp4", &Spec::h264(64, 48, 60));
    let body = std::fs::read(&video).unwrap();
    // The server answers one request and is gone: a second download would fail the input.
    let (url, server) = common::http::serve_once("v.mp4", body.clone(), body.len());
    let output = s.predict(&["--format", "jsonl", video.to_str().unwrap(), &url], b"");
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let records = json_lines(&output);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[1]["input"], url.as_str());
    assert_eq!(records[1]["top"], records[0]["top"], "the URL reads as the file does");
    assert_eq!(records[1]["frames"], records[0]["frames"]);
}

#[test]
fn a_plain_http_url_is_fetched_through_the_proxy_with_a_get() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "v.ts", &Spec::h264(64, 48, 24));
    let body = std::fs::read(&video).unwrap();
    // A proxy as squid is set up by default: GETs of http URLs pass, CONNECT tunnels do not
    // (but to port 443). It answers every GET with the video itself.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut stream in proxy.incoming().map_while(|c| c.ok()) {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let answer = if head.starts_with(b"GET http://") {
                [
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes(),
                    body.clone(),
                ]
                .concat()
            } else {
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".to_vec()
            };
            let _ = stream.write_all(&answer);
        }
    });
    // A host that does not resolve: only the proxy can answer for it.
    let url = "http://video.invalid/v.ts";
    let run = |proxy_variable: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
            .args(["predict", "--model", &s.card, "--weights", &s.weights, "--labels", &s.labels])
            .args(["--format", "jsonl", url])
            .env("VIDCLASS_CACHE", s.dir.path().join("cache"))
            .env(proxy_variable, &proxy_url)
            .output()
            .unwrap()
    };
    for variable in ["http_proxy", "HTTP_PROXY"] {
        let output = run(variable);
        assert_eq!(output.status.code(), Some(0), "{variable}: {}", stderr(&output));
        assert!(json_lines(&output)[0]["top"].is_array());
    }
}

#[test]
fn a_url_with_an_empty_body_fails_and_says_so() {
    let s = Setup::new();
    let (url, server) = common::http::serve_once("v.mp4", Vec::new(), 0);
    let output = s.predict(&["--format", "jsonl", &url], b"");
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let records = json_lines(&output);
    assert!(
        records[0]["error"].as_str().unwrap().contains("the server sent an empty file"),
        "{}",
        records[0]
    );
}

#[test]
fn a_url_without_an_announced_length_reads_to_the_end() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "v.mp4", &Spec::h264(64, 48, 60));
    let body = std::fs::read(&video).unwrap();
    let (base, server) = common::http::serve_files(vec![("v.mp4".into(), body)], 1, false);
    let url = format!("{base}v.mp4");
    let output = s.predict(&["--format", "jsonl", video.to_str().unwrap(), &url], b"");
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let records = json_lines(&output);
    assert_eq!(records[1]["top"], records[0]["top"], "{}", records[1]);
}

#[test]
fn a_playlists_segments_are_fetched_only_from_servers_with_trusted_certificates() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "v.mp4", &Spec::h264(64, 48, 50));
    let files = common::hls_files(&video, &s.dir.path().join("hls"), "1", "+independent_segments");
    // The segments on one HTTPS server, the playlist naming them on another, each certificate
    // signed by a CA of its own. FFmpeg's demuxer fetches the segments itself, and FFmpeg checks
    // no certificate unless asked.
    let segments_ca = common::https::Certificates::new("segments CA");
    let playlist_ca = common::https::Certificates::new("playlist CA");
    let segments = common::https::serve_files(files.clone(), &segments_ca);
    let listed = String::from_utf8(files.iter().find(|f| f.0 == "index.m3u8").unwrap().1.clone()).unwrap();
    let remote: String = listed
        .lines()
        .map(|line| if line.ends_with(".ts") { format!("{segments}{line}\n") } else { format!("{line}\n") })
        .collect();
    assert!(remote.contains(&format!("{segments}index0.ts")), "{remote}");
    let playlist = common::https::serve_files(vec![("index.m3u8".into(), remote.into_bytes())], &playlist_ca);
    let trusting = |ca_pems: &[&str]| {
        let ca_file = s.dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pems.join("\n")).unwrap();
        let mut args = vec!["predict", "--model", &s.card, "--weights", &s.weights, "--labels", &s.labels];
        let url = format!("{playlist}index.m3u8");
        args.extend_from_slice(&["--format", "jsonl", &url]);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
            .args(&args)
            .env("VIDCLASS_CACHE", s.dir.path().join("cache"))
            .env("SSL_CERT_FILE", &ca_file)
            .output()
            .unwrap();
        (output.status.code(), json_lines(&output), stderr(&output))
    };
    // Trusting both CAs (SSL_CERT_FILE), the segments are read.
    let (code, records, log) = trusting(&[&playlist_ca.ca_pem, &segments_ca.ca_pem]);
    assert_eq!(code, Some(0), "{log}");
    assert!(records[0]["top"].is_array(), "{records:?}");
    // Trusting only the playlist's, they are refused, and the input fails, saying why.
    let (code, records, log) = trusting(&[&playlist_ca.ca_pem]);
    assert_eq!(code, Some(1), "{log}");
    let error = records[0]["error"].as_str().unwrap();
    assert!(error.contains("has a certificate that is not trusted"), "{error}");
}

#[test]
fn a_missing_certificate_file_and_an_unreachable_proxy_are_named() {
    let s = Setup::new();
    let run = |url: &str, env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"));
        command.args(["predict", "--model", &s.card, "--weights", &s.weights, "--labels", &s.labels]);
        command.args(["--format", "jsonl", url]);
        command.env("VIDCLASS_CACHE", s.dir.path().join("cache"));
        let proxies = ["ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];
        for name in proxies.into_iter().chain(["NO_PROXY", "no_proxy", "SSL_CERT_FILE"]) {
            command.env_remove(name);
        }
        let output = command.envs(env.iter().copied()).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        json_lines(&output)[0]["error"].as_str().unwrap().to_owned()
    };
    // Left to the TLS library, a missing file reads as no file at all, and a private server's
    // refusal would then advise setting the variable that is set. Plain http needs no such file.
    let missing = [("SSL_CERT_FILE", "/no/such/ca.pem")];
    let error = run("https://127.0.0.1:9/v.mp4", &missing);
    assert!(error.contains("SSL_CERT_FILE names /no/such/ca.pem: no such file"), "{error}");
    let error = run("http://127.0.0.1:9/v.mp4", &missing);
    assert!(!error.contains("SSL_CERT_FILE") && error.contains("onnection refused"), "{error}");
    // The connection refused is the proxy's, not the server's: ureq's (https) and FFmpeg's
    // (plain http through a proxy).
    let error = run("https://127.0.0.1:9/v.mp4", &[("HTTPS_PROXY", "http://127.0.0.1:9")]);
    assert!(error.contains("through the proxy http://127.0.0.1:9"), "{error}");
    let error = run("http://127.0.0.1:8/v.mp4", &[("HTTP_PROXY", "http://127.0.0.1:9")]);
    assert!(error.contains("through the proxy http://127.0.0.1:9"), "{error}");
}

#[test]
fn playlist_and_streaming_urls_are_opened_by_ffmpeg_itself() {
    let s = Setup::new();
    // An HLS playlist names its segments: FFmpeg's demuxer must fetch them, not a copy of the list.
    let video = make_video(s.dir.path(), "v.mp4", &Spec::h264(64, 48, 50));
    let hls = s.dir.path().join("hls");
    let mut files = common::hls_files(&video, &hls, "1", "+independent_segments");
    // The same without its end mark: a live stream, which FFmpeg would read for ever.
    let playlist_text =
        String::from_utf8(files.iter().find(|f| f.0 == "index.m3u8").unwrap().1.clone()).unwrap();
    assert!(playlist_text.contains("#EXT-X-ENDLIST"), "{playlist_text}");
    files.push(("live.m3u8".into(), playlist_text.replace("#EXT-X-ENDLIST", "").into_bytes()));
    // Each pass opens the playlist and every segment, and may open a segment again to seek.
    let (base, _server) = common::http::serve_files(files.clone(), 10 * files.len(), true);
    let playlist = hls.join("index.m3u8");
    let (url, live) = (format!("{base}index.m3u8"), format!("{base}live.m3u8"));
    // An RTSP URL is no stream of bytes: its demuxer connects, and says why it cannot.
    let args = ["--format", "jsonl", playlist.to_str().unwrap(), &url, "rtsp://127.0.0.1:9/v", &live];
    let output = s.predict(&args, b"");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let records = json_lines(&output);
    assert!(records[0]["top"].is_array(), "{}", records[0]);
    assert_eq!(
        records[1]["top"], records[0]["top"],
        "the playlist over HTTP reads as on disk: {}",
        records[1]
    );
    assert!(records[2]["error"].as_str().unwrap().contains("Connection refused"), "{}", records[2]);
    let live = "a live stream (its playlist has no end): record a piece of it first";
    assert!(records[3]["error"].as_str().unwrap().starts_with(live), "{}", records[3]);
}

#[test]
fn a_playlist_that_loses_a_segment_fails_alone() {
    let s = Setup::new();
    // 25 s in 13 segments of about 2 s (cut at key frames, one every 12 frames), their durations
    // written rounded to whole seconds (as older playlists have them: the declared total is no
    // count of frames); the clip the fast views sample (frames 296–327) lies in segment 6.
    let video = make_video(s.dir.path(), "v.mp4", &Spec::h264(64, 48, 625));
    let files = common::hls_files(&video, &s.dir.path().join("hls"), "2", "round_durations");
    assert_eq!(files.len(), 14, "{:?}", files.iter().map(|f| &f.0).collect::<Vec<_>>());
    let serving = |keep: &dyn Fn(&str) -> bool, fault: Fault| {
        let kept: Vec<_> = files.iter().filter(|(name, _)| keep(name)).cloned().collect();
        let (base, server) = common::http::serve_files_faulty(kept, 10 * files.len(), true, fault);
        (format!("{base}index.m3u8"), server)
    };
    let (whole, _whole_server) = serving(&|_| true, Fault::None);
    // FFmpeg's demuxer skips a segment that fails to download, with a line in its log: one in the
    // middle, two at the end.
    let (middle, _middle_server) = serving(&|name| name != "index3.ts", Fault::None);
    let (end, _end_server) = serving(&|name| !["index11.ts", "index12.ts"].contains(&name), Fault::None);
    let (bare, _bare_server) = serving(&|name| name == "index.m3u8", Fault::None);
    // There for the counting pass and gone for the decoding one.
    let (flaky, _flaky_server) = serving(&|_| true, Fault::Lost("index6.ts"));
    // Segments whose server falls silent halfway, past --url-timeout: the demuxer takes them for
    // segments that ended, with no line in its log. The last one is closed only with the input.
    let (stalled, _stalled_server) = serving(&|_| true, Fault::Stalls("index3.ts"));
    let (stalled_last, _stalled_last_server) = serving(&|_| true, Fault::Stalls("index12.ts"));
    let urls = [whole.as_str(), &middle, &end, &bare, &flaky, &stalled, &stalled_last];
    let output = s.predict(&[&["--format", "jsonl", "--url-timeout", "1"][..], &urls].concat(), b"");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let records = json_lines(&output);
    let error = |i: usize| records[i]["error"].as_str().unwrap_or_default().to_owned();
    assert!(records[0]["top"].is_array(), "{}", records[0]);
    let lost = "a segment of its playlist failed to download or broke off, and FFmpeg skipped it (-v shows \
                what FFmpeg fetched)";
    assert_eq!(error(1), lost);
    assert_eq!(error(2), lost);
    assert_eq!(error(5), lost);
    assert_eq!(error(6), lost);
    assert!(error(3).contains("-v shows what FFmpeg fetched"), "{}", error(3));
    let again = "a segment of its playlist failed to download or broke off when it was read again to decode the frames";
    assert!(error(4).starts_with(again), "{}", error(4));
}

#[test]
fn a_url_whose_download_breaks_off_fails_alone() {
    let s = Setup::new();
    // Index first (faststart), so that half the file is a playable, shorter video.
    let args = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "12", "-movflags", "+faststart"];
    let video =
        make_video(s.dir.path(), "v.mp4", &Spec { width: 64, height: 48, frames: 200, fps: 25, args: &args });
    let body = std::fs::read(&video).unwrap();
    let half = body.len() / 2;
    // One server accepts the connection and never answers. The others announce the whole file:
    // one sends nothing after its headers; one stops halfway and stays silent; one stops halfway
    // and hangs up.
    let stall = Duration::from_secs(20);
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let never = format!("http://{}/v.mp4", mute.local_addr().unwrap());
    let _mute = std::thread::spawn(move || {
        let _connection = mute.accept();
        std::thread::sleep(Duration::from_secs(20));
    });
    let (silent, _server) = common::http::serve_stalling("v.mp4", body.clone(), 0, stall, 1);
    let (stalled, _server) = common::http::serve_stalling("v.mp4", body.clone(), half, stall, 1);
    let (closed, _server) = common::http::serve_stalling("v.mp4", body.clone(), half, Duration::ZERO, 1);

    let urls = [never.as_str(), &silent, &stalled, &closed];
    let mut args = vec!["--url-timeout", "0.5", "--format", "jsonl", video.to_str().unwrap()];
    args.extend(urls);
    let output = s.predict(&args, b"");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let records = json_lines(&output);
    assert_eq!(records.len(), 5, "{records:?}");
    assert!(records[0]["top"].is_array(), "{}", records[0]);
    let error = |i: usize| {
        let record = &records[i];
        record["error"].as_str().unwrap_or_else(|| panic!("not a partial result: {record}")).to_owned()
    };
    assert!(error(1).contains("cannot open: the server sent nothing for 0.5 s"), "{}", error(1));
    assert!(error(2).contains("sent nothing for 0.5 s"), "{}", error(2));
    assert!(error(3).contains("sent nothing for 0.5 s"), "{}", error(3));
    assert!(error(4).contains(&format!("broke off after {half} of {} bytes", body.len())), "{}", error(4));
}

#[test]
fn a_file_cut_short_is_classified_from_what_is_left_with_a_warning() {
    let s = Setup::new();
    // Index first (faststart): a copy that stopped halfway still opens, with fewer frames.
    let args = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "12", "-movflags", "+faststart"];
    let whole = make_video(
        s.dir.path(),
        "whole.mp4",
        &Spec { width: 64, height: 48, frames: 60, fps: 25, args: &args },
    );
    let body = std::fs::read(&whole).unwrap();
    let cut = s.dir.path().join("cut.mp4");
    // Half of the frame data, which follows the `mdat` header.
    let mdat = body.windows(4).position(|w| w == b"mdat").unwrap() + 4;
    std::fs::write(&cut, &body[..(mdat + body.len()) / 2]).unwrap();
    // The packets FFmpeg's own tool counts in what is left.
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(&cut)
        .output()
        .unwrap();
    let left: usize = String::from_utf8(probe.stdout).unwrap().trim().parse().unwrap();
    assert!((1..60).contains(&left), "{left} packets left");

    // Whole, but with two frames in three dropped by the muxer: an AVI counts them in its header
    // and holds no packet for them, yet its last frame still comes at its end.
    let select = ["-vf", "select='not(mod(n,3))'", "-fps_mode", "passthrough", "-c:v", "mpeg4"];
    let thinned = make_video(
        s.dir.path(),
        "thinned.avi",
        &Spec { width: 64, height: 48, frames: 60, fps: 25, args: &select },
    );

    let output = vidclass(&["inspect", "--json", thinned.to_str().unwrap()], b"", s.dir.path());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["frame_count"], 20, "{report}");
    assert!(report["header_frame_count"].as_u64().unwrap() > 50, "the dropped frames counted: {report}");

    let inputs = [whole.to_str().unwrap(), thinned.to_str().unwrap(), cut.to_str().unwrap()];
    let output = s.predict(&[&["--format", "jsonl"][..], &inputs].concat(), b"");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let mut records = json_lines(&output);
    for record in records.drain(..2) {
        assert!(record.get("warnings").is_none(), "{record}");
    }
    let says = format!("its header announces 60 frames, but only {left} could be read (a file cut short?)");
    let warnings = records[0]["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().starts_with(&says)), "{}", records[0]);
    assert!(stderr(&output).contains(&format!("warning: {}: {says}", cut.display())), "{}", stderr(&output));
    // `inspect` tells the same, in its report too.
    let output = vidclass(&["inspect", cut.to_str().unwrap()], b"", s.dir.path());
    assert!(stderr(&output).contains(&says), "{}", stderr(&output));
    let output = vidclass(&["inspect", "--json", cut.to_str().unwrap()], b"", s.dir.path());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["warnings"][0].as_str().unwrap().starts_with(&says), "{report}");
}

#[test]
fn ext_lists_tolerate_spaces_dots_and_case() {
    let s = Setup::new();
    let folder = s.dir.path().join("videos");
    std::fs::create_dir(&folder).unwrap();
    make_video(&folder, "a.mp4", &Spec::h264(64, 48, 24));
    make_video(&folder, "b.mkv", &Spec::h264(64, 48, 24));
    make_video(&folder, "c.mov", &Spec::h264(64, 48, 24));
    let output = s.predict(&[folder.to_str().unwrap(), "--ext", " .MP4, mkv", "--format", "jsonl"], b"");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let names: Vec<String> =
        json_lines(&output).iter().map(|r| r["input"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["a.mp4", "b.mkv"].map(|n| folder.join(n).display().to_string()));
}

#[test]
fn jsonl_records_carry_every_field() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(96, 64, 50));
    let video = video.to_str().unwrap();
    for (views, expected_views, k) in [("fast", 1, "3"), ("full", 9, "0")] {
        let output = s.predict(&[video, "--format", "jsonl", "--views", views, "-k", k], b"");
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let records = json_lines(&output);
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r["input"], video);
        assert_eq!(r["model"], "tiny-slowfast");
        assert_eq!(r["views"], expected_views);
        // 16 frames at interval 2 from 50 frames: one clip decodes 16, three clips overlap.
        assert!(r["frames"].as_u64().unwrap() >= 16);
        assert!(r["decode_ms"].is_u64() && r["infer_ms"].is_u64());
        let top = r["top"].as_array().unwrap();
        assert_eq!(top.len(), if k == "0" { 7 } else { 3 });
        let labels = std::fs::read_to_string(&s.labels).unwrap();
        let labels: Vec<&str> = labels.lines().collect();
        let scores: Vec<f64> = top.iter().map(|e| e["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "sorted by score: {scores:?}");
        for entry in top {
            assert_eq!(entry["label"], labels[entry["index"].as_u64().unwrap() as usize]);
        }
        if k == "0" {
            let total: f64 = scores.iter().sum();
            assert!((total - 1.0).abs() < 1e-4, "probabilities sum to 1: {total}");
        }
    }
}

#[test]
fn csv_quotes_labels_with_commas_and_quotes() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(64, 48, 30));
    let output = s.predict(&[video.to_str().unwrap(), "--format", "csv", "-k", "0"], b"");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "input,rank,label,index,score,model,views,frames,decode_ms,infer_ms,error");
    assert_eq!(lines.len(), 8);
    assert!(lines.iter().any(|l| l.contains(",\"lifting, heavy\",1,")), "{text}");
    assert!(lines.iter().any(|l| l.contains(",\"saying \"\"hi\"\"\",2,")), "{text}");
}

#[test]
fn path_lists_from_stdin_with_either_separator() {
    let s = Setup::new();
    let a = make_video(s.dir.path(), "a.mp4", &Spec::h264(64, 48, 20));
    let b = make_video(s.dir.path(), "b b.mp4", &Spec::h264(64, 48, 20));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let missing = s.path("missing.mp4");
    let newline_list = format!("{a}\n{b}\r\n\n{missing}\n");
    let nul_list = format!("{a}\0{b}\0{missing}\0");
    for (list, extra) in [(newline_list, None), (nul_list, Some("-0"))] {
        let mut args = vec!["--files-from", "-", "--format", "jsonl"];
        args.extend(extra);
        let output = s.predict(&args, list.as_bytes());
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let names: Vec<String> =
            json_lines(&output).iter().map(|r| r["input"].as_str().unwrap().to_string()).collect();
        assert_eq!(names, [a, b, missing.as_str()]);
    }
}

#[test]
fn a_video_on_stdin_scores_like_the_file() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "a.mkv", &Spec::h264(64, 48, 36));
    let from_file = json_lines(&s.predict(&[video.to_str().unwrap(), "--format", "jsonl"], b""));
    let output = s.predict(&["-", "--format", "jsonl"], &std::fs::read(&video).unwrap());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let from_stdin = json_lines(&output);
    assert_eq!(from_stdin[0]["input"], "-");
    assert_eq!(from_stdin[0]["top"], from_file[0]["top"]);
}

#[cfg(unix)]
#[test]
fn a_named_pipe_is_read_once_and_scores_like_the_file() {
    // Each video is read twice (index, then decode); a pipe's second open would wait forever.
    use std::os::unix::fs::OpenOptionsExt;
    let s = Setup::new();
    let video = make_video(s.dir.path(), "a.mp4", &Spec::h264(64, 48, 36));
    let fifo = s.dir.path().join("pipe.mp4");
    make_fifo(&fifo);
    let writer = {
        let (fifo, bytes) = (fifo.clone(), std::fs::read(&video).unwrap());
        std::thread::spawn(move || {
            std::fs::write(&fifo, bytes).unwrap();
            // Should vidclass open the pipe again, a late writer's end of file fails the test
            // instead of hanging it.
            std::thread::sleep(Duration::from_secs(20));
            let _ = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo);
        })
    };
    let output = s.predict(&[fifo.to_str().unwrap(), video.to_str().unwrap(), "--format", "jsonl"], b"");
    drop(writer);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let records = json_lines(&output);
    assert_eq!(records[0]["top"], records[1]["top"]);
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let s = Setup::new();
    let folder = s.dir.path().join("v");
    std::fs::create_dir(&folder).unwrap();
    for name in ["a.mp4", "b.mp4", "c.mp4"] {
        make_video(&folder, name, &Spec::h264(64, 48, 20));
    }
    let script = format!(
        "set -o pipefail; '{}' predict --model '{}' --weights '{}' --labels '{}' '{}' --format jsonl | head -1",
        env!("CARGO_BIN_EXE_vidclass"),
        s.card,
        s.weights,
        s.labels,
        folder.display()
    );
    let output = std::process::Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1);
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

#[cfg(target_os = "linux")]
#[test]
fn a_stderr_that_cannot_be_written_does_not_stop_the_batch() {
    // Failed inputs and warnings go to stderr; here every write there fails (ENOSPC).
    let s = Setup::new();
    let video = make_video(s.dir.path(), "a.mp4", &Spec::h264(64, 48, 20));
    let video = video.to_str().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
        .args(["predict", "--model", &s.card, "--weights", &s.weights, "--labels", &s.labels])
        .args([video, "missing.mp4", video, "--threads", "100000", "--format", "jsonl"])
        .env("VIDCLASS_CACHE", s.dir.path().join("cache"))
        .stderr(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "some inputs failed; the others are reported");
    let records = json_lines(&output);
    assert_eq!(records.len(), 3);
    assert!(records[0]["top"].is_array() && records[1]["error"].is_string() && records[2]["top"].is_array());
}

/// The tiny checkpoint as the model zoo publishes a file: its bytes, the first 8 hex digits of
/// its SHA-256, and a file name that carries them.
fn published_tiny_weights() -> (Vec<u8>, String, String) {
    let body = std::fs::read(tiny_weights()).unwrap();
    let prefix = format!("{:x}", Sha256::digest(&body))[..8].to_owned();
    let file = format!("tiny_20250101-{prefix}.pth");
    (body, prefix, file)
}

#[test]
fn fetch_downloads_again_a_cached_file_that_is_not_the_published_one() {
    let s = Setup::new();
    let (body, prefix, file) = published_tiny_weights();
    let cache = s.dir.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    // Cut short by a copy, or put there by hand.
    std::fs::write(cache.join(&file), &body[..body.len() / 2]).unwrap();
    // Offline: the download fails, and the file stays until one that matches arrives.
    let offline = write_tiny_card(s.dir.path(), &format!("http://127.0.0.1:9/{file}"), &prefix);
    let output = vidclass(&["fetch", offline.to_str().unwrap()], b"", &cache);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(std::fs::read(cache.join(&file)).unwrap().len(), body.len() / 2, "left in place");
    // The offline advice says the file to save replaces the one there, which the user may
    // otherwise take for the published file.
    let save_as = format!("save it as {} in place of the file there", cache.join(&file).display());
    assert!(stderr(&output).contains(&save_as), "{}", stderr(&output));
    // `predict` trusts the cached file, and when it fails to load says what repairs it.
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(64, 48, 20));
    let offline_card = offline.to_str().unwrap();
    let args = ["predict", "--model", offline_card, "--labels", &s.labels, video.to_str().unwrap()];
    let output = vidclass(&args, b"", &cache);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    // Named as the command line named it (a card file here, whose own name is `tiny-slowfast`).
    let repair = format!("`vidclass fetch {offline_card}` checks the cached file and downloads it again");
    assert!(stderr(&output).contains(&repair), "{}", stderr(&output));
    let (url, server) = common::http::serve_once(&file, body.clone(), body.len());
    let card = write_tiny_card(s.dir.path(), &url, &prefix);
    let output = vidclass(&["fetch", card.to_str().unwrap()], b"", &cache);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!("not {prefix}…: downloading it again")), "{}", stderr(&output));
    assert!(std::fs::read(cache.join(&file)).unwrap() == body, "the published file is in place");
    // A good file is left alone: no server this time.
    let output = vidclass(&["fetch", card.to_str().unwrap()], b"", &cache);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}

#[test]
fn cards_whose_urls_end_alike_do_not_share_a_cached_checkpoint() {
    let s = Setup::new();
    let (body, prefix, _) = published_tiny_weights();
    let cache = s.dir.path().join("cache");
    let card_in = |folder: &str, url: &str, prefix: &str| {
        let dir = s.dir.path().join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        write_tiny_card(&dir, url, prefix).to_str().unwrap().to_owned()
    };
    let (url, server) = common::http::serve_once("ucf101/model.pth", body.clone(), body.len());
    let first = card_in("ucf101", &url, &prefix);
    let output = vidclass(&["fetch", &first], b"", &cache);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Another model published under the same file name, offline: `predict` trusts a cached file
    // without hashing it, so it must not find the first card's there.
    let second = card_in("hmdb51", "http://127.0.0.1:9/hmdb51/model.pth", "0123abcd");
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(64, 48, 20));
    let args = ["predict", "--model", &second, "--labels", &s.labels, video.to_str().unwrap()];
    let output = vidclass(&args, b"", &cache);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("download of http://127.0.0.1:9/hmdb51/model.pth failed"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty());
    // The first card still finds its own, with no server.
    let args = ["predict", "--model", &first, "--labels", &s.labels, video.to_str().unwrap()];
    let output = vidclass(&args, b"", &cache);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[cfg(target_os = "linux")]
#[test]
fn a_download_the_cache_cannot_hold_says_so_without_offline_advice() {
    let s = Setup::new();
    let (body, prefix, file) = published_tiny_weights();
    assert!(body.len() > 4096, "the checkpoint outgrows the file size limit below");
    let cache = s.dir.path().join("cache");
    let (url, server) = common::http::serve_once(&file, body.clone(), body.len());
    let card = write_tiny_card(s.dir.path(), &url, &prefix);
    // Files may grow to 4 KiB here, as on a full disk (EFBIG instead of ENOSPC).
    let script = format!(
        "ulimit -f 4; trap '' XFSZ; exec {} fetch {}",
        env!("CARGO_BIN_EXE_vidclass"),
        card.display()
    );
    let output = std::process::Command::new("bash")
        .args(["-c", &script])
        .env("VIDCLASS_CACHE", &cache)
        .output()
        .unwrap();
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let part = cache.join(format!("{file}.part"));
    let says = format!("{}: cannot write the download: File too large", part.display());
    assert!(stderr(&output).contains(&says), "{}", stderr(&output));
    assert!(stderr(&output).contains("set VIDCLASS_CACHE to a folder of your own"), "{}", stderr(&output));
    // Saving the file in the cache by hand would fail the same way.
    assert!(!stderr(&output).contains("save it as"), "{}", stderr(&output));
    assert!(std::fs::read_dir(&cache).unwrap().next().is_none(), "nothing left in the cache");
}

#[test]
fn weights_download_on_first_use_and_fail_cleanly() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(64, 48, 20));
    let (body, prefix, file) = published_tiny_weights();
    let cache = s.dir.path().join("cache");
    let run = |card: &Path| {
        let args =
            ["predict", "--model", card.to_str().unwrap(), "--labels", &s.labels, video.to_str().unwrap()];
        vidclass(&args, b"", &cache)
    };
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(&cache)
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    };

    // Dropped mid-transfer: exit 2, nothing left in the cache, and a hint for offline use.
    let (url, server) = common::http::serve_once(&file, body.clone(), body.len() / 2);
    let output = run(&write_tiny_card(s.dir.path(), &url, &prefix));
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--weights FILE"), "{}", stderr(&output));
    assert!(listing().is_empty(), "{:?}", listing());

    // A file that is not the one the card names: exit 2, nothing kept.
    let (url, server) = common::http::serve_once(&file, body.clone(), body.len());
    let output = run(&write_tiny_card(s.dir.path(), &url, "0badc0de"));
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("sha256"), "{}", stderr(&output));
    assert!(listing().is_empty(), "{:?}", listing());

    // Success: the file lands under its published name and the video is classified.
    let (url, server) = common::http::serve_once(&file, body.clone(), body.len());
    let card = write_tiny_card(s.dir.path(), &url, &prefix);
    let output = run(&card);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(listing(), std::slice::from_ref(&file));
    assert_eq!(std::fs::read(cache.join(&file)).unwrap(), body);
    // The server is gone: the second run uses the cache.
    assert_eq!(run(&card).status.code(), Some(0));
}

#[test]
fn weights_are_downloaded_only_once_an_input_has_decoded() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(64, 48, 20));
    let missing = s.path("no-such-clip.mp4");
    let (body, prefix, file) = published_tiny_weights();
    let cache = s.dir.path().join("cache");
    let predict = |card: &Path, inputs: &[&str]| {
        let mut args = vec!["predict", "--model", card.to_str().unwrap(), "--labels", &s.labels];
        args.extend_from_slice(&["--format", "jsonl"]);
        args.extend_from_slice(inputs);
        vidclass(&args, b"", &cache)
    };

    // Every input fails: a failed batch (exit 1), with no attempt at the unreachable download.
    let unreachable = write_tiny_card(s.dir.path(), &format!("http://127.0.0.1:9/{file}"), &prefix);
    let output = predict(&unreachable, &[&missing, &missing]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let records = json_lines(&output);
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r["input"] == missing.as_str() && r["error"].is_string()), "{records:?}");
    assert!(!stderr(&output).contains("--weights FILE"), "{}", stderr(&output));

    // A failure before the first good input waits for the download and keeps its place.
    let (url, server) = common::http::serve_once(&file, body.clone(), body.len());
    let output = predict(&write_tiny_card(s.dir.path(), &url, &prefix), &[&missing, video.to_str().unwrap()]);
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let records = json_lines(&output);
    assert_eq!(records.len(), 2);
    assert!(records[0]["error"].is_string() && records[0]["input"] == missing.as_str(), "{records:?}");
    assert!(records[1]["top"].is_array(), "{records:?}");
    assert_eq!(std::fs::read(cache.join(&file)).unwrap(), body);

    // A download that fails exits 2, and the failure before it still has its record: the user
    // learns of both problems in one run.
    std::fs::remove_file(cache.join(&file)).unwrap();
    let output = predict(&unreachable, &[&missing, video.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let records = json_lines(&output);
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(records[0]["error"].as_str().unwrap().contains("no such file"), "{records:?}");
    assert!(stderr(&output).contains("--weights FILE"), "{}", stderr(&output));
}

#[test]
fn models_lists_the_zoo_and_knows_which_weights_are_present() {
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(
        cache
            .path()
            .join("i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb_20220812-e213c223.pth"),
        b"x",
    )
    .unwrap();
    let output = vidclass(&["models", "--json"], b"", cache.path());
    assert_eq!(output.status.code(), Some(0));
    let cards = json_lines(&output);
    assert_eq!(cards.len(), 13);
    let i3d = cards.iter().find(|c| c["name"] == "i3d-r50-k400").unwrap();
    assert_eq!(i3d["weights_present"], true);
    // As the card writes it, not as the nearest f32 (73.47000122070312).
    assert_eq!(i3d["top1"].as_f64().unwrap(), 73.47);
    assert_eq!(i3d["full_views"], 30);
    // The zoo lists TSN's GFLOPs per 25 frames, the others' per view; the per-view figure is the
    // same kind for all (TSN's 102.7 over its 25 one-frame views).
    assert_eq!(i3d["gflops_per_view"], i3d["gflops"]);
    let tsn = cards.iter().find(|c| c["name"] == "tsn-r50-1x1x8-k400").unwrap();
    assert_eq!(tsn["gflops"].as_f64().unwrap(), 102.7);
    // 102.7 / 25, printed as the decimal it is rather than the nearest f64's noise.
    assert_eq!(tsn["gflops_per_view"].to_string(), "4.108", "{tsn}");
    assert!(cards.iter().filter(|c| c["weights_present"] == true).count() == 1);
    let defaults: Vec<_> = cards.iter().filter(|c| c["default"] == true).map(|c| &c["name"]).collect();
    assert_eq!(defaults, ["slowfast-r50-4x16-k400"]);
}

#[test]
fn view_options_that_cannot_run_are_refused_before_any_input() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(64, 48, 20));
    let max = usize::MAX.to_string();
    let cases: [(&[&str], &str); 7] = [
        // 10^11 clips of 16 frames of 32² pixels: 4.9 PB of frames.
        (&["--clips", "99999999999"], "hold more than 4 GiB"),
        (&["--clips", &max, "--crops", "ten"], "hold more than 4 GiB"),
        (&["--clip-len", &max], "span more frames than any video has"),
        (&["--frame-interval", &max], "span more frames than any video has"),
        (&["--short-side", &max], "is more than 65536"),
        // The full views' three-crop spans the short side (40): a smaller crop cannot.
        (&["--views", "full", "--crop-size", "32"], "so its size (32) must be 40"),
        // 3.2 GB of frames, but about 1 TB of activations: refused before the weights load and
        // before a first forward runs the machine out of memory.
        (
            &["--clip-len", "64", "--short-side", "4096", "--crop-size", "4096"],
            "GiB of memory available (--clip-len",
        ),
    ];
    for (options, cause) in cases {
        let mut args = vec!["--format", "jsonl"];
        args.extend(options);
        args.push(video.to_str().unwrap());
        let output = s.predict(&args, b"");
        assert_eq!(output.status.code(), Some(2), "{options:?}: {}", stderr(&output));
        assert!(output.stdout.is_empty(), "{options:?}: no record");
        assert!(stderr(&output).contains(cause), "{options:?}: {}", stderr(&output));
    }
}

#[test]
fn resized_frames_too_large_to_hold_fail_that_input() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "v.mp4", &Spec::h264(64, 48, 160));
    // Ten clips of 16 consecutive frames, 16 apart: all 160 frames, resized to 8000×6000 (144 MB
    // each, which alone would pass): 23 GB.
    let video = video.to_str().unwrap();
    let views = ["--clips", "10", "--clip-len", "16", "--frame-interval", "1"];
    let mut args = vec!["--format", "jsonl", "--short-side", "6000", video];
    args.extend(views);
    let output = s.predict(&args, b"");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let records = json_lines(&output);
    let error = records[0]["error"].as_str().unwrap();
    assert!(error.contains("frames 8000×6000: 160 of them would take 21972 MiB"), "{error}");
    // The largest short side that fits, by hand: 160 frames of w × s × 3 bytes within 8 GiB, w =
    // round(s × 4 / 3): s = 3663 (w 4884) takes 8 587 244 160 bytes, 3664 (w 4885) 8 591 347 200.
    assert!(error.ends_with("more than the 8 GiB allowed; use --short-side 3663 or less"), "{error}");
    // One frame too large: a 2×1000 video at a short side of 60000. By hand, frames of s × 500 s × 3
    // bytes fit 256 MiB up to s = 423 (268 393 500 bytes; 424: 269 664 000), less than the crop.
    let thin = make_video(s.dir.path(), "thin.mp4", &Spec::h264(2, 1000, 16));
    let args = ["--format", "jsonl", "--short-side", "60000", "--crop-size", "500", thin.to_str().unwrap()];
    let output = s.predict(&args, b"");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let error = json_lines(&output)[0]["error"].as_str().unwrap().to_owned();
    let says = "more than the 256 MiB allowed; use --short-side 423 or less, with a --crop-size no larger";
    assert!(error.ends_with(says), "{error}");
}

#[test]
fn a_card_of_ones_own_needs_no_checkpoint_or_metrics_with_weights_given() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "v.mp4", &Spec::h264(64, 48, 24));
    let video = video.to_str().unwrap();
    let text = std::fs::read_to_string(&s.card).unwrap();
    let bare = s.path("bare.toml");
    std::fs::write(&bare, &text[..text.find("[checkpoint]").unwrap()]).unwrap();
    let cache = s.dir.path().join("cache");
    let run = |args: &[&str]| vidclass(args, b"", &cache);

    let output = run(&["predict", "-m", &bare, "--weights", &s.weights, "--labels", &s.labels, video]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Without weights nothing can run, and that is said once, before any input (even one that
    // fails: no download could change it).
    for input in [video, "no-such-video.mp4"] {
        let output = run(&["predict", "-m", &bare, "--labels", &s.labels, input]);
        assert_eq!(output.status.code(), Some(2), "{input}: {}", stderr(&output));
        assert!(output.stdout.is_empty(), "{input}");
        // Named by its file: the name inside may be a built-in card's.
        let says = format!(
            "model card {bare}: names no checkpoint to download; predict takes its weights from --weights FILE"
        );
        assert_eq!(stderr(&output).matches("model card ").count(), 1, "{}", stderr(&output));
        assert!(stderr(&output).contains(&says), "{}", stderr(&output));
    }

    // A label map the card names but vidclass does not know: the card is named, and the way out.
    let other = s.path("other.toml");
    std::fs::write(&other, text.replace("labels = \"kinetics400\"", "labels = \"kinetics700\"")).unwrap();
    let output = run(&["predict", "-m", &other, "--weights", &s.weights, video]);
    assert_eq!(output.status.code(), Some(2));
    let says = format!("model card {other}: labels: no label map `kinetics700`");
    assert!(
        stderr(&output).contains(&says) && stderr(&output).contains("--labels FILE"),
        "{}",
        stderr(&output)
    );
}

#[cfg(unix)]
#[test]
fn a_write_past_the_file_size_limit_fails_and_says_so() {
    // `ulimit -f` kills a process that writes past it (SIGXFSZ), unless it ignores the signal.
    let s = Setup::new();
    let video = make_video(s.dir.path(), "v.mp4", &Spec::h264(64, 48, 20));
    let script = format!(
        "ulimit -f 0; exec '{}' predict --model '{}' --weights '{}' --labels '{}' '{}' > '{}'",
        env!("CARGO_BIN_EXE_vidclass"),
        s.card,
        s.weights,
        s.labels,
        video.display(),
        s.path("results.txt")
    );
    let output = std::process::Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{:?}: {}", output.status, stderr(&output));
    assert!(
        stderr(&output).contains("cannot write the results to stdout: File too large"),
        "{}",
        stderr(&output)
    );
}

#[cfg(target_os = "linux")]
#[test]
fn results_that_cannot_be_written_say_so_and_exit_2() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "v.mp4", &Spec::h264(64, 48, 24));
    let missing = s.path("no\nsuch.mp4");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
        .args(["predict", "--model", &s.card, "--weights", &s.weights, "--labels", &s.labels])
        .args(["--format", "jsonl", &missing, video.to_str().unwrap()])
        .env("VIDCLASS_CACHE", s.dir.path().join("cache"))
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(stderr.contains("cannot write the results to stdout: No space left on device"), "{stderr}");
    // The failed input's warning names it on one line.
    assert!(stderr.lines().any(|line| line.contains("no\\nsuch.mp4: ")), "{stderr}");
    // The other commands that print to stdout say the same.
    for args in [vec!["models"], vec!["inspect", video.to_str().unwrap()]] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
            .args(&args)
            .env("VIDCLASS_CACHE", s.dir.path().join("cache"))
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(crate::stderr(&output).contains("cannot write the results to stdout"), "{args:?}");
    }
    // And the help, which clap alone would report as printed.
    for args in [vec!["--help"], vec!["predict", "--help"], vec!["--version"]] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
            .args(&args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(crate::stderr(&output).contains("cannot write to stdout: No space left"), "{args:?}");
    }
}

#[test]
fn usage_and_model_errors_exit_2() {
    let s = Setup::new();
    let cache = s.dir.path().join("cache");
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(64, 48, 20));
    let video = video.to_str().unwrap();
    // An I3D checkpoint for the SlowFast card: found out while the video decodes, before any record.
    let i3d = common::cli::fixtures().join("models/i3d_r50.pth");
    let i3d = i3d.to_str().unwrap();
    let short_card = s.path("short.toml");
    let card_text = std::fs::read_to_string(&s.card).unwrap();
    let i3d_card = common::cli::write_card(
        s.dir.path(),
        "tiny-i3d",
        "type = \"resnet3d\"\nconv1_stride_t = 2\npool1_stride_t = 2\nwith_pool2 = true",
        "sample = { clip_len = 16, frame_interval = 2, num_clips = 1 }\nresize_short_side = 40\ncrop = { kind = \"center\", size = 32 }",
        "http://127.0.0.1:9/unused.pth",
        "00000000",
    );
    let i3d_card = i3d_card.to_str().unwrap();
    let fast = "clip_len = 16, frame_interval = 2, num_clips = 1";
    assert!(card_text.contains(fast));
    std::fs::write(
        &short_card,
        card_text.replacen(fast, "clip_len = 2, frame_interval = 2, num_clips = 1", 1),
    )
    .unwrap();
    let clip_len = |frames| {
        vec![
            "predict",
            "--model",
            &s.card,
            "--weights",
            &s.weights,
            "--labels",
            &s.labels,
            "--clip-len",
            frames,
            video,
        ]
    };
    let cases: Vec<Vec<&str>> = vec![
        vec!["predict", "--model", "no-such-model", video],
        vec!["predict", "--model", &s.card, "--weights", i3d, "--labels", &s.labels, video],
        vec!["predict", "--model", &s.card, "--weights", "/no/such.pth", video],
        vec!["predict", "--model", &s.card, "--weights", &s.weights, video], // 400 labels vs 7 classes
        vec!["predict", "--model", &s.card, "--weights", &s.weights, "--labels", &s.labels],
        vec!["predict", "--model", &s.card, "--weights", &s.weights, "--labels", &s.labels, "-", "-"],
        vec!["predict", "--frobnicate", video],
        vec!["predict", "-q", "-v", video],
        // A card file whose own fast protocol the network cannot take.
        vec!["predict", "--model", &short_card, "--weights", &s.weights, "--labels", &s.labels, video],
        vec!["predict", "--url-timeout", "0", video],
        vec!["predict", "--url-timeout", "1e-7", video],
        vec!["predict", "--url-timeout", "1e20", video],
        // Too few frames for the slow pathway: refused before any input, not once per input.
        clip_len("2"),
        // Enough frames, but pathways that do not meet: named by SlowFast's rule, not the tensors.
        clip_len("12"),
        // Too few frames left for I3D's temporal pool: named by its strides.
        vec![
            "predict",
            "--model",
            i3d_card,
            "--weights",
            i3d,
            "--labels",
            &s.labels,
            "--clip-len",
            "4",
            video,
        ],
        vec!["predict", "--ext", "", video],
        vec!["predict", "--ext", "mp4,*", video],
        vec!["predict", "--min-score", "nan", video],
        vec!["predict", "--min-score", "1.5", video],
        // Negative numbers reach the option's own check (not clap's advice to write `-- -1`).
        vec!["predict", "--min-score", "-0.1", video],
        vec!["predict", "--min-score", "-inf", video],
        vec!["predict", "--clips", "99999999999999999999999", video],
        vec!["predict", "-k", "-1", video],
        vec!["predict", "--clips", "-2", video],
        // One misspelt name, and nothing is downloaded.
        vec!["fetch", &s.card, "no-such-model"],
    ];
    for args in cases {
        let output = vidclass(&args, b"", &cache);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(stderr(&output).len() > 10, "{args:?} explains itself");
        if args.contains(&"--clip-len") || args.contains(&short_card.as_str()) {
            assert!(
                stderr(&output).contains("(--clip-len, --crop-size, or the card's views)"),
                "{}",
                stderr(&output)
            );
            let rule = if args.contains(&i3d_card) {
                "the strides in time before it keep one frame in 4, so a clip of 4 leaves it 1; clips of 5 frames or more fit"
            } else {
                "(one in τ = 8), its lateral connections"
            };
            assert!(stderr(&output).contains(rule), "{}", stderr(&output));
        }
        if let Some(score) = args.iter().find(|a| ["-0.1", "-inf"].contains(a)) {
            let says = format!("`{score}` is not a probability from 0 to 1");
            assert!(stderr(&output).contains(&says), "{}", stderr(&output));
        }
        if args.contains(&"99999999999999999999999") {
            assert!(stderr(&output).contains("` is too large"), "{}", stderr(&output));
        }
        if args.contains(&"-1") || args.contains(&"-2") {
            assert!(stderr(&output).contains("` is negative"), "{}", stderr(&output));
        }
        // Weights of another model, and a card's labels that do not fit, say what to check.
        if args.contains(&i3d) && !args.contains(&i3d_card) {
            assert!(stderr(&output).contains("(weights of another architecture than the model card's?)"));
        }
        if args.ends_with(&["--weights", &s.weights, video]) {
            let says = "label map kinetics400: 400 names, but the checkpoint scores 7 classes; --labels FILE";
            assert!(stderr(&output).contains(says), "{}", stderr(&output));
        }
    }
    let downloaded = std::fs::read_dir(&cache).map_or(0, |files| files.count());
    assert_eq!(downloaded, 0, "nothing was downloaded");
    // Files that are not what the option wants say which option named them.
    // Class names saved as Latin-1, as older tools do.
    let latin1 = s.path("latin1.txt");
    std::fs::write(&latin1, b"abseiling\ncaf\xe9 au lait\n").unwrap();
    let latin1_says = format!("--labels {latin1}: line 2 is not UTF-8 text (save the file as UTF-8)");
    let named = [
        (
            vec!["predict", "--labels", "/no/such/labels.txt", video],
            "--labels /no/such/labels.txt: no such file",
        ),
        (vec!["predict", "--labels", &latin1, video], &latin1_says),
        // A name with a folder in it is a card file, not a misspelt model.
        (vec!["predict", "--model", "./no-such-card", video], "model card ./no-such-card: no such file"),
        (vec!["fetch", video], "not a model card (a card is TOML text, this file is not text)"),
    ];
    for (args, says) in named {
        let output = vidclass(&args, b"", &cache);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(says), "{args:?}: {}", stderr(&output));
    }
    // Every misspelt model of a fetch is named, not only the first.
    let output = vidclass(&["fetch", "no-such-a", &s.card, "no-such-b"], b"", &cache);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    for name in ["model card no-such-a: no such model", "model card no-such-b: no such model"] {
        assert!(stderr(&output).contains(name), "{}", stderr(&output));
    }
    // So is a card that names no checkpoint to download, before any download starts.
    let text = std::fs::read_to_string(&s.card).unwrap();
    let (card_part, checkpoint_part) = text.split_once("[checkpoint]").unwrap();
    let metrics = &checkpoint_part[checkpoint_part.find("[metrics]").unwrap()..];
    let no_checkpoint = s.path("no-checkpoint.toml");
    std::fs::write(&no_checkpoint, format!("{card_part}{metrics}")).unwrap();
    let output = vidclass(&["fetch", &no_checkpoint, "no-such-c"], b"", &cache);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    // Named by its file (whose card may carry a built-in card's name), by fetch and predict alike.
    let no_download = format!("model card {no_checkpoint}: names no checkpoint to download");
    for says in [no_download.as_str(), "model card no-such-c: no such model"] {
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
    }
    let output = vidclass(&["predict", "--model", &no_checkpoint, "--labels", &s.labels, video], b"", &cache);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains(&no_download), "{}", stderr(&output));
    // A weights cache that is a file, which no download mends: said before any, by both commands.
    let cache_file = s.path("cache-file");
    std::fs::write(&cache_file, b"").unwrap();
    for args in [&["fetch", &s.card][..], &["predict", "--model", &s.card, "--labels", &s.labels, video]] {
        let output = vidclass(args, b"", cache_file.as_ref());
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        let says = format!("{cache_file}: the weights cache must be a folder");
        assert!(stderr(&output).contains(&says), "{args:?}: {}", stderr(&output));
    }
    // Weights that are not weights say what they are.
    let folder = s.dir.path().to_str().unwrap();
    let empty = s.path("empty.pth");
    std::fs::write(&empty, b"").unwrap();
    // A download cut short: the first half of a real checkpoint.
    let cut = s.path("cut.pth");
    let whole = std::fs::read(&s.weights).unwrap();
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let fifo = s.path("weights.pipe");
    make_fifo(fifo.as_ref());
    let missing = s.path("missing.pth");
    // A converted checkpoint cut short: its header names more bytes than are left.
    let whole_safetensors = s.path("whole.safetensors");
    let converted = vidclass(&["convert", &s.weights, &whole_safetensors], b"", &cache);
    assert_eq!(converted.status.code(), Some(0), "{}", stderr(&converted));
    let cut_safetensors = s.path("cut.safetensors");
    let whole = std::fs::read(&whole_safetensors).unwrap();
    std::fs::write(&cut_safetensors, &whole[..whole.len() / 2]).unwrap();
    // And one cut inside its header, which names more bytes than are left.
    let cut_header = s.path("cut-header.safetensors");
    std::fs::write(&cut_header, &whole[..100]).unwrap();
    for (weights, says) in [
        (folder, "is a folder"),
        (&fifo, "not a regular file"),
        ("-", "checkpoint -: no such file (a checkpoint cannot come from standard input"),
        (&missing, "checkpoint {missing}: no such file"),
        (video, "neither a PyTorch checkpoint"),
        (&empty, "checkpoint {empty}: an empty file"),
        (&cut, "checkpoint {cut}: a .pth cut short or damaged"),
        (&cut_safetensors, "checkpoint {cut_safetensors}: a .safetensors file cut short or damaged"),
        (&cut_header, "checkpoint {cut_header}: a .safetensors file cut short or damaged"),
    ] {
        let says = says.replace("{empty}", &empty).replace("{cut}", &cut).replace("{missing}", &missing);
        let says = says.replace("{cut_safetensors}", &cut_safetensors).replace("{cut_header}", &cut_header);
        let output = vidclass(&["predict", "--model", &s.card, "--weights", weights, video], b"", &cache);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(stderr(&output).contains(&says), "{}", stderr(&output));
        // `convert` reads its input as `--weights` is read.
        let output = vidclass(&["convert", weights, &s.path("out.safetensors")], b"", &cache);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(stderr(&output).contains(&says), "{}", stderr(&output));
    }
}

#[test]
fn a_byte_order_mark_and_blank_lines_ending_a_label_file_are_not_classes() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "v.mp4", &Spec::h264(64, 48, 24));
    // As Windows Notepad saves a file: a UTF-8 byte order mark first.
    let mut labels = format!("\u{feff}{}", std::fs::read_to_string(&s.labels).unwrap());
    labels.push_str("\n\r\n");
    let padded = s.path("padded.txt");
    std::fs::write(&padded, labels).unwrap();
    let with = |labels: &str| {
        let all = ["predict", "--model", &s.card, "--weights", &s.weights, "--labels", labels, "-k", "0"];
        let mut all = all.to_vec();
        all.extend([video.to_str().unwrap(), "--format", "jsonl"]);
        vidclass(&all, b"", &s.dir.path().join("cache"))
    };
    let (plain, padded) = (with(&s.labels), with(&padded));
    assert_eq!(padded.status.code(), Some(0), "{}", stderr(&padded));
    assert_eq!(json_lines(&padded)[0]["top"], json_lines(&plain)[0]["top"]);
}

#[test]
fn a_label_file_of_the_wrong_length_is_named() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "v.mp4", &Spec::h264(64, 48, 24));
    let six = s.path("six.txt");
    std::fs::write(&six, "a\nb\nc\nd\ne\nf\n").unwrap();
    let args =
        ["predict", "--model", &s.card, "--weights", &s.weights, "--labels", &six, video.to_str().unwrap()];
    let output = vidclass(&args, b"", &s.dir.path().join("cache"));
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("--labels {six}: 6 names, but the checkpoint scores 7 classes")),
        "{message}"
    );
    // A folder given for a file is named as such, for the label map and the input list alike.
    let folder = s.dir.path().to_str().unwrap();
    let video = video.to_str().unwrap();
    let cases = [
        (["--labels", folder], ["--files-from", "/dev/null"]),
        (["--labels", &s.labels], ["--files-from", folder]),
    ];
    for (labels, list) in cases {
        let option = if labels[1] == folder { "--labels" } else { "--files-from" };
        let mut args = vec!["predict", "--model", &s.card, "--weights", &s.weights, video];
        args.extend(labels.into_iter().chain(list));
        let output = vidclass(&args, b"", &s.dir.path().join("cache"));
        assert_eq!(output.status.code(), Some(2));
        assert!(
            stderr(&output).contains(&format!("{option} {folder}: is a folder, not a file")),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn more_threads_than_cores_are_capped_with_a_note() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "v.mp4", &Spec::h264(64, 48, 24));
    let video = video.to_str().unwrap();
    let run = |threads: &str| s.predict(&["--threads", threads, video, "--format", "jsonl"], b"");
    let (capped, one) = (run("100000"), run("1"));
    assert_eq!(capped.status.code(), Some(0), "{}", stderr(&capped));
    assert!(stderr(&capped).contains("--threads 100000: this machine has"), "{}", stderr(&capped));
    assert_eq!(json_lines(&capped)[0]["top"], json_lines(&one)[0]["top"]);
}

/// `vidclass predict` with the tiny model and `args`, its stdin, stdout and stderr pipes.
fn spawn_predict(s: &Setup, weights: &str, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
        .args(["predict", "--model", &s.card, "--weights", weights, "--labels", &s.labels])
        .args(args)
        .env("VIDCLASS_CACHE", s.dir.path().join("cache"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The exit status of `child`, which must end within 30 s (`waiting_for` says on what, if not).
fn exits_soon(child: &mut std::process::Child, waiting_for: &str) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("still waiting for {waiting_for}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_run_that_cannot_start_says_so_before_reading_its_list() {
    let s = Setup::new();
    // Its stdin held open: the list never ends.
    let mut child = spawn_predict(&s, "/no/such.pth", &["--files-from", "-"]);
    assert_eq!(exits_soon(&mut child, "the list of inputs").code(), Some(2));
}

#[test]
fn a_list_on_a_pipe_gets_each_result_as_its_entry_arrives() {
    use std::io::{BufRead, Write};
    let s = Setup::new();
    let video = make_video(s.dir.path(), "a.mp4", &Spec::h264(64, 48, 20));
    let mut child = spawn_predict(&s, &s.weights, &["--files-from", "-", "--format", "jsonl"]);
    let mut list = child.stdin.take().unwrap();
    // Read on a thread, so that a result held back until the list ends fails the test.
    let (sender, records) = std::sync::mpsc::channel();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let record: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            sender.send(record).unwrap();
        }
    });
    let next = || records.recv_timeout(Duration::from_secs(60)).expect("a record while the list is open");
    writeln!(list, "{}", video.display()).unwrap();
    let first = next();
    assert_eq!(first["input"], video.to_str().unwrap());
    assert!(first["top"].is_array(), "{first}");
    writeln!(list, "{}", s.path("missing.mp4")).unwrap();
    assert_eq!(next()["error"], "no such file");
    drop(list);
    assert_eq!(exits_soon(&mut child, "the end of the run").code(), Some(1));
}

#[test]
fn a_run_that_stops_early_does_not_wait_for_its_list_to_end() {
    use std::io::{Read, Write};
    let s = Setup::new();
    // Weights that fail to load, with the list open and empty: exit 2 at once.
    let not_weights = s.path("not_weights.pth");
    std::fs::write(&not_weights, "not a checkpoint").unwrap();
    let mut child = spawn_predict(&s, &not_weights, &["--files-from", "-"]);
    assert_eq!(exits_soon(&mut child, "a list entry after the load failed").code(), Some(2));
    let mut message = String::new();
    child.stderr.take().unwrap().read_to_string(&mut message).unwrap();
    assert!(message.contains("not_weights.pth"), "{message}");
    // A stdout closed by its reader (`| head -1`), with the list still open: the run ends at the
    // next record, quietly.
    let video = make_video(s.dir.path(), "a.mp4", &Spec::h264(64, 48, 20));
    let mut child = spawn_predict(&s, &s.weights, &["--files-from", "-", "--format", "jsonl"]);
    let mut list = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    writeln!(list, "{}", video.display()).unwrap();
    let mut first = [0u8];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    writeln!(list, "{}", video.display()).unwrap();
    assert_eq!(exits_soon(&mut child, "a list entry after stdout closed").code(), Some(0));
    drop(list);
}

#[test]
fn predict_help_names_every_default_extension() {
    let output = vidclass(&["predict", "--help"], b"", Path::new("/nonexistent-cache"));
    let help = String::from_utf8(output.stdout).unwrap();
    let ext = help.split("--ext").nth(1).unwrap().split("\n\n").next().unwrap();
    for extension in vidclass::inputs::DEFAULT_VIDEO_EXTENSIONS {
        assert!(ext.contains(&format!(" {extension}")), "{extension} missing from: {ext}");
    }
}

#[test]
fn an_error_says_its_cause_once() {
    let s = Setup::new();
    let missing = s.path("no-such-list.txt");
    let output = s.predict(&["--files-from", &missing], b"");
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert_eq!(message.matches("no such file").count(), 1, "{message}");
    assert!(message.contains(&format!("--files-from {missing}: no such file")), "{message}");
}

#[test]
fn the_device_is_chosen_on_the_command_line() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(64, 48, 20));
    let video = video.to_str().unwrap();
    let top = |device: &str| {
        let output = s.predict(&["--device", device, "--format", "jsonl", video], b"");
        assert_eq!(output.status.code(), Some(0), "--device {device}: {}", stderr(&output));
        json_lines(&output)[0]["top"].clone()
    };
    if !cfg!(feature = "cuda") {
        // Without CUDA, `auto` is the CPU.
        assert_eq!(top("auto"), top("cpu"));
        let output = s.predict(&["--device", "cuda:1", video], b"");
        assert_eq!(output.status.code(), Some(2));
        assert!(output.stdout.is_empty());
        let err = stderr(&output);
        assert!(err.contains("cuda:1") && err.contains("built without CUDA support"), "{err}");
    }
    let output = s.predict(&["--device", "gpu", video], b"");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("expected auto, cpu, cuda or cuda:N"), "{}", stderr(&output));
}

#[test]
fn converted_weights_give_the_same_scores() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(64, 48, 20));
    let converted = s.path("tiny.safetensors");
    let output = vidclass(&["convert", &s.weights, &converted], b"", s.dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let with = |weights: &str| {
        let args =
            ["predict", "--model", &s.card, "--weights", weights, "--labels", &s.labels, "--format", "jsonl"];
        let mut args = args.to_vec();
        args.push(video.to_str().unwrap());
        json_lines(&vidclass(&args, b"", s.dir.path()))[0]["top"].clone()
    };
    assert_eq!(with(&s.weights), with(&converted));
    // Converting a file onto itself would lose the original.
    let before = std::fs::read(&converted).unwrap();
    let output = vidclass(&["convert", &converted, &converted, "--f16"], b"", s.dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let says = format!("convert {converted}: is the checkpoint being converted");
    assert!(stderr(&output).contains(&says), "{}", stderr(&output));
    let output = vidclass(&["convert", &s.weights, "/dev/full"], b"", s.dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("convert /dev/full: No space left"), "{}", stderr(&output));
    assert!(std::fs::read(&converted).unwrap() == before);
    // A slip of the finger naming another checkpoint as the output does not destroy it, even
    // one misnamed .safetensors.
    let other = s.path("other.safetensors");
    std::fs::copy(&s.weights, &other).unwrap();
    let output = vidclass(&["convert", &s.weights, &other], b"", s.dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let says = format!("convert {other}: exists and is no safetensors file");
    assert!(stderr(&output).contains(&says), "{}", stderr(&output));
    assert!(std::fs::read(&other).unwrap() == std::fs::read(&s.weights).unwrap());
    // A folder is named as one, by the command that cannot write it.
    let folder = s.path("out.safetensors");
    std::fs::create_dir(&folder).unwrap();
    let output = vidclass(&["convert", &s.weights, &folder], b"", s.dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!("convert {folder}: is a folder")), "{}", stderr(&output));
    // Nor is safetensors written under a checkpoint's name, which would mislead PyTorch.
    let misnamed = s.path("half.pth");
    let output = vidclass(&["convert", &s.weights, &misnamed, "--f16"], b"", s.dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let says = format!("convert {misnamed}: only .safetensors files can be written");
    assert!(stderr(&output).contains(&says), "{}", stderr(&output));
    assert!(!Path::new(&misnamed).exists());
    // The name judged is the file's that is written: a link's target, and for /dev/stdout the
    // file stdout goes to.
    std::fs::write(s.path("plain"), b"").unwrap();
    std::os::unix::fs::symlink(s.path("plain"), s.path("link.safetensors")).unwrap();
    let output = vidclass(&["convert", &s.weights, &s.path("link.safetensors")], b"", s.dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let says = format!("link.safetensors: a link to {}; only .safetensors", s.path("plain"));
    assert!(stderr(&output).contains(&says), "{}", stderr(&output));
    let sent = s.path("sent.safetensors");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
        .args(["convert", &s.weights, "/dev/stdout"])
        .stdout(std::fs::File::create(&sent).unwrap())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(std::fs::read(&sent).unwrap() == std::fs::read(&converted).unwrap());
}

/// The tiny checkpoint as safetensors, saved as `name` after `change` has rewritten the values of
/// tensor `key`.
fn tiny_weights_with(s: &Setup, name: &str, key: &str, change: impl Fn(&mut [f32])) -> String {
    let converted = s.path("tiny.safetensors");
    let output = vidclass(&["convert", &s.weights, &converted], b"", s.dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let mut tensors = candle_core::safetensors::load(&converted, &candle_core::Device::Cpu).unwrap();
    let tensor = &tensors[key];
    let mut values = tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    change(&mut values);
    let changed = candle_core::Tensor::from_vec(values, tensor.shape(), &candle_core::Device::Cpu).unwrap();
    tensors.insert(key.to_string(), changed);
    let path = s.path(name);
    candle_core::safetensors::save(&tensors, &path).unwrap();
    path
}

#[test]
fn weights_the_network_cannot_use_are_refused() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(64, 48, 20));
    let predict = |weights: &str| {
        let args = ["predict", "--model", &s.card, "--weights", weights, "--labels", &s.labels];
        vidclass(&[&args[..], &[video.to_str().unwrap()]].concat(), b"", s.dir.path())
    };

    // A NaN in the checkpoint: a weights error before any input, naming the tensor.
    let output =
        predict(&tiny_weights_with(&s, "nan.safetensors", "cls_head.fc_cls.bias", |v| v[0] = f32::NAN));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cls_head.fc_cls.bias: holds NaN or infinite values"),
        "{}",
        stderr(&output)
    );

    // A negative variance would make the folded weights NaN, which the ReLUs hide as zeros.
    let key = "backbone.slow_path.conv1.bn.running_var";
    let output = predict(&tiny_weights_with(&s, "negative.safetensors", key, |v| v[0] = -1.0));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!("{key}: a negative variance")), "{}", stderr(&output));

    // Finite weights whose products overflow: a weights error too, found at the first input that
    // reaches the network; the records before it stay one JSON document, and no later input runs.
    let overflowing =
        tiny_weights_with(&s, "max.safetensors", "cls_head.fc_cls.weight", |v| v.fill(f32::MAX));
    let (video, missing) = (video.to_str().unwrap(), s.path("missing.mp4"));
    let args =
        ["predict", "--model", &s.card, "--weights", &overflowing, "--labels", &s.labels, "--format", "json"];
    let output = vidclass(&[&args[..], &[&missing, video, video]].concat(), b"", s.dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!("{video}: the network's scores are not finite")),
        "{}",
        stderr(&output)
    );
    let records: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(records.as_array().unwrap().len(), 1, "{records}");
    assert_eq!(records[0]["input"], missing.as_str());

    // float16 ends at 65504: a larger value would become infinite, so --f16 is refused.
    let key = "backbone.fast_path.conv1.bn.bias";
    let large = tiny_weights_with(&s, "large.safetensors", key, |v| v[0] = -70000.0);
    let half = s.path("half.safetensors");
    let output = vidclass(&["convert", &large, &half, "--f16"], b"", s.dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let expected = "backbone.fast_path.conv1.bn.bias holds -7e4, beyond float16's range";
    assert!(stderr(&output).contains(expected), "{}", stderr(&output));
    assert!(!Path::new(&half).exists());
    // Without it the same file converts, and classifies.
    assert_eq!(vidclass(&["convert", &large, &half], b"", s.dir.path()).status.code(), Some(0));
    assert_eq!(predict(&half).status.code(), Some(0));
}

#[test]
fn ctrl_c_ends_the_run_by_the_signal() {
    let s = Setup::new();
    // Enough work that the run is still going when the signal arrives.
    let video = make_video(s.dir.path(), "long.mp4", &Spec::h264(320, 240, 200));
    let args = ["--views", "full", "--clips", "40", "--format", "jsonl"];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
        .args(["predict", "--model", &s.card, "--weights", &s.weights, "--labels", &s.labels])
        .args(args)
        .args([video.to_str().unwrap(); 8])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    // Dying of SIGINT (a shell's `$?` 130), not exiting: a shell loop around the command stops.
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGINT));
}

#[test]
fn a_weights_download_from_a_silent_server_fails_after_the_url_timeout() {
    let s = Setup::new();
    let (body, prefix, file) = published_tiny_weights();
    // Half the file, then 20 s of silence with the connection open.
    let (url, _server) =
        common::http::serve_stalling(&file, body.clone(), body.len() / 2, Duration::from_secs(20), 1);
    let card = write_tiny_card(s.dir.path(), &url, &prefix);
    let cache = s.dir.path().join("cache");
    let started = std::time::Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
        .args(["fetch", "--url-timeout", "0.5", card.to_str().unwrap()])
        .env("VIDCLASS_CACHE", &cache)
        .output()
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("sent nothing for 0.5 s (--url-timeout)"), "{}", stderr(&output));
    assert!(waited < Duration::from_secs(10), "failed only after {waited:?}");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0, "no partial file left");
}

#[test]
fn an_interrupted_download_leaves_nothing_behind() {
    let s = Setup::new();
    let (body, prefix, file) = published_tiny_weights();
    let cache = s.dir.path().join("cache");
    let part = cache.join(format!("{file}.part"));
    let kill = |signal: &str, child: &std::process::Child| {
        let killed = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status();
        assert!(killed.unwrap().success());
    };
    // Ctrl-C, `kill`'s default signal, a closed terminal; then a closed terminal under `nohup`,
    // which ignores it, followed by Ctrl-C.
    let signals = [
        ("-INT", false, libc::SIGINT),
        ("-TERM", false, libc::SIGTERM),
        ("-HUP", false, libc::SIGHUP),
        ("-HUP", true, libc::SIGINT),
    ];
    for (signal, nohup, death) in signals {
        let (url, server) =
            common::http::serve_stalling(&file, body.clone(), body.len() / 2, Duration::from_secs(3), 1);
        let card = write_tiny_card(s.dir.path(), &url, &prefix);
        let shell = if nohup { "trap '' HUP; exec \"$0\" \"$@\"" } else { "exec \"$0\" \"$@\"" };
        let mut child = std::process::Command::new("sh")
            .args(["-c", shell, env!("CARGO_BIN_EXE_vidclass"), "fetch", card.to_str().unwrap()])
            .env("VIDCLASS_CACHE", &cache)
            .spawn()
            .unwrap();
        // Wait until half the file has arrived, then send the signal.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&part).map_or(true, |m| m.len() < body.len() as u64 / 2) {
            assert!(std::time::Instant::now() < deadline, "the download never got going");
            std::thread::sleep(Duration::from_millis(20));
        }
        kill(signal, &child);
        if nohup {
            std::thread::sleep(Duration::from_millis(300));
            assert!(child.try_wait().unwrap().is_none(), "an ignored SIGHUP stays ignored");
            kill("-INT", &child);
        }
        assert_eq!(child.wait().unwrap().signal(), Some(death), "{signal}");
        server.join().unwrap();
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0, "{signal}: no partial file left");
    }
}

#[test]
fn help_says_where_weights_go_and_what_the_exit_status_means() {
    let dir = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| String::from_utf8(vidclass(args, b"", dir.path()).stdout).unwrap();
    for args in [&["--help"][..], &["predict", "--help"]] {
        let text = help(args);
        for says in ["VIDCLASS_CACHE", "SSL_CERT_FILE", "Exit status:", "some inputs failed", "interrupted"] {
            assert!(text.contains(says), "{args:?} says {says}: {text}");
        }
    }
    // Each command its own exit statuses: inspect reads one video, and fetches no weights.
    let text = help(&["inspect", "--help"]);
    for says in ["SSL_CERT_FILE", "1               the video could not be read", "interrupted"] {
        assert!(text.contains(says), "inspect says {says}: {text}");
    }
    assert!(!text.contains("VIDCLASS_CACHE") && !text.contains("some inputs failed"), "{text}");
    for command in ["fetch", "models"] {
        let text = help(&[command, "--help"]);
        assert!(text.contains("Weights are kept in $VIDCLASS_CACHE"), "{command}: {text}");
    }
    for (command, says) in
        [("fetch", "a download failed"), ("models", "0 "), ("convert", "the checkpoint was written")]
    {
        let text = help(&[command, "--help"]);
        let statuses = &text[text.find("Exit status:").unwrap_or_else(|| panic!("{command}: {text}"))..];
        assert!(statuses.contains(says), "{command}: {text}");
    }
}

#[test]
fn a_video_on_stdin_that_is_a_terminal_is_refused_rather_than_awaited() {
    let s = Setup::new();
    let (code, shown) = s.predict_in_a_terminal("--format jsonl -");
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("standard input is a terminal, not a video"), "{shown}");
}

#[test]
fn ffmpegs_log_lines_do_not_land_inside_the_progress_bar() {
    let s = Setup::new();
    // An MPEG-2 transport stream with a stretch of garbage: FFmpeg warns as it reads it (-v).
    let args = ["-c:v", "mpeg2video", "-f", "mpegts"];
    let clean = make_video(
        s.dir.path(),
        "clean.ts",
        &Spec { width: 64, height: 48, frames: 60, fps: 25, args: &args },
    );
    let mut bytes = std::fs::read(&clean).unwrap();
    let middle = bytes.len() / 3;
    for (i, byte) in bytes[middle..middle + 4000].iter_mut().enumerate() {
        *byte = (i * 7919 % 251) as u8;
    }
    let damaged = s.path("damaged.ts");
    std::fs::write(&damaged, bytes).unwrap();
    // Stderr a terminal, where the bar is drawn.
    let (_, shown) = s.predict_in_a_terminal(&format!("-v '{damaged}' '{}' > /dev/null", clean.display()));
    assert!(shown.contains(" inputs · ") && shown.contains("[mpeg"), "a bar and FFmpeg's lines: {shown}");
    // What a line shows: what was written after it was last cleared or returned to (the terminal
    // ends lines with \r\n). FFmpeg writes some lines in pieces ("Packet corrupt (…)", then "."):
    // no bar may come between them either, or its drawing would clear the first piece.
    for line in shown.split('\n').map(|line| line.trim_end_matches('\r')) {
        let visible = line.rsplit('\r').next().unwrap_or_default();
        let visible = visible.rsplit("\u{1b}[2K").next().unwrap_or_default();
        assert!(!(visible.contains(" inputs · ") && visible.contains("[mpeg")), "glued: {visible:?}");
        assert!(!line.contains("Packet corrupt") || visible.contains("Packet corrupt"), "cleared: {line:?}");
    }
}

#[test]
fn a_list_read_from_stdin_by_its_device_name_is_stdin_too() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(64, 48, 20));
    let list = format!("{}\n", video.display());
    // `-` would read the video from the same stdin the list comes from.
    let output = s.predict(&["--files-from", "/dev/stdin", "-"], list.as_bytes());
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot be combined with `--files-from /dev/stdin`"),
        "{}",
        stderr(&output)
    );
    // Alone, the list is read from it.
    let output = s.predict(&["--files-from", "/dev/stdin", "--format", "jsonl"], list.as_bytes());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(json_lines(&output)[0]["top"].is_array());
    // And a video named by stdin's device name, as an argument or in the list, would take some of
    // the list's lines for a video: refused as `-` is, the list's records before it kept.
    let in_list = format!("{}\n/dev/stdin\n{}\n", video.display(), video.display());
    for (args, list, records_before) in [(&["/dev/stdin"][..], list.as_str(), 0), (&[], in_list.as_str(), 1)]
    {
        let output =
            s.predict(&[args, &["--files-from", "-", "--format", "jsonl"]].concat(), list.as_bytes());
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let says = "`/dev/stdin` (a video on stdin) cannot be combined with `--files-from -`";
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
        assert_eq!(json_lines(&output).len(), records_before, "{list}");
    }
}

#[cfg(unix)]
#[test]
fn a_list_from_a_named_pipe_waits_for_its_writer_after_the_arguments_ran() {
    use std::io::{BufRead, Write};
    let s = Setup::new();
    let video = make_video(s.dir.path(), "a.mp4", &Spec::h264(64, 48, 20));
    let fifo = s.dir.path().join("list.fifo");
    make_fifo(&fifo);
    let args = [video.to_str().unwrap(), "--files-from", fifo.to_str().unwrap(), "--format", "jsonl"];
    let mut child = spawn_predict(&s, &s.weights, &args);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    // Read on a thread, so that a record held back until a writer comes fails the test.
    let (sender, first) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        sender.send(line).unwrap();
        stdout
    });
    let line = first.recv_timeout(Duration::from_secs(60)).expect("the argument's record before a writer");
    assert!(line.contains("\"top\""), "{line}");
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    writeln!(writer, "{}", video.display()).unwrap();
    drop(writer);
    assert_eq!(exits_soon(&mut child, "the end of the list").code(), Some(0));
}

#[test]
fn the_memory_check_sees_an_address_space_limit() {
    let s = Setup::new();
    let video = make_video(s.dir.path(), "clip.mp4", &Spec::h264(64, 48, 20));
    // About 4 GiB of activations for 100 MB of frames: more than `ulimit -v` 3 GB leaves, however
    // much memory the machine has.
    let command = format!(
        "ulimit -v 3000000 && exec '{}' predict --model '{}' --weights '{}' --labels '{}' \
         --clip-len 32 --short-side 1024 --crop-size 1024 '{}'",
        env!("CARGO_BIN_EXE_vidclass"),
        s.card,
        s.weights,
        s.labels,
        video.display()
    );
    let output = std::process::Command::new("sh")
        .args(["-c", &command])
        .env("VIDCLASS_CACHE", s.dir.path().join("cache"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    let available: f64 = message
        .split("more than the ")
        .nth(1)
        .and_then(|rest| rest.split(" GiB of memory available").next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    assert!(available < 2.8, "{message}");
}
