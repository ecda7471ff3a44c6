//! The contacts API (`/api/v2/externalcontacts/contacts`): bearer validation, per-token rate limit, scopes,
//! and synthetic per-org contacts.

use super::auth::bearer;
use super::config::{SCOPE_CONTACTS, SCOPE_CONTACTS_READONLY};
use super::correlation::Corr;
use super::errors::ApiError;
use super::limits::RateInfo;
use super::state::{ServerState, Shared};
use super::tokens::Reject;
use super::truth::Count;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::borrow::Cow;
use url::form_urlencoded;

const DEFAULT_PAGE_SIZE: u64 = 25;
/// Built once: a `&str` header value is validated byte by byte on every response.
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const MAX_PAGE_SIZE: u64 = 100;
/// Serial numbers of contacts created through POST start here, apart from the synthetic ones.
const CREATED_BASE: u64 = 1 << 40;

/// A request that passed authentication, the rate limit and the scope check.
struct Caller {
    org: usize,
    rate: Option<RateInfo>,
}

/// Validates the bearer token, spends its rate budget and checks its scope; every refusal is counted.
fn authorize(
    state: &ServerState,
    headers: &HeaderMap,
    corr: &Corr,
    scopes: &[&str],
) -> Result<Caller, Box<Response>> {
    let fail = |org: Option<usize>, counter: Count, e: ApiError| {
        state.truth.add(org, counter);
        Box::new(e.into_response(state.error_style, corr.as_str()))
    };
    let Some(presented) = bearer(headers) else {
        return Err(fail(
            None,
            Count::ContactsUnauthorized,
            ApiError::missing_token(),
        ));
    };
    let token = match state.validate(presented) {
        Ok(token) => token,
        Err((why, org)) => {
            if why == Reject::Expired {
                state.truth.add(org, Count::ContactsExpired);
            }
            return Err(fail(
                org,
                Count::ContactsUnauthorized,
                ApiError::invalid_token(why),
            ));
        }
    };
    let org = state.clients[token.client].org;
    let rate = match state.limits.check_token(token.jti) {
        Ok(rate) => rate,
        Err(retry) => {
            return Err(fail(
                Some(org),
                Count::ContactsRateLimited,
                ApiError::rate_limited(retry),
            ))
        }
    };
    if !token.has_scope(scopes) {
        let mut response = fail(
            Some(org),
            Count::ContactsForbidden,
            ApiError::insufficient_scope(scopes[0]),
        );
        if let Some(rate) = &rate {
            rate.write(response.headers_mut());
        }
        return Err(response);
    }
    Ok(Caller { org, rate })
}

impl Caller {
    fn finish(
        &self,
        state: &ServerState,
        corr: &Corr,
        result: Result<Response, ApiError>,
    ) -> Response {
        let mut response = match result {
            Ok(response) => {
                state.truth.add(Some(self.org), Count::ContactsOk);
                response
            }
            Err(e) => {
                state.truth.add(Some(self.org), Count::ContactsClientError);
                e.into_response(state.error_style, corr.as_str())
            }
        };
        if let Some(rate) = &self.rate {
            rate.write(response.headers_mut());
        }
        response
    }
}

pub(crate) async fn search(
    State(state): State<Shared>,
    Extension(corr): Extension<Corr>,
    // The whole request rather than a `HeaderMap` extractor, which would clone every header.
    request: Request,
) -> Response {
    state.truth.add(None, Count::RouteSearch);
    let caller = match authorize(
        &state,
        request.headers(),
        &corr,
        &[SCOPE_CONTACTS, SCOPE_CONTACTS_READONLY],
    ) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let result = page(&state, caller.org, request.uri().query().unwrap_or(""));
    caller.finish(&state, &corr, result)
}

pub(crate) async fn create(
    State(state): State<Shared>,
    Extension(corr): Extension<Corr>,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    state.truth.add(None, Count::RouteCreate);
    let caller = match authorize(&state, &headers, &corr, &[SCOPE_CONTACTS]) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let serial = CREATED_BASE + state.next_id();
    let created = contact(caller.org, serial, &state.org_names[caller.org]);
    let result = with_fields(created, body).map(|c| Json(c).into_response());
    caller.finish(&state, &corr, result)
}

/// `PATCH /contacts/{id}`: the org's contact with the body's fields applied. Synthetic contacts are
/// not stored, so the change is answered, not kept (as a search shows them unchanged).
pub(crate) async fn update(
    State(state): State<Shared>,
    Extension(corr): Extension<Corr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    state.truth.add(None, Count::RouteUpdate);
    let caller = match authorize(&state, &headers, &corr, &[SCOPE_CONTACTS]) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let result = match known(&state, caller.org, &id) {
        Some((org, serial)) => with_fields(contact(org, serial, &state.org_names[org]), body)
            .map(|c| Json(c).into_response()),
        None => Err(ApiError::not_found(format!("contact {id} not found"))),
    };
    caller.finish(&state, &corr, result)
}

