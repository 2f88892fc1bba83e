//! HTTP(S) downloads: model weights, and video URLs read once and kept. One client (ureq), one
//! rule for a silent server (`--url-timeout` on connecting and on every read), one wording for
//! what went wrong.
//!
//! Video URLs are fetched here rather than through FFmpeg's `http` protocol because FFmpeg 5.1
//! reports two different endings with the same I/O error: the normal end of a body whose length
//! was not announced (the server closes the connection) and a chunked body cut off before its last
//! chunk. Taking that error as the end let a broken-off download be sampled as if it were the
//! whole video; ureq tells the two apart (and names a redirect loop as one, where FFmpeg says
//! "Input/output error").
//!
//! Certificates are checked against the system's trusted roots (as `curl` does, so a private CA
//! installed there works; `SSL_CERT_FILE` and `SSL_CERT_DIR` point elsewhere), and proxies are
//! taken from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`.

use std::io;
use std::time::Duration;

use crate::error::server_silent_for;

/// A response whose body is being received.
pub(crate) struct Download {
    pub body: ureq::BodyReader<'static>,
    /// The body's length, if the server announced it.
    pub announced: Option<u64>,
}

/// Sends a GET for `url`; fails with the cause (unreachable, silent for `timeout`, an HTTP
/// error status, too many redirects).
pub(crate) fn get(url: &str, timeout: Duration) -> Result<Download, String> {
    if url.starts_with("https://") {
        check_cert_file()?;
    }
    let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::PlatformVerifier).build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(timeout))
        .timeout_per_read(Some(timeout))
        .tls_config(tls)
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::StatusCode(code) => format!("the server answered HTTP {code}"),
        ureq::Error::Timeout(_) => server_silent_for(timeout),
        other => {
            let message = other.to_string();
            match proxy_for(url).filter(|_| matches!(other, ureq::Error::Io(_))) {
                Some(proxy) => format!("{message} (through the proxy {proxy}, from the environment)"),
                None => untrusted(&message, cert_file().is_some()).unwrap_or(message),
            }
        }
    })?;
    let announced = response.body().content_length();
    Ok(Download { body: response.into_body().into_reader(), announced })
}

/// The proxy ureq takes from the environment for `url`, if any.
fn proxy_for(url: &str) -> Option<String> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    let proxy = ureq::Proxy::try_from_env().filter(|p| !p.is_no_proxy(&uri))?;
    Some(proxy.uri().to_string())
}

/// The CA file `SSL_CERT_FILE` names, where it is set (to something): vidclass's downloads and
/// the connections FFmpeg opens ([`crate::video`]) both trust it.
pub(crate) fn cert_file() -> Option<std::ffi::OsString> {
    std::env::var_os("SSL_CERT_FILE").filter(|file| !file.is_empty())
}

/// Fails when `SSL_CERT_FILE` is set but names no file: the TLS libraries then fall back to the
/// system's roots without a word, and a private server's refusal would advise setting the variable
/// the user has set. Every https input is downloaded here first (see `video::source`), so this
/// covers the URLs FFmpeg reads too.
fn check_cert_file() -> Result<(), String> {
    let Some(file) = cert_file() else { return Ok(()) };
    let path = std::path::Path::new(&file);
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => {
            Err(format!("SSL_CERT_FILE names {}, which is not a file", crate::error::one_line_path(path)))
        }
        Err(e) => Err(format!(
            "SSL_CERT_FILE names {}: {}",
            crate::error::one_line_path(path),
            crate::error::read_failure(&e)
        )),
    }
}

/// What to say when TLS refused the server's certificate (rustls's message, `invalid peer
/// certificate: UnknownIssuer`, names the check and not the way out), `cert_file_set` telling
/// whether the user already named a CA file.
fn untrusted(message: &str, cert_file_set: bool) -> Option<String> {
    let (_, detail) = message.split_once("invalid peer certificate: ")?;
    let hint = if detail.contains("CaUsedAsEndEntity") {
        "it is a CA's certificate used as a server's (as `openssl req -x509` makes by default): \
         serve one with basicConstraints CA:FALSE, signed by a CA that SSL_CERT_FILE names"
    } else if cert_file_set {
        "the CA that signed it is not in the file SSL_CERT_FILE names, nor among the system's"
    } else {
        "name the CA that signed it with SSL_CERT_FILE (or SSL_CERT_DIR) if it is a private one"
    };
    Some(format!("the server's certificate is not trusted ({detail}); {hint}"))
}

/// The proxy for a plain `http://` URL, as curl and FFmpeg take it: `http_proxy` (or
/// `HTTP_PROXY`), else `ALL_PROXY`, unless `NO_PROXY` names the host. ureq sends every proxied
/// request through a CONNECT tunnel, which proxies commonly allow to port 443 only, so such a URL
/// is left to FFmpeg, which sends its GET to the proxy.
pub(crate) fn plain_http_proxy(url: &str) -> Option<String> {
    if !url.starts_with("http://") {
        return None;
    }
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let proxy = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"].into_iter().find_map(set)?;
    let uri: ureq::http::Uri = url.parse().ok()?;
    let exempt = ureq::Proxy::try_from_env().is_some_and(|p| p.is_no_proxy(&uri));
    (!exempt).then_some(proxy)
}

/// Whether reading a body failed because the server sent nothing for the timeout.
fn timed_out(e: &io::Error) -> bool {
    // ureq hands its own errors through the reader wrapped in an `io::Error`.
    e.get_ref().and_then(|e| e.downcast_ref()).is_some_and(|e| matches!(e, ureq::Error::Timeout(_)))
}

/// How a download failed part way ("broke off after …", for the caller to say what broke off),
/// after `received` of the `announced` bytes: the server went silent for `timeout`, or the body
/// ended early (`cause`, where ureq tells one: a connection closed before the announced length or
/// the last chunk, …). The same words for videos and weights.
pub(crate) fn broke_off(
    received: u64,
    announced: Option<u64>,
    cause: Option<&io::Error>,
    timeout: Duration,
) -> String {
    let of_total = announced.map(|len| format!(" of {len}")).unwrap_or_default();
    let cause = match cause {
        Some(e) if timed_out(e) => format!(": {}", server_silent_for(timeout)),
        Some(e) => format!(": {e}"),
        None => String::new(),
    };
    format!("broke off after {received}{of_total} bytes{cause}")
}

#[cfg(test)]
mod tests {
    use super::untrusted;

    #[test]
    fn a_refused_certificate_says_what_to_do() {
        let said = untrusted("io: invalid peer certificate: UnknownIssuer", false).unwrap();
        assert!(
            said.starts_with("the server's certificate is not trusted (UnknownIssuer); name the CA"),
            "{said}"
        );
        // Not advice to set SSL_CERT_FILE once it is set.
        let said = untrusted("io: invalid peer certificate: UnknownIssuer", true).unwrap();
        assert!(said.ends_with(
            "the CA that signed it is not in the file SSL_CERT_FILE names, nor among the system's"
        ));
        let unusual = "io: invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))";
        assert!(untrusted(unusual, false).unwrap().contains("basicConstraints CA:FALSE"));
        assert_eq!(untrusted("io: Connection refused (os error 111)", false), None);
    }
}
