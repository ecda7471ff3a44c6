//! Rate limits of the embedded target: per access token on the API, capacity on the token endpoint.

use super::simulator_support::*;
use std::time::Duration;
use tokenstorm::simulator::Capacity;

#[tokio::test]
async fn the_per_token_limit_answers_429_with_retry_after_and_the_platform_body() {
    let mut cfg = config(1, Duration::from_secs(30));
    cfg.per_token_rate = Some(3.0 / 60.0);
    let t = Target::start(cfg).await;
    let token = t.access_token(0).await;
    for count in 1..=3 {
        let r = t.contacts(&token).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "inin-ratelimit-allowed"), "3");
        assert_eq!(header(&r, "inin-ratelimit-count"), count.to_string());
    }
    let r = t.contacts(&token).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    let correlation = header(&r, "inin-correlation-id");
    let body = json(r).await;
    assert_eq!(body["code"], "too.many.requests.retry.after");
    assert_eq!(body["status"], 429);
    assert_eq!(body["contextId"], correlation.as_str());
    let fresh = t.access_token(0).await;
    assert_eq!(
        t.contacts(&fresh).await.status(),
        200,
        "the limit is per token"
    );
    let truth = t.server.truth().per_org["org0"].contacts.clone();
    assert_eq!((truth.ok, truth.rate_limited), (4, 1));
}

#[tokio::test]
async fn the_token_endpoint_capacity_answers_429() {
    let mut cfg = config(1, Duration::from_secs(30));
    cfg.token_capacity = Capacity {
        per_second: Some(2.0),
        concurrent: None,
    };
    let t = Target::start(cfg).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = t
            .token_form(0, &[("grant_type", "client_credentials")])
            .await;
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert_eq!(header(&r, "retry-after"), "1");
            assert_eq!(json(r).await["code"], "too.many.requests.retry.after");
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    let truth = t.server.truth();
    assert_eq!(truth.per_org["org0"].token.rate_limited, 1);
    assert_eq!(truth.total.token.ok, 2);
}
