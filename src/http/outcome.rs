//! Responses classified into outcomes the way the RFCs define them.

use crate::vocabulary::Outcome;
use serde::Deserialize;

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
