//! Refresh-token policies of the embedded target: strict rotation with family revocation, the grace window.

use super::simulator_support::*;
use std::time::Duration;
use tokenstorm::simulator::RefreshPolicy;

async fn refresh_ok(t: &Target, refresh_token: &str) -> (String, String) {
    let r = t.refresh(0, refresh_token).await;
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    (
        str_of(&body, "access_token"),
        str_of(&body, "refresh_token"),
    )
}

#[tokio::test]
async fn strict_rotation_reuse_revokes_the_whole_family() {
    let mut cfg = config(1, Duration::from_secs(3));
    cfg.refresh_policy = RefreshPolicy::RotateStrict;
    let t = Target::start(cfg).await;
    let (a0, r0) = t.code_tokens(0).await;
    let (a1, r1) = refresh_ok(&t, &r0).await;
    assert_ne!(r0, r1, "each use returns a new refresh token");

    let r = t.refresh(0, &r0).await;
    assert_eq!(r.status(), 400);
    let body = json(r).await;
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        str_of(&body, "error_description").contains("already used"),
        "{body}"
    );

    for access in [&a0, &a1] {
        let r = t.contacts(access).await;
        assert_eq!(r.status(), 401);
        assert!(header(&r, "www-authenticate").contains("revoked"));
    }
    let body = json(t.refresh(0, &r1).await).await;
    assert_eq!(
        body["error"], "invalid_grant",
        "the newest refresh token died with its family"
    );

    let truth = t.server.truth().total;
    assert_eq!(truth.reuse_detected, 1);
    assert_eq!(truth.families_revoked, 1);
    assert_eq!(truth.token.invalid_grant, 2);
    assert_eq!(truth.refreshes, 3);
    assert_eq!(truth.issued.refresh_token, 1);
    assert_eq!(truth.contacts.unauthorized, 2);
}

/// The window passes on the server's clock, moved forward by the test, so "inside" and "after" do not
/// depend on how quickly a loaded machine makes the calls. Tokens outlive the moved clock, so the
/// final 401 is the family's revocation, not an expiry.
#[tokio::test]
async fn grace_window_lets_the_previous_token_through_then_detects_reuse() {
    let mut cfg = config(1, Duration::from_secs(3600));
    cfg.refresh_policy = RefreshPolicy::RotateGrace(Duration::from_secs(60));
    let clock = cfg.clock.clone();
    let t = Target::start(cfg).await;
    let (_, r0) = t.code_tokens(0).await;
    let (_, r1) = refresh_ok(&t, &r0).await;
    let (a2, r2) = refresh_ok(&t, &r0).await;
    assert_ne!(
        r1, r2,
        "a retry inside the window gets its own new refresh token"
    );
    assert_eq!(t.server.truth().total.families_revoked, 0);

    assert_eq!(
        t.contacts(&a2).await.status(),
        200,
        "alive before the reuse"
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        json(t.refresh(0, &r0).await).await["error"],
        "invalid_grant"
    );
    assert_eq!(t.contacts(&a2).await.status(), 401);
    let truth = t.server.truth().total;
    assert_eq!((truth.reuse_detected, truth.families_revoked), (1, 1));
}

#[tokio::test]
async fn policy_none_keeps_one_refresh_token_and_separate_families_stay_apart() {
    let t = Target::start(config(1, Duration::from_secs(3))).await;
    let (_, r0) = t.code_tokens(0).await;
    let (_, other) = t.code_tokens(0).await;
    for _ in 0..3 {
        assert_eq!(refresh_ok(&t, &r0).await.1, r0);
    }
    assert_eq!(refresh_ok(&t, &other).await.1, other);
    assert_eq!(t.server.truth().total.reuse_detected, 0);
}
