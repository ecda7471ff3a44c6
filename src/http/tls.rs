//! One rustls configuration per target, built from the profile's TLS settings, so the direct client
//! and the proxied calls (reqwest) trust, identify and negotiate exactly alike.

use super::client::Transport;
use super::HttpError;
use crate::profile::target::HttpVersion;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// The client configuration for `t`, without ALPN: each client sets the protocols it offers from
/// `t.version` (hyper-rustls insists on doing so itself).
pub fn client_config(t: &Transport) -> Result<ClientConfig, HttpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(format!("no TLS version available: {e}")))?;
    let builder = if t.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
    } else {
        builder.with_root_certificates(roots(t.ca_pem.as_deref())?)
    };
    let config = match &t.identity_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            // rustls's own message can describe the key material; say which setting is wrong instead.
            let wrong = || {
                HttpError::Tls(
                    "target.tls.client_cert / client_key: need a PEM certificate and its PEM private key (PKCS#8, PKCS#1 or SEC1)"
                        .into(),
                )
            };
            let pem = pem.expose().as_bytes();
            let chain = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| wrong())?;
            let key = PrivateKeyDer::from_pem_slice(pem).map_err(|_| wrong())?;
            if chain.is_empty() {
                return Err(wrong());
            }
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|_| wrong())?
        }
    };
    Ok(config)
}

/// The ALPN protocols a client offers for the HTTP version the profile asks for.
pub fn alpn_protocols(version: HttpVersion) -> Vec<Vec<u8>> {
    match version {
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
    }
}

/// The system's roots plus the profile's CA file. A system store that cannot be read is not an error
/// here: a target signed by the profile's CA does not need it, and any other target fails its
/// handshake, counted as a connect error.
fn roots(ca_pem: Option<&[u8]>) -> Result<RootCertStore, HttpError> {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    store.add_parsable_certificates(native.certs);
    if let Some(pem) = ca_pem {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                HttpError::Tls(format!("target.tls.ca_file: not PEM certificates: {e}"))
            })?;
        if certs.is_empty() {
            return Err(HttpError::Tls(
                "target.tls.ca_file: holds no PEM certificate".into(),
            ));
        }
        for cert in certs {
            store.add(cert).map_err(|e| {
                HttpError::Tls(format!("target.tls.ca_file: unusable certificate: {e}"))
            })?;
        }
    }
    Ok(store)
}

/// `insecure_skip_verify`: any certificate for any name. Signatures are still checked, so the
/// handshake itself stays sound; only the trust decision is skipped.
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
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

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
