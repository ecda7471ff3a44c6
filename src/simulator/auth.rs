//! Who is calling: OAuth client authentication (HTTP Basic or form body) and bearer-token extraction.

use super::state::ServerState;
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use base64::Engine;

/// Form parameters as sent, so a repeated parameter can be refused as RFC 6749 section 3.1 requires.
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Result<Option<&str>, String> {
        let mut found = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = found.next();
        if found.next().is_some() {
            return Err(format!("parameter `{name}` is repeated"));
        }
        Ok(first)
    }

    pub fn require(&self, name: &str) -> Result<&str, String> {
        match self.get(name)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(format!("parameter `{name}` is missing")),
        }
    }
}

/// Why client authentication failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientAuthError {
    /// The request itself is malformed (`invalid_request`).
    #[error("{0}")]
    Malformed(String),
    /// Credentials missing, unknown, wrong or disabled (`invalid_client`); `org` when the id is known.
    #[error("{why}")]
    Failed {
        org: Option<usize>,
        why: &'static str,
    },
}

impl ClientAuthError {
    pub fn org(&self) -> Option<usize> {
        match self {
            ClientAuthError::Failed { org, .. } => *org,
            ClientAuthError::Malformed(_) => None,
        }
    }
}

fn basic(headers: &HeaderMap) -> Option<Result<(String, String), ClientAuthError>> {
    let value = headers.get(AUTHORIZATION)?;
    let malformed = || ClientAuthError::Failed {
        org: None,
        why: "malformed Basic credentials",
    };
    let text = value.to_str().ok()?;
    let (scheme, rest) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok();
    let pair = decoded
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(id, secret)| (id.to_string(), secret.to_string()))
        });
    Some(pair.ok_or_else(malformed))
}

/// The client's index. Credentials come from HTTP Basic or from `client_id`/`client_secret` in the form
/// (RFC 6749 section 2.3.1), never both.
pub(crate) fn authenticate(
    state: &ServerState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<usize, ClientAuthError> {
    let body_id = params
        .get("client_id")
        .map_err(ClientAuthError::Malformed)?;
    let body_secret = params
        .get("client_secret")
        .map_err(ClientAuthError::Malformed)?;
    let (id, secret) = match (basic(headers), body_secret) {
        (Some(_), Some(_)) => {
            return Err(ClientAuthError::Malformed(
                "use one client authentication method, not two".into(),
            ))
        }
        (Some(pair), None) => pair?,
        (None, Some(secret)) => match body_id {
            Some(id) => (id.to_string(), secret.to_string()),
            None => {
                return Err(ClientAuthError::Malformed(
                    "parameter `client_id` is missing".into(),
                ))
            }
        },
        (None, None) => {
            return Err(ClientAuthError::Failed {
                org: None,
                why: "client authentication is required",
            })
        }
    };
    let Some((index, client)) = state.client_by_id(&id) else {
        return Err(ClientAuthError::Failed {
            org: None,
            why: "unknown client",
        });
    };
    let org = Some(client.org);
    if client.secret != secret {
        return Err(ClientAuthError::Failed {
            org,
            why: "client authentication failed",
        });
    }
    if client.disabled(state.clock.now_ns()) {
        return Err(ClientAuthError::Failed {
            org,
            why: "the client is disabled",
        });
    }
    Ok(index)
}

/// The org a request claims to come from (Basic client id), to attribute answers given before any parsing.
pub(crate) fn claimed_org(state: &ServerState, headers: &HeaderMap) -> Option<usize> {
    let (id, _) = basic(headers)?.ok()?;
    state.client_by_id(&id).map(|(_, c)| c.org)
}

/// The bearer token of the request, or `None` when no `Authorization: Bearer` header was sent.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let text = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
