//! The web-messaging token routes of the embedded target: JSON exchange, unrotated refresh, revoke.

use super::simulator_support::*;
use serde_json::json;
use std::time::Duration;
use tokenstorm::simulator::RefreshPolicy;

const WD: &str = "/api/v2/webdeployments/token";

#[tokio::test]
async fn exchange_refresh_and_revoke() {
    let mut cfg = config(1, Duration::from_secs(3));
    cfg.refresh_policy = RefreshPolicy::RotateStrict;
    let t = Target::start(cfg).await;
    let exchange = json!({"deploymentId": "client0", "oauth": {"code": "sim-abc", "redirectUri": "https://x"}});
    let r = t
        .http
        .post(t.url(&format!("{WD}/oauthcodegrantjwtexchange")))
        .json(&exchange)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    let (jwt, refresh) = (str_of(&body, "jwt"), str_of(&body, "refreshToken"));
    assert_eq!(t.contacts(&jwt).await.status(), 200);

    // Not rotated: the same refresh token works twice even under strict rotation.
    let mut latest = String::new();
    for _ in 0..2 {
        let req = json!({"refreshToken": refresh, "deploymentId": "client0"});
        let r = t
            .http
            .post(t.url(&format!("{WD}/refresh")))
            .json(&req)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body = json(r).await;
        assert!(body.get("refreshToken").is_none(), "{body}");
        latest = str_of(&body, "jwt");
    }
    assert_eq!(t.contacts(&latest).await.status(), 200);

    let r = t
        .http
        .delete(t.url(&format!("{WD}/revoke")))
        .bearer_auth(&latest)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        t.contacts(&jwt).await.status(),
        401,
        "the whole family is revoked"
    );
    let req = json!({"refreshToken": refresh, "deploymentId": "client0"});
    let r = t
        .http
        .post(t.url(&format!("{WD}/refresh")))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["error"], "invalid_grant");

    let truth = t.server.truth().total;
    assert_eq!(
        (truth.issued.jwt_exchange, truth.issued.jwt_refresh),
        (1, 2)
    );
    assert_eq!(
        (
            truth.families_revoked,
            truth.revocations,
            truth.reuse_detected
        ),
        (1, 1, 0)
    );
    assert_eq!((truth.token.ok, truth.token.invalid_grant), (3, 1));
}

#[tokio::test]
async fn bad_bodies_codes_and_deployments_are_refused() {
    let t = Target::start(config(1, Duration::from_secs(3))).await;
    let url = t.url(&format!("{WD}/oauthcodegrantjwtexchange"));
    let cases = [
        (
            json!({"deploymentId": "client0", "oauth": {"code": "nope"}}),
            "invalid_grant",
        ),
        (
            json!({"deploymentId": "ghost", "oauth": {"code": "sim-1"}}),
            "invalid_request",
        ),
        (json!({"deploymentId": "client0"}), "invalid_request"),
    ];
    for (body, error) in cases {
        let r = t.http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(json(r).await["error"], error, "{body}");
    }
    let r = t
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let truth = t.server.truth().total.token;
    assert_eq!((truth.invalid_grant, truth.client_error), (1, 3));
}
