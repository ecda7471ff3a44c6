//! `proxy_from_env`: token and API calls go through the proxy the environment names, and past it
//! when `NO_PROXY` says so (the API calls have their own client; both must agree).

use super::platform_support::Platform;
use super::remote_http::{platform_profile, ENV};
use super::remote_support::{report_of, run_bin, runtime, serve_plain, text};
use axum::extract::{Request, State};
use axum::response::Response;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenstorm::vocabulary::Outcome;

type Seen = Arc<Mutex<Vec<String>>>;

/// A forward proxy for plain HTTP: records each absolute-form request target and passes it on.
async fn forward(State(seen): State<Seen>, request: Request) -> Response {
    seen.lock().unwrap().push(request.uri().to_string());
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let upstream = reqwest::Client::builder().no_proxy().build().unwrap();
    let answer = upstream
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = answer.status();
    for (name, value) in answer.headers() {
        if name != "transfer-encoding" && name != "connection" && name != "content-length" {
            response.headers_mut().append(name, value.clone());
        }
    }
    *response.body_mut() = axum::body::Body::from(answer.bytes().await.unwrap());
    response
}

#[test]
fn token_and_api_calls_take_the_environments_proxy_unless_no_proxy_says_otherwise() {
    let rt = runtime();
    let platform = Platform::new(Duration::from_secs(1), "proxied");
    let (addr, _task) = rt.block_on(serve_plain(platform.router()));
    let base = format!("http://{addr}");
    let seen = Seen::default();
    let proxy = axum::Router::new()
        .fallback(forward)
        .with_state(seen.clone());
    let (proxy_addr, _proxy_task) = rt.block_on(serve_plain(proxy));
    let proxy_url = format!("http://{proxy_addr}");
    let profile = platform_profile(&base, "body", "");

    // The lower-case name: the test harness clears the upper-case ones.
    let dir = tempfile::tempdir().unwrap();
    let env = [ENV.as_slice(), &[("http_proxy", proxy_url.as_str())]].concat();
    let out = run_bin(dir.path(), &profile, &env, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let e = report_of(dir.path()).variants.remove(0).endpoints;
    let through: Vec<String> = std::mem::take(&mut *seen.lock().unwrap());
    let tokens = through
        .iter()
        .filter(|u| u.contains("/oauth/token"))
        .count();
    let calls = through.iter().filter(|u| u.contains("/api/orgs/")).count();
    assert!(e.contacts.outcomes[Outcome::Ok] > 0, "{through:?}");
    assert_eq!(
        calls as u64, e.contacts.requests,
        "every API call went through the proxy"
    );
    assert_eq!(tokens as u64, e.token.requests + e.refresh.requests);
    assert!(through.iter().all(|u| u.starts_with(&base)), "{through:?}");

    let dir = tempfile::tempdir().unwrap();
    let env = [
        ENV.as_slice(),
        &[
            ("http_proxy", proxy_url.as_str()),
            ("no_proxy", "127.0.0.1"),
        ],
    ]
    .concat();
    let out = run_bin(dir.path(), &profile, &env, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let e = report_of(dir.path()).variants.remove(0).endpoints;
    assert!(e.contacts.outcomes[Outcome::Ok] > 0);
    assert_eq!(
        seen.lock().unwrap().len(),
        0,
        "NO_PROXY: nothing through the proxy"
    );
}
