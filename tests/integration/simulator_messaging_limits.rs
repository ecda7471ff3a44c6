//! The messaging socket's limits and faults: 4029 per deployment, origins and capacity at the upgrade,
//! the drop-all fault with its refusal window, and a stopping server closing its sockets.

use super::simulator_messaging_support::*;
use super::simulator_support::*;
use std::time::Duration;
use tokenstorm::simulator::ClockControl;
use tokio_tungstenite::tungstenite::http::StatusCode;

#[tokio::test]
async fn the_message_rate_is_limited_per_deployment_with_4029() {
    let mut cfg = config(2, Duration::from_secs(60));
    let clock = ClockControl::default();
    cfg.clock = clock.clone();
    // One message per 100 s, a bucket of one: the five frames below go out in far less than the
    // 100 s a refill takes, so exactly one is answered.
    cfg.messaging.messages_per_second = Some(0.01);
    cfg.messaging.retry_after = Duration::from_secs(7);
    let t = Target::start(cfg).await;
    let mut ws = connect(&t, "client0").await;
    configure(&mut ws, "client0", "r").await;
    let mut answered = 0;
    for i in 0..5 {
        let tracing = format!("b{i}");
        send(&mut ws, on_message("r", &tracing, "hi")).await;
        let answer = recv(&mut ws).await;
        if answer["class"] == "StructuredMessage" {
            answered += 1;
            continue;
        }
        assert_eq!(error_of(&answer, &tracing).0, 4029);
        assert_eq!(
            (&answer["code"], &answer["body"]["retryAfter"]),
            (&429.into(), &7.into())
        );
        assert_eq!(answer["body"]["errorMessage"], "Message rate too high");
    }
    assert_eq!(answered, 1);
    // Another deployment has a bucket of its own.
    let mut other = connect(&t, "client1").await;
    configure(&mut other, "client1", "o").await;
    send(&mut other, on_message("o", "own", "hi")).await;
    assert_eq!(recv(&mut other).await["class"], "StructuredMessage");
    clock.advance(Duration::from_secs(100));
    send(&mut ws, on_message("r", "later", "hi")).await;
    assert_eq!(recv(&mut ws).await["class"], "StructuredMessage");
    let truth = t.server.truth();
    let m = &truth.per_org["org0"].messaging;
    assert_eq!((m.messages_answered, m.socket_rate_limited), (2, 4));
    assert_eq!(truth.total.messaging.messages_answered, 3);
}

#[tokio::test]
async fn origins_off_the_list_are_refused_at_the_upgrade() {
    let mut cfg = config(1, Duration::from_secs(60));
    cfg.messaging.allowed_origins = vec!["https://shop.example".into()];
    let t = Target::start(cfg).await;
    for origin in [Some("https://evil.example"), None] {
        let refused = try_connect(&t, "client0", origin).await.err();
        assert_eq!(
            refused.map(|r| r.0),
            Some(StatusCode::FORBIDDEN),
            "{origin:?}"
        );
    }
    let mut ws = try_connect(&t, "client0", Some("https://shop.example"))
        .await
        .expect("a listed origin");
    assert!(configure(&mut ws, "client0", "o").await);
    let m = t.server.truth().per_org["org0"].messaging.clone();
    assert_eq!((m.sockets_refused_origin, m.sockets_opened), (2, 1));
}

#[tokio::test]
async fn a_full_deployment_refuses_upgrades_with_429() {
    let mut cfg = config(1, Duration::from_secs(60));
    cfg.messaging.max_sockets_per_deployment = Some(2);
    let t = Target::start(cfg).await;
    let mut first = connect(&t, "client0").await;
    let _second = connect(&t, "client0").await;
    let refused = try_connect(&t, "client0", None).await.err();
    assert_eq!(refused, Some((StatusCode::TOO_MANY_REQUESTS, "3".into())));
    // A socket closed by its client gives its place back once the close handshake is through.
    futures_util::SinkExt::close(&mut first).await.unwrap();
    drain(&mut first).await;
    let _third = connect(&t, "client0").await;
    let m = t.server.truth().total.messaging;
    assert_eq!(
        (m.sockets_refused_capacity, m.sockets_opened, m.sockets_open),
        (1, 3, 2)
    );
}

#[tokio::test]
async fn drop_all_drops_every_open_socket_then_refuses_for_a_while() {
    let mut cfg = config(2, Duration::from_secs(60));
    let clock = ClockControl::default();
    cfg.clock = clock.clone();
    cfg.messaging.faults.drop_all_at = vec![Duration::from_secs(20)];
    cfg.messaging.faults.refuse_for = Duration::from_secs(5);
    let t = Target::start(cfg).await;
    let mut sockets = Vec::new();
    for (i, deployment) in ["client0", "client0", "client1"].into_iter().enumerate() {
        let mut ws = connect(&t, deployment).await;
        configure(&mut ws, deployment, &format!("d{i}")).await;
        sockets.push(ws);
    }
    assert_eq!(t.server.truth().total.messaging.sockets_open, 3);
    clock.advance(Duration::from_secs(20));
    for ws in &mut sockets {
        assert_eq!(ended(ws).await, None, "dropped without a close frame");
    }
    let m = t.server.truth().total.messaging;
    assert_eq!((m.sockets_dropped, m.sockets_open), (3, 0));
    // 20 s + 5 s of refusals; then a reconnect resumes its session.
    clock.advance(Duration::from_secs(4));
    let refused = try_connect(&t, "client0", None).await.err();
    assert_eq!(refused, Some((StatusCode::SERVICE_UNAVAILABLE, "1".into())));
    clock.advance(Duration::from_secs(1));
    let mut back = connect(&t, "client0").await;
    assert!(
        !configure(&mut back, "client0", "d0").await,
        "the session outlived its socket"
    );
    let truth = t.server.truth();
    assert_eq!(truth.total.messaging.sockets_refused_outage, 1);
    assert_eq!(truth.per_org["org0"].messaging.sockets_dropped, 2);
    assert_eq!(truth.per_org["org1"].messaging.sockets_dropped, 1);
}

#[tokio::test]
async fn a_stopping_server_closes_its_sockets_with_1001() {
    let t = Target::start(config(1, Duration::from_secs(60))).await;
    let mut ws = connect(&t, "client0").await;
    configure(&mut ws, "client0", "s").await;
    let truth = t.server.truth_handle();
    t.server.stop().await;
    assert_eq!(ended(&mut ws).await, Some(1001));
    assert_eq!(truth.snapshot().total.messaging.sockets_open, 0);
}
