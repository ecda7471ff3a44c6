//! HTTP calls to the token endpoint and the contacts API, and the classification of what came back.

pub mod call;
pub mod client;
mod connect;
mod direct;
mod discovery;
mod exchange;
pub mod frames;
mod h1;
pub mod jwt;
pub mod outcome;
mod pool;
mod proxied;
pub mod socket;
mod tls;
pub mod token;

pub use call::{random_id, ApiCall, CallVars};
pub use client::Transport;

pub use jwt::JwtClaims;
pub use token::{BadTokenBody, TokenEndpoint};

use crate::secret::Secret;
use crate::vocabulary::Outcome;
use direct::Direct;
use exchange::{Call, Route};
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
    /// The journey's steps (`[[sessions.step]]`), on `call`'s host; empty: `call` is the only one.
    pub steps: Vec<ApiCall>,
    pub transport: Transport,
    /// `ws://HOST:PORT` of the embedded target (or a `tokenstorm serve`), where a messaging path goes;
    /// `None` for a real target, whose socket URL the profile gives whole.
    pub socket_base: Option<String>,
}

impl ApiConfig {
    /// A target with the embedded target's endpoints at `base` (`http://127.0.0.1:PORT`).
    pub fn embedded(base: &str, request_timeout: Duration) -> ApiConfig {
        ApiConfig {
            token: TokenEndpoint::at(base),
            call: ApiCall::contacts_search(base),
            steps: Vec::new(),
            transport: Transport::local(request_timeout),
            socket_base: Some(base.replacen("http://", "ws://", 1)),
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
    /// The access token's `exp` and `iat`, when it is a JWT (read unverified: see `jwt.rs`).
    pub claims: Option<JwtClaims>,
}

/// What a call came to for the engine: the response classified into an outcome, the value it
/// carried, and a usable `Retry-After` when the server sent one. (The response itself, before it is
/// classified, is an `exchange::RawResponse`.)
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub outcome: Outcome,
    pub value: Option<T>,
    pub retry_after: Option<Duration>,
    /// The HTTP status, when a response came.
    pub status: Option<u16>,
    /// For a `bad_response` from the token endpoint: what in the body was wrong.
    pub bad_body: Option<BadTokenBody>,
    /// The request went out a second time, on a new connection, after a reused one was closed under
    /// it before any answer (see `direct.rs`); the call's time includes both.
    pub resent: bool,
}

impl<T> Reply<T> {
    pub fn failed(outcome: Outcome) -> Self {
        Reply {
            outcome,
            value: None,
            retry_after: None,
            status: None,
            bad_body: None,
            resent: false,
        }
    }
}

pub struct Api {
    /// Only with `proxy_from_env`: the client for the calls a proxy carries (`proxied.rs`).
    proxy: Option<reqwest::Client>,
    /// API calls: see `direct.rs` for why they bypass reqwest.
    api_conns: Direct,
    /// Token and discovery calls, on connections of their own, as a browser's are (the token host
    /// is usually another host); sharing one pool would make its high-water mark, and so the
    /// client's memory, follow whenever a refresh storm happened to meet a burst of API calls.
    token_conns: Direct,
    api_route: Route,
    token_route: Route,
    token: TokenEndpoint,
    /// The API calls by step: `call` alone, or the journey's steps.
    calls: Vec<call::Prepared>,
    /// The web-messaging socket, for runs whose sessions are messaging widgets.
    socket: Option<socket::SocketTarget>,
}

fn parse_url(url: &str) -> Result<url::Url, HttpError> {
    url::Url::parse(url).map_err(|e| HttpError::Url {
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
        let token_uri = parse_uri(&config.token.url)?;
        let sample = parse_uri(&config.call.url.render(|_| "x".into()))?;
        let other = parse_uri(&config.call.url.render(|_| "y".into()))?;
        let calls = match config.steps.is_empty() {
            true => std::slice::from_ref(&config.call),
            false => config.steps.as_slice(),
        };
        let calls = calls
            .iter()
            .map(|call| {
                let fixed_uri = match call.url.fixed() {
                    Some(url) => Some(parse_uri(&url)?),
                    None => None,
                };
                parse_uri(&call.url.render(|_| "x".into()))?;
                Ok(call::Prepared {
                    call: call.clone(),
                    fixed_uri,
                })
            })
            .collect::<Result<Vec<_>, HttpError>>()?;
        let t = &config.transport;
        let tls = tls::client_config(t)?;
        let proxy = match t.proxy_from_env {
            true => Some(proxied::client(t, tls.clone())?),
            false => None,
        };
        let host_varies = sample.host() != other.host();
        Ok(Api {
            proxy,
            api_conns: Direct::new(t, tls.clone(), t.max_api_connections),
            token_conns: Direct::new(t, tls, None),
            api_route: proxied::route(t.proxy_from_env, &sample, host_varies),
            token_route: proxied::route(t.proxy_from_env, &token_uri, false),
            token: config.token.clone(),
            calls,
            socket: None,
        })
    }

    /// Messaging sessions open their sockets to `url` (`{deployment_id}` in it) with `origin`, from
    /// `sources`, trusting and timing out as the target's HTTP calls do.
    pub fn with_socket(
        mut self,
        url: String,
        origin: Option<String>,
        sources: socket::Sources,
        transport: &Transport,
    ) -> Result<Api, HttpError> {
        self.socket = Some(socket::SocketTarget::new(url, origin, sources, transport)?);
        Ok(self)
    }

    pub fn socket(&self) -> Option<&socket::SocketTarget> {
        self.socket.as_ref()
    }

    /// The token endpoint in use (after discovery, the discovered one).
    pub fn token_url(&self) -> &str {
        &self.token.url
    }

    /// Revocation of a session's token by `who`'s client: RFC 7009 of its refresh token (else its
    /// access token), or the web-messaging revoke of its JWT. `ok` for a 2xx (RFC 7009 answers 200
    /// for unknown tokens too; the web-messaging revoke 204), else the failure.
    pub async fn revoke(
        &self,
        who: Credentials<'_>,
        access: &Secret,
        refresh: Option<&Secret>,
    ) -> Outcome {
        let Some(request) = token::revocation(&self.token, &who, access, refresh) else {
            return Outcome::ClientError;
        };
        // Revoking twice is revoking once (RFC 7009 2.2 answers 200 for a token already revoked).
        let call = Call::Token { repeatable: true };
        match self.exchange(request, call).await.result {
            Ok(response) if (200..300).contains(&response.status) => Outcome::Ok,
            Ok(response) => outcome::classify_token_error(response.status, &response.body),
            Err(outcome) => outcome,
        }
    }

    /// One token request (RFC 6749 4.1.3, 4.4, 6; or the web-deployments exchange and refresh).
    pub async fn token(&self, who: Credentials<'_>, grant: Grant<'_>) -> Reply<Issued> {
        let Some(request) = token::request(&self.token, &who, grant) else {
            return Reply::failed(Outcome::ClientError);
        };
        // A client_credentials grant asked twice issues two tokens; any other may be consumed by
        // the first (a code is single use, a rotating server rotates a refresh token on receipt).
        let repeatable = matches!(grant, Grant::ClientCredentials);
        let sent = self.exchange(request, Call::Token { repeatable }).await;
        let response = match sent.result {
            Ok(response) => response,
            Err(outcome) => {
                return Reply {
                    resent: sent.resent,
                    ..Reply::failed(outcome)
                }
            }
        };
        let status = response.status;
        let (outcome, value, bad_body) = if (200..300).contains(&status) {
            match token::parse_issued(&response.body) {
                Ok(issued) => (Outcome::Ok, Some(issued), None),
                Err(bad) => (Outcome::BadResponse, None, Some(bad)),
            }
        } else {
            let outcome = outcome::classify_token_error(status, &response.body);
            (outcome, None, None)
        };
        Reply {
            outcome,
            value,
            retry_after: response.retry_after,
            status: Some(status),
            bad_body,
            resent: sent.resent,
        }
    }
}
