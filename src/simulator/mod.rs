//! The embedded simulated server: a strict multi-tenant OAuth2 token service plus a contacts API, with
//! ground truth about what it did.
//!
//! It imports nothing from the load-test side of the crate; everything it needs arrives in a [`Config`].
//! Endpoints, settings and counters are documented in `docs/simulator.md`.

mod auth;
mod config;
mod contacts;
mod correlation;
mod errors;
mod faults;
mod jwt;
mod limits;
mod messaging;
mod oauth;
mod revocation;
mod server;
mod service;
mod shards;
mod state;
mod tokens;
mod truth;
mod webdeploy;

pub use config::{
    Capacity, ClientConfig, ClockControl, ClockOffset, Config, ErrorStyle, ExpiryPrecision, Faults,
    Latency, Messaging, MessagingFaults, OrgConfig, RefreshPolicy, Refusal, Service,
    SCOPE_CONTACTS, SCOPE_CONTACTS_READONLY,
};
pub use contacts::contact_id;
pub use messaging::SOCKET_PATH;
pub use server::Server;
pub use truth::{
    ContactsCounts, ContactsRoutes, IssuedCounts, MessagingCounts, TokenEndpointCounts, Truth,
    TruthCounts, TruthSnapshot,
};

use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use axum::Router;
use state::{ServerState, Shared};
use std::sync::Arc;

/// Path of the contacts collection.
pub const CONTACTS_PATH: &str = "/api/v2/externalcontacts/contacts";
/// Path of RFC 7009 revocation.
pub const REVOKE_PATH: &str = "/oauth/revoke";
/// Path of RFC 7662 introspection.
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
/// Prefix of the web-messaging token routes.
pub const WEBDEPLOY_PATH: &str = "/api/v2/webdeployments/token";
/// Path of the RFC 6749 token endpoint.
pub const TOKEN_PATH: &str = "/oauth/token";

/// The server as an axum router (serve it, or drive it with `tower::ServiceExt::oneshot`), and the handle on
/// its ground truth. The server's clock starts now: `disabled_at` and friends count from this call.
pub fn router(config: Config) -> (Router, Truth) {
    let (router, state) = build(config);
    (router, state.truth.clone())
}

/// The router and the state behind it (the server stops its sockets through it).
pub(crate) fn build(config: Config) -> (Router, Shared) {
    let state: Shared = Arc::new(ServerState::new(&config));
    let token_routes = Router::new()
        .route(TOKEN_PATH, post(oauth::token))
        .route(
            &format!("{WEBDEPLOY_PATH}/oauthcodegrantjwtexchange"),
            post(webdeploy::exchange),
        )
        .route(
            &format!("{WEBDEPLOY_PATH}/refresh"),
            post(webdeploy::refresh),
        )
        // Innermost: a request the limits refuse or a fault answers never takes a worker's time.
        .route_layer(from_fn_with_state(state.clone(), service::token_service))
        .route_layer(from_fn_with_state(state.clone(), faults::token_faults))
        .route_layer(from_fn_with_state(state.clone(), limits::token_capacity));
    let mut contacts_routes = Router::new()
        .route(CONTACTS_PATH, get(contacts::search).post(contacts::create))
        .route(
            &format!("{CONTACTS_PATH}/{{id}}"),
            get(contacts::by_id).patch(contacts::update),
        );
    // A layer with nothing to do is left out: it would cost every API call a boxed future.
    if state.contacts_station.is_some() {
        contacts_routes = contacts_routes
            .route_layer(from_fn_with_state(state.clone(), service::contacts_service));
    }
    if !state.contacts_faults.is_quiet() {
        contacts_routes =
            contacts_routes.route_layer(from_fn_with_state(state.clone(), faults::contacts_faults));
    }
    let other_routes = Router::new()
        .route(
            &format!("{WEBDEPLOY_PATH}/revoke"),
            delete(webdeploy::revoke),
        )
        .route(REVOKE_PATH, post(revocation::revoke))
        .route(INTROSPECT_PATH, post(revocation::introspect))
        .route(messaging::SOCKET_PATH, get(messaging::upgrade));
    let router = Router::new()
        .merge(token_routes)
        .merge(contacts_routes)
        .merge(other_routes)
        .layer(correlation::CorrelateLayer(state.clone()))
        .with_state(state.clone());
    (router, state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use std::time::Duration;
    use tower::ServiceExt;

    fn server() -> (Router, Truth) {
        let client = ClientConfig::new("c", "s");
        router(Config::new(
            vec![OrgConfig {
                name: "o".into(),
                clients: vec![client],
            }],
            Duration::from_secs(60),
        ))
    }

    #[tokio::test]
    async fn the_router_answers_without_a_socket() {
        let (app, truth) = server();
        let request = Request::post(TOKEN_PATH)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(
                "grant_type=client_credentials&client_id=c&client_secret=s",
            ))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().contains_key("inin-correlation-id"));
        let unknown = app
            .oneshot(Request::get("/nowhere").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        assert!(unknown.headers().contains_key("inin-correlation-id"));
        assert_eq!(truth.snapshot().per_org["o"].issued.client_credentials, 1);
    }

    #[tokio::test]
    async fn garbage_headers_and_bodies_never_panic() {
        let (app, _) = server();
        let requests = [
            Request::post(TOKEN_PATH)
                .header("authorization", "Basic")
                .body(Body::from("\u{0}\u{ff}")),
            Request::post(TOKEN_PATH)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("%zz=%")),
            Request::get(CONTACTS_PATH)
                .header("authorization", "Bearer a.b.c")
                .body(Body::empty()),
            Request::get(format!("{CONTACTS_PATH}/x-y"))
                .header("authorization", "Bearer")
                .body(Body::empty()),
            Request::post(format!("{WEBDEPLOY_PATH}/refresh"))
                .header("content-type", "application/json")
                .body(Body::from("[]")),
            // The socket route without an upgrade, or with a query that does not parse.
            Request::get(format!("{SOCKET_PATH}?deploymentId=c")).body(Body::empty()),
            Request::get(format!("{SOCKET_PATH}?deploymentId=%zz&deploymentId=x"))
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .body(Body::empty()),
        ];
        for request in requests {
            let response = app.clone().oneshot(request.unwrap()).await.unwrap();
            assert!(response.status().is_client_error(), "{}", response.status());
        }
    }
}
