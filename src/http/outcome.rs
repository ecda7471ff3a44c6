//! What a request came to, classified the way the RFCs define it: a failed request is data, not an error.

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

/// Which kind of call an HTTP exchange was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// First token of a session or org (no token held yet).
    Token,
    /// Replacing a token the client already held (refresh_token grant, or client_credentials again).
    Refresh,
    /// The API call the load is made of.
    Contacts,
}

impl Endpoint {
    pub const ALL: [Endpoint; 3] = [Endpoint::Token, Endpoint::Refresh, Endpoint::Contacts];
    pub const COUNT: usize = Self::ALL.len();

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::Refresh => "refresh",
            Endpoint::Contacts => "contacts",
        }
    }
}

/// Outcome of an API (resource server) response, by status alone.
pub fn classify_api(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Ok,
        401 => Outcome::Unauthorized,
        403 => Outcome::Forbidden,
        429 => Outcome::RateLimited,
        400..=499 => Outcome::ClientError,
        500..=599 => Outcome::ServerError,
        _ => Outcome::BadResponse,
    }
}

/// Outcome of a non-2xx token endpoint response. The `error` code of an RFC 6749 5.2 body decides
/// between `invalid_grant`, `invalid_client` and other client errors; the status alone is not enough,
/// because servers differ (some send invalid_grant with 401).
pub fn classify_token_error(status: u16, body: &[u8]) -> Outcome {
    #[derive(Deserialize)]
    struct OAuthError<'a> {
        #[serde(borrow)]
        error: Option<std::borrow::Cow<'a, str>>,
    }
    let code = serde_json::from_slice::<OAuthError>(body)
        .ok()
        .and_then(|e| e.error);
    match (status, code.as_deref()) {
        (429, _) => Outcome::RateLimited,
        (500..=599, _) => Outcome::ServerError,
        (_, Some("invalid_grant")) => Outcome::InvalidGrant,
        (_, Some("invalid_client")) => Outcome::InvalidClient,
        (401, _) => Outcome::InvalidClient,
        (403, _) => Outcome::Forbidden,
        (400..=499, _) => Outcome::ClientError,
        (200..=299, _) => Outcome::BadResponse,
        _ => Outcome::BadResponse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indices_are_dense() {
        for (i, o) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(o.index(), i);
            assert_eq!(Outcome::from_name(o.name()), Some(o));
        }
        for (i, e) in Endpoint::ALL.into_iter().enumerate() {
            assert_eq!(e.index(), i);
        }
    }

    #[test]
    fn api_statuses_follow_rfc_6750_and_6585() {
        let cases = [
            (200, Outcome::Ok),
            (204, Outcome::Ok),
            (401, Outcome::Unauthorized),
            (403, Outcome::Forbidden),
            (404, Outcome::ClientError),
            (429, Outcome::RateLimited),
            (503, Outcome::ServerError),
            (302, Outcome::BadResponse),
        ];
        for (status, want) in cases {
            assert_eq!(classify_api(status), want, "{status}");
        }
    }

    #[test]
    fn token_errors_follow_rfc_6749_section_5_2() {
        let grant = br#"{"error":"invalid_grant","error_description":"refresh token reused"}"#;
        let client = br#"{"error":"invalid_client"}"#;
        let cases: [(u16, &[u8], Outcome); 8] = [
            (400, grant, Outcome::InvalidGrant),
            (401, grant, Outcome::InvalidGrant),
            (401, client, Outcome::InvalidClient),
            (401, b"", Outcome::InvalidClient),
            (
                400,
                br#"{"error":"unsupported_grant_type"}"#,
                Outcome::ClientError,
            ),
            (400, b"<html>not json</html>", Outcome::ClientError),
            (429, b"{}", Outcome::RateLimited),
            (502, grant, Outcome::ServerError),
        ];
        for (status, body, want) in cases {
            assert_eq!(
                classify_token_error(status, body),
                want,
                "{status} {:?}",
                std::str::from_utf8(body)
            );
        }
    }
}
