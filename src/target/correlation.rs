//! Gives every request an `ININ-Correlation-Id`, sent back as a header and used as `contextId` in error bodies.

use super::state::{mix, Shared};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// The id of the request being handled (a request extension).
#[derive(Debug, Clone)]
pub(crate) struct Corr(pub Arc<str>);

pub(crate) async fn correlate(
    State(state): State<Shared>,
    mut request: Request,
    next: Next,
) -> Response {
    let n = state.next_id();
    let (a, b) = (mix(state.seed ^ n), mix(n.rotate_left(32) ^ !state.seed));
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    );
    let header = HeaderValue::from_str(&id).ok();
    request.extensions_mut().insert(Corr(id.into()));
    let mut response = next.run(request).await;
    if let Some(header) = header {
        response.headers_mut().insert("inin-correlation-id", header);
    }
    response
}
