//! The API call the load is made of: its URL, headers and body filled in per request, sent with a
//! bearer token (RFC 6750) and classified by status.

use super::exchange::{Call, ACCEPT_ANY};
use super::{outcome, Api, Reply};
use crate::profile::template::{Template, Var};
use crate::secret::Secret;
use crate::vocabulary::Outcome;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use rand::Rng;
use std::sync::Arc;

/// A variable's value in a URL: everything but RFC 3986's unreserved characters is escaped, so a value
/// can neither end a path segment nor start a new query parameter.
const URL_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The API request the load is made of; its URL, headers and body may hold variables.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub method: http::Method,
    /// The full URL: base and path.
    pub url: Template,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Option<Template>,
    /// What `{contact_id}` draws from.
    pub contact_ids: Arc<[String]>,
    /// Per org (by index), what `{contact_id}` draws from instead, when not empty: the embedded
    /// target's contacts belong to one org each.
    pub contact_ids_by_org: Arc<[Vec<String>]>,
}

impl ApiCall {
    /// A contacts search, as the embedded target serves it.
    pub fn contacts_search(base: &str) -> ApiCall {
        let path = crate::profile::target::ApiCall::default().path;
        ApiCall {
            method: http::Method::GET,
            url: path.prefixed(base),
            headers: Vec::new(),
            body: None,
            contact_ids: Arc::from(Vec::new()),
            contact_ids_by_org: Arc::from(Vec::new()),
        }
    }

    /// The same call's headers and ids, with another method, URL and body: a step of the journey.
    pub fn step(&self, method: http::Method, url: Template, body: Option<Template>) -> ApiCall {
        ApiCall {
            method,
            url,
            body,
            ..self.clone()
        }
    }
}

/// An API call ready to send: its URL parsed once when its template has no variables (the usual
/// case), since parsing a URL per request is a measurable share of the client's CPU per call.
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    pub call: ApiCall,
    pub fixed_uri: Option<http::Uri>,
}

/// What an API call's templates may refer to.
#[derive(Debug, Clone, Copy)]
pub struct CallVars<'a> {
    pub org: &'a str,
    /// The org's index in the run, for ids that belong to one org.
    pub org_index: usize,
    pub session: u32,
    pub deployment_id: &'a str,
}

/// A random id in the UUID version 4 layout.
pub fn random_id() -> String {
    let v: u128 = rand::rng().random();
    let v = (v & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl Api {
    /// The API call with a bearer token (RFC 6750): the first of the journey's steps.
    pub async fn contacts(&self, access_token: &Secret, vars: CallVars<'_>) -> Reply<()> {
        self.step(0, access_token, vars).await
    }

    /// Step `step` of the journey (0 when there is one call) with a bearer token (RFC 6750).
    pub async fn step(&self, step: usize, access_token: &Secret, vars: CallVars<'_>) -> Reply<()> {
        let Some(prepared) = self.calls.get(step) else {
            return Reply::failed(Outcome::ClientError);
        };
        let call = &prepared.call;
        let value = |var: Var| match var {
            Var::Org => vars.org.to_owned(),
            Var::Session => vars.session.to_string(),
            Var::DeploymentId => vars.deployment_id.to_owned(),
            Var::RandomId => random_id(),
            Var::ContactId => {
                let ids = match call.contact_ids_by_org.get(vars.org_index) {
                    Some(own) if !own.is_empty() => own.as_slice(),
                    _ => &call.contact_ids,
                };
                match ids.len() {
                    0 => String::new(),
                    n => ids[rand::rng().random_range(0..n)].clone(),
                }
            }
        };
        let encoded =
            |var: Var| percent_encoding::utf8_percent_encode(&value(var), URL_VALUE).to_string();
        let uri = match &prepared.fixed_uri {
            Some(uri) => uri.clone(),
            None => match http::Uri::try_from(call.url.render(encoded)) {
                Ok(uri) => uri,
                Err(_) => return Reply::failed(Outcome::ClientError),
            },
        };
        // Sized once: `format!` would grow its string for a JWT, two allocations per request, not one.
        let token = access_token.expose().as_bytes();
        let mut header = Vec::with_capacity(7 + token.len());
        header.extend_from_slice(b"Bearer ");
        header.extend_from_slice(token);
        let Ok(mut bearer) = HeaderValue::from_maybe_shared(Bytes::from(header)) else {
            // A token that cannot travel in a header: the request cannot be made.
            return Reply::failed(Outcome::ClientError);
        };
        bearer.set_sensitive(true);
        let body = match &call.body {
            Some(body) => Bytes::from(body.render(value)),
            None => Bytes::new(),
        };
        let mut request = http::Request::new(body);
        *request.method_mut() = call.method.clone();
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(ACCEPT, ACCEPT_ANY);
        headers.insert(AUTHORIZATION, bearer);
        for (name, template) in &call.headers {
            // A variable's value that cannot be a header value leaves the header out rather than fail the run.
            // Inserted: the profile's own `accept` replaces the default.
            if let Ok(v) = HeaderValue::from_str(&template.render(value)) {
                headers.insert(name, v);
            }
        }
        if call.body.is_some() && !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, JSON);
        }
        let sent = self.exchange(request, Call::Api).await;
        let reply = match sent.result {
            Ok(response) => Reply {
                outcome: outcome::classify_api(response.status),
                value: Some(()),
                retry_after: response.retry_after,
                status: Some(response.status),
                bad_body: None,
                resent: false,
            },
            Err(outcome) => Reply::failed(outcome),
        };
        Reply {
            resent: sent.resent,
            ..reply
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_have_the_uuid_v4_layout() {
        let id = random_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(id, random_id());
    }
}
