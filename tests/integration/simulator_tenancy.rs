//! Per-client settings of the embedded target: TTL, disabling, idle timeout, scopes, error styles.

use super::simulator_support::*;
use std::time::Duration;
use tokenstorm::simulator::{
    ClientConfig, ErrorStyle, OrgConfig, SCOPE_CONTACTS, SCOPE_CONTACTS_READONLY,
};

#[tokio::test]
async fn each_client_has_its_own_ttl_and_an_org_may_have_several_clients() {
    let mut cfg = config(1, Duration::from_secs(3));
    let mut second = ClientConfig::new("second", "s2");
    second.token_ttl = Some(Duration::from_secs(7200));
    cfg.orgs.push(OrgConfig {
        name: "multi".into(),
        clients: vec![ClientConfig::new("first", "s1"), second],
    });
    let t = Target::start(cfg).await;
    let r = t
        .http
        .post(t.url("/oauth/token"))
        .basic_auth("second", Some("s2"));
    let body = json(
        r.form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["expires_in"], 7200);
    assert_eq!(
        t.contacts(&str_of(&body, "access_token")).await.status(),
        200
    );
    assert_eq!(t.server.truth().per_org["multi"].token.ok, 1);
}

#[tokio::test]
async fn a_disabled_client_loses_its_live_tokens_and_cannot_get_new_ones() {
    let mut cfg = config(2, Duration::from_secs(30));
    cfg.orgs[0].clients[0].disabled_at = Some(Duration::from_millis(700));
    let t = Target::start(cfg).await;
    let token = t.access_token(0).await;
    let survivor = t.access_token(1).await;
    let mut status = 200;
    for _ in 0..100 {
        let r = t.contacts(&token).await;
        status = r.status().as_u16();
        if status != 200 {
            assert!(header(&r, "www-authenticate").contains("disabled"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 401);
    let r = t
        .token_form(0, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(json(r).await["error"], "invalid_client");
    assert_eq!(
        t.contacts(&survivor).await.status(),
        200,
        "other clients are untouched"
    );
}

#[tokio::test]
async fn an_idle_token_dies_while_a_busy_one_lives() {
    let mut cfg = config(1, Duration::from_secs(30));
    cfg.idle_timeout = Some(Duration::from_millis(400));
    let t = Target::start(cfg).await;
    let idle = t.access_token(0).await;
    let busy = t.access_token(0).await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(t.contacts(&busy).await.status(), 200);
    }
    let r = t.contacts(&idle).await;
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").contains("idle"));
}

#[tokio::test]
async fn a_read_only_token_gets_403_insufficient_scope_on_create() {
    let mut cfg = config(1, Duration::from_secs(30));
    cfg.orgs[0].clients[0].scopes = vec![SCOPE_CONTACTS.into(), SCOPE_CONTACTS_READONLY.into()];
    let t = Target::start(cfg).await;
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", SCOPE_CONTACTS_READONLY),
    ];
    let token = str_of(&json(t.token_form(0, &form).await).await, "access_token");
    assert_eq!(t.contacts(&token).await.status(), 200);
    let r = t
        .http
        .post(t.url(CONTACTS))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let challenge = header(&r, "www-authenticate");
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"external-contacts\"")
    );
    assert_eq!(json(r).await["error"], "insufficient_scope");
    assert_eq!(t.server.truth().total.contacts.forbidden, 1);
}

#[tokio::test]
async fn platform_style_error_bodies() {
    let mut cfg = config(1, Duration::from_secs(30));
    cfg.error_style = ErrorStyle::Platform;
    let t = Target::start(cfg).await;
    let r = t.contacts("garbage").await;
    assert_eq!(r.status(), 401);
    assert!(
        header(&r, "www-authenticate").contains("error=\"invalid_token\""),
        "the RFC header stays"
    );
    let correlation = header(&r, "inin-correlation-id");
    let body = json(r).await;
    assert_eq!(body["code"], "bad.credentials");
    assert_eq!(body["status"], 401);
    assert_eq!(body["contextId"], correlation.as_str());
    assert!(body["message"].is_string() && body["details"].is_array() && body["errors"].is_array());

    let body = json(t.refresh(0, "rt-unknown").await).await;
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["description"], body["error_description"]);
}
