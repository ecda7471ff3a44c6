//! The one place reqwest serves: calls that go through the proxy the environment names
//! (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`), when the profile sets `proxy_from_env`.
//! Proxies (CONNECT tunnels for https, proxy credentials in the URL, the variables' spellings and
//! exceptions) are what reqwest does well and what a load test rarely measures. Every other request,
//! token, discovery and API alike, is built as an `http::Request` and sent by the direct client
//! (`direct.rs`); a proxied call sends that same request through reqwest, and only what reqwest
//! reports as a failure is classified here.

use super::client::Transport;
use super::exchange::{read, RawResponse, Route};
use super::{tls, HttpError};
use crate::profile::target::HttpVersion;
use crate::vocabulary::Outcome;
use bytes::Bytes;

/// The client for proxied calls, with the TLS configuration the direct client uses too.
pub(super) fn client(
    t: &Transport,
    mut tls: rustls::ClientConfig,
) -> Result<reqwest::Client, HttpError> {
    // A preconfigured TLS setup is used as it is: the offered protocols must match the version asked.
    tls.alpn_protocols = tls::alpn_protocols(t.version);
    let mut b = reqwest::Client::builder()
        .timeout(t.request_timeout)
        .connect_timeout(t.connect_timeout)
        .pool_idle_timeout(t.idle_timeout)
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
    b.use_preconfigured_tls(tls)
        .build()
        .map_err(HttpError::Client)
}

/// Where `url`'s requests go, given the environment's proxy settings. With `host_varies` (a variable
/// in the host), any proxy setting counts: each org's host could match differently.
pub(crate) fn route(proxy_from_env: bool, url: &http::Uri, host_varies: bool) -> Route {
    if !proxy_from_env {
        return Route::Direct;
    }
    let proxied = if host_varies {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"]
            .iter()
            .any(|n| set(n) || set(&n.to_lowercase()))
    } else {
        hyper_util::client::proxy::matcher::Matcher::from_env()
            .intercept(url)
            .is_some()
    };
    if proxied {
        Route::Proxied
    } else {
        Route::Direct
    }
}

/// One request through the proxy, its response read as the direct client reads one.
pub(super) async fn send(
    client: &reqwest::Client,
    request: http::Request<Bytes>,
    keep_body: bool,
) -> Result<RawResponse, Outcome> {
    let request = reqwest::Request::try_from(request).map_err(|_| Outcome::ClientError)?;
    match client.execute(request).await {
        Ok(response) => read(http::Response::from(response), keep_body, body_outcome).await,
        Err(e) => Err(transport_outcome(&e)),
    }
}

/// No response: the request's timeout, a response reqwest could not decode, or no connection.
fn transport_outcome(e: &reqwest::Error) -> Outcome {
    if e.is_timeout() {
        Outcome::Timeout
    } else if e.is_decode() {
        Outcome::BadResponse
    } else {
        Outcome::ConnectError
    }
}

/// A response body that broke off: the request's timeout, or a response that does not say what it
/// must.
fn body_outcome(e: reqwest::Error) -> Outcome {
    if e.is_timeout() {
        Outcome::Timeout
    } else {
        Outcome::BadResponse
    }
}
