//! RFC 6749 `POST /oauth/token`: client_credentials, the authorization_code stand-in, and refresh_token.

use super::auth::{authenticate, ClientAuthError, Params};
use super::errors::{no_store, oauth_error, ApiError};
use super::state::{ServerState, Shared};
use super::tokens::{Family, GrantError};
use super::truth::Count;
use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde_json::json;
use std::sync::Arc;

use super::correlation::Corr;

/// Codes accepted by the `authorization_code` stand-in start with this; anything after it is fine.
pub(crate) const CODE_PREFIX: &str = "sim-";

/// Why a token request failed; each maps to one RFC 6749 error code.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidClient(&'static str),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("grant type `{0}` is not supported")]
    UnsupportedGrantType(String),
    #[error("could not sign the token: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

impl From<GrantError> for TokenError {
    fn from(e: GrantError) -> Self {
        TokenError::InvalidGrant(e.to_string())
    }
}

impl From<ClientAuthError> for TokenError {
    fn from(e: ClientAuthError) -> Self {
        match e {
            ClientAuthError::Malformed(why) => TokenError::InvalidRequest(why),
            ClientAuthError::Failed { why, .. } => TokenError::InvalidClient(why),
        }
    }
}

impl TokenError {
    fn counter(&self) -> Count {
        match self {
            TokenError::InvalidClient(_) => Count::TokenInvalidClient,
            TokenError::InvalidGrant(_) => Count::TokenInvalidGrant,
            TokenError::Signing(_) => Count::TokenServerError,
            _ => Count::TokenClientError,
        }
    }

    pub fn respond(self, state: &ServerState, org: Option<usize>, corr: &Corr) -> Response {
        state.truth.add(org, self.counter());
        let (status, code) = match &self {
            TokenError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            TokenError::InvalidClient(_) => (StatusCode::UNAUTHORIZED, "invalid_client"),
            TokenError::InvalidGrant(_) => (StatusCode::BAD_REQUEST, "invalid_grant"),
            TokenError::InvalidScope(_) => (StatusCode::BAD_REQUEST, "invalid_scope"),
            TokenError::UnsupportedGrantType(_) => {
                (StatusCode::BAD_REQUEST, "unsupported_grant_type")
            }
            TokenError::Signing(_) => {
                return ApiError::server_error(false)
                    .into_response(state.error_style, corr.as_str())
            }
        };
        oauth_error(state.error_style, status, code, &self.to_string())
    }
}

pub(crate) async fn token(
    State(state): State<Shared>,
    Extension(corr): Extension<Corr>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let params = match form {
        Ok(Form(pairs)) => Params(pairs),
        Err(rejection) => {
            return TokenError::InvalidRequest(rejection.body_text()).respond(&state, None, &corr);
        }
    };
    let client = match authenticate(&state, &headers, &params) {
        Ok(client) => client,
        Err(e) => {
            let org = e.org();
            return TokenError::from(e).respond(&state, org, &corr);
        }
    };
    let org = Some(state.clients[client].org);
    match grant(&state, client, &params) {
        Ok(body) => {
            state.truth.add(org, Count::TokenOk);
            let mut response = Json(body).into_response();
            no_store(&mut response);
            response
        }
        Err(e) => e.respond(&state, org, &corr),
    }
}

/// Where the access token comes from, which decides what refresh token goes with it.
enum Lineage {
    /// client_credentials: no refresh token (RFC 6749 section 4.4.3).
    AccessOnly,
    /// A new authorization starts a token family.
    NewFamily,
    /// A refresh continues a family with the refresh token the client must keep.
    Continue(Arc<Family>, String),
}

fn grant(
    state: &ServerState,
    client: usize,
    params: &Params,
) -> Result<serde_json::Value, TokenError> {
    let grant_type = params
        .require("grant_type")
        .map_err(TokenError::InvalidRequest)?;
    let requested = params.get("scope").map_err(TokenError::InvalidRequest)?;
    let c = &state.clients[client];
    let org = Some(c.org);
    let (scope, lineage, counter) = match grant_type {
        "client_credentials" => (
            narrow(&c.scopes, requested)?,
            Lineage::AccessOnly,
            Count::IssuedClientCredentials,
        ),
        "authorization_code" => {
            let code = params.require("code").map_err(TokenError::InvalidRequest)?;
            if !code.starts_with(CODE_PREFIX) {
                return Err(TokenError::InvalidGrant(format!(
                    "the authorization code is invalid (the simulator accepts codes starting with `{CODE_PREFIX}`)"
                )));
            }
            (
                narrow(&c.scopes, requested)?,
                Lineage::NewFamily,
                Count::IssuedAuthorizationCode,
            )
        }
        "refresh_token" => {
            let presented = params
                .require("refresh_token")
                .map_err(TokenError::InvalidRequest)?;
            state.truth.add(org, Count::Refreshes);
            let refreshed = state.use_refresh(presented, client, true)?;
            let granted: Vec<String> = refreshed
                .scope
                .split_whitespace()
                .map(str::to_string)
                .collect();
            let scope = narrow(&granted, requested)?;
            (
                scope,
                Lineage::Continue(refreshed.family, refreshed.refresh_token),
                Count::IssuedRefreshToken,
            )
        }
        other => return Err(TokenError::UnsupportedGrantType(other.to_string())),
    };
    let (family, refresh_token) = match lineage {
        Lineage::AccessOnly => (None, None),
        Lineage::NewFamily => {
            let f = Family::new();
            let rt = state.issue_refresh(client, f.clone(), scope.clone());
            (Some(f), Some(rt))
        }
        Lineage::Continue(f, rt) => (Some(f), Some(rt)),
    };
    let issued = state.issue_access(client, scope, family, c.ttl)?;
    state.truth.add(org, counter);
    let mut body = json!({
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": &*issued.scope,
    });
    if let Some(rt) = refresh_token {
        body["refresh_token"] = json!(rt);
    }
    Ok(body)
}

/// The scope to grant: everything allowed when none is asked for, else exactly what is asked if allowed.
pub(crate) fn narrow(allowed: &[String], requested: Option<&str>) -> Result<Arc<str>, TokenError> {
    let Some(requested) = requested.filter(|r| !r.trim().is_empty()) else {
        return Ok(allowed.join(" ").into());
    };
    let mut granted: Vec<&str> = Vec::new();
    for s in requested.split_whitespace() {
        if !allowed.iter().any(|a| a == s) {
            return Err(TokenError::InvalidScope(format!(
                "scope `{s}` is not allowed for this client"
            )));
        }
        if !granted.contains(&s) {
            granted.push(s);
        }
    }
    Ok(granted.join(" ").into())
}
