//! The embedded target's contacts API: bearer validation at the expiry edge, tenancy, pages.

use super::simulator_support::*;
use std::time::Duration;
use tokenstorm::simulator::{ClockOffset, Config};

#[tokio::test]
async fn a_valid_token_gets_a_page_with_platform_headers() {
    let t = Target::start(config(1, Duration::from_secs(3))).await;
    let token = t.access_token(0).await;
    let r = t.contacts(&token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "inin-ratelimit-allowed"), "300");
    assert_eq!(header(&r, "inin-ratelimit-count"), "1");
    assert!(!header(&r, "inin-correlation-id").is_empty());
    let body = json(r).await;
    assert_eq!(body["entities"].as_array().unwrap().len(), 25);
    assert_eq!(body["total"], 100);
    let r = t
        .http
        .get(t.url(&format!("{CONTACTS}?pageSize=3&pageNumber=2&q=contact")))
        .bearer_auth(&token);
    let body = json(r.send().await.unwrap()).await;
    assert_eq!(body["entities"][0]["lastName"], "3");
    assert_eq!(t.server.truth().per_org["org0"].contacts.ok, 2);
}

#[tokio::test]
async fn missing_token_gets_401_without_error_code() {
    let t = Target::start(config(1, Duration::from_secs(3))).await;
    let r = t.http.get(t.url(CONTACTS)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        header(&r, "www-authenticate"),
        "Bearer realm=\"tokenstorm\""
    );
    let r = t.contacts("not-a-jwt").await;
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").contains("error=\"invalid_token\""));
    assert_eq!(json(r).await["error"], "invalid_token");
    assert_eq!(t.server.truth().total.contacts.unauthorized, 2);
}

#[tokio::test]
async fn token_of_another_server_is_refused() {
    let a = Target::start(config(1, Duration::from_secs(3))).await;
    let mut other = config(1, Duration::from_secs(3));
    other.seed = 99;
    let b = Target::start(other).await;
    let token = b.access_token(0).await;
    assert_eq!(a.contacts(&token).await.status(), 401);
}

/// Polls until the token is refused, then checks the refusal's shape; the edge itself is checked by truth.
async fn wait_for_401(t: &Target, token: &str) -> reqwest::Response {
    for _ in 0..100 {
        let r = t.contacts(token).await;
        if r.status() != 200 {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the token never expired");
}

#[tokio::test]
async fn an_expired_token_gets_401_invalid_token() {
    let t = Target::start(config(1, Duration::from_secs(1))).await;
    let token = t.access_token(0).await;
    assert_eq!(t.contacts(&token).await.status(), 200);
    let r = wait_for_401(&t, &token).await;
    assert_eq!(r.status(), 401);
    let challenge = header(&r, "www-authenticate");
    assert!(
        challenge.starts_with("Bearer realm=\"tokenstorm\", error=\"invalid_token\""),
        "{challenge}"
    );
    assert!(challenge.contains("expired"), "{challenge}");
    assert_eq!(json(r).await["error"], "invalid_token");
}

/// Requests sent right after issue and after sleeping past the TTL, for a given server setup.
async fn before_and_after_ttl(config: Config) -> (u16, u16) {
    let t = Target::start(config).await;
    let token = t.access_token(0).await;
    let before = t.contacts(&token).await.status().as_u16();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let after = t.contacts(&token).await.status().as_u16();
    (before, after)
}

#[tokio::test]
async fn leeway_and_clock_offset_move_the_401_edge() {
    let plain = config(1, Duration::from_secs(1));
    assert_eq!(before_and_after_ttl(plain.clone()).await, (200, 401));

    let mut lenient = plain.clone();
    lenient.leeway = Duration::from_secs(5);
    assert_eq!(before_and_after_ttl(lenient).await, (200, 200));

    let mut behind = plain.clone();
    behind.clock_offset = ClockOffset::behind(Duration::from_secs(5));
    assert_eq!(before_and_after_ttl(behind).await, (200, 200));

    let mut ahead = plain;
    ahead.token_ttl = Duration::from_secs(3);
    ahead.clock_offset = ClockOffset::ahead(Duration::from_secs(5));
    assert_eq!(
        before_and_after_ttl(ahead).await,
        (401, 401),
        "API clock 5 s ahead kills a 3 s token"
    );
}

#[tokio::test]
async fn tenants_do_not_see_each_others_contacts() {
    let t = Target::start(config(2, Duration::from_secs(3))).await;
    let token0 = t.access_token(0).await;
    let token1 = t.access_token(1).await;
    let page = json(t.contacts(&token0).await).await;
    let id = page["entities"][0]["id"].as_str().unwrap().to_string();
    let own = t
        .http
        .get(t.url(&format!("{CONTACTS}/{id}")))
        .bearer_auth(&token0)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(json(own).await["id"], id.as_str());
    let other = t
        .http
        .get(t.url(&format!("{CONTACTS}/{id}")))
        .bearer_auth(&token1)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    assert_eq!(t.server.truth().per_org["org1"].contacts.client_error, 1);
}

#[tokio::test]
async fn contacts_can_be_created_and_bad_requests_get_400() {
    let t = Target::start(config(1, Duration::from_secs(3))).await;
    let token = t.access_token(0).await;
    let body = serde_json::json!({"firstName": "Ada", "lastName": "Lovelace"});
    let r = t
        .http
        .post(t.url(CONTACTS))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let created = json(r).await;
    assert_eq!(created["lastName"], "Lovelace");
    let id = str_of(&created, "id");
    let r = t
        .http
        .get(t.url(&format!("{CONTACTS}/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = t
        .http
        .post(t.url(CONTACTS))
        .bearer_auth(&token)
        .body("[1,")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = t
        .http
        .get(t.url(&format!("{CONTACTS}?pageSize=1000")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "invalid_request");
}
