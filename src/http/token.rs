//! Token requests in both dialects: RFC 6749 form posts to the token endpoint (client authentication by
//! Basic or by form body, RFC 8707 `resource`), and the web-deployments JSON code exchange and refresh.

use super::exchange::ACCEPT_ANY;
use super::{Credentials, Grant, Issued};
use crate::profile::target::{ClientAuth, Dialect};
use crate::profile::template::{Template, Var};
use crate::secret::Secret;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use std::time::Duration;

const FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Where and how to ask for tokens.
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    /// The RFC 6749 token endpoint (replaced by OpenID discovery when the profile asks for it).
    pub url: String,
    pub dialect: Dialect,
    pub client_auth: ClientAuth,
    pub scope: Option<String>,
    /// RFC 8707 resource indicator.
    pub resource: Option<String>,
    /// The code to send instead of the engine's own `sim-...` codes (which only the embedded target takes).
    pub auth_code: Option<Template>,
    pub redirect_uri: String,
    pub jwt_exchange_url: String,
    pub jwt_refresh_url: String,
}

impl TokenEndpoint {
    /// The embedded target's endpoints under `base`.
    pub fn at(base: &str) -> TokenEndpoint {
        let defaults = crate::profile::target::Paths::default();
        TokenEndpoint {
            url: format!("{base}{}", defaults.token),
            dialect: Dialect::Rfc6749,
            client_auth: ClientAuth::Basic,
            scope: None,
            resource: None,
            auth_code: None,
            redirect_uri: "https://widget.invalid/callback".into(),
            jwt_exchange_url: format!("{base}{}", defaults.jwt_exchange),
            jwt_refresh_url: format!("{base}{}", defaults.jwt_refresh),
        }
    }
}

/// The request to send; `None` when the dialect has no such grant, or the request cannot be made
/// (a URL that does not parse).
pub(super) fn request(
    endpoint: &TokenEndpoint,
    who: &Credentials<'_>,
    grant: Grant<'_>,
) -> Option<http::Request<Bytes>> {
    match endpoint.dialect {
        Dialect::Rfc6749 => form_post(endpoint, who, grant),
        Dialect::WebDeployments => json_post(endpoint, who, grant),
    }
}

/// RFC 6749 4.1.3, 4.4 and 6: a form post, the client authenticated by Basic (2.3.1) or in the form.
fn form_post(
    endpoint: &TokenEndpoint,
    who: &Credentials<'_>,
    grant: Grant<'_>,
) -> Option<http::Request<Bytes>> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    match grant {
        Grant::ClientCredentials => form.append_pair("grant_type", "client_credentials"),
        Grant::AuthorizationCode { code } => form
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", &auth_code(endpoint, who, code))
            .append_pair("redirect_uri", &endpoint.redirect_uri),
        Grant::RefreshToken { refresh_token } => form
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh_token.expose()),
    };
    if let Some(scope) = &endpoint.scope {
        form.append_pair("scope", scope);
    }
    if let Some(resource) = &endpoint.resource {
        form.append_pair("resource", resource);
    }
    let authorization = match endpoint.client_auth {
        ClientAuth::Basic => Some(basic_auth(who.client_id, who.client_secret)?),
        ClientAuth::Body => {
            form.append_pair("client_id", who.client_id)
                .append_pair("client_secret", who.client_secret.expose());
            None
        }
    };
    post(&endpoint.url, authorization, FORM, form.finish().into())
}

/// The web-deployments dialect: a JSON code exchange and a JSON refresh, no client credentials.
fn json_post(
    endpoint: &TokenEndpoint,
    who: &Credentials<'_>,
    grant: Grant<'_>,
) -> Option<http::Request<Bytes>> {
    let (url, body) = match grant {
        Grant::ClientCredentials => return None,
        Grant::AuthorizationCode { code } => (
            &endpoint.jwt_exchange_url,
            serde_json::json!({
                "deploymentId": who.deployment_id,
                "oauth": { "code": auth_code(endpoint, who, code), "redirectUri": endpoint.redirect_uri },
            }),
        ),
        Grant::RefreshToken { refresh_token } => (
            &endpoint.jwt_refresh_url,
            serde_json::json!({
                "refreshToken": refresh_token.expose(),
                "deploymentId": who.deployment_id,
            }),
        ),
    };
    post(url, None, JSON, serde_json::to_vec(&body).ok()?.into())
}

/// The code to exchange: the profile's `auth_code` for a real target, else the engine's own.
fn auth_code(endpoint: &TokenEndpoint, who: &Credentials<'_>, engine_code: &str) -> String {
    match &endpoint.auth_code {
        Some(t) => t.render(|v| match v {
            Var::Org => who.org.to_owned(),
            Var::Session => who.session.to_string(),
            Var::DeploymentId => who.deployment_id.to_owned(),
            Var::ContactId | Var::RandomId => super::random_id(),
        }),
        None => engine_code.to_owned(),
    }
}

/// `Basic base64(id:secret)`, marked sensitive so no rendering of the request shows it.
fn basic_auth(client_id: &str, client_secret: &Secret) -> Option<HeaderValue> {
    let credentials = format!("{client_id}:{}", client_secret.expose());
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value = HeaderValue::try_from(format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// A POST with its headers in the order they go out.
fn post(
    url: &str,
    authorization: Option<HeaderValue>,
    content_type: HeaderValue,
    body: Bytes,
) -> Option<http::Request<Bytes>> {
    let mut request = http::Request::new(body);
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri(url)?;
    let headers = request.headers_mut();
    if let Some(authorization) = authorization {
        headers.insert(AUTHORIZATION, authorization);
    }
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(ACCEPT, ACCEPT_ANY);
    Some(request)
}

/// A URL read by the WHATWG rules (the `url` crate), as browsers and reqwest read it: the host in
/// lower case, a default port dropped, what must be escaped escaped.
pub(super) fn uri(url: &str) -> Option<http::Uri> {
    let url = url::Url::parse(url).ok()?;
    http::Uri::try_from(url.as_str()).ok()
}

/// A 2xx body in either dialect: `{access_token, expires_in?, refresh_token?}` or `{jwt, refreshToken?}`.
pub(super) fn parse_issued(body: &[u8]) -> Option<Issued> {
    #[derive(Deserialize)]
    struct TokenResponse {
        #[serde(alias = "jwt")]
        access_token: String,
        #[serde(alias = "refreshToken")]
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
        // The web-deployments responses carry no expires_in; a JWT's own claims say it.
        None => jwt_lifetime(&parsed.access_token),
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

/// `exp - iat` of a JWT, read without verifying (the client only needs to schedule its refresh).
fn jwt_lifetime(token: &str) -> Option<Duration> {
    #[derive(Deserialize)]
    struct Claims {
        exp: u64,
        iat: u64,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    claims.exp.checked_sub(claims.iat).map(Duration::from_secs)
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

    #[test]
    fn web_deployment_bodies_take_their_lifetime_from_the_jwt() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"exp":1000015,"iat":1000000,"sub":"x"}"#);
        let body = format!(r#"{{"jwt":"h.{claims}.s","refreshToken":"rt-1"}}"#);
        let issued = parse_issued(body.as_bytes()).unwrap();
        assert_eq!(issued.expires_in, Some(Duration::from_secs(15)));
        assert_eq!(issued.refresh_token.unwrap().expose(), "rt-1");
        assert!(parse_issued(br#"{"jwt":"not-a-jwt"}"#).is_some_and(|i| i.expires_in.is_none()));
    }
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod wire_tests;
