//! A real TLS handshake on loopback: a rustls server on `127.0.0.1` with the installed
//! certificate chain and key, and a rustls client that connects with SNI `<name>.DOMAIN` and
//! verifies the chain against a CA bundle or the system roots (webpki, as a browser would).
//! Both sides use rustls's `ring` provider; the handshake is complete when one application
//! record has gone each way.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// How long each side waits for the other.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Trust anchors for the client.
#[derive(Debug, Clone)]
pub struct Roots {
    store: RootCertStore,
    description: String,
}

impl Roots {
    /// The CA certificates of a PEM bundle; `name` (its path) is used in messages.
    pub fn from_pem(name: &str, pem: &[u8]) -> Result<Roots, TlsError> {
        let mut store = RootCertStore::empty();
        for (i, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let cert =
                cert.map_err(|e| TlsError::Roots(format!("{name}: certificate {}: {e}", i + 1)))?;
            store
                .add(cert)
                .map_err(|e| TlsError::Roots(format!("{name}: certificate {}: {e}", i + 1)))?;
        }
        if store.is_empty() {
            return Err(TlsError::Roots(format!("{name}: no PEM certificate in it")));
        }
        Ok(Roots {
            description: format!("CA bundle {name} ({} certificates)", store.len()),
            store,
        })
    }

    /// The system's trust store (`rustls-native-certs`: `/etc/ssl/certs` and friends on Linux,
    /// `SSL_CERT_FILE`/`SSL_CERT_DIR` when set).
    pub fn system() -> Result<Roots, TlsError> {
        let found = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        let (added, _ignored) = store.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            return Err(TlsError::Roots(format!(
                "no system root certificates found{why}; give --ca-bundle"
            )));
        }
        Ok(Roots {
            description: format!("system roots ({added} certificates)"),
            store,
        })
    }

    /// What these roots are, for the evidence.
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// What the handshake proved (public data only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeReport {
    /// The SNI name the client asked for and verified.
    pub server_name: String,
    /// The loopback address the server listened on.
    pub address: String,
    /// The negotiated protocol version (`TLSv1_3`).
    pub protocol: String,
    /// The negotiated cipher suite.
    pub cipher_suite: String,
    /// Certificates the server sent.
    pub chain_len: usize,
    /// SHA-256 of the leaf certificate (DER), lowercase hex.
    pub leaf_sha256: String,
    /// SHA-256 of the leaf's SubjectPublicKeyInfo (DER), lowercase hex.
    pub leaf_spki_sha256: String,
    /// The trust anchors used.
    pub roots: String,
}

/// Why the handshake did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The trust anchors could not be loaded.
    #[error("{0}")]
    Roots(String),
    /// The installed certificate chain or key cannot be used by a server.
    #[error("the installed certificate or key cannot serve TLS: {0}")]
    Server(String),
    /// The server name is not a DNS name.
    #[error("{name:?} is not a valid server name")]
    Name {
        /// The name.
        name: String,
    },
    /// The handshake failed (certificate not trusted, name mismatch, I/O).
    #[error("handshake with {name} at {address} failed: {message}")]
    Handshake {
        /// The SNI name.
        name: String,
        /// The server's address.
        address: String,
        /// Why.
        message: String,
    },
}

/// Serves `fullchain_pem`/`key_pem` on `127.0.0.1` (an ephemeral port) and completes a
/// handshake to it with SNI `server_name`, verifying the chain against `roots`.
pub fn handshake(
    fullchain_pem: &[u8],
    key_pem: &[u8],
    server_name: &str,
    roots: &Roots,
) -> Result<HandshakeReport, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(fullchain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Server(format!("certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(TlsError::Server("no certificate in the chain file".into()));
    }
    // The key's PEM parse error names the PEM section, never key material.
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::Server(format!("private key: {e}")))?;
    let server_config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| TlsError::Server(e.to_string()))?;
    let client_config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Server(e.to_string()))?
        .with_root_certificates(roots.store.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(server_name.to_owned()).map_err(|_| TlsError::Name {
        name: server_name.to_owned(),
    })?;

    let listener =
        TcpListener::bind(("127.0.0.1", 0)).map_err(|e| TlsError::Server(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| TlsError::Server(e.to_string()))?;
    let handshake_err = |message: String| TlsError::Handshake {
        name: server_name.to_owned(),
        address: addr.to_string(),
        message,
    };
    let server = thread::spawn(move || serve_once(listener, Arc::new(server_config)));
    let client = connect(addr, client_config, name);
    let served = server
        .join()
        .unwrap_or_else(|_| Err("the server thread panicked".into()));
    let (protocol, cipher_suite, peer) = client.map_err(handshake_err)?;
    let sni = served.map_err(|e| handshake_err(format!("server side: {e}")))?;
    if sni.as_deref() != Some(server_name) {
        return Err(handshake_err(format!(
            "the server saw SNI {sni:?}, not {server_name:?}"
        )));
    }
    let leaf = peer
        .first()
        .ok_or_else(|| handshake_err("the server sent no certificate".into()))?;
    let spki = x509_parser::parse_x509_certificate(leaf)
        .map(|(_, c)| super::sha256_hex(c.public_key().raw))
        .map_err(|e| handshake_err(format!("leaf certificate: {e}")))?;
    Ok(HandshakeReport {
        server_name: server_name.to_owned(),
        address: addr.to_string(),
        protocol,
        cipher_suite,
        chain_len: peer.len(),
        leaf_sha256: super::sha256_hex(leaf),
        leaf_spki_sha256: spki,
        roots: roots.description.clone(),
    })
}

type ClientOutcome = (String, String, Vec<CertificateDer<'static>>);

fn connect(
    addr: SocketAddr,
    config: ClientConfig,
    name: ServerName<'static>,
) -> Result<ClientOutcome, String> {
    let sock = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(b"ping\n").map_err(|e| e.to_string())?;
    let mut reply = [0u8; 5];
    tls.read_exact(&mut reply).map_err(|e| e.to_string())?;
    if &reply != b"pong\n" {
        return Err("the server's first record is not the expected reply".into());
    }
    let protocol = tls
        .conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let suite = tls
        .conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    let peer = tls
        .conn
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
        .unwrap_or_default();
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok((protocol, suite, peer))
}

/// Accepts one connection (waiting at most [`TIMEOUT`]), answers `ping` with `pong`, and
/// returns the SNI name the client sent.
fn serve_once(listener: TcpListener, config: Arc<ServerConfig>) -> Result<Option<String>, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + TIMEOUT;
    let sock = loop {
        match listener.accept() {
            Ok((sock, _)) => break sock,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    sock.set_nonblocking(false).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut ping = [0u8; 5];
    tls.read_exact(&mut ping).map_err(|e| e.to_string())?;
    if &ping != b"ping\n" {
        return Err("the client's first record is not the expected request".into());
    }
    tls.write_all(b"pong\n").map_err(|e| e.to_string())?;
    tls.flush().map_err(|e| e.to_string())?;
    Ok(tls.conn.server_name().map(str::to_owned))
}
