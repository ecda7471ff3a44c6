//! A small platform stand-in for real-target tests: it issues known tokens that expire, answers an API
//! under `/api/` with RFC 6750 401s for expired ones, serves an OpenID discovery document, and records
//! everything it was sent.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the platform stand-in saw and did.
#[derive(Debug, Default)]
pub struct Seen {
    /// Every token request's form fields (secrets included: the test compares them), and its path as `_path`.
    pub token_forms: Vec<HashMap<String, String>>,
    /// Every token request's `Authorization` header, if any.
    pub token_auth: Vec<Option<String>>,
    /// Every API request: method, path and query, the `x-org` header, body.
    pub api_calls: Vec<(String, String, Option<String>, String)>,
    pub tokens_issued: u64,
    pub api_ok: u64,
    pub api_unauthorized: u64,
}

#[derive(Clone)]
pub struct Platform {
    pub seen: Arc<Mutex<Seen>>,
    issued: Arc<Mutex<HashMap<String, Instant>>>,
    ttl: Duration,
    /// Known prefix of every access token (`tok-<prefix>-N`) and refresh token (`rt-<prefix>-N`).
    prefix: String,
}

impl Platform {
    pub fn new(ttl: Duration, prefix: &str) -> Platform {
        Platform {
            seen: Arc::default(),
            issued: Arc::default(),
            ttl,
            prefix: prefix.to_owned(),
        }
    }

    /// `/oauth/token` (also at `/custom/token`, named by the discovery document) and `/api/*`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/oauth/token", post(token))
            .route("/custom/token", post(token))
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/api/{*rest}", any(api))
            .with_state(self.clone())
    }
}

async fn discovery(req: Request) -> Json<serde_json::Value> {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Json(
        serde_json::json!({ "issuer": format!("http://{host}"), "token_endpoint": format!("http://{host}/custom/token") }),
    )
}

async fn token(State(p): State<Platform>, req: Request) -> Response {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let path = req.uri().path().to_owned();
    let body = axum::body::to_bytes(req.into_body(), 1 << 16)
        .await
        .unwrap();
    let mut form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap();
    form.insert("_path".into(), path);
    let n = {
        let mut seen = p.seen.lock().unwrap();
        seen.token_forms.push(form);
        seen.token_auth.push(auth);
        seen.tokens_issued += 1;
        seen.tokens_issued
    };
    let access = format!("tok-{}-{n}", p.prefix);
    p.issued
        .lock()
        .unwrap()
        .insert(access.clone(), Instant::now() + p.ttl);
    Json(serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": p.ttl.as_secs(),
        "refresh_token": format!("rt-{}-{n}", p.prefix),
    }))
    .into_response()
}

async fn api(State(p): State<Platform>, req: Request) -> Response {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let org = req
        .headers()
        .get("x-org")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_owned);
    let body = axum::body::to_bytes(req.into_body(), 1 << 16)
        .await
        .unwrap();
    let live = bearer
        .and_then(|b| p.issued.lock().unwrap().get(&b).copied())
        .is_some_and(|expires| Instant::now() < expires);
    let mut seen = p.seen.lock().unwrap();
    seen.api_calls.push((
        method,
        uri,
        org,
        String::from_utf8_lossy(&body).into_owned(),
    ));
    if live {
        seen.api_ok += 1;
        Json(serde_json::json!({"entities": []})).into_response()
    } else {
        seen.api_unauthorized += 1;
        (
            axum::http::StatusCode::UNAUTHORIZED,
            [(
                "www-authenticate",
                "Bearer realm=\"platform\", error=\"invalid_token\"",
            )],
        )
            .into_response()
    }
}
