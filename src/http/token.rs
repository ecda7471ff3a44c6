//! Token requests in both dialects: RFC 6749 form posts to the token endpoint (client authentication by
//! Basic or by form body, RFC 8707 `resource`), and the web-deployments JSON code exchange and refresh.

use super::exchange::ACCEPT_ANY;
use super::jwt::JwtClaims;
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
    /// The RFC 7009 revocation endpoint (RFC 6749 dialect).
    pub revoke_url: String,
    /// The web-messaging revoke, `DELETE` with the JWT as bearer (web-deployments dialect).
    pub jwt_revoke_url: String,
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
            revoke_url: format!("{base}{}", defaults.revoke),
            jwt_revoke_url: format!("{base}{}", defaults.jwt_revoke),
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
    let authorization = authenticate(endpoint, who, &mut form)?;
    post(&endpoint.url, authorization, FORM, form.finish().into())
}

/// The client's authentication as the endpoint takes it (RFC 6749 2.3.1): an `Authorization` header,
/// or its id and secret added to `form`. `None` when the Basic credentials cannot be encoded.
fn authenticate(
    endpoint: &TokenEndpoint,
    who: &Credentials<'_>,
    form: &mut url::form_urlencoded::Serializer<'_, String>,
) -> Option<Option<http::HeaderValue>> {
    Some(match endpoint.client_auth {
        ClientAuth::Basic => Some(basic_auth(who.client_id, who.client_secret)?),
        ClientAuth::Body => {
            form.append_pair("client_id", who.client_id)
                .append_pair("client_secret", who.client_secret.expose());
            None
        }
    })
}

/// RFC 7009 2.1: the token to revoke and its type hint, the client authenticated as for the token
/// endpoint; in the web-deployments dialect the JWT's revoke instead. `None` when the request cannot
/// be made (a URL that does not parse).
pub(super) fn revocation(
    endpoint: &TokenEndpoint,
    who: &Credentials<'_>,
    access: &Secret,
    refresh: Option<&Secret>,
) -> Option<http::Request<Bytes>> {
    if endpoint.dialect == Dialect::WebDeployments {
        return jwt_revocation(&endpoint.jwt_revoke_url, access);
    }
    let (token, is_refresh) = match refresh {
        Some(refresh) => (refresh, true),
        None => (access, false),
    };
    let url = endpoint.revoke_url.as_str();
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token.expose()).append_pair(
        "token_type_hint",
        if is_refresh {
            "refresh_token"
        } else {
            "access_token"
        },
    );
    let authorization = authenticate(endpoint, who, &mut form)?;
    post(url, authorization, FORM, form.finish().into())
}

/// The web-messaging revoke: `DELETE` with the JWT as bearer; it takes the session's refresh token
/// with it on the platform.
fn jwt_revocation(url: &str, jwt: &Secret) -> Option<http::Request<Bytes>> {
    let mut bearer = HeaderValue::from_str(&format!("Bearer {}", jwt.expose())).ok()?;
    bearer.set_sensitive(true);
    let mut request = http::Request::new(Bytes::new());
    *request.method_mut() = http::Method::DELETE;
    *request.uri_mut() = uri(url)?;
    let headers = request.headers_mut();
    headers.insert(AUTHORIZATION, bearer);
    headers.insert(ACCEPT, ACCEPT_ANY);
    Some(request)
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

/// Why a 2xx token response holds no usable token; the field at fault is named, for the dry run's
/// detail and for whoever reads a `bad_response` count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadTokenBody {
    #[error("the body is not a JSON token response")]
    NotJson,
    #[error("`access_token` is missing or empty")]
    NoAccessToken,
    #[error("`access_token` has characters outside RFC 6750's b64token")]
    AccessTokenCharacters,
    #[error("`expires_in` is not a whole number of seconds (a number, or a string of digits)")]
    ExpiresIn,
}

/// `expires_in` as servers send it: a number, or (as some large identity providers do) a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Seconds {
    Number(f64),
    Text(String),
    /// Anything else (an object, a boolean): read, so the refusal can name the field.
    Other(serde::de::IgnoredAny),
}

impl Seconds {
    /// A non-negative number, or a string of ASCII digits only (what golang.org/x/oauth2 and MSAL
    /// take); a sign, a fraction, spaces or an empty string are refused.
    fn duration(&self) -> Option<Duration> {
        let secs = match self {
            Seconds::Number(n) => *n,
            Seconds::Text(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                t.parse::<f64>().ok()?
            }
            Seconds::Text(_) | Seconds::Other(_) => return None,
        };
        (0.0..1e10)
            .contains(&secs)
            .then(|| Duration::from_secs_f64(secs))
    }
}