/// A contact with the string fields a create or update body gives.
fn with_fields(
    mut contact: Value,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Value, ApiError> {
    match body {
        Ok(Json(Value::Object(fields))) => {
            for key in ["firstName", "lastName", "workEmail"] {
                if let Some(v) = fields.get(key).filter(|v| v.is_string()) {
                    contact[key] = v.clone();
                }
            }
            Ok(contact)
        }
        Ok(Json(_)) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
    }
}

/// The org and serial of contact `id` when it is one of `org`'s; another org's contact is as
/// invisible as a missing one: tenants never see each other.
fn known(state: &ServerState, org: usize, id: &str) -> Option<(usize, u64)> {
    parse_id(id).filter(|&(owner, serial)| {
        owner == org && (serial < u64::from(state.contacts_per_org) || serial >= CREATED_BASE)
    })
}

pub(crate) async fn by_id(
    State(state): State<Shared>,
    Extension(corr): Extension<Corr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    state.truth.add(None, Count::RouteGet);
    let caller = match authorize(
        &state,
        &headers,
        &corr,
        &[SCOPE_CONTACTS, SCOPE_CONTACTS_READONLY],
    ) {
        Ok(c) => c,
        Err(response) => return *response,
    };
    let result = match known(&state, caller.org, &id) {
        Some((org, serial)) => {
            Ok(Json(contact(org, serial, &state.org_names[org])).into_response())
        }
        None => Err(ApiError::not_found(format!("contact {id} not found"))),
    };
    caller.finish(&state, &corr, result)
}

/// The last value of `name` in a query string. Decoded in place, borrowing where nothing is escaped:
/// every default contacts call carries a query, and collecting it into owned pairs cost the target
/// five allocations per request.
fn query_value<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == name)
        .last()
        .map(|(_, v)| v)
}

fn page(state: &ServerState, org: usize, query: &str) -> Result<Response, ApiError> {
    let number = |name: &str, default: u64, max: u64| -> Result<u64, ApiError> {
        match query_value(query, name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("`{name}` must be an integer from 1 to {max}"))
                }),
        }
    };
    let size = number("pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let page_number = number("pageNumber", 1, u64::from(u32::MAX))?;
    let q = query_value(query, "q")
        .map(|v| v.to_lowercase())
        .filter(|q| !q.is_empty());
    if q.is_none() && size == DEFAULT_PAGE_SIZE && page_number == 1 {
        // The hot path: the first default page of an org never changes, so it is built once.
        let bytes = state.first_pages[org]
            .get_or_init(|| render(state, org, size, page_number, None).into());
        return Ok(([(CONTENT_TYPE, JSON)], bytes.clone()).into_response());
    }
    Ok((
        [(CONTENT_TYPE, "application/json")],
        render(state, org, size, page_number, q.as_deref()),
    )
        .into_response())
}

fn render(state: &ServerState, org: usize, size: u64, page_number: u64, q: Option<&str>) -> String {
    let name = &state.org_names[org];
    let skip = (page_number - 1).saturating_mul(size);
    let all = 0..u64::from(state.contacts_per_org);
    let (total, entities): (u64, Vec<Value>) = match q {
        None => {
            let end = skip.saturating_add(size).min(all.end);
            (
                all.end,
                (skip.min(end)..end)
                    .map(|n| contact(org, n, name))
                    .collect(),
            )
        }
        Some(q) => {
            let matching: Vec<Value> = all
                .map(|n| contact(org, n, name))
                .filter(|c| c.to_string().to_lowercase().contains(q))
                .collect();
            let total = matching.len() as u64;
            let skip = usize::try_from(skip).unwrap_or(usize::MAX);
            (
                total,
                matching
                    .into_iter()
                    .skip(skip)
                    .take(size as usize)
                    .collect(),
            )
        }
    };
    json!({
        "entities": entities,
        "pageSize": size,
        "pageNumber": page_number,
        "total": total,
        "pageCount": total.div_ceil(size),
    })
    .to_string()
}

/// The id of an org's contact number `serial` (0-based; the synthetic ones are below `contacts_per_org`).
pub fn contact_id(org: usize, serial: u64) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", org, serial)
}

fn parse_id(id: &str) -> Option<(usize, u64)> {
    let parts: Vec<&str> = id.split('-').collect();
    if parts.len() != 5
        || parts[1..4] != ["0000", "4000", "8000"]
        || parts[0].len() != 8
        || parts[4].len() != 12
    {
        return None;
    }
    let org = usize::from_str_radix(parts[0], 16).ok()?;
    let serial = u64::from_str_radix(parts[4], 16).ok()?;
    Some((org, serial))
}

fn contact(org: usize, serial: u64, org_name: &str) -> Value {
    let id = contact_id(org, serial);
    json!({
        "id": id,
        "firstName": "Contact",
        "lastName": format!("{serial}"),
        "workEmail": format!("contact{serial}@{org_name}.example"),
        "selfUri": format!("/api/v2/externalcontacts/contacts/{id}"),
    })
}

#[cfg(test)]
mod tests {
    use super::query_value;

    #[test]
    fn a_query_value_is_the_last_one_decoded() {
        let q = "pageSize=3&q=a%20b&pageSize=7&q=c+d&empty=";
        assert_eq!(query_value(q, "pageSize").as_deref(), Some("7"));
        assert_eq!(query_value(q, "q").as_deref(), Some("c d"));
        assert_eq!(query_value(q, "empty").as_deref(), Some(""));
        assert_eq!(query_value(q, "pageNumber"), None);
        assert_eq!(query_value("", "q"), None);
        // Invalid escapes are kept as written, as a form decoder does, never an error.
        assert_eq!(query_value("q=%zz", "q").as_deref(), Some("%zz"));
    }
}
