//! What the wire simulators share: a self-signed certificate made at start (vSphere and
//! Proxmox VE serve HTTPS) and the loop that serves each connection with HTTP/1.1 until the
//! simulator's handle is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// A simulator's TLS: what it presents, and how it accepts.
pub(crate) struct Tls {
    /// Accepts a connection's handshake.
    pub acceptor: TlsAcceptor,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// SHA-256 of its DER, as `SHA256:` and lower-case hex.
    pub thumbprint: String,
}

/// A self-signed certificate for `addr` (and `extra` names) and the TLS server that
/// presents it.
pub(crate) fn tls(addr: SocketAddr, extra: &[String]) -> std::io::Result<Tls> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let ip = addr.ip().to_string();
    if !addr.ip().is_unspecified() && !names.contains(&ip) {
        names.push(ip);
    }
    names.extend(extra.iter().cloned());
    let certified = rcgen::generate_simple_self_signed(names).map_err(std::io::Error::other)?;
    let der = certified.cert.der().to_vec();
    let thumbprint = format!("SHA256:{}", hex::encode(Sha256::digest(&der)));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(
            vec![der.into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into()),
        )
        .map_err(std::io::Error::other)?;
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        certificate_pem: certified.cert.pem(),
        thumbprint,
    })
}

/// A request's answer, or the I/O error that ends its connection.
pub(crate) type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

/// Serve every connection of `listener` (over `tls` when given) with `handle`, each on its
/// own task, until `stopped` changes. A client that never finishes its handshake is dropped
/// after ten seconds.
pub(crate) fn spawn<H, F>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    stopped: tokio::sync::watch::Receiver<bool>,
    handle: H,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Answer> + Send + 'static,
{
    tokio::spawn(async move {
        let mut stop_accept = stopped.clone();
        loop {
            let accepted = tokio::select! {
                _ = stop_accept.changed() => break,
                a = listener.accept() => a,
            };
            let Ok((stream, peer)) = accepted else {
                continue;
            };
            let (handle, tls, mut stop_conn) = (handle.clone(), tls.clone(), stopped.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(req, peer));
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                                .await;
                        let Ok(Ok(stream)) = handshake else {
                            return;
                        };
                        tokio::select! {
                            _ = http.serve_connection(TokioIo::new(stream), svc) => {}
                            _ = stop_conn.changed() => {}
                        }
                    }
                    None => {
                        tokio::select! {
                            _ = http.serve_connection(TokioIo::new(stream), svc) => {}
                            _ = stop_conn.changed() => {}
                        }
                    }
                }
            });
        }
    });
}
