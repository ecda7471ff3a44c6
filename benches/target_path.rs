//! The embedded target's own work per API call, without sockets: one contacts GET through the whole
//! router (correlation id, JWT verification, token record, rate limit, page), next to the smallest
//! axum handler answering the same bytes through its router. The difference is what the target adds to
//! a request beyond what axum itself costs; benches/target.sh measures the same over real sockets,
//! where the kernel's share hides it in noise. `cargo bench --bench target_path`.

use axum::body::{Body, Bytes};
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt;
use std::hint::black_box;
use std::time::Duration;
use tokenstorm::simulator::{router, ClientConfig, Config, OrgConfig, CONTACTS_PATH, TOKEN_PATH};
use tower::ServiceExt;

/// What benches/profiles/peers.toml serves: one org, ten contacts a page, no rate limit.
fn target() -> Router {
    let mut config = Config::new(
        vec![OrgConfig {
            name: "org-0000".into(),
            clients: vec![ClientConfig::new("client", "secret")],
        }],
        Duration::from_secs(3600),
    );
    config.contacts_per_org = 10;
    config.per_token_rate = None;
    router(config).0
}

async fn body(app: &Router, request: Request<Body>) -> Bytes {
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    response
        .into_body()
        .collect()
        .await
        .expect("in memory")
        .to_bytes()
}

fn contacts(bearer: &str) -> Request<Body> {
    Request::get(CONTACTS_PATH)
        .header(header::AUTHORIZATION, bearer)
        .body(Body::empty())
        .expect("static request")
}

fn call(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = target();
    let (bearer, page) = runtime.block_on(async {
        let issued = body(
            &app,
            Request::post(TOKEN_PATH)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(
                    "grant_type=client_credentials&client_id=client&client_secret=secret",
                ))
                .expect("static request"),
        )
        .await;
        let issued: serde_json::Value = serde_json::from_slice(&issued).expect("token JSON");
        let bearer = format!("Bearer {}", issued["access_token"].as_str().expect("token"));
        let page = body(&app, contacts(&bearer)).await;
        (bearer, page)
    });
    c.bench_function(
        "target: contacts GET through the router (JWT verified)",
        |b| {
            b.to_async(&runtime)
                .iter(|| async { black_box(body(&app, contacts(&bearer)).await.len()) })
        },
    );

    // examples/minimal_axum.rs, answering the target's page.
    let minimal = Router::new().route(
        CONTACTS_PATH,
        get(move || {
            let page = page.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], page) }
        }),
    );
    c.bench_function("minimal axum: the same page through its router", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(body(&minimal, contacts(&bearer)).await.len()) })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = call
}
criterion_main!(benches);
