//! OpenID discovery (OpenID Connect Discovery 1.0, section 4): the provider's document names the
//! token endpoint to use.

use super::exchange::{Call, ACCEPT_ANY};
use super::{parse_uri, parse_url, proxied, token, Api, HttpError};
use bytes::Bytes;

impl Api {
    /// Replaces the token endpoint with the one an OpenID provider's discovery document names.
    pub async fn discover(&mut self, url: &str) -> Result<String, HttpError> {
        let fail = |reason: String| HttpError::Discovery {
            url: url.to_owned(),
            reason,
        };
        let request = document_request(url).ok_or_else(|| fail("not a usable URL".into()))?;
        let response = self
            .exchange(request, Call::Discovery)
            .await
            .result
            .map_err(|o| fail(format!("no document ({})", o.name())))?;
        if !(200..300).contains(&response.status) {
            let status = http::StatusCode::from_u16(response.status)
                .map_or_else(|_| response.status.to_string(), |s| s.to_string());
            return Err(fail(format!("HTTP {status}")));
        }
        let endpoint = serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .and_then(|v| v.get("token_endpoint")?.as_str().map(str::to_owned))
            .ok_or_else(|| fail("the document has no token_endpoint".into()))?;
        parse_url(&endpoint)?;
        self.token_route = proxied::route(self.proxy.is_some(), &parse_uri(&endpoint)?, false);
        self.token.url.clone_from(&endpoint);
        Ok(endpoint)
    }
}

/// `GET` of the document, with the headers every other call carries.
fn document_request(url: &str) -> Option<http::Request<Bytes>> {
    let mut request = http::Request::new(Bytes::new());
    *request.uri_mut() = token::uri(url)?;
    request
        .headers_mut()
        .insert(http::header::ACCEPT, ACCEPT_ANY);
    Some(request)
}
