//! Gives every request an `ININ-Correlation-Id`, sent back as a header and used as `contextId` in error bodies.

use super::state::{mix, Shared};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The response header; a constant, so it is not looked up from a string on every response.
const CORRELATION_ID: HeaderName = HeaderName::from_static("inin-correlation-id");

/// The id of the request being handled (a request extension). It is kept as the header value itself, so
/// the response header is a reference-count bump rather than a second copy.
#[derive(Debug, Clone)]
pub(crate) struct Corr(HeaderValue);

impl Corr {
    pub fn as_str(&self) -> &str {
        // Built from ASCII hex digits and dashes only, so this never fails.
        self.0.to_str().unwrap_or_default()
    }
}

/// Wraps every route: a tower layer written out rather than `middleware::from_fn`, which boxes the
/// request's future and clones the boxed inner service on every call (two allocations and two
/// indirect calls per request on the server's hot path).
#[derive(Clone)]
pub(crate) struct CorrelateLayer(pub Shared);

impl<S> tower_layer::Layer<S> for CorrelateLayer {
    type Service = Correlate<S>;

    fn layer(&self, inner: S) -> Correlate<S> {
        Correlate {
            inner,
            state: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Correlate<S> {
    inner: S,
    state: Shared,
}

impl<S> tower_service::Service<Request> for Correlate<S>
where
    S: tower_service::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Correlated<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let n = self.state.next_id();
        let seed = self.state.seed;
        let id = uuid_v4(mix(seed ^ n), mix(n.rotate_left(32) ^ !seed));
        let header = HeaderValue::from_bytes(&id).ok();
        if let Some(header) = &header {
            request.extensions_mut().insert(Corr(header.clone()));
        }
        Correlated {
            inner: self.inner.call(request),
            header,
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future; its response leaves with the request's id as a header.
    pub(crate) struct Correlated<F> {
        #[pin]
        inner: F,
        header: Option<HeaderValue>,
    }
}

impl<F, E> Future for Correlated<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(header) = this.header.take() {
            response.headers_mut().insert(CORRELATION_ID, header);
        }
        Poll::Ready(Ok(response))
    }
}

/// `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx` from 128 random bits, written by hand: `format!` with five
/// padded hex fields cost more than the rest of the middleware on every request.
fn uuid_v4(a: u64, b: u64) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = (u128::from(a) << 64) | u128::from(b);
    // Version 4 and the RFC 4122 variant, over the random bits.
    let bits = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let mut out = [b'-'; 36];
    let mut nibble = 32;
    for (i, slot) in out.iter_mut().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        nibble -= 1;
        *slot = HEX[((bits >> (nibble * 4)) & 0xf) as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_uuids_and_differ() {
        let a = uuid_v4(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);
        let text = std::str::from_utf8(&a).unwrap();
        assert_eq!(text, "01234567-89ab-4def-bedc-ba9876543210");
        let b = uuid_v4(0, 0);
        assert_eq!(
            std::str::from_utf8(&b).unwrap(),
            "00000000-0000-4000-8000-000000000000"
        );
        let c = uuid_v4(u64::MAX, u64::MAX);
        assert_eq!(
            std::str::from_utf8(&c).unwrap(),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
    }
}
