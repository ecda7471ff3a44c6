//! The API calls' HTTP client: hyper's pooled client, driven directly.
//!
//! The API call is the load itself, so its client's cost per request is the load tester's own
//! overhead. reqwest, on top of the same hyper client, formats and re-parses every request's URL
//! (its redirect layer does so even with redirects off) and boxes a large future per call: about
//! a fifth of the client's user-space CPU per request in `benches/peers.sh`. Token calls are few and
//! stay on reqwest; both share one rustls configuration (`tls.rs`).

use super::client::Transport;
use super::{finish, Outcome, Reply};
use crate::profile::target::HttpVersion;
use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::error::Error as _;
use std::time::Duration;

pub type Body = Full<Bytes>;

#[derive(Clone)]
pub struct Direct {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    /// Bound on each call, from sending to the end of the body.
    timeout: Duration,
}

impl Direct {
    pub fn new(t: &Transport, tls: rustls::ClientConfig) -> Direct {
        let mut http = HttpConnector::new();
        // The HTTPS connector in front decides the scheme.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(t.connect_timeout));
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let https = match t.version {
            HttpVersion::Auto => https.enable_all_versions().wrap_connector(http),
            HttpVersion::Http1 => https.enable_http1().wrap_connector(http),
            HttpVersion::Http2 => https.enable_http2().wrap_connector(http),
        };
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .http2_only(t.version == HttpVersion::Http2);
        if let Some(n) = t.pool_max_idle_per_host {
            builder.pool_max_idle_per_host(n);
        }
        Direct {
            client: builder.build(https),
            timeout: t.request_timeout,
        }
    }

    pub async fn send(&self, request: http::Request<Bytes>) -> Reply<()> {
        let exchange = async {
            match self.client.request(request.map(Full::new)).await {
                // A body that breaks off is a response that does not say what it must.
                Ok(response) => finish(response, |_| Outcome::BadResponse).await,
                Err(e) => Reply::failed(send_outcome(&e)),
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| Reply::failed(Outcome::Timeout))
    }
}

/// A connect timeout is a timeout, as reqwest reports it; anything else before a response is a
/// connection that could not be made or broke.
fn send_outcome(e: &hyper_util::client::legacy::Error) -> Outcome {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return Outcome::Timeout;
            }
        }
        source = s.source();
    }
    Outcome::ConnectError
}
