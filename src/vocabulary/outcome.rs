//! What a request came to: a failed request is data, not an error. `http` classifies responses into these.

use serde::{Deserialize, Serialize};

/// The outcome of one HTTP exchange (or of a user-level request, which ends in the outcome of its last step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx, and for the token endpoint a body that holds a token.
    Ok,
    /// 401 from the API (RFC 6750: expired, revoked or missing token).
    Unauthorized,
    /// 403, e.g. RFC 6750 `insufficient_scope`.
    Forbidden,
    /// 400 `invalid_grant` from the token endpoint (RFC 6749 5.2): bad, expired, revoked or reused refresh token.
    InvalidGrant,
    /// 401 `invalid_client` from the token endpoint: wrong or disabled client credentials.
    InvalidClient,
    /// 429 (RFC 6585).
    RateLimited,
    /// Any other 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// No complete response within the request timeout.
    Timeout,
    /// The connection could not be made, or broke before a complete response.
    ConnectError,
    /// A response that does not say what it must: a 2xx token response without a token, garbage JSON, an oversized body.
    BadResponse,
}

impl Outcome {
    pub const ALL: [Outcome; 11] = [
        Outcome::Ok,
        Outcome::Unauthorized,
        Outcome::Forbidden,
        Outcome::InvalidGrant,
        Outcome::InvalidClient,
        Outcome::RateLimited,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::Timeout,
        Outcome::ConnectError,
        Outcome::BadResponse,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// Dense index for arrays of counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in report JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Forbidden => "forbidden",
            Outcome::InvalidGrant => "invalid_grant",
            Outcome::InvalidClient => "invalid_client",
            Outcome::RateLimited => "rate_limited",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::ConnectError => "connect_error",
            Outcome::BadResponse => "bad_response",
        }
    }

    pub fn from_name(name: &str) -> Option<Outcome> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }
}
