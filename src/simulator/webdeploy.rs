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
pub(crate) const JWT_MAX_TTL: Duration = Duration::from_secs(900);

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

/// Why a web-messaging token route said no: the truth counter it bumps and the error it renders.
struct Refusal {
    org: Option<usize>,
    counter: Count,
    // Boxed: refusals are the rare path, and an unboxed ApiError makes every Result carry its size.
    error: Box<ApiError>,
}

impl Refusal {
    /// A request the server could not attribute to an org: bad JSON, unknown deployment.
    fn unattributed(error: ApiError) -> Refusal {
        Refusal {
            org: None,
            counter: Count::TokenClientError,
            error: Box::new(error),
        }
    }
}

/// Counts a route's answer, a refusal included, and renders it.
fn answer(state: &ServerState, corr: &Corr, result: Result<Response, Refusal>) -> Response {
    result.unwrap_or_else(|r| {
        state.truth.add(r.org, r.counter);
        r.error.into_response(state.error_style, corr.as_str())
    })
}

fn parsed<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Refusal> {
    body.map(|Json(r)| r)
        .map_err(|e| Refusal::unattributed(ApiError::bad_request(e.body_text())))
}

/// The deployment (client) a request names, if it exists and is not disabled.
fn deployment(state: &ServerState, id: &str) -> Result<usize, Refusal> {
    match state.client_by_id(id) {
        Some((i, c)) if !c.disabled(state.clock.now_ns()) => Ok(i),
        _ => Err(Refusal::unattributed(ApiError::bad_request(format!(
            "deployment `{id}` is unknown or disabled"
        )))),
    }
}

/// A messenger JWT for `client`, counted as issued by `how`.
fn jwt(
    state: &ServerState,
    client: usize,
    scope: std::sync::Arc<str>,
    family: std::sync::Arc<Family>,
    how: Count,
) -> Result<String, Refusal> {
    let c = &state.clients[client];
    let org = Some(c.org);
    match state.issue_access(client, scope, Some(family), c.ttl.min(JWT_MAX_TTL)) {
        Ok(issued) => {
            state.truth.add(org, how);
            state.truth.add(org, Count::TokenOk);
            Ok(issued.token)
        }
        Err(_) => Err(Refusal {
            org,
            counter: Count::TokenServerError,
            error: Box::new(ApiError::server_error(false)),
        }),
    }
}

pub(crate) async fn exchange(
    State(state): State<Shared>,
    Extension(corr): Extension<Corr>,
    body: Result<Json<ExchangeRequest>, JsonRejection>,
) -> Response {
    answer(
        &state,
        &corr,
        parsed(body).and_then(|r| exchanged(&state, r)),
    )
}

fn exchanged(state: &ServerState, request: ExchangeRequest) -> Result<Response, Refusal> {
    let client = deployment(state, &request.deployment_id)?;
    let c = &state.clients[client];
    if !request.oauth.code.starts_with(CODE_PREFIX) {
        return Err(Refusal {
            org: Some(c.org),
            counter: Count::TokenInvalidGrant,
            error: Box::new(ApiError::invalid_grant(format!(
                "the code is invalid (codes start with `{CODE_PREFIX}`)"
            ))),
        });
    }
    let scope: std::sync::Arc<str> = c.scopes.join(" ").into();
    let family = Family::new();
    let refresh_token = state.issue_refresh(client, family.clone(), scope.clone());
    let jwt = jwt(state, client, scope, family, Count::IssuedJwtExchange)?;
    Ok(Json(json!({"jwt": jwt, "refreshToken": refresh_token})).into_response())
}

pub(crate) async fn refresh(
    State(state): State<Shared>,
    Extension(corr): Extension<Corr>,
    body: Result<Json<RefreshRequest>, JsonRejection>,
) -> Response {
    answer(
        &state,
        &corr,
        parsed(body).and_then(|r| refreshed(&state, r)),
    )
}

fn refreshed(state: &ServerState, request: RefreshRequest) -> Result<Response, Refusal> {
    let client = deployment(state, &request.deployment_id)?;
    let org = Some(state.clients[client].org);
    state.truth.add(org, Count::Refreshes);
    // The platform does not rotate the messenger's refresh token, whatever the OAuth policy.
    let kept = state
        .use_refresh(&request.refresh_token, client, false)
        .map_err(|e| Refusal {
            org,
            counter: Count::TokenInvalidGrant,
            error: Box::new(ApiError::invalid_grant(e.to_string())),
        })?;
    let jwt = jwt(
        state,
        client,
        kept.scope,
        kept.family,
        Count::IssuedJwtRefresh,
    )?;
    Ok(Json(json!({"jwt": jwt})).into_response())
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
