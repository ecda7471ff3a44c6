//! One request, one answer: over the direct client (`direct.rs`), or through reqwest when the
//! environment's proxy settings apply to the URL. Either way the body is read to its end under the
//! size cap and failures come back as outcomes.

use super::{Api, MAX_BODY_BYTES};
use crate::vocabulary::Outcome;
use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use reqwest::header::RETRY_AFTER;
use std::time::Duration;

/// A complete response: the status, a usable `Retry-After`, and the body when it was asked for.
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// Which client carries a URL's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Direct,
    Proxied,
}

/// What a request is for: it decides the route, the connections and whether the body is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Api,
    Token,
}

impl Api {
    pub(crate) async fn exchange(
        &self,
        request: http::Request<Bytes>,
        call: Call,
    ) -> Result<Answer, Outcome> {
        let (route, conns, keep_body) = match call {
            Call::Api => (self.api_route, &self.api_conns, false),
            Call::Token => (self.token_route, &self.token_conns, true),
        };
        match route {
            Route::Direct => conns.send(request, keep_body).await,
            // Boxed: reqwest's future is large, and the common direct path should not carry its size.
            Route::Proxied => Box::pin(self.proxied(request, keep_body)).await,
        }
    }

    async fn proxied(
        &self,
        request: http::Request<Bytes>,
        keep_body: bool,
    ) -> Result<Answer, Outcome> {
        let request = reqwest::Request::try_from(request).map_err(|_| Outcome::ClientError)?;
        match self.client.execute(request).await {
            Ok(response) => read(http::Response::from(response), keep_body, body_outcome).await,
            Err(e) => Err(transport_outcome(&e)),
        }
    }
}

/// Where `url`'s requests go, given the environment's proxy settings (`HTTPS_PROXY`, `NO_PROXY`,
/// ...). With `host_varies` (a variable in the host), any proxy setting counts: each org's host
/// could match differently.
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

pub(crate) fn transport_outcome(e: &reqwest::Error) -> Outcome {
    if e.is_timeout() {
        Outcome::Timeout
    } else if e.is_decode() {
        Outcome::BadResponse
    } else {
        Outcome::ConnectError
    }
}

/// A response body from reqwest that broke off: the request's timeout, or a response that does not
/// say what it must.
pub(crate) fn body_outcome(e: reqwest::Error) -> Outcome {
    if e.is_timeout() {
        Outcome::Timeout
    } else {
        Outcome::BadResponse
    }
}

/// A `Retry-After` value. Only the delta-seconds form; an HTTP-date from a load-test target is not
/// worth a date parser.
pub(crate) fn retry_after(value: &[u8]) -> Option<Duration> {
    let value = std::str::from_utf8(value).ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Reads a response to its end (so the connection can serve the next request), keeping the body
/// only when asked; its size counts against the cap either way, an oversized body is a bad response.
pub(crate) async fn read<B: http_body::Body>(
    response: http::Response<B>,
    keep_body: bool,
    failed: impl FnOnce(B::Error) -> Outcome,
) -> Result<Answer, Outcome> {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| retry_after(v.as_bytes()));
    let mut body = std::pin::pin!(response.into_body());
    let mut collected = Collected::new(keep_body);
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => return Err(failed(e)),
        };
        if let Ok(mut data) = frame.into_data() {
            while data.has_remaining() {
                let chunk = data.chunk();
                let n = chunk.len();
                collected.add(chunk)?;
                data.advance(n);
            }
        }
    }
    Ok(Answer {
        status,
        retry_after,
        body: collected.kept,
    })
}

/// A body as it arrives: counted against the cap, kept only when asked.
pub(crate) struct Collected {
    pub kept: Vec<u8>,
    keep: bool,
    seen: usize,
}

impl Collected {
    pub fn new(keep: bool) -> Collected {
        Collected {
            kept: Vec::new(),
            keep,
            seen: 0,
        }
    }

    /// What the cap still allows.
    pub fn room(&self) -> usize {
        MAX_BODY_BYTES - self.seen
    }

    pub fn add(&mut self, data: &[u8]) -> Result<(), Outcome> {
        if data.len() > self.room() {
            return Err(Outcome::BadResponse);
        }
        self.seen += data.len();
        if self.keep {
            self.kept.extend_from_slice(data);
        }
        Ok(())
    }
}

/// A request reqwest built (form encoding, basic auth) as the plain request both routes send.
pub(crate) fn plain(request: reqwest::Request) -> Option<http::Request<Bytes>> {
    let body = match request.body() {
        Some(body) => Bytes::copy_from_slice(body.as_bytes()?),
        None => Bytes::new(),
    };
    let mut plain = http::Request::new(body);
    *plain.method_mut() = request.method().clone();
    *plain.uri_mut() = http::Uri::try_from(request.url().as_str()).ok()?;
    *plain.headers_mut() = request.headers().clone();
    // What reqwest adds when it sends: kept so the route changes nothing on the wire.
    plain
        .headers_mut()
        .entry(http::header::ACCEPT)
        .or_insert(http::HeaderValue::from_static("*/*"));
    Some(plain)
}
