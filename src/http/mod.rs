//! HTTP calls to the token endpoint and the contacts API, and the classification of what came back.

pub mod call;
pub mod client;
mod connect;
mod direct;
pub mod outcome;
mod pool;
mod tls;
pub mod token;

pub use call::{random_id, ApiCall, CallVars};
pub use client::Transport;
pub use outcome::{Endpoint, Outcome};
pub use token::TokenEndpoint;

use crate::secret::Secret;
use bytes::{Buf, BufMut};
use direct::Direct;
use http_body_util::BodyExt;
use reqwest::header::{HeaderMap, RETRY_AFTER};
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
    /// Token calls and discovery; API calls too when a proxy from the environment applies to them.
    client: reqwest::Client,
    /// API calls, when no proxy applies: see `direct.rs` for why they bypass reqwest.
    direct: Option<Direct>,
    token: TokenEndpoint,
    call: ApiCall,
    /// The API call's URL parsed once, when its template has no variables (the usual case): parsing
    /// a URL per request is a measurable share of the client's CPU per call.
    fixed_uri: Option<http::Uri>,
}

fn parse_url(url: &str) -> Result<reqwest::Url, HttpError> {
    reqwest::Url::parse(url).map_err(|e| HttpError::Url {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

/// An API URL as the HTTP layer takes it: absolute, http or https.
fn parse_uri(url: &str) -> Result<http::Uri, HttpError> {
    let fail = |reason: String| HttpError::Url {
        url: url.to_owned(),
        reason,
    };
    let uri = http::Uri::try_from(url).map_err(|e| fail(e.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(uri),
        _ => Err(fail("need an absolute http:// or https:// URL".into())),
    }
}

impl Api {
    pub fn new(config: &ApiConfig) -> Result<Api, HttpError> {
        parse_url(&config.token.url)?;
        let sample = parse_uri(&config.call.url.render(|_| "x".into()))?;
        let fixed_uri = match config.call.url.fixed() {
            Some(url) => Some(parse_uri(&url)?),
            None => None,
        };
        let t = &config.transport;
        let tls = tls::client_config(t)?;
        let proxied = t.proxy_from_env && proxy_applies(&config.call, &sample);
        Ok(Api {
            client: client::build(t, tls.clone())?,
            direct: (!proxied).then(|| Direct::new(t, tls)),
            token: config.token.clone(),
            call: config.call.clone(),
            fixed_uri,
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
        let retry_after = retry_after(response.headers());
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

/// A response body from reqwest that broke off: the request's timeout, or a response that does not
/// say what it must.
pub(crate) fn body_outcome(e: reqwest::Error) -> Outcome {
    if e.is_timeout() {
        Outcome::Timeout
    } else {
        Outcome::BadResponse
    }
}

/// Whether the environment's proxy settings (`HTTPS_PROXY`, `NO_PROXY`, ...) send the API call
/// through a proxy. When the URL's host holds a variable, any proxy setting counts: each org's host
/// could match differently.
fn proxy_applies(call: &ApiCall, sample: &http::Uri) -> bool {
    let other = call.url.render(|_| "y".into());
    let host_varies = http::Uri::try_from(other)
        .ok()
        .as_ref()
        .and_then(http::Uri::host)
        != sample.host();
    if host_varies {
        let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"]
            .iter()
            .any(|n| set(n) || set(&n.to_lowercase()))
    } else {
        hyper_util::client::proxy::matcher::Matcher::from_env()
            .intercept(sample)
            .is_some()
    }
}

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    // Only the delta-seconds form; an HTTP-date from a load-test target is not worth a date parser.
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Why a body was not read to its end.
pub(crate) enum BodyEnd<E> {
    TooLarge,
    Failed(E),
}

/// Reads a body to its end (so the connection goes back to the pool), keeping it only when asked;
/// its size counts against the cap either way.
pub(crate) async fn read_body<B: http_body::Body>(
    body: B,
    keep: bool,
) -> Result<Vec<u8>, BodyEnd<B::Error>> {
    let mut body = std::pin::pin!(body);
    let mut kept = Vec::new();
    let mut seen = 0;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(BodyEnd::Failed)?.into_data() else {
            continue;
        };
        seen += data.remaining();
        if seen > MAX_BODY_BYTES {
            return Err(BodyEnd::TooLarge);
        }
        if keep {
            kept.put(data);
        }
    }
    Ok(kept)
}

/// An API response, read to its end and classified by status.
pub(crate) async fn finish<B: http_body::Body>(
    response: http::Response<B>,
    failed: impl FnOnce(B::Error) -> Outcome,
) -> Reply<()> {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    match read_body(response.into_body(), false).await {
        Ok(_) => Reply {
            outcome: outcome::classify_api(status),
            value: Some(()),
            retry_after,
            status: Some(status),
        },
        Err(BodyEnd::TooLarge) => Reply::failed(Outcome::BadResponse),
        Err(BodyEnd::Failed(e)) => Reply::failed(failed(e)),
    }
}

pub(crate) async fn read_capped(response: reqwest::Response) -> Result<Vec<u8>, Outcome> {
    let response = http::Response::<reqwest::Body>::from(response);
    read_body(response.into_body(), true)
        .await
        .map_err(|end| match end {
            BodyEnd::TooLarge => Outcome::BadResponse,
            BodyEnd::Failed(e) => body_outcome(e),
        })
}
