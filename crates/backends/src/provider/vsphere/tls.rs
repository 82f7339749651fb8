//! The HTTP client a vSphere profile talks through, with the profile's TLS policy: system
//! roots (plus an optional CA file), one pinned certificate, or no checks at all.
//!
//! What each policy verifies:
//! - roots: rustls's own checks (chain to a root or the `ca_file`, validity dates, the URL's
//!   host among the certificate's names, handshake signature with keys of 2048 bits and up);
//! - a pin: the certificate is exactly the pinned one (SHA-256 of its DER), and the handshake
//!   signature proves the server holds its private key, so a copy of the public certificate
//!   is not enough to impersonate the server. Not checked: chain, dates, names, key size
//!   (RSA keys of 1024 bits and up are accepted: stock vcsim and old ESXi hosts have them);
//! - insecure: nothing about the certificate; the handshake signature is still checked
//!   against the certificate's key, with the same key sizes as a pin.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, ServerName,
    SignatureVerificationAlgorithm, UnixTime, alg_id,
};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256, Sha384, Sha512};
use webpki::ring as alg;

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

/// A reqwest client for one profile: cookies on (SOAP sessions are cookies), our TLS policy,
/// HTTP/1.1 (one exchange per connection at a time, which the answer bound counts on),
/// through `proxy` when given (`limit::Tunnel`).
pub fn http_client(
    policy: &TlsPolicy,
    timeout: Duration,
    proxy: Option<reqwest_vim::Proxy>,
) -> Result<reqwest_vim::Client, ProviderError> {
    build(policy, false, timeout, proxy)
}

fn build(
    policy: &TlsPolicy,
    tls_info: bool,
    timeout: Duration,
    proxy: Option<reqwest_vim::Proxy>,
) -> Result<reqwest_vim::Client, ProviderError> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match policy {
        TlsPolicy::Insecure => Arc::new(AcceptAny {
            algorithms: TRUSTED_ANYWAY,
        }),
        TlsPolicy::Pinned(hash) => Arc::new(Pinned {
            hash: *hash,
            algorithms: TRUSTED_ANYWAY,
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
    let builder = match proxy {
        Some(proxy) => reqwest_vim::Client::builder().proxy(proxy),
        None => reqwest_vim::Client::builder(),
    };
    builder
        .http1_only()
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

/// The sentence for a certificate refused at login: the real cause (expired, another host's,
/// a CA certificate, a changed pin, an unknown issuer) and the fix, with the thumbprint the
/// server presents (`seen`, probed without checks) where pinning it is a way out.
pub fn refusal_sentence(
    cause: Option<&rustls::CertificateError>,
    host: &str,
    profile: &str,
    seen: Option<&str>,
    policy: &TlsPolicy,
) -> String {
    use rustls::CertificateError as C;
    let pin = |why: &str| match seen {
        Some(t) => format!("{why}set thumbprint = \"{t}\" in profile {profile}"),
        None => format!("{why}pin its thumbprint = \"SHA256:…\" in profile {profile}"),
    };
    let anyway = pin("or, to trust this very certificate anyway, ");
    if matches!(policy, TlsPolicy::Pinned(_)) {
        return match seen {
            Some(t) => format!(
                "the certificate of {host} does not match the pinned thumbprint of profile {profile}; the server now presents {t} — if that change is expected, set thumbprint = \"{t}\""
            ),
            None => format!(
                "the certificate of {host} does not match the pinned thumbprint of profile {profile}"
            ),
        };
    }
    match cause {
        Some(C::ExpiredContext { time, not_after }) => format!(
            "the certificate of {host} expired on {} (it is now {}); renew it on the server — {anyway}",
            day(*not_after),
            day(*time)
        ),
        Some(C::Expired) => {
            format!("the certificate of {host} has expired; renew it on the server — {anyway}")
        }
        Some(C::NotValidYetContext { time, not_before }) => format!(
            "the certificate of {host} is not valid before {} (it is now {}); check the clocks of this machine and of the server",
            day(*not_before),
            day(*time)
        ),
        Some(C::NotValidYet) => format!(
            "the certificate of {host} is not valid yet; check the clocks of this machine and of the server"
        ),
        Some(C::NotValidForNameContext {
            expected,
            presented,
        }) => {
            let names: Vec<String> = presented.iter().map(|n| presented_name(n)).collect();
            let names = if names.is_empty() {
                "no host name".to_string()
            } else {
                names.join(", ")
            };
            format!(
                "the certificate of {host} is for {names}, not {}; use one of its names in the url of profile {profile} — {anyway}",
                expected.to_str()
            )
        }
        Some(C::NotValidForName) => format!(
            "the certificate of {host} is for another host name; use one of its names in the url of profile {profile} — {anyway}"
        ),
        Some(C::Other(other))
            if matches!(
                other.0.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            ) =>
        {
            format!(
                "the certificate of {host} is a CA certificate, not a server certificate, so no ca_file can vouch for it; {}, or give the server a certificate signed by that CA",
                pin("")
            )
        }
        Some(
            C::BadSignature
            | C::UnsupportedSignatureAlgorithmContext { .. }
            | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. },
        ) => format!(
            "the certificate of {host} has a key too weak to be checked against a CA (RSA keys need 2048 bits or more), or the server's handshake signature does not verify; give the server a certificate with a stronger key — {}, as a pin accepts RSA keys from 1024 bits",
            pin("or ")
        ),
        Some(C::UnknownIssuer) | None => match seen {
            Some(t) => format!(
                "the certificate of {host} is not signed by a CA this machine trusts; to trust it, add thumbprint = \"{t}\" to profile {profile}, or a ca_file with the CA that signed it"
            ),
            None => format!(
                "the certificate of {host} is not signed by a CA this machine trusts; to trust it, add a ca_file with the CA that signed it to profile {profile}"
            ),
        },
        Some(other) => format!(
            "the certificate of {host} is not trusted ({other}); {}",
            pin("to trust it anyway, ")
        ),
    }
}

/// A name as webpki lists it (`DnsName("vc.example")`, `IpAddress(10.0.0.1)`), bare.
fn presented_name(name: &str) -> String {
    let bare = name
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            name.strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        });
    bare.unwrap_or(name).to_string()
}

