//! Injected faults of the embedded target: seeded 5xx and resets that repeat, latency holding capacity, stalls.

use super::simulator_support::*;
use std::time::Duration;
use tokenstorm::simulator::{Capacity, Faults, Latency, TruthSnapshot};

/// The outcome of each of `n` sequential contacts requests: the status code, or 0 when the connection was
/// closed without a response.
async fn outcomes(seed: u64, n: usize) -> (Vec<u16>, TruthSnapshot) {
    let mut cfg = config(1, Duration::from_secs(30));
    cfg.seed = seed;
    cfg.per_token_rate = None;
    cfg.contacts_faults = Faults {
        error_rate: 0.3,
        reset_rate: 0.2,
        ..Faults::default()
    };
    let t = Target::start(cfg).await;
    let token = t.access_token(0).await;
    let mut seen = Vec::new();
    for _ in 0..n {
        let status = match t.http.get(t.url(CONTACTS)).bearer_auth(&token).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                if r.bytes().await.is_ok() {
                    status
                } else {
                    0
                }
            }
            Err(_) => 0,
        };
        seen.push(status);
    }
    (seen, t.server.truth())
}

#[tokio::test]
async fn seeded_faults_repeat_exactly_and_are_counted() {
    let (first, truth) = outcomes(11, 40).await;
    let (again, _) = outcomes(11, 40).await;
    let (other, _) = outcomes(12, 40).await;
    assert_eq!(first, again, "same seed, same faults");
    assert_ne!(first, other, "another seed, other faults");
    let count = |code: u16| first.iter().filter(|&&s| s == code).count() as u64;
    let c = &truth.total.contacts;
    assert!(count(0) > 0 && c.server_error > 0, "{first:?}");
    assert_eq!(c.reset, count(0));
    assert_eq!(c.server_error, count(500) + count(503));
    assert_eq!(c.ok, count(200));
}

#[tokio::test]
async fn a_reset_closes_the_connection_without_any_response() {
    let mut cfg = config(1, Duration::from_secs(30));
    cfg.token_faults = Faults {
        reset_rate: 1.0,
        ..Faults::default()
    };
    let t = Target::start(cfg).await;
    let form = [("grant_type", "client_credentials")];
    let sent = t
        .http
        .post(t.url("/oauth/token"))
        .basic_auth("client0", Some("secret0"))
        .form(&form)
        .send()
        .await;
    let err = sent.expect_err("no response at all");
    assert!(!err.is_timeout() && !err.is_status(), "{err:?}");
    let truth = t.server.truth().total;
    assert_eq!(
        (
            truth.token.reset,
            truth.token.ok,
            truth.issued.client_credentials
        ),
        (1, 0, 0)
    );
}

#[tokio::test]
async fn latency_holds_token_capacity_so_concurrent_requests_get_429() {
    let mut cfg = config(1, Duration::from_secs(30));
    cfg.token_faults = Faults {
        latency: Latency::Fixed(Duration::from_millis(500)),
        ..Faults::default()
    };
    cfg.token_capacity = Capacity {
        per_second: None,
        concurrent: Some(1),
    };
    let t = Target::start(cfg).await;
    let form = [("grant_type", "client_credentials")];
    let (a, b) = tokio::join!(t.token_form(0, &form), t.token_form(0, &form));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 429]);
    let truth = t.server.truth().total.token;
    assert_eq!((truth.ok, truth.rate_limited), (1, 1));
}

#[tokio::test]
async fn a_stall_outlasts_the_client_timeout() {
    let mut cfg = config(1, Duration::from_secs(30));
    cfg.contacts_faults = Faults {
        stall_rate: 1.0,
        stall: Duration::from_secs(20),
        ..Faults::default()
    };
    let t = Target::start(cfg).await;
    let token = t.access_token(0).await;
    let sent = t
        .http
        .get(t.url(CONTACTS))
        .bearer_auth(&token)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(sent.expect_err("stalled").is_timeout());
    t.server.stop().await;
}

#[tokio::test]
async fn server_errors_use_the_error_style() {
    let mut cfg = config(1, Duration::from_secs(30));
    cfg.token_faults = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    let t = Target::start(cfg).await;
    let r = t
        .token_form(0, &[("grant_type", "client_credentials")])
        .await;
    assert!(r.status() == 500 || r.status() == 503);
    let error = json(r).await["error"].as_str().unwrap().to_string();
    assert!(
        error == "server_error" || error == "temporarily_unavailable",
        "{error}"
    );
    assert_eq!(t.server.truth().total.token.server_error, 1);
}
