//! The web-messaging (web deployments) token routes: code-for-JWT exchange, JWT refresh without rotation,
//! and JWT revocation.

use super::auth::bearer;
use super::correlation::Corr;
use super::errors::ApiError;
use super::oauth::CODE_PREFIX;
use super::state::{ServerState, Shared};
use super::tokens::Family;
use super::truth::Count;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The messenger JWT lives 15 minutes, or less when the client's token lifetime is shorter.
const JWT_MAX_TTL: Duration = Duration::from_secs(900);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExchangeRequest {
    deployment_id: String,
    oauth: OAuthCode,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OAuthCode {
    code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefreshRequest {
    refresh_token: String,
    deployment_id: String,
}

/// Counts and renders a refusal from a web-messaging token route.
fn refuse(
    state: &ServerState,
    corr: &Corr,
    org: Option<usize>,
    counter: Count,
    e: ApiError,
) -> Response {
    state.truth.add(org, counter);
    e.into_response(state.error_style, corr.as_str())
}

/// The deployment (client) a request names, if it exists and is not disabled.
fn deployment(state: &ServerState, id: &str) -> Result<usize, ApiError> {
    match state.client_by_id(id) {
        Some((i, c)) if !c.disabled(state.clock.now_ns()) => Ok(i),
        _ => Err(ApiError::bad_request(format!(
            "deployment `{id}` is unknown or disabled"
        ))),
    }
}

pub(crate) async fn exchange(
    State(state): State<Shared>,
    Extension(corr): Extension<Corr>,
    body: Result<Json<ExchangeRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(r)) => r,
        Err(e) => {
            return refuse(
                &state,
                &corr,
                None,
                Count::TokenClientError,
                ApiError::bad_request(e.body_text()),
            )
        }
    };
    let client = match deployment(&state, &request.deployment_id) {
        Ok(c) => c,
        Err(e) => return refuse(&state, &corr, None, Count::TokenClientError, e),
    };
    let c = &state.clients[client];
    let org = Some(c.org);
    if !request.oauth.code.starts_with(CODE_PREFIX) {
        let e = ApiError::invalid_grant(format!(
            "the code is invalid (codes start with `{CODE_PREFIX}`)"
        ));
        return refuse(&state, &corr, org, Count::TokenInvalidGrant, e);
    }
    let scope: std::sync::Arc<str> = c.scopes.join(" ").into();
    let family = Family::new();
    let refresh_token = state.issue_refresh(client, family.clone(), scope.clone());
    match state.issue_access(client, scope, Some(family), c.ttl.min(JWT_MAX_TTL)) {
        Ok(issued) => {
            state.truth.add(org, Count::IssuedJwtExchange);
            state.truth.add(org, Count::TokenOk);
            Json(json!({"jwt": issued.token, "refreshToken": refresh_token})).into_response()
        }
        Err(_) => refuse(
            &state,
            &corr,
            org,
            Count::TokenServerError,
            ApiError::server_error(false),
        ),
    }
}

pub(crate) async fn refresh(
    State(state): State<Shared>,
    Extension(corr): Extension<Corr>,
    body: Result<Json<RefreshRequest>, JsonRejection>,
) -> Response {
    let request = match body {
        Ok(Json(r)) => r,
        Err(e) => {
            return refuse(
                &state,
                &corr,
                None,
                Count::TokenClientError,
                ApiError::bad_request(e.body_text()),
            )
        }
    };
    let client = match deployment(&state, &request.deployment_id) {
        Ok(c) => c,
        Err(e) => return refuse(&state, &corr, None, Count::TokenClientError, e),
    };
    let c = &state.clients[client];
    let org = Some(c.org);
    state.truth.add(org, Count::Refreshes);
    // The platform does not rotate the messenger's refresh token, whatever the OAuth policy.
    let refreshed = match state.use_refresh(&request.refresh_token, client, false) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                &state,
                &corr,
                org,
                Count::TokenInvalidGrant,
                ApiError::invalid_grant(e.to_string()),
            )
        }
    };
    match state.issue_access(
        client,
        refreshed.scope,
        Some(refreshed.family),
        c.ttl.min(JWT_MAX_TTL),
    ) {
        Ok(issued) => {
            state.truth.add(org, Count::IssuedJwtRefresh);
            state.truth.add(org, Count::TokenOk);
            Json(json!({"jwt": issued.token})).into_response()
        }
        Err(_) => refuse(
            &state,
            &corr,
            org,
            Count::TokenServerError,
            ApiError::server_error(false),
        ),
    }
}

/// Revokes the bearer JWT's whole family (its refresh token and every JWT it produced).
pub(crate) async fn revoke(
    State(state): State<Shared>,
    Extension(corr): Extension<Corr>,
    headers: HeaderMap,
) -> Response {
    let Some(presented) = bearer(&headers) else {
        return ApiError::missing_token().into_response(state.error_style, corr.as_str());
    };
    let token = match state.validate(presented) {
        Ok(t) => t,
        Err((why, _)) => {
            return ApiError::invalid_token(why).into_response(state.error_style, corr.as_str())
        }
    };
    let org = Some(state.clients[token.client].org);
    state.truth.add(org, Count::Revocations);
    match &token.family {
        Some(family) => {
            if family.revoke() {
                state.truth.add(org, Count::FamiliesRevoked);
            }
        }
        None => {
            if !token.revoked.swap(true, Ordering::AcqRel) {
                state.truth.add(org, Count::TokensRevoked);
            }
        }
    }
    StatusCode::NO_CONTENT.into_response()
}