/// The UTC day of a certificate time.
fn day(t: UnixTime) -> String {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || format!("{} s after 1970", t.as_secs()),
            |d| d.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
}

/// Connect once without checks to learn the certificate the server presents, so that an
/// "untrusted certificate" error can quote the exact thumbprint to pin.
pub async fn probe_thumbprint(host: &str) -> Option<String> {
    let client = build(&TlsPolicy::Insecure, true, Duration::from_secs(20), None).ok()?;
    let res = client
        .get(format!("https://{host}/sdk/vimServiceVersions.xml"))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .ok()?;
    let info = res.extensions().get::<reqwest_vim::tls::TlsInfo>()?;
    info.peer_certificate().map(thumbprint_of)
}

/// The handshake signatures checked for a certificate trusted by the operator's choice
/// (insecure, pin): ring's ECDSA and Ed25519, and RSA through [`AnyRsa`] for every key size
/// from 1024 bits (ring's own RSA starts at 2048).
const TRUSTED_ANYWAY: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        alg::ECDSA_P256_SHA256,
        alg::ECDSA_P256_SHA384,
        alg::ECDSA_P384_SHA256,
        alg::ECDSA_P384_SHA384,
        alg::ED25519,
        &AnyRsa::PKCS1_SHA256,
        &AnyRsa::PKCS1_SHA384,
        &AnyRsa::PKCS1_SHA512,
        &AnyRsa::PSS_SHA256,
        &AnyRsa::PSS_SHA384,
        &AnyRsa::PSS_SHA512,
    ],
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
        ),
        (SignatureScheme::ED25519, &[alg::ED25519]),
        (SignatureScheme::RSA_PSS_SHA512, &[&AnyRsa::PSS_SHA512]),
        (SignatureScheme::RSA_PSS_SHA384, &[&AnyRsa::PSS_SHA384]),
        (SignatureScheme::RSA_PSS_SHA256, &[&AnyRsa::PSS_SHA256]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[&AnyRsa::PKCS1_SHA512]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[&AnyRsa::PKCS1_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[&AnyRsa::PKCS1_SHA256]),
    ],
};

