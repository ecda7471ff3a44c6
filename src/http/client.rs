//! How to connect to a target: HTTP version, pool, timeouts, proxy (TLS trust and identity are in
//! `tls.rs`).

use crate::profile::target::HttpVersion;
use crate::secret::Secret;
use std::time::Duration;

/// How to connect. Certificates and keys are PEM bytes, read from the files the profile names.
#[derive(Debug, Clone)]
pub struct Transport {
    /// Bound on each HTTP call, from sending to the end of the body.
    pub request_timeout: Duration,
    /// TCP and TLS together.
    pub connect_timeout: Duration,
    /// How long an idle connection is kept for reuse.
    pub idle_timeout: Duration,
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
            idle_timeout: super::pool::DEFAULT_IDLE_TIMEOUT,
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
