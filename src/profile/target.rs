//! The `[target]` section: the embedded simulator, or a real OAuth2 server and API reached over HTTP(S).
//! Secrets are never here: orgs name environment variables or a credentials file.

use super::template::Template;
use super::units::Span;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where the load goes.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
pub enum TargetSection {
    /// The simulated server built into tokenstorm, started on 127.0.0.1 for each variant.
    #[default]
    Embedded,
    /// A real token service and API (a staging environment), over HTTP or HTTPS.
    Http(Box<HttpTarget>),
}

impl TargetSection {
    pub fn http(&self) -> Option<&HttpTarget> {
        match self {
            TargetSection::Http(h) => Some(h),
            TargetSection::Embedded => None,
        }
    }
}

/// A real target. The token host and the API host differ on real platforms (login.* and api.*).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpTarget {
    /// The enum's tag. Serde consumes it before this struct sees the table; it is here only so that
    /// [`pinpoint`] can read the table as this struct alone, where errors keep their positions.
    #[serde(default, rename = "kind")]
    #[schemars(skip)]
    pub _kind: Option<String>,
    /// Base URL of the token service, e.g. `https://login.mypurecloud.com`.
    pub token_base: String,
    /// Base URL of the API, e.g. `https://api.mypurecloud.com`.
    pub api_base: String,
    /// `rfc6749` (form-encoded `/oauth/token`) or `web-deployments` (the web-messaging JSON endpoints).
    #[serde(default)]
    pub dialect: Dialect,
    /// How the client proves who it is at an RFC 6749 token endpoint: `basic` or `body` (form fields).
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// `scope` sent with every RFC 6749 token request.
    pub scope: Option<String>,
    /// RFC 8707 `resource` (the API's audience) sent with every RFC 6749 token request.
    pub resource: Option<String>,
    /// Find the token endpoint in `{token_base}/.well-known/openid-configuration` instead of `paths.token`.
    #[serde(default)]
    pub discovery: bool,
    /// The authorization code sent when a client needs a first token with a refresh token (RFC 6749
    /// `authorization_code`, or the web-deployments code exchange). Real platforms need a test identity
    /// provider that accepts it; see docs/staging.md.
    pub auth_code: Option<Template>,
    /// `redirect_uri` sent with the code.
    #[serde(default = "default_redirect")]
    pub redirect_uri: String,
    #[serde(default)]
    pub paths: Paths,
    #[serde(default)]
    pub api: ApiCall,
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub http: Transport,
    /// A TOML or CSV file with `client_id` and `client_secret` per org name; it must not be readable by
    /// group or others. Relative paths start at the profile's folder.
    pub credentials_file: Option<PathBuf>,
    /// One entry per org (as many as `load.orgs`), in order.
    #[serde(default)]
    pub orgs: Vec<TargetOrg>,
}

fn default_redirect() -> String {
    "https://widget.invalid/callback".to_owned()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    #[default]
    Rfc6749,
    WebDeployments,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Rfc6749 => "rfc6749",
            Dialect::WebDeployments => "web-deployments",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// HTTP Basic (RFC 6749 2.3.1, what the platform uses).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// Paths on the token host.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Paths {
    pub token: String,
    pub jwt_exchange: String,
    pub jwt_refresh: String,
    pub discovery: String,
    /// RFC 7009 revocation (`leave = "revoke"`, RFC 6749 dialect).
    pub revoke: String,
    /// The web-messaging revoke: `DELETE` with the JWT as bearer (web-deployments dialect).
    pub jwt_revoke: String,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            token: "/oauth/token".into(),
            jwt_exchange: "/api/v2/webdeployments/token/oauthcodegrantjwtexchange".into(),
            jwt_refresh: "/api/v2/webdeployments/token/refresh".into(),
            discovery: "/.well-known/openid-configuration".into(),
            revoke: "/oauth/revoke".into(),
            jwt_revoke: "/api/v2/webdeployments/token/revoke".into(),
        }
    }
}

