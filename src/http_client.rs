//! Outgoing HTTP: every `reqwest::Client` of the service, the tests and the benchmark starts
//! from [`builder`].

use reqwest::{Certificate, ClientBuilder};

/// A `reqwest` client builder that speaks HTTPS with rustls on `ring`, trusting the Mozilla
/// root certificates compiled into the binary.
///
/// reqwest is built without a rustls crypto provider of its own (its default, aws-lc-rs, needs
/// cmake and nasm to build), so this installs `ring` as the process-wide provider first;
/// building a client without one panics. The roots are bundled, as they were before reqwest
/// 0.13 switched to the host's certificate store: the WeChat API stays reachable from a host
/// or container without CA certificates.
pub fn builder() -> ClientBuilder {
    install_crypto_provider();
    // `from_der` only copies the bytes; the roots are parsed when the client is built, which
    // fails on a malformed one.
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| Certificate::from_der(der).ok());
    reqwest::Client::builder().tls_certs_only(roots)
}

/// Installs `ring` as rustls' process-wide crypto provider unless one is installed already.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only when another thread installed one in between, which serves as well.
        drop(rustls::crypto::ring::default_provider().install_default());
    }
}
