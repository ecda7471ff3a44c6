//! How to connect to a target, and the reqwest client for its token calls: HTTP version, pool,
//! timeouts, proxy (TLS trust and identity are in `tls.rs`).

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
    /// API calls in flight per host at most, so HTTP/1.1 connections open at most (`load.max_connections`).
    pub max_api_connections: Option<usize>,
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
            max_api_connections: None,
            ca_pem: None,
            identity_pem: None,
            insecure_skip_verify: false,
            proxy_from_env: false,
        }
    }
}

/// The client for token calls and discovery, with the TLS configuration the API calls use too.
pub fn build(t: &Transport, mut tls: rustls::ClientConfig) -> Result<reqwest::Client, HttpError> {
    // A preconfigured TLS setup is used as it is: the offered protocols must match the version asked.
    tls.alpn_protocols = match t.version {
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
    };
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
    b = b.use_preconfigured_tls(tls);
    b.build().map_err(HttpError::Client)
}