/// The API call the load is made of.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApiCall {
    pub method: String,
    /// Path (and query) on the API host.
    pub path: Template,
    /// Extra headers; `Authorization` is tokenstorm's own and cannot be set here.
    pub headers: BTreeMap<String, Template>,
    /// Request body (sent with `content-type: application/json` unless a header says otherwise).
    pub body: Option<Template>,
    /// Values for `{contact_id}`.
    pub contact_ids: Vec<String>,
}

impl Default for ApiCall {
    fn default() -> Self {
        ApiCall {
            method: "GET".into(),
            path: Template::parse("/api/v2/externalcontacts/contacts?pageSize=25&pageNumber=1")
                .unwrap_or_else(|_| unreachable!("the default path has no variables")),
            headers: BTreeMap::new(),
            body: None,
            contact_ids: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// PEM file with extra CA certificates, trusted on top of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for mutual TLS; needs `client_key`.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate. Only for a throwaway test server: prints a warning on every run.
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HttpVersion {
    /// HTTP/2 when the server offers it over TLS (ALPN), else HTTP/1.1.
    #[default]
    Auto,
    Http1,
    /// HTTP/2 only (prior knowledge on plain HTTP).
    Http2,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Transport {
    pub version: HttpVersion,
    /// Idle connections kept per host; absent means no limit.
    pub pool_max_idle_per_host: Option<usize>,
    /// Time to establish a connection (TCP and TLS together). Each HTTP call is bounded by
    /// `load.request_timeout`.
    pub connect_timeout: Span,
    /// How long an idle connection is kept for reuse (hyper's and reqwest's default: 90 s). A
    /// server that closes idle connections sooner makes some requests meet a closing connection;
    /// those that may be sent twice are, and counted as `stale_connection_resends`.
    pub idle_timeout: Span,
    /// Bound on a whole user-level request: token work, the API call and its retries.
    pub total_timeout: Option<Span>,
    /// Use `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` from the environment.
    pub proxy_from_env: bool,
}

impl Default for Transport {
    fn default() -> Self {
        Transport {
            version: HttpVersion::Auto,
            pool_max_idle_per_host: None,
            connect_timeout: Span(Duration::from_secs(5)),
            idle_timeout: Span(Duration::from_secs(90)),
            total_timeout: None,
            proxy_from_env: true,
        }
    }
}

/// One org of the real target and where its credentials come from.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetOrg {
    /// The org's name: `{org}` in templates, and its key in the credentials file.
    pub name: String,
    /// The OAuth client id (not a secret), if not from `client_id_env` or the credentials file.
    pub client_id: Option<String>,
    /// Environment variable holding the client id.
    pub client_id_env: Option<String>,
    /// Environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// Web-messaging deployment id (`{deployment_id}`; required by the web-deployments dialect).
    pub deployment_id: Option<String>,
}

/// An error inside `[target]` comes through serde's internally tagged enum, which buffers the table and
/// loses every position: the error points at `[target]`. For `kind = "http"`, reading the table as an
/// [`HttpTarget`] alone gives the same error at the key and line that is wrong.
pub fn pinpoint(text: &str, error: toml::de::Error) -> toml::de::Error {
    #[derive(Deserialize)]
    struct Kind {
        kind: Option<String>,
    }
    #[derive(Deserialize)]
    struct KindProbe {
        target: Kind,
    }
    #[derive(Deserialize)]
    struct Probe {
        #[allow(dead_code)] // read only for its error
        target: HttpTarget,
    }
    let is_http =
        toml::from_str::<KindProbe>(text).is_ok_and(|p| p.target.kind.as_deref() == Some("http"));
    if !is_http {
        return error;
    }
    match toml::from_str::<Probe>(text) {
        Err(inner) if inner.span().is_some() => inner,
        _ => error,
    }
}
