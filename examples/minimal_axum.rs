//! The baseline of benches/target.sh: the smallest axum server that answers the contacts path with a
//! fixed JSON body, on 127.0.0.1:$PORT. The embedded target must reach 80 % of its throughput.
//!
//! With `BODY_FILE` set it answers with that file's bytes, so the baseline can send exactly the page the
//! embedded target sends: on loopback the kernel's copy of a 2 KiB body costs more than a handler, and a
//! comparison of a 2 KiB answer with a 30-byte one would measure the body, not the server.

use axum::body::Bytes;
use axum::routing::get;
use axum::Router;

/// The runtime `tokenstorm serve` picks here (`tokenstorm::app::runtime`: current-thread with one core
/// available), so the comparison is of the servers' work, not of their runtimes; `MINIMAL_RUNTIME=multi`
/// gives `#[tokio::main]`'s multi-thread runtime whatever the cores.
fn main() -> std::io::Result<()> {
    let runtime = if std::env::var("MINIMAL_RUNTIME").is_ok_and(|v| v == "multi") {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    } else {
        tokenstorm::app::runtime()?
    };
    runtime.block_on(serve())
}

async fn serve() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8081);
    let body = match std::env::var_os("BODY_FILE") {
        Some(path) => Bytes::from(std::fs::read(path)?),
        None => Bytes::from_static(br#"{"entities":[],"total":0}"#),
    };
    let app = Router::new().route(
        "/api/v2/externalcontacts/contacts",
        get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
