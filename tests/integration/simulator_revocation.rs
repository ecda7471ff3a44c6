//! RFC 7009 revocation and RFC 7662 introspection on the embedded target.

use super::simulator_support::*;
use std::time::Duration;

async fn post(t: &Target, path: &str, org: usize, token: &str) -> reqwest::Response {
    let form = [("token", token)];
    let creds = (format!("client{org}"), format!("secret{org}"));
    t.http
        .post(t.url(path))
        .basic_auth(creds.0, Some(creds.1))
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn introspection_tells_live_tokens_from_dead_ones() {
    let t = Target::start(config(2, Duration::from_secs(30))).await;
    let (access, refresh) = t.code_tokens(0).await;
    let body = json(post(&t, "/oauth/introspect", 0, &access).await).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], "client0");
    assert_eq!(body["org"], "org0");
    assert_eq!(body["scope"], "external-contacts");
    assert!(body["exp"].as_u64().unwrap() > body["iat"].as_u64().unwrap());
    let body = json(post(&t, "/oauth/introspect", 0, &refresh).await).await;
    assert_eq!(
        (body["active"].as_bool(), body["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );
    for (org, token) in [(1, access.as_str()), (0, "nonsense")] {
        let body = json(post(&t, "/oauth/introspect", org, token).await).await;
        assert_eq!(
            body,
            serde_json::json!({"active": false}),
            "another org sees nothing"
        );
    }
    let r = t
        .http
        .post(t.url("/oauth/introspect"))
        .form(&[("token", &access)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_its_family_and_unknown_tokens_still_get_200() {
    let t = Target::start(config(2, Duration::from_secs(30))).await;
    let (access, refresh) = t.code_tokens(0).await;
    let other = t.access_token(0).await;
    assert_eq!(
        post(&t, "/oauth/revoke", 1, &refresh).await.status(),
        200,
        "another client's token: no-op"
    );
    assert_eq!(t.contacts(&access).await.status(), 200);
    assert_eq!(post(&t, "/oauth/revoke", 0, &refresh).await.status(), 200);
    assert_eq!(t.contacts(&access).await.status(), 401);
    assert_eq!(
        json(t.refresh(0, &refresh).await).await["error"],
        "invalid_grant"
    );
    assert_eq!(
        post(&t, "/oauth/revoke", 0, "never-issued").await.status(),
        200
    );
    assert_eq!(post(&t, "/oauth/revoke", 0, &other).await.status(), 200);
    assert_eq!(t.contacts(&other).await.status(), 401);
    let body = json(post(&t, "/oauth/introspect", 0, &other).await).await;
    assert_eq!(body["active"], false);
    let truth = t.server.truth().total;
    assert_eq!(
        (
            truth.families_revoked,
            truth.tokens_revoked,
            truth.revocations
        ),
        (1, 1, 4)
    );
}
