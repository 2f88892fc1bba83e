//! A small HTTP server on 127.0.0.1 for download and URL tests: it answers a given number of
//! requests with a body (or part of it, then falls silent or hangs up) and stops. It gives up
//! after ten seconds without a client, so a failing test cannot hang.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Serves `body` under `/path` to one client, announcing its full length but sending only the
/// first `send` bytes, then hanging up. Returns the URL and the server thread.
pub fn serve_once(path: &str, body: Vec<u8>, send: usize) -> (String, JoinHandle<()>) {
    serve_stalling(path, body, send, Duration::ZERO, 1)
}

/// Like [`serve_once`], for `clients` clients in turn, keeping each connection open for `stall`
/// after the bytes it sends (in a thread of its own, so that the next client is served meanwhile).
pub fn serve_stalling(
    path: &str,
    body: Vec<u8>,
    send: usize,
    stall: Duration,
    clients: usize,
) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/{path}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        let mut served = Vec::new();
        accept_each(listener, clients, |mut stream| {
            let body = body.clone();
            served.push(std::thread::spawn(move || {
                let mut request = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while request.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let header =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(header.as_bytes());
                let _ = stream.write_all(&body[..send.min(body.len())]);
                let _ = stream.flush();
                std::thread::sleep(stall);
            }));
        });
        for client in served {
            let _ = client.join();
        }
    });
    (url, server)
}

/// Serves `files` (a path under `/` and its body each) to whichever client asks, `requests` in
/// all, one request a connection, with 404 for any other path. When `announce` is false the
/// responses carry no Content-Length (the body ends when the connection closes, as with many
/// simple servers). Returns the base URL (ending in `/`) and the server thread.
pub fn serve_files(
    files: Vec<(String, Vec<u8>)>,
    requests: usize,
    announce: bool,
) -> (String, JoinHandle<()>) {
    serve_files_faulty(files, requests, announce, Fault::None)
}

/// What goes wrong with one file of [`serve_files_faulty`].
pub enum Fault<'a> {
    None,
    /// Served only the first time it is asked for, then answered with 404 (a server that loses a
    /// file between two reads).
    Lost(&'a str),
    /// Half its body sent, then the connection kept open and silent for ten seconds (a server
    /// that stalls; other requests are served meanwhile).
    Stalls(&'a str),
}

/// [`serve_files`], with `fault`.
pub fn serve_files_faulty(
    files: Vec<(String, Vec<u8>)>,
    requests: usize,
    announce: bool,
    fault: Fault,
) -> (String, JoinHandle<()>) {
    let (lost, stalls) = match fault {
        Fault::None => (None, None),
        Fault::Lost(name) => (Some(name.to_owned()), None),
        Fault::Stalls(name) => (None, Some(name.to_owned())),
    };
    let mut lost_served = false;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        accept_each(listener, requests, |mut stream| {
            let mut request = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            let _ = request.read_line(&mut line);
            let path = line.split_whitespace().nth(1).unwrap_or("").trim_start_matches('/').to_owned();
            while request.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let gone = lost.as_deref() == Some(path.as_str()) && std::mem::replace(&mut lost_served, true);
            let response = match files.iter().find(|(name, _)| *name == path).filter(|_| !gone) {
                Some((_, body)) => {
                    let length =
                        if announce { format!("Content-Length: {}\r\n", body.len()) } else { String::new() };
                    let mut response =
                        format!("HTTP/1.1 200 OK\r\n{length}Connection: close\r\n\r\n").into_bytes();
                    if stalls.as_deref() == Some(path.as_str()) {
                        response.extend_from_slice(&body[..body.len() / 2]);
                        let _ = stream.write_all(&response);
                        let _ = stream.flush();
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_secs(10));
                            drop(stream);
                        });
                        return;
                    }
                    response.extend_from_slice(body);
                    response
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = stream.write_all(&response);
            let _ = stream.flush();
        });
    });
    (url, server)
}

/// Hands each of up to `clients` connections to `serve` (blocking), one at a time; gives up ten
/// seconds after the start if they have not all come.
fn accept_each(listener: TcpListener, clients: usize, mut serve: impl FnMut(TcpStream)) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut accepted = 0;
    while accepted < clients {
        match listener.accept() {
            Ok((stream, _)) => {
                accepted += 1;
                stream.set_nonblocking(false).unwrap();
                serve(stream);
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break,
        }
    }
}
