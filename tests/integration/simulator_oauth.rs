//! The embedded target's RFC 6749 token endpoint, spoken to over raw HTTP.

use super::simulator_support::*;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(2);

#[tokio::test]
async fn client_credentials_gives_an_access_token_without_refresh_token() {
    let t = Target::start(config(2, TTL)).await;
    let r = t
        .token_form(0, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert!(!header(&r, "inin-correlation-id").is_empty());
    let body = json(r).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 2);
    assert_eq!(body["scope"], "external-contacts");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(str_of(&body, "access_token").split('.').count(), 3, "a JWT");
    assert_eq!(t.server.truth().total.issued.client_credentials, 1);
    assert_eq!(t.server.truth().per_org["org0"].token.ok, 1);
}

#[tokio::test]
async fn credentials_in_the_form_body_are_accepted_but_not_both_methods() {
    let t = Target::start(config(1, TTL)).await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "client0"),
        ("client_secret", "secret0"),
    ];
    let r = t
        .http
        .post(t.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = t.token_form(0, &form).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "invalid_request");
}

#[tokio::test]
async fn bad_client_credentials_get_invalid_client_with_a_basic_challenge() {
    let t = Target::start(config(1, TTL)).await;
    let r = t
        .http
        .post(t.url("/oauth/token"))
        .basic_auth("client0", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").starts_with("Basic realm="));
    let body = json(r).await;
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].is_string());
    let truth = t.server.truth();
    assert_eq!(truth.total.token.invalid_client, 1);
    assert_eq!(
        truth.per_org["org0"].token.invalid_client, 1,
        "a known client id is attributed to its org"
    );
}

#[tokio::test]
async fn malformed_requests_get_rfc_errors_not_panics() {
    let t = Target::start(config(1, TTL)).await;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "invalid_request"),
        (&[("grant_type", "password")], "unsupported_grant_type"),
        (
            &[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            "invalid_request",
        ),
        (
            &[("grant_type", "client_credentials"), ("scope", "admin")],
            "invalid_scope",
        ),
    ];
    for (form, error) in cases {
        let r = t.token_form(0, form).await;
        assert_eq!(r.status(), 400, "{form:?}");
        assert_eq!(json(r).await["error"], error, "{form:?}");
    }
    let r = t
        .http
        .post(t.url("/oauth/token"))
        .basic_auth("client0", Some("secret0"))
        .header("content-type", "application/json")
        .body("{\"grant_type\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "invalid_request");
    let r = t
        .http
        .post(t.url("/oauth/token"))
        .header("authorization", "Basic %%%")
        .send()
        .await
        .unwrap();
    assert!(r.status() == 400 || r.status() == 401);
    assert_eq!(t.server.truth().total.token.client_error, 6);
}

#[tokio::test]
async fn authorization_code_stand_in_gives_access_and_refresh_tokens() {
    let t = Target::start(config(1, TTL)).await;
    let (access, refresh) = t.code_tokens(0).await;
    assert_eq!(t.contacts(&access).await.status(), 200);
    assert!(refresh.starts_with("rt-"));
    let r = t
        .token_form(
            0,
            &[("grant_type", "authorization_code"), ("code", "real-code")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "invalid_grant");
    assert_eq!(t.server.truth().total.issued.authorization_code, 1);
}

#[tokio::test]
async fn refresh_token_grant_issues_a_new_access_token() {
    let t = Target::start(config(1, TTL)).await;
    let (first, refresh) = t.code_tokens(0).await;
    let r = t.refresh(0, &refresh).await;
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    let second = str_of(&body, "access_token");
    assert_ne!(first, second);
    // Default policy `none`: the same refresh token comes back and keeps working.
    assert_eq!(str_of(&body, "refresh_token"), refresh);
    assert_eq!(t.refresh(0, &refresh).await.status(), 200);
    let truth = t.server.truth().total;
    assert_eq!((truth.refreshes, truth.issued.refresh_token), (2, 2));
}

#[tokio::test]
async fn refresh_token_of_another_client_or_unknown_is_invalid_grant() {
    let t = Target::start(config(2, TTL)).await;
    let (_, refresh) = t.code_tokens(0).await;
    let r = t.refresh(1, &refresh).await;
    assert_eq!(r.status(), 400);
    let body = json(r).await;
    assert_eq!(body["error"], "invalid_grant");
    assert!(str_of(&body, "error_description").contains("another client"));
    assert_eq!(
        json(t.refresh(0, "rt-nope").await).await["error"],
        "invalid_grant"
    );
    let truth = t.server.truth();
    assert_eq!(truth.total.token.invalid_grant, 2);
    assert_eq!(truth.per_org["org1"].token.invalid_grant, 1);
    assert_eq!(
        truth.total.families_revoked, 0,
        "a cross-client attempt revokes nothing"
    );
    assert_eq!(t.refresh(0, &refresh).await.status(), 200);
}

#[tokio::test]
async fn a_narrower_scope_can_be_asked_for() {
    let t = Target::start(config(1, TTL)).await;
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "external-contacts"),
    ];
    let body = json(t.token_form(0, &form).await).await;
    assert_eq!(body["scope"], "external-contacts");
}
