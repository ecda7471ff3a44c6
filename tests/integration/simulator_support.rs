//! Shared helpers for the embedded-target tests: a server on 127.0.0.1 port 0 and raw HTTP calls to it.

use reqwest::{Client, Response};
use serde_json::Value;
use std::time::Duration;
use tokenstorm::simulator::{ClientConfig, Config, OrgConfig, Server};

pub const CONTACTS: &str = "/api/v2/externalcontacts/contacts";

/// `orgs` orgs named `org0..`, each with one client `client{i}` / `secret{i}`.
pub fn config(orgs: usize, ttl: Duration) -> Config {
    let orgs = (0..orgs)
        .map(|i| OrgConfig {
            name: format!("org{i}"),
            clients: vec![ClientConfig::new(
                format!("client{i}"),
                format!("secret{i}"),
            )],
        })
        .collect();
    Config::new(orgs, ttl)
}

pub struct Target {
    pub server: Server,
    pub http: Client,
}

impl Target {
    pub async fn start(config: Config) -> Target {
        let addr = "127.0.0.1:0".parse().unwrap();
        let server = Server::start(config, addr).await.unwrap();
        let http = Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Target { server, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.server.addr(), path)
    }

    /// POST a form to the token endpoint with HTTP Basic credentials of client `org`.
    pub async fn token_form(&self, org: usize, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url("/oauth/token"))
            .basic_auth(format!("client{org}"), Some(format!("secret{org}")))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A client_credentials access token for client `org`.
    pub async fn access_token(&self, org: usize) -> String {
        let body = json(
            self.token_form(org, &[("grant_type", "client_credentials")])
                .await,
        )
        .await;
        body["access_token"].as_str().unwrap().to_string()
    }

    /// An access token and refresh token through the authorization_code stand-in.
    pub async fn code_tokens(&self, org: usize) -> (String, String) {
        let form = [("grant_type", "authorization_code"), ("code", "sim-test")];
        let body = json(self.token_form(org, &form).await).await;
        (
            str_of(&body, "access_token"),
            str_of(&body, "refresh_token"),
        )
    }

    pub async fn refresh(&self, org: usize, refresh_token: &str) -> Response {
        self.token_form(
            org,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    pub async fn contacts(&self, token: &str) -> Response {
        self.http
            .get(self.url(CONTACTS))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

pub async fn json(response: Response) -> Value {
    response.json().await.unwrap()
}

pub fn str_of(body: &Value, key: &str) -> String {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("no `{key}` in {body}"))
        .to_string()
}

pub fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}
