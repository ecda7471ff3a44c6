//! RFC 7009 token revocation (`POST /oauth/revoke`) and RFC 7662 introspection (`POST /oauth/introspect`).

use super::auth::{authenticate, ClientAuthError, Params};
use super::config::RefreshPolicy;
use super::correlation::Corr;
use super::errors::{no_store, oauth_error};
use super::state::{ServerState, Shared};
use super::tokens::Claims;
use super::truth::Count;
use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

/// Authenticates the caller and returns its client index and the `token` parameter, or the error
/// response; the call counts under `counter` either way, for the caller's org when it is known.
fn caller(
    state: &ServerState,
    headers: &HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
    counter: Count,
) -> Result<(usize, String), Box<Response>> {
    let found = authenticated(state, headers, form);
    let org = found
        .as_ref()
        .ok()
        .map(|(client, _)| state.clients[*client].org);
    state.truth.add(org, counter);
    found
}

fn authenticated(
    state: &ServerState,
    headers: &HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<(usize, String), Box<Response>> {
    let style = state.error_style;
    let bad = |why: &str| {
        Box::new(oauth_error(
            style,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            why,
        ))
    };
    let params = match form {
        Ok(Form(pairs)) => Params(pairs),
        Err(e) => return Err(bad(&e.body_text())),
    };
    let client = authenticate(state, headers, &params).map_err(|e| match e {
        ClientAuthError::Malformed(why) => bad(&why),
        ClientAuthError::Failed { why, .. } => Box::new(oauth_error(
            style,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            why,
        )),
    })?;
    let token = params.require("token").map_err(|why| bad(&why))?;
    Ok((client, token.to_string()))
}

fn claims(state: &ServerState, token: &str) -> Option<Claims> {
    jsonwebtoken::decode::<Claims>(token, &state.keys.decoding, &state.keys.validation)
        .ok()
        .map(|d| d.claims)
}

/// Revokes a refresh token (and its whole family, RFC 7009 section 2.1) or a single access token. Answers
/// 200 for unknown tokens and for tokens of other clients too, so the endpoint reveals nothing.
pub(crate) async fn revoke(
    State(state): State<Shared>,
    Extension(_corr): Extension<Corr>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (client, token) = match caller(&state, &headers, form, Count::Revocations) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let org = Some(state.clients[client].org);
    if let Some(record) = state.refresh.get(&token).filter(|r| r.client == client) {
        if record.family.revoke() {
            state.truth.add(org, Count::FamiliesRevoked);
        }
    } else if let Some(record) = claims(&state, &token)
        .and_then(|c| c.jti.parse::<u64>().ok())
        .and_then(|jti| state.access.get(&jti))
        .filter(|r| r.client == client)
    {
        if !record.revoked.swap(true, Ordering::AcqRel) {
            state.truth.add(org, Count::TokensRevoked);
        }
    }
    StatusCode::OK.into_response()
}

/// Tells a client of the same org whether a token is live; anything else is `{"active": false}`.
pub(crate) async fn introspect(
    State(state): State<Shared>,
    Extension(_corr): Extension<Corr>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (client, token) = match caller(&state, &headers, form, Count::Introspections) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let org = state.clients[client].org;
    let body = access_info(&state, &token, org)
        .or_else(|| refresh_info(&state, &token, org))
        .unwrap_or_else(|| json!({"active": false}));
    let mut response = Json(body).into_response();
    no_store(&mut response);
    response
}

fn access_info(state: &ServerState, token: &str, org: usize) -> Option<Value> {
    let record = state.inspect(token, false).ok()?;
    let owner = &state.clients[record.client];
    if owner.org != org {
        return None;
    }
    let c = claims(state, token)?;
    Some(json!({
        "active": true,
        "token_type": "Bearer",
        "client_id": owner.id,
        "scope": &*record.scope,
        "sub": c.sub,
        "org": c.org,
        "exp": c.exp,
        "iat": c.iat,
        "jti": c.jti,
    }))
}

fn refresh_info(state: &ServerState, token: &str, org: usize) -> Option<Value> {
    let record = state.refresh.get(token)?;
    let owner = &state.clients[record.client];
    let now = state.clock.now_ns();
    let rotated_away = record
        .used_at_ns
        .is_some_and(|used| match state.refresh_policy {
            RefreshPolicy::None => false,
            RefreshPolicy::RotateStrict => true,
            RefreshPolicy::RotateGrace(g) => now - used > super::state::nanos(g),
        });
    if owner.org != org || record.family.is_revoked() || now >= record.expires_ns || rotated_away {
        return None;
    }
    Some(json!({
        "active": true,
        "token_type": "refresh_token",
        "client_id": owner.id,
        "scope": &*record.scope,
        "exp": state.clock.unix_secs(record.expires_ns),
    }))
}