/// RFC 6750 2.1 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`: the only
/// tokens that can go into `Authorization: Bearer` as they are. Anything else (CR, LF, spaces,
/// quotes) is the token endpoint's fault, refused there, so nothing unsafe reaches the wire.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// A 2xx body in either dialect: `{access_token, expires_in?, refresh_token?}` or `{jwt, refreshToken?}`.
/// A refresh token is taken as it comes: it only ever travels escaped, in a form or a JSON body.
pub(super) fn parse_issued(body: &[u8]) -> Result<Issued, BadTokenBody> {
    #[derive(Deserialize)]
    struct TokenResponse {
        #[serde(alias = "jwt")]
        access_token: Option<String>,
        #[serde(alias = "refreshToken")]
        refresh_token: Option<String>,
        expires_in: Option<Seconds>,
    }
    let parsed: TokenResponse = serde_json::from_slice(body).map_err(|_| BadTokenBody::NotJson)?;
    let access_token = parsed
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or(BadTokenBody::NoAccessToken)?;
    if !is_b64token(&access_token) {
        return Err(BadTokenBody::AccessTokenCharacters);
    }
    let claims = JwtClaims::read(&access_token);
    let expires_in = match parsed.expires_in {
        Some(secs) => Some(secs.duration().ok_or(BadTokenBody::ExpiresIn)?),
        // The web-deployments responses carry no expires_in; a JWT's own claims say it.
        None => claims.and_then(|c| c.lifetime()),
    };
    Ok(Issued {
        access_token: Secret::new(access_token),
        refresh_token: parsed
            .refresh_token
            .filter(|r| !r.is_empty())
            .map(Secret::new),
        expires_in,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expires_in(body: &str) -> Result<Option<Duration>, BadTokenBody> {
        parse_issued(body.as_bytes()).map(|i| i.expires_in)
    }

    #[test]
    fn token_bodies_without_a_token_are_bad_responses_naming_the_field() {
        assert!(
            parse_issued(br#"{"access_token":"a","expires_in":15,"refresh_token":"r"}"#).is_ok()
        );
        assert_eq!(expires_in(r#"{"access_token":"a"}"#), Ok(None));
        assert_eq!(
            expires_in(r#"{"access_token":"a","expires_in":null}"#),
            Ok(None)
        );
        for (bad, why) in [
            (r#"{}"#, BadTokenBody::NoAccessToken),
            (r#"{"access_token":""}"#, BadTokenBody::NoAccessToken),
            (
                r#"{"access_token":"a","expires_in":-1}"#,
                BadTokenBody::ExpiresIn,
            ),
            (
                r#"{"access_token":"a","expires_in":{}}"#,
                BadTokenBody::ExpiresIn,
            ),
            ("{trunc", BadTokenBody::NotJson),
            ("", BadTokenBody::NotJson),
        ] {
            assert_eq!(parse_issued(bad.as_bytes()).err(), Some(why), "{bad}");
        }
    }

    #[test]
    fn expires_in_may_be_a_string_of_digits_and_nothing_else() {
        let secs = |s: u64| Ok(Some(Duration::from_secs(s)));
        assert_eq!(
            expires_in(r#"{"access_token":"a","expires_in":"3599"}"#),
            secs(3599)
        );
        assert_eq!(
            expires_in(r#"{"access_token":"a","expires_in":"0"}"#),
            secs(0)
        );
        assert_eq!(
            expires_in(r#"{"access_token":"a","expires_in":3599}"#),
            secs(3599)
        );
        for bad in [
            "-1",
            "+5",
            "3599.5",
            "1e3",
            "abc",
            "",
            " 60",
            "60 ",
            "0x10",
            "٣",
            "99999999999999999999",
        ] {
            let body = format!(r#"{{"access_token":"a","expires_in":"{bad}"}}"#);
            assert_eq!(expires_in(&body), Err(BadTokenBody::ExpiresIn), "{bad:?}");
        }
        assert!(BadTokenBody::ExpiresIn.to_string().contains("`expires_in`"));
    }

    #[test]
    fn access_tokens_outside_b64token_are_refused_at_the_token_endpoint() {
        for good in ["a", "A-z0.9_~+/", "abc==", "eyJ.eyJ.sig", "x="] {
            let body = format!(r#"{{"access_token":"{good}"}}"#);
            assert!(parse_issued(body.as_bytes()).is_ok(), "{good}");
        }
        for bad in [
            r"a\r\nX-Injected: 1",
            r"a\nb",
            "a b",
            "a\\\"b",
            "=",
            "==abc",
            "a=b",
            "ab=c",
            "tökén",
            "a,b",
            r"a\u0000",
        ] {
            let body = format!(r#"{{"access_token":"{bad}"}}"#);
            assert_eq!(
                parse_issued(body.as_bytes()).err(),
                Some(BadTokenBody::AccessTokenCharacters),
                "{bad}"
            );
        }
        assert!(BadTokenBody::AccessTokenCharacters
            .to_string()
            .contains("`access_token`"));
    }

    #[test]
    fn web_deployment_bodies_take_their_lifetime_from_the_jwt() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"exp":1000015,"iat":1000000,"sub":"x"}"#);
        let body = format!(r#"{{"jwt":"h.{claims}.s","refreshToken":"rt-1"}}"#);
        let issued = parse_issued(body.as_bytes()).unwrap();
        assert_eq!(issued.expires_in, Some(Duration::from_secs(15)));
        assert_eq!(issued.claims.map(|c| c.exp), Some(1_000_015));
        assert_eq!(issued.refresh_token.unwrap().expose(), "rt-1");
        let opaque = parse_issued(br#"{"jwt":"not-a-jwt"}"#).unwrap();
        assert_eq!((opaque.expires_in, opaque.claims), (None, None));
    }

    #[test]
    fn an_rfc6749_jwt_keeps_expires_in_and_its_claims_beside_it() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"exp":1000009,"iat":1000000}"#);
        let body = format!(r#"{{"access_token":"h.{claims}.s","expires_in":"10"}}"#);
        let issued = parse_issued(body.as_bytes()).unwrap();
        assert_eq!(issued.expires_in, Some(Duration::from_secs(10)));
        assert_eq!(
            issued.claims,
            Some(JwtClaims {
                exp: 1_000_009,
                iat: Some(1_000_000)
            })
        );
    }
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod wire_tests;
