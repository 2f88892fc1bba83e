//! An HTTPS server on 127.0.0.1 for the tests of certificate checks, with a certificate for
//! 127.0.0.1 signed by a CA made on the spot (its PEM for `SSL_CERT_FILE`). It serves its files
//! to every client for a minute, then stops.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA's certificate in PEM, and a server certificate for 127.0.0.1 it signed, with its key.
pub struct Certificates {
    pub ca_pem: String,
    server: CertificateDer<'static>,
    server_key: Vec<u8>,
}

impl Certificates {
    /// Certificates from a CA named `ca_name` (CAs trusted side by side need names of their own:
    /// GnuTLS picks a certificate's issuer by name).
    pub fn new(ca_name: &str) -> Certificates {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, ca_name);
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();
        Certificates {
            ca_pem: ca.pem(),
            server: server.der().clone(),
            server_key: server_key.serialize_der(),
        }
    }
}

/// Serves `files` (a path under `/` and its body each) over TLS with `certificates`' server
/// certificate, one request a connection, 404 for any other path. Returns the base URL (ending
/// in `/`); the server thread stops by itself.
pub fn serve_files(files: Vec<(String, Vec<u8>)>, certificates: &Certificates) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certificates.server_key.clone()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificates.server.clone()], key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(connection, stream);
            // A client that refuses the certificate ends the handshake here, with an error.
            let Some(path) = request_path(&mut tls) else { continue };
            let response = match files.iter().find(|(name, _)| *name == path) {
                Some((_, body)) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    [head.as_bytes(), body].concat()
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = tls.write_all(&response);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    url
}

/// The path (without its leading `/`) of the request read from `stream`, up to the blank line
/// that ends its head; `None` if the connection fails first.
fn request_path(stream: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).ok()?;
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    Some(line.split_whitespace().nth(1)?.trim_start_matches('/').to_owned())
}
