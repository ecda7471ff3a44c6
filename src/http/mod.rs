//! HTTP calls to the token endpoint and the contacts API, and the classification of what came back.

pub mod call;
pub mod client;
pub mod outcome;
pub mod token;

pub use call::{random_id, ApiCall, CallVars};
pub use client::Transport;
pub use outcome::{Endpoint, Outcome};
pub use token::TokenEndpoint;

use crate::secret::Secret;
use reqwest::header::RETRY_AFTER;
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
    #[error("TLS settings: {0}")]
    Tls(String),
    #[error("OpenID discovery at {url} failed: {reason}")]
    Discovery { url: String, reason: String },
}

/// Where the token endpoint and the API are, what the API call looks like, and how to connect.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub token: TokenEndpoint,
    pub call: ApiCall,
    pub transport: Transport,
}

impl ApiConfig {
    /// A target with the embedded target's endpoints at `base` (`http://127.0.0.1:PORT`).
    pub fn embedded(base: &str, request_timeout: Duration) -> ApiConfig {
        ApiConfig {
            token: TokenEndpoint::at(base),
            call: ApiCall::contacts_search(base),
            transport: Transport::local(request_timeout),
        }
    }
}

/// Who asks for a token: the client's credentials and what templates may refer to.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub org: &'a str,
    pub session: u32,
    pub client_id: &'a str,
    pub client_secret: &'a Secret,
    pub deployment_id: &'a str,
}

/// The grant a token request uses.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    ClientCredentials,
    /// A code from the authorization step; the embedded target accepts `sim-...` codes without a browser,
    /// a real target gets the profile's `auth_code` instead.
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
    /// `None` when neither the server nor the token's own claims said.
    pub expires_in: Option<Duration>,
}

/// What one exchange came to; `retry_after` is set when the server sent a usable `Retry-After`.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub outcome: Outcome,
    pub value: Option<T>,
    pub retry_after: Option<Duration>,
    /// The HTTP status, when a response came.
    pub status: Option<u16>,
}

impl<T> Reply<T> {
    pub fn failed(outcome: Outcome) -> Self {
        Reply {
            outcome,
            value: None,
            retry_after: None,
            status: None,
        }
    }
}

pub struct Api {
    client: reqwest::Client,
    token: TokenEndpoint,
    call: ApiCall,
    /// The API call's URL parsed once, when its template has no variables (the usual case): parsing
    /// a URL per request is a measurable share of the client's CPU per call.
    fixed_url: Option<reqwest::Url>,
}

fn parse_url(url: &str) -> Result<reqwest::Url, HttpError> {
    reqwest::Url::parse(url).map_err(|e| HttpError::Url {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

impl Api {
    pub fn new(config: &ApiConfig) -> Result<Api, HttpError> {
        parse_url(&config.token.url)?;
        let sample = config.call.url.render(|_| "x".into());
        parse_url(&sample)?;
        let fixed_url = match config.call.url.fixed() {
            Some(url) => Some(parse_url(&url)?),
            None => None,
        };
        Ok(Api {
            client: client::build(&config.transport)?,
            token: config.token.clone(),
            call: config.call.clone(),
            fixed_url,
        })
    }

    /// Replaces the token endpoint with the one an OpenID provider's discovery document names.
    pub async fn discover(&mut self, url: &str) -> Result<String, HttpError> {
        let fail = |reason: String| HttpError::Discovery {
            url: url.to_owned(),
            reason,
        };
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}")));
        }
        let body = read_capped(response)
            .await
            .map_err(|o| fail(format!("{} reading the document", o.name())))?;
        let endpoint = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("token_endpoint")?.as_str().map(str::to_owned))
            .ok_or_else(|| fail("the document has no token_endpoint".into()))?;
        parse_url(&endpoint)?;
        self.token.url.clone_from(&endpoint);
        Ok(endpoint)
    }

    /// The token endpoint in use (after discovery, the discovered one).
    pub fn token_url(&self) -> &str {
        &self.token.url
    }

    /// One token request (RFC 6749 4.1.3, 4.4, 6; or the web-deployments exchange and refresh).
    pub async fn token(&self, who: Credentials<'_>, grant: Grant<'_>) -> Reply<Issued> {
        let Some(request) = token::request(&self.client, &self.token, &who, grant) else {
            return Reply::failed(Outcome::ClientError);
        };
        let response = match request.send().await {
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
            match token::parse_issued(&body) {
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
            status: Some(status),
        }
    }
}

pub(crate) fn transport_outcome(e: &reqwest::Error) -> Outcome {
    if e.is_timeout() {
        Outcome::Timeout
    } else if e.is_decode() {
        Outcome::BadResponse
    } else {
        Outcome::ConnectError
    }
}

pub(crate) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    // Only the delta-seconds form; an HTTP-date from a load-test target is not worth a date parser.
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Reads a body to its end without keeping it (so the connection goes back to the pool): its size
/// still counts against the cap.
pub(crate) async fn drain_capped(mut response: reqwest::Response) -> Result<(), Outcome> {
    let mut seen = 0;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                seen += chunk.len();
                if seen > MAX_BODY_BYTES {
                    return Err(Outcome::BadResponse);
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(transport_outcome(&e)),
        }
    }
}

pub(crate) async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, Outcome> {
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
