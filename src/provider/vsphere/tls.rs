//! The HTTP client a vSphere profile talks through, with the profile's TLS policy: system
//! roots (plus an optional CA file), one pinned certificate, or no checks at all.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::provider::ProviderError;

/// How the server's certificate is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsPolicy {
    /// The system's trusted roots, plus the certificates of an extra PEM file.
    Roots {
        /// Extra CA certificates (PEM), e.g. a vCenter's VMCA root.
        ca_file: Option<PathBuf>,
    },
    /// Accept exactly the certificate whose SHA-256 is this (32 bytes).
    Pinned([u8; 32]),
    /// Accept any certificate (lab only).
    Insecure,
}

impl TlsPolicy {
    /// The policy of a profile: `insecure`, else `thumbprint`, else roots and `ca_file`.
    pub fn from_profile(
        insecure: bool,
        thumbprint: Option<&str>,
        ca_file: Option<&Path>,
    ) -> Result<Self, ProviderError> {
        if insecure {
            return Ok(TlsPolicy::Insecure);
        }
        if let Some(t) = thumbprint {
            return parse_thumbprint(t).map(TlsPolicy::Pinned);
        }
        Ok(TlsPolicy::Roots {
            ca_file: ca_file.map(Path::to_path_buf),
        })
    }
}

/// Parse `SHA256:ab:cd…`, `SHA256:abcd…` or bare hex into 32 bytes.
pub fn parse_thumbprint(text: &str) -> Result<[u8; 32], ProviderError> {
    let t = text.trim();
    let t = t
        .strip_prefix("SHA256:")
        .or_else(|| t.strip_prefix("sha256:"))
        .unwrap_or(t);
    let hex_digits: String = t.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&hex_digits).map_err(|_| {
        ProviderError::Backend(format!(
            "the thumbprint \"{text}\" is not SHA256: followed by 64 hex digits"
        ))
    })?;
    bytes.try_into().map_err(|_| {
        ProviderError::Backend(format!(
            "the thumbprint \"{text}\" is not a SHA-256 (it needs 64 hex digits)"
        ))
    })
}

/// The `SHA256:…` form of a certificate, as written in a profile's `thumbprint`.
pub fn thumbprint_of(der: &[u8]) -> String {
    format!("SHA256:{}", hex::encode(Sha256::digest(der)))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A reqwest client for one profile: cookies on (SOAP sessions are cookies), our TLS policy.
pub fn http_client(
    policy: &TlsPolicy,
    timeout: Duration,
) -> Result<reqwest_vim::Client, ProviderError> {
    build(policy, false, timeout)
}

fn build(
    policy: &TlsPolicy,
    tls_info: bool,
    timeout: Duration,
) -> Result<reqwest_vim::Client, ProviderError> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match policy {
        TlsPolicy::Insecure => Arc::new(AcceptAny {
            algorithms: provider.signature_verification_algorithms,
        }),
        TlsPolicy::Pinned(hash) => Arc::new(Pinned {
            hash: *hash,
            algorithms: provider.signature_verification_algorithms,
        }),
        TlsPolicy::Roots { ca_file } => {
            let roots = roots(ca_file.as_deref())?;
            rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| ProviderError::Backend(format!("cannot set up TLS: {e}")))?
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProviderError::Backend(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    reqwest_vim::Client::builder()
        .cookie_store(true)
        .tls_backend_preconfigured(config)
        .tls_info(tls_info)
        .connect_timeout(Duration::from_secs(20).min(timeout))
        .timeout(timeout)
        .tcp_keepalive(Duration::from_secs(60))
        .build()
        .map_err(|e| ProviderError::Backend(format!("cannot set up the HTTP client: {e}")))
}

fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, ProviderError> {
    let mut store = RootCertStore::empty();
    // Unreadable system certificates are skipped: the CA file or a pin may still do.
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = store.add(cert);
    }
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| {
                ProviderError::Backend(format!("cannot read ca_file {}: {e}", path.display()))
            })?
            .collect::<Result<_, _>>()
            .map_err(|e| {
                ProviderError::Backend(format!(
                    "ca_file {} is not a PEM certificate file: {e}",
                    path.display()
                ))
            })?;
        if certs.is_empty() {
            return Err(ProviderError::Backend(format!(
                "ca_file {} holds no PEM certificate",
                path.display()
            )));
        }
        for cert in certs {
            store.add(cert).map_err(|e| {
                ProviderError::Backend(format!(
                    "ca_file {} holds a certificate that cannot be used: {e}",
                    path.display()
                ))
            })?;
        }
    }
    Ok(store)
}

/// Connect once without checks to learn the certificate the server presents, so that an
/// "untrusted certificate" error can quote the exact thumbprint to pin.
pub async fn probe_thumbprint(host: &str) -> Option<String> {
    let client = build(&TlsPolicy::Insecure, true, Duration::from_secs(20)).ok()?;
    let res = client
        .get(format!("https://{host}/sdk/vimServiceVersions.xml"))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .ok()?;
    let info = res.extensions().get::<reqwest_vim::tls::TlsInfo>()?;
    info.peer_certificate().map(thumbprint_of)
}

/// Accepts any certificate; signatures are still checked so the handshake is sound.
#[derive(Debug)]
struct AcceptAny {
    algorithms: WebPkiSupportedAlgorithms,
}

/// Accepts exactly one certificate, by the SHA-256 of its DER encoding.
#[derive(Debug)]
struct Pinned {
    hash: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

macro_rules! signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    signature_checks!();
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // A pin replaces chain and name checks: it is the operator's explicit trust decision.
        if Sha256::digest(end_entity.as_ref()).as_slice() == self.hash {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
    signature_checks!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_parse_in_common_spellings() {
        let hex64 = "448f628a8a65aa18560e53a80c53acb38c51b427df0334082349141147dc9bf6";
        let a = parse_thumbprint(&format!("SHA256:{hex64}")).unwrap();
        let colons: Vec<String> = hex64
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).to_uppercase())
            .collect();
        let b = parse_thumbprint(&format!("SHA256:{}", colons.join(":"))).unwrap();
        assert_eq!(a, b);
        assert!(parse_thumbprint("SHA256:abcd").is_err());
        assert!(parse_thumbprint("not hex").is_err());
        assert_eq!(thumbprint_of(b"x").len(), "SHA256:".len() + 64);
    }

    #[test]
    fn policy_precedence() {
        assert_eq!(
            TlsPolicy::from_profile(true, Some("junk"), None).unwrap(),
            TlsPolicy::Insecure
        );
        assert!(TlsPolicy::from_profile(false, Some("junk"), None).is_err());
        assert_eq!(
            TlsPolicy::from_profile(false, None, None).unwrap(),
            TlsPolicy::Roots { ca_file: None }
        );
        assert!(http_client(&TlsPolicy::Insecure, Duration::from_secs(5)).is_ok());
        assert!(http_client(&TlsPolicy::Roots { ca_file: None }, Duration::from_secs(5)).is_ok());
    }
}