/// An RSA handshake signature (PKCS#1 v1.5 or PSS) by a key of 1024 to 16384 bits.
#[derive(Debug)]
struct AnyRsa {
    pss: bool,
    hash: Hash,
}

#[derive(Clone, Copy, Debug)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl AnyRsa {
    const PKCS1_SHA256: AnyRsa = AnyRsa {
        pss: false,
        hash: Hash::Sha256,
    };
    const PKCS1_SHA384: AnyRsa = AnyRsa {
        pss: false,
        hash: Hash::Sha384,
    };
    const PKCS1_SHA512: AnyRsa = AnyRsa {
        pss: false,
        hash: Hash::Sha512,
    };
    const PSS_SHA256: AnyRsa = AnyRsa {
        pss: true,
        hash: Hash::Sha256,
    };
    const PSS_SHA384: AnyRsa = AnyRsa {
        pss: true,
        hash: Hash::Sha384,
    };
    const PSS_SHA512: AnyRsa = AnyRsa {
        pss: true,
        hash: Hash::Sha512,
    };
}

impl SignatureVerificationAlgorithm for AnyRsa {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        use rsa::pkcs1::der::Decode;
        let der = rsa::pkcs1::RsaPublicKey::from_der(public_key).map_err(|_| InvalidSignature)?;
        let key = rsa::RsaPublicKey::new_with_max_size(
            rsa::BigUint::from_bytes_be(der.modulus.as_bytes()),
            rsa::BigUint::from_bytes_be(der.public_exponent.as_bytes()),
            16384,
        )
        .map_err(|_| InvalidSignature)?;
        if rsa::traits::PublicKeyParts::size(&key) < 128 {
            return Err(InvalidSignature);
        }
        let verified = match (self.pss, self.hash) {
            (false, Hash::Sha256) => key.verify(
                rsa::Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(message),
                signature,
            ),
            (false, Hash::Sha384) => key.verify(
                rsa::Pkcs1v15Sign::new::<Sha384>(),
                &Sha384::digest(message),
                signature,
            ),
            (false, Hash::Sha512) => key.verify(
                rsa::Pkcs1v15Sign::new::<Sha512>(),
                &Sha512::digest(message),
                signature,
            ),
            (true, Hash::Sha256) => key.verify(
                rsa::Pss::new::<Sha256>(),
                &Sha256::digest(message),
                signature,
            ),
            (true, Hash::Sha384) => key.verify(
                rsa::Pss::new::<Sha384>(),
                &Sha384::digest(message),
                signature,
            ),
            (true, Hash::Sha512) => key.verify(
                rsa::Pss::new::<Sha512>(),
                &Sha512::digest(message),
                signature,
            ),
        };
        verified.map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        match (self.pss, self.hash) {
            (false, Hash::Sha256) => alg_id::RSA_PKCS1_SHA256,
            (false, Hash::Sha384) => alg_id::RSA_PKCS1_SHA384,
            (false, Hash::Sha512) => alg_id::RSA_PKCS1_SHA512,
            (true, Hash::Sha256) => alg_id::RSA_PSS_SHA256,
            (true, Hash::Sha384) => alg_id::RSA_PSS_SHA384,
            (true, Hash::Sha512) => alg_id::RSA_PSS_SHA512,
        }
    }
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
        assert!(http_client(&TlsPolicy::Insecure, Duration::from_secs(5), None).is_ok());
        assert!(
            http_client(
                &TlsPolicy::Roots { ca_file: None },
                Duration::from_secs(5),
                None
            )
            .is_ok()
        );
    }
}
