//! HTTP calls to the token endpoint and the contacts API, and the classification of what came back.

pub mod outcome;

pub use outcome::{Endpoint, Outcome};

use crate::secret::Secret;
use reqwest::header::RETRY_AFTER;
use serde::Deserialize;
use std::time::Duration;

/// Responses larger than this are not read to the end: a load tester must not be made to buffer
/// whatever a broken server sends.
const MAX_BODY_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL `{url}`: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Where the two endpoints are and how patient to be with them.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub token_url: String,
    pub contacts_url: String,
    pub request_timeout: Duration,
}

/// How a client proves who it is at the token endpoint (HTTP Basic, RFC 6749 2.3.1).
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a Secret,
}

/// The grant a token request uses.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    ClientCredentials,
    /// A code from the authorization step; the embedded target accepts `sim-...` codes without a browser.
    AuthorizationCode {
        code: &'a str,
    },
    RefreshToken {
        refresh_token: &'a Secret,
    },
}

/// A token the endpoint issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// `None` when the server did not say (RFC 6749 makes `expires_in` only RECOMMENDED).
    pub expires_in: Option<Duration>,
}

/// What one exchange came to; `retry_after` is set when the server sent a usable `Retry-After`.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub outcome: Outcome,
    pub value: Option<T>,
    pub retry_after: Option<Duration>,
}

impl<T> Reply<T> {
    fn failed(outcome: Outcome) -> Self {
        Reply {
            outcome,
            value: None,
            retry_after: None,
        }
    }
}

pub struct Api {
    client: reqwest::Client,
    token_url: reqwest::Url,
    contacts_url: reqwest::Url,
}

fn parse_url(url: &str) -> Result<reqwest::Url, HttpError> {
    reqwest::Url::parse(url).map_err(|e| HttpError::Url {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

impl Api {
    pub fn new(config: &ApiConfig) -> Result<Api, HttpError> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .map_err(HttpError::Client)?;
        Ok(Api {
            client,
            token_url: parse_url(&config.token_url)?,
            contacts_url: parse_url(&config.contacts_url)?,
        })
    }

    /// One token request (RFC 6749 4.1.3, 4.4, 6).
    pub async fn token(&self, credentials: Credentials<'_>, grant: Grant<'_>) -> Reply<Issued> {
        let form: Vec<(&str, &str)> = match grant {
            Grant::ClientCredentials => vec![("grant_type", "client_credentials")],
            Grant::AuthorizationCode { code } => vec![
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", "https://widget.invalid/callback"),
            ],
            Grant::RefreshToken { refresh_token } => vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ],
        };
        let sent = self
            .client
            .post(self.token_url.clone())
            .basic_auth(
                credentials.client_id,
                Some(credentials.client_secret.expose()),
            )
            .form(&form)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Reply::failed(transport_outcome(&e)),
        };
        let status = response.status().as_u16();
        let retry_after = retry_after(&response);
        let body = match read_capped(response).await {
            Ok(b) => b,
            Err(outcome) => return Reply::failed(outcome),
        };
        let (outcome, value) = if (200..300).contains(&status) {
            match parse_issued(&body) {
                Some(issued) => (Outcome::Ok, Some(issued)),
                None => (Outcome::BadResponse, None),
            }
        } else {
            (outcome::classify_token_error(status, &body), None)
        };
        Reply {
            outcome,
            value,
            retry_after,
        }
    }

    /// One contacts search with a bearer token (RFC 6750).
    pub async fn contacts(&self, access_token: &Secret) -> Reply<()> {
        let sent = self
            .client
            .get(self.contacts_url.clone())
            .bearer_auth(access_token.expose())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Reply::failed(transport_outcome(&e)),
        };
        let outcome = outcome::classify_api(response.status().as_u16());
        let retry_after = retry_after(&response);
        // The body is read to the end so the connection goes back to the pool.
        match read_capped(response).await {
            Ok(_) => Reply {
                outcome,
                value: Some(()),
                retry_after,
            },
            Err(failed) => Reply::failed(failed),
        }
    }
}

fn transport_outcome(e: &reqwest::Error) -> Outcome {
    if e.is_timeout() {
        Outcome::Timeout
    } else if e.is_decode() {
        Outcome::BadResponse
    } else {
        Outcome::ConnectError
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    // Only the delta-seconds form; an HTTP-date from a load-test target is not worth a date parser.
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, Outcome> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(Outcome::BadResponse);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(transport_outcome(&e)),
        }
    }
}

fn parse_issued(body: &[u8]) -> Option<Issued> {
    #[derive(Deserialize)]
    struct TokenResponse {
        access_token: String,
        refresh_token: Option<String>,
        expires_in: Option<f64>,
    }
    let parsed: TokenResponse = serde_json::from_slice(body).ok()?;
    if parsed.access_token.is_empty() {
        return None;
    }
    let expires_in = match parsed.expires_in {
        Some(secs) if (0.0..1e10).contains(&secs) => Some(Duration::from_secs_f64(secs)),
        Some(_) => return None,
        None => None,
    };
    Some(Issued {
        access_token: Secret::new(parsed.access_token),
        refresh_token: parsed
            .refresh_token
            .filter(|r| !r.is_empty())
            .map(Secret::new),
        expires_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bodies_without_a_token_are_bad_responses() {
        assert!(
            parse_issued(br#"{"access_token":"a","expires_in":15,"refresh_token":"r"}"#).is_some()
        );
        assert!(parse_issued(br#"{"access_token":"a"}"#).is_some_and(|i| i.expires_in.is_none()));
        for bad in [
            &br#"{}"#[..],
            br#"{"access_token":""}"#,
            br#"{"access_token":"a","expires_in":-1}"#,
            b"{trunc",
            b"",
        ] {
            assert!(
                parse_issued(bad).is_none(),
                "{:?}",
                std::str::from_utf8(bad)
            );
        }
    }
}
