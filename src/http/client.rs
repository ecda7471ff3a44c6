//! The reqwest client for a target: TLS trust and identity, HTTP version, pool, timeouts, proxy.

use super::HttpError;
use crate::profile::target::HttpVersion;
use crate::secret::Secret;
use std::time::Duration;

/// How to connect. Certificates and keys are PEM bytes, read from the files the profile names.
#[derive(Debug, Clone)]
pub struct Transport {
    /// Bound on each HTTP call, from sending to the end of the body.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub version: HttpVersion,
    pub pool_max_idle_per_host: Option<usize>,
    /// Extra trusted CAs, on top of the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate chain followed by its private key, for mutual TLS: a [`Secret`], so debug
    /// output of a configuration cannot show the key.
    pub identity_pem: Option<Secret>,
    pub insecure_skip_verify: bool,
    pub proxy_from_env: bool,
}

impl Transport {
    /// Plain HTTP to a local target: no proxy (a user's `HTTP_PROXY` must not capture 127.0.0.1).
    pub fn local(request_timeout: Duration) -> Transport {
        Transport {
            request_timeout,
            connect_timeout: request_timeout,
            version: HttpVersion::Auto,
            pool_max_idle_per_host: None,
            ca_pem: None,
            identity_pem: None,
            insecure_skip_verify: false,
            proxy_from_env: false,
        }
    }
}

pub fn build(t: &Transport) -> Result<reqwest::Client, HttpError> {
    let mut b = reqwest::Client::builder()
        .timeout(t.request_timeout)
        .connect_timeout(t.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        // A redirect from a token endpoint is a misconfiguration; following it would carry credentials along.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(n) = t.pool_max_idle_per_host {
        b = b.pool_max_idle_per_host(n);
    }
    b = match t.version {
        HttpVersion::Auto => b,
        HttpVersion::Http1 => b.http1_only(),
        HttpVersion::Http2 => b.http2_prior_knowledge(),
    };
    if !t.proxy_from_env {
        b = b.no_proxy();
    }
    if let Some(pem) = &t.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
            HttpError::Tls(format!("target.tls.ca_file: not PEM certificates: {e}"))
        })?;
        if certs.is_empty() {
            return Err(HttpError::Tls(
                "target.tls.ca_file: holds no PEM certificate".into(),
            ));
        }
        for cert in certs {
            b = b.add_root_certificate(cert);
        }
    }
    if let Some(pem) = &t.identity_pem {
        // reqwest's own message can describe the key material; say which setting is wrong instead.
        let identity = reqwest::Identity::from_pem(pem.expose().as_bytes()).map_err(|_| {
            HttpError::Tls(
                "target.tls.client_cert / client_key: need a PEM certificate and its PEM private key (PKCS#8, PKCS#1 or SEC1)"
                    .into(),
            )
        })?;
        b = b.identity(identity);
    }
    if t.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(HttpError::Client)
}
