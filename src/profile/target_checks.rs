//! Checks of a real target's settings: URLs, paths, the API call, TLS, timeouts, orgs and credentials.

use super::problems::Problems;
use super::target::{ApiCall, Dialect, HttpTarget, TargetOrg};
use super::template::Var;

impl HttpTarget {
    /// `uses_refresh_token`: some variant gets its first token by a code (refresh-token models).
    pub fn validate(&self, orgs: u32, uses_refresh_token: bool, problems: &mut Problems) {
        self.check_addresses(problems);
        self.api.validate(problems);
        self.check_transport(problems);
        if uses_refresh_token && self.auth_code.is_none() {
            problems.push(
                "target.auth_code",
                "a variant gets its first token with a refresh token (authorization code or web-deployments \
                 exchange): set the code the server accepts, e.g. auth_code = \"test-{session}\"",
            );
        }
        self.check_orgs(orgs, problems);
    }

    /// The two base URLs, and the paths on the token host.
    fn check_addresses(&self, problems: &mut Problems) {
        for (key, url) in [
            ("target.token_base", &self.token_base),
            ("target.api_base", &self.api_base),
        ] {
            check_base(key, url, problems);
        }
        let p = &self.paths;
        for (key, path) in [
            ("target.paths.token", &p.token),
            ("target.paths.jwt_exchange", &p.jwt_exchange),
            ("target.paths.jwt_refresh", &p.jwt_refresh),
            ("target.paths.discovery", &p.discovery),
        ] {
            if !path.starts_with('/') {
                problems.push(key, format!("`{path}` must start with `/`"));
            }
        }
    }

    fn check_transport(&self, problems: &mut Problems) {
        if self.http.connect_timeout.0.is_zero() {
            problems.push("target.http.connect_timeout", "must be more than 0s");
        }
        if self.http.idle_timeout.0.is_zero() {
            problems.push(
                "target.http.idle_timeout",
                "must be more than 0s (`pool_max_idle_per_host = 0` keeps no idle connection)",
            );
        }
        if self.http.total_timeout.is_some_and(|t| t.0.is_zero()) {
            problems.push("target.http.total_timeout", "must be more than 0s");
        }
        if self.tls.client_cert.is_some() != self.tls.client_key.is_some() {
            problems.push(
                "target.tls.client_cert",
                "client_cert and client_key go together (mutual TLS needs both)",
            );
        }
    }

    /// One `[[target.orgs]]` per org, each named once and with its credentials' source.
    fn check_orgs(&self, orgs: u32, problems: &mut Problems) {
        if self.orgs.len() != orgs as usize {
            problems.push(
                "target.orgs",
                format!(
                    "has {} entries but load.orgs is {orgs}: list one [[target.orgs]] per org",
                    self.orgs.len()
                ),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, org) in self.orgs.iter().enumerate() {
            let key = |f: &str| format!("target.orgs[{i}].{f}");
            if !seen.insert(org.name.as_str()) {
                problems.push(key("name"), format!("`{}` is listed twice", org.name));
            }
            if self.dialect == Dialect::WebDeployments {
                if org.deployment_id.is_none() {
                    problems.push(key("deployment_id"), "the web-deployments dialect needs it");
                }
                continue;
            }
            self.check_credentials(org, &key, problems);
        }
    }

    /// Where an RFC 6749 org's client id and secret come from.
    fn check_credentials(
        &self,
        org: &TargetOrg,
        key: &dyn Fn(&str) -> String,
        problems: &mut Problems,
    ) {
        if self.credentials_file.is_none() {
            if org.client_id.is_none() && org.client_id_env.is_none() {
                problems.push(
                    key("client_id"),
                    "set client_id or client_id_env (or target.credentials_file)",
                );
            }
            if org.client_secret_env.is_none() {
                problems.push(
                    key("client_secret_env"),
                    "name the environment variable that holds the secret (or set target.credentials_file)",
                );
            }
        }
        if org.client_id.is_some() && org.client_id_env.is_some() {
            problems.push(
                key("client_id_env"),
                "set client_id or client_id_env, not both",
            );
        }
    }
}

impl ApiCall {
    /// The call's path, method and headers, and the variables its templates use.
    fn validate(&self, problems: &mut Problems) {
        if !self.path.to_string().starts_with('/') {
            problems.push("target.api.path", "must start with `/`");
        }
        if http::Method::from_bytes(self.method.as_bytes()).is_err() {
            problems.push(
                "target.api.method",
                format!("`{}` is not an HTTP method", self.method),
            );
        }
        for name in self.headers.keys() {
            let key = format!("target.api.headers.\"{name}\"");
            if http::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                problems.push(key, format!("`{name}` is not a valid header name"));
            } else if name.eq_ignore_ascii_case("authorization") {
                problems.push(
                    key,
                    "tokenstorm sends the bearer token itself; secrets never live in a profile",
                );
            }
        }
        let templates = std::iter::once(&self.path)
            .chain(self.headers.values())
            .chain(self.body.as_ref());
        if self.contact_ids.is_empty() && templates.clone().any(|t| t.uses(Var::ContactId)) {
            problems.push(
                "target.api.contact_ids",
                "{contact_id} is used, so list the contact ids to draw from",
            );
        }
    }
}

fn check_base(key: &str, url: &str, problems: &mut Problems) {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if u.query().is_some() || u.fragment().is_some() {
                problems.push(key, "must not have a query or fragment");
            }
        }
        Ok(_) => problems.push(key, format!("`{url}` must be an http:// or https:// URL")),
        Err(e) => problems.push(key, format!("`{url}` is not a URL: {e}")),
    }
}
