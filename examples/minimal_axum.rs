//! The baseline of benches/target.sh: the smallest axum server that answers the contacts path with a
//! fixed JSON body, on 127.0.0.1:$PORT. The embedded target must reach 80 % of its throughput.

use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8081);
    let app = Router::new().route(
        "/api/v2/externalcontacts/contacts",
        get(|| async {
            (
                [("content-type", "application/json")],
                r#"{"entities":[],"total":0}"#,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
