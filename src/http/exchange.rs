//! One request, one response read to its end: over the direct client (`direct.rs`), or through the
//! proxy (`proxied.rs`) when the environment's proxy settings apply to the URL. Either way the body
//! is read under the size cap and failures come back as outcomes.

use super::direct::Sent;
use super::{proxied, Api, MAX_BODY_BYTES};
use crate::vocabulary::Outcome;
use bytes::{Buf, Bytes};
use http::header::RETRY_AFTER;
use http::{HeaderValue, Method};
use http_body_util::BodyExt;
use std::time::Duration;

/// The `Accept` reqwest adds on the proxied route, sent on the direct one too, so a call looks the
/// same on the wire whichever route carries it.
pub(crate) const ACCEPT_ANY: HeaderValue = HeaderValue::from_static("*/*");

/// A response as it came, not yet classified: the status, a usable `Retry-After`, and the body when
/// it was asked for. What a call came to for the engine is a [`super::Reply`].
pub(crate) struct RawResponse {
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
    /// `repeatable`: the grant may be asked for twice (see `direct.rs` on resending).
    Token {
        repeatable: bool,
    },
    /// The OpenID discovery document, once per variant: its route is decided for its own URL.
    Discovery,
}

impl Api {
    pub(crate) async fn exchange(&self, request: http::Request<Bytes>, call: Call) -> Sent {
        let repeatable = match call {
            Call::Token { repeatable } => repeatable,
            Call::Api | Call::Discovery => idempotent(request.method()),
        };
        let (route, conns, keep_body) = match call {
            Call::Api => (self.api_route, &self.api_conns, false),
            Call::Token { .. } => (self.token_route, &self.token_conns, true),
            Call::Discovery => {
                let route = proxied::route(self.proxy.is_some(), request.uri(), false);
                (route, &self.token_conns, true)
            }
        };
        match (route, &self.proxy) {
            // Boxed: reqwest's future is large, and the common direct path should not carry its size.
            // reqwest's pool resends only requests it never wrote; none is counted as resent.
            (Route::Proxied, Some(proxy)) => Sent {
                result: Box::pin(proxied::send(proxy, request, keep_body)).await,
                resent: false,
            },
            _ => conns.send(request, keep_body, repeatable).await,
        }
    }
}

/// RFC 9110 9.2.2: a method whose repeat has the effect of one request.
fn idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
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
) -> Result<RawResponse, Outcome> {
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
    Ok(RawResponse {
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

#[cfg(test)]
mod tests {
    use super::idempotent;
    use http::Method;

    #[test]
    fn only_rfc_9110s_idempotent_methods_may_be_sent_twice() {
        for m in ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"] {
            assert!(
                idempotent(&Method::from_bytes(m.as_bytes()).unwrap()),
                "{m}"
            );
        }
        for m in ["POST", "PATCH", "CONNECT", "PURGE"] {
            assert!(
                !idempotent(&Method::from_bytes(m.as_bytes()).unwrap()),
                "{m}"
            );
        }
    }
}
