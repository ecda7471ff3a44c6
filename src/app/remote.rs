//! A real target: its `[target]` settings turned into the HTTP layer's configuration (files read, paths
//! joined), OpenID discovery, and the warnings a user must see before load goes out.

use super::AppError;
use crate::http::{socket, Api, ApiCall, ApiConfig, TokenEndpoint, Transport};
use crate::plan::Plan;
use crate::profile::target::HttpTarget;
use crate::secret::Secret;
use std::path::Path;

pub fn api_config(plan: &Plan, http: &HttpTarget) -> Result<ApiConfig, AppError> {
    let token_base = http.token_base.trim_end_matches('/');
    let p = &http.paths;
    let (ca_pem, identity_pem) = tls_files(plan, http)?;
    let call = api_call(http)?;
    Ok(ApiConfig {
        steps: super::target::journey(plan, &call, &http.api_base)?,
        call,
        token: TokenEndpoint {
            url: format!("{token_base}{}", p.token),
            dialect: http.dialect,
            client_auth: http.client_auth,
            scope: http.scope.clone(),
            resource: http.resource.clone(),
            auth_code: http.auth_code.clone(),
            redirect_uri: http.redirect_uri.clone(),
            jwt_exchange_url: format!("{token_base}{}", p.jwt_exchange),
            jwt_refresh_url: format!("{token_base}{}", p.jwt_refresh),
            revoke_url: format!("{token_base}{}", p.revoke),
            jwt_revoke_url: format!("{token_base}{}", p.jwt_revoke),
        },
        transport: Transport {
            request_timeout: plan.load.request_timeout,
            connect_timeout: http.http.connect_timeout.0,
            idle_timeout: http.http.idle_timeout.0,
            version: http.http.version,
            pool_max_idle_per_host: http.http.pool_max_idle_per_host,
            max_api_connections: None,
            ca_pem,
            identity_pem,
            insecure_skip_verify: http.tls.insecure_skip_verify,
            proxy_from_env: http.http.proxy_from_env,
        },
        socket_base: None,
    })
}

/// The CA file and the client certificate with its key, read from beside the profile; the key
/// stays a [`Secret`].
fn tls_files(
    plan: &Plan,
    http: &HttpTarget,
) -> Result<(Option<Vec<u8>>, Option<Secret>), AppError> {
    let read = |key: &str, path: &Path| {
        let path = plan.profile_dir.join(path);
        std::fs::read(&path).map_err(|e| {
            AppError::Usage(format!(
                "target.tls.{key}: cannot read {}: {e}",
                path.display()
            ))
        })
    };
    let ca_pem = http
        .tls
        .ca_file
        .as_deref()
        .map(|f| read("ca_file", f))
        .transpose()?;
    let identity_pem = match (&http.tls.client_cert, &http.tls.client_key) {
        (Some(cert), Some(key)) => {
            let mut pem = read("client_cert", cert)?;
            pem.push(b'\n');
            pem.extend(read("client_key", key)?);
            let text = String::from_utf8(pem).map_err(|_| {
                AppError::Usage("target.tls.client_cert / client_key: must be PEM text".into())
            })?;
            Some(Secret::new(text))
        }
        _ => None,
    };
    Ok((ca_pem, identity_pem))
}

/// The profile's API call, its method and header names checked.
fn api_call(http: &HttpTarget) -> Result<ApiCall, AppError> {
    let headers = http
        .api
        .headers
        .iter()
        .map(|(name, value)| {
            http::HeaderName::from_bytes(name.as_bytes())
                .map(|n| (n, value.clone()))
                .map_err(|_| AppError::Usage(format!("target.api.headers: bad name `{name}`")))
        })
        .collect::<Result<_, _>>()?;
    let method = http::Method::from_bytes(http.api.method.as_bytes())
        .map_err(|_| AppError::Usage(format!("target.api.method: `{}`", http.api.method)))?;
    Ok(ApiCall {
        method,
        url: http.api.path.prefixed(http.api_base.trim_end_matches('/')),
        headers,
        body: http.api.body.clone(),
        contact_ids: http.api.contact_ids.clone().into(),
        contact_ids_by_org: Vec::new().into(),
    })
}

/// The client for a variant; with `discovery = true`, pointed at the token endpoint the provider names.
pub async fn connect(config: &ApiConfig, plan: &Plan) -> Result<Api, AppError> {
    // The connection bound is the load's, whichever target the calls go to.
    let mut config = config.clone();
    config.transport.max_api_connections = plan.load.max_connections.map(|n| n as usize);
    // An authenticated widget logs in with the web-deployments code exchange; the embedded target
    // speaks both dialects, a real one the profile's.
    let authenticated = plan
        .load
        .messaging
        .as_ref()
        .is_some_and(|m| m.auth == crate::profile::messaging::MessagingAuth::Authenticated);
    if authenticated && config.socket_base.is_some() {
        config.token.dialect = crate::profile::target::Dialect::WebDeployments;
    }
    let mut api = Api::new(&config)?;
    if let Some(messaging) = &plan.load.messaging {
        let url = match &config.socket_base {
            Some(base) if messaging.url.starts_with('/') => format!("{base}{}", messaging.url),
            _ => messaging.url.clone(),
        };
        let from = socket::Sources::new(messaging.source_addresses.clone());
        api = api.with_socket(url, messaging.origin.clone(), from, &config.transport)?;
    }
    if let Some(http) = plan.profile.target.http().filter(|h| h.discovery) {
        let url = format!(
            "{}{}",
            http.token_base.trim_end_matches('/'),
            http.paths.discovery
        );
        api.discover(&url).await?;
    }
    Ok(api)
}

/// What a user must read before load goes to a real target.
pub fn warnings(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(http) = plan.profile.target.http() {
        if http.tls.insecure_skip_verify {
            out.push(
                "warning: target.tls.insecure_skip_verify = true: server certificates are NOT checked; \
                 anyone on the path can read the credentials this run sends"
                    .to_owned(),
            );
        }
        for (key, url) in [
            ("token_base", &http.token_base),
            ("api_base", &http.api_base),
        ] {
            if url.starts_with("http://") && !is_loopback(url) {
                out.push(format!(
                    "warning: target.{key} is plain http:// to another host: credentials and tokens travel unencrypted"
                ));
            }
        }
    }
    out
}

fn is_loopback(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        u.host_str().is_some_and(|h| {
            h == "localhost"
                || h.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_to_another_host_is_worth_a_warning() {
        for local in [
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:9",
        ] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in ["http://login.example.com", "http://10.0.0.1", "not a url"] {
            assert!(!is_loopback(remote), "{remote}");
        }
    }
}
