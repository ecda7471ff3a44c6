//! The scrape endpoint: `GET /metrics` answers the hub's reading as OpenMetrics text.

use super::{openmetrics, Hub};
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::sync::Arc;

pub fn router(hub: Arc<Hub>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let hub = hub.clone();
            async move { ([(CONTENT_TYPE, openmetrics::CONTENT_TYPE)], hub.scrape()) }
        }),
    )
}

/// Serves the endpoint on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    hub: Arc<Hub>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(hub))
        .with_graceful_shutdown(shutdown)
        .await
}
