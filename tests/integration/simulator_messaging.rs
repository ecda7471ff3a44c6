//! The embedded target's web-messaging socket, spoken to in raw WebSocket: every client frame, every
//! answer and error of docs/messaging.md, and the truth counting exactly what the test saw.

use super::simulator_messaging_support::*;
use super::simulator_support::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokenstorm::simulator::{ClockControl, Latency, MessagingCounts};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn guest_sessions_start_new_and_resume_on_reconnect() {
    let t = Target::start(config(1, Duration::from_secs(60))).await;
    let mut ws = connect(&t, "client0").await;
    send(&mut ws, guest("client0", "s-1", "t-1")).await;
    let answer = recv(&mut ws).await;
    assert_eq!(
        (&answer["type"], &answer["class"], &answer["tracingId"]),
        (&json!("response"), &json!("SessionResponse"), &json!("t-1"))
    );
    let body = &answer["body"];
    assert_eq!(
        (&body["connected"], &body["newSession"], &body["readOnly"]),
        (&json!(true), &json!(true), &json!(false))
    );
    assert_eq!(body["durationSeconds"], 72 * 3600);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expires = body["expirationDate"].as_u64().unwrap();
    // 72 h from the configure, read on the same wall clock within the test's few seconds.
    assert!(expires.abs_diff(now + 72 * 3600) <= 5, "{expires} vs {now}");
    ws.close(None).await.unwrap();
    drain(&mut ws).await;

    let mut again = connect(&t, "client0").await;
    assert!(!configure(&mut again, "client0", "s-1").await, "resumed");
    assert!(configure(&mut connect(&t, "client0").await, "client0", "s-2").await);
    let m = t.server.truth().per_org["org0"].messaging.clone();
    assert_eq!(
        (m.sockets_opened, m.sessions_new, m.sessions_resumed),
        (3, 2, 1)
    );
}

#[tokio::test]
async fn authenticated_sessions_check_the_exchanged_jwt() {
    let mut cfg = config(2, Duration::from_secs(60));
    let clock = ClockControl::default();
    cfg.clock = clock.clone();
    let t = Target::start(cfg).await;
    let (jwt, refresh) = exchange(&t, "client0").await;
    let (other, _) = exchange(&t, "client1").await;
    let mut ws = connect(&t, "client0").await;
    send(&mut ws, authenticated("client0", "a-1", "t-other", &other)).await;
    let forbidden = error_of(&recv(&mut ws).await, "t-other");
    assert_eq!(forbidden, (403, "Session authentication failed".into()));
    send(
        &mut ws,
        authenticated("client0", "a-1", "t-forged", "a.b.c"),
    )
    .await;
    assert_eq!(error_of(&recv(&mut ws).await, "t-forged").0, 403);

    send(&mut ws, authenticated("client0", "a-1", "t-ok", &jwt)).await;
    let ok = recv(&mut ws).await;
    assert_eq!(
        (&ok["class"], &ok["tracingId"]),
        (&json!("SessionResponse"), &json!("t-ok"))
    );
    // Past the JWT's 60 s: any frame is 401, and so is configuring again with it.
    clock.advance(Duration::from_secs(61));
    send(&mut ws, on_message("a-1", "t-late", "hi")).await;
    let late = error_of(&recv(&mut ws).await, "t-late");
    assert_eq!(late, (401, "User is unauthorized".into()));
    send(&mut ws, authenticated("client0", "a-1", "t-again", &jwt)).await;
    assert_eq!(error_of(&recv(&mut ws).await, "t-again").0, 401);
    // The client refreshes over REST and configures again: the same session resumes.
    let fresh = refreshed(&t, "client0", &refresh).await;
    send(&mut ws, authenticated("client0", "a-1", "t-fresh", &fresh)).await;
    let resumed = recv(&mut ws).await;
    assert_eq!(resumed["body"]["newSession"], false, "{resumed}");
    send(&mut ws, on_message("a-1", "t-msg", "hi")).await;
    assert_eq!(recv(&mut ws).await["class"], "StructuredMessage");

    let m = t.server.truth().total.messaging;
    assert_eq!((m.socket_forbidden, m.socket_unauthorized), (2, 2));
    assert_eq!(
        (m.sessions_new, m.sessions_resumed, m.messages_answered),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn get_jwt_gives_a_jwt_the_contacts_api_takes() {
    let t = Target::start(config(1, Duration::from_secs(60))).await;
    let mut ws = connect(&t, "client0").await;
    send(
        &mut ws,
        json!({"action": "getJwt", "token": "g", "tracingId": "early"}),
    )
    .await;
    let early = error_of(&recv(&mut ws).await, "early");
    assert_eq!(early, (400, "Session not configured".into()));
    configure(&mut ws, "client0", "g").await;
    send(
        &mut ws,
        json!({"action": "getJwt", "token": "g", "tracingId": "j"}),
    )
    .await;
    let answer = recv(&mut ws).await;
    assert_eq!(
        (&answer["class"], &answer["tracingId"]),
        (&json!("JwtResponse"), &json!("j"))
    );
    let jwt = str_of(&answer["body"], "jwt");
    let exp = answer["body"]["exp"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        exp.abs_diff(now + 60) <= 5,
        "the client's 60 s lifetime: {exp} vs {now}"
    );
    assert_eq!(t.contacts(&jwt).await.status(), 200);
    let truth = t.server.truth().total;
    assert_eq!(truth.messaging.jwts_issued, 1);
    assert_eq!(truth.messaging.socket_bad_request, 1);
    assert_eq!(
        truth.token.ok, 0,
        "a socket JWT is not a token-endpoint answer"
    );
}

#[tokio::test]
async fn messages_and_echoes_are_answered_and_checked() {
    let t = Target::start(config(1, Duration::from_secs(60))).await;
    let mut ws = connect(&t, "client0").await;
    configure(&mut ws, "client0", "m").await;
    let attrs = json!({"action": "onMessage", "token": "m", "tracingId": "attrs", "message":
        {"type": "Text", "text": "hi", "channel": {"metadata": {"customAttributes": {"k": "v"}}}}});
    send(&mut ws, attrs).await;
    let answer = recv(&mut ws).await;
    assert_eq!(
        (&answer["class"], &answer["tracingId"]),
        (&json!("StructuredMessage"), &json!("attrs"))
    );
    let body = &answer["body"];
    assert_eq!(
        (&body["type"], &body["text"], &body["direction"]),
        (&json!("Text"), &json!("hi"), &json!("Inbound"))
    );
    assert_eq!(str_of(body, "id").len(), 36, "a UUID");
    let echo = json!({"action": "echo", "token": "m", "tracingId": "e", "message": {"type": "Text", "text": "ping"}});
    send(&mut ws, echo).await;
    let echoed = recv(&mut ws).await;
    assert_eq!(
        (&echoed["class"], &echoed["body"]["text"]),
        (&json!("StructuredMessage"), &json!("ping"))
    );
    assert!(echoed["body"].get("id").is_none());

    send(&mut ws, on_message("m", "long", &"x".repeat(4097))).await;
    assert_eq!(
        error_of(&recv(&mut ws).await, "long"),
        (4011, "Message is too long".into())
    );
    send(&mut ws, on_message("m", "fits", &"x".repeat(4096))).await;
    assert_eq!(recv(&mut ws).await["class"], "StructuredMessage");
    let big = json!({"action": "onMessage", "token": "m", "tracingId": "big", "message":
        {"type": "Text", "text": "hi", "channel": {"metadata": {"customAttributes": {"k": "v".repeat(2048)}}}}});
    send(&mut ws, big).await;
    assert_eq!(
        error_of(&recv(&mut ws).await, "big"),
        (4013, "Custom attributes are too large".into())
    );
    send(&mut ws, on_message("not-m", "who", "hi")).await;
    assert_eq!(
        error_of(&recv(&mut ws).await, "who"),
        (403, "Session authentication failed".into())
    );
    for (frame, tracing) in [
        (json!({"action": "dance", "tracingId": "d"}), "d"),
        (json!({"tracingId": "n"}), "n"),
    ] {
        send(&mut ws, frame).await;
        assert_eq!(
            error_of(&recv(&mut ws).await, tracing),
            (400, "Invalid frame".into())
        );
    }
    ws.send(Message::text("not json")).await.unwrap();
    assert_eq!(recv(&mut ws).await["body"], "Invalid frame");
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(recv(&mut ws).await["body"], "Invalid frame");

    let m = t.server.truth().per_org["org0"].messaging.clone();
    let expected = MessagingCounts {
        sockets_opened: 1,
        sessions_new: 1,
        messages_answered: 2,
        echoes_answered: 1,
        socket_forbidden: 1,
        socket_bad_request: 4,
        socket_too_large: 2,
        sockets_open: 1,
        ..MessagingCounts::default()
    };
    assert_eq!(m, expected);
}

#[tokio::test]
async fn reply_latency_lets_answers_overtake_each_other() {
    let mut cfg = config(1, Duration::from_secs(60));
    cfg.seed = 7;
    cfg.messaging.faults.reply_latency = Latency::LogNormal {
        p50: Duration::from_millis(30),
        p99: Duration::from_millis(300),
    };
    let t = Target::start(cfg).await;
    let mut ws = connect(&t, "client0").await;
    configure(&mut ws, "client0", "r").await;
    let sent: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
    for tracing in &sent {
        send(&mut ws, on_message("r", tracing, tracing)).await;
    }
    let mut seen = Vec::new();
    for _ in &sent {
        let answer = recv(&mut ws).await;
        assert_eq!(
            answer["body"]["text"], answer["tracingId"],
            "matched by tracing id"
        );
        seen.push(str_of(&answer, "tracingId"));
    }
    let mut sorted = seen.clone();
    sorted.sort_by_key(|t| t[1..].parse::<u32>().unwrap());
    assert_eq!(sorted, sent, "every message answered once");
    // Seed 7 draws delays tens of milliseconds apart for frames sent microseconds apart: some
    // later frame's answer comes first.
    assert_ne!(seen, sent, "answers overtake each other");
    assert_eq!(t.server.truth().total.messaging.messages_answered, 20);
}

#[tokio::test]
async fn close_session_ends_the_session_and_with_all_its_sockets() {
    let t = Target::start(config(1, Duration::from_secs(60))).await;
    let mut ws = connect(&t, "client0").await;
    configure(&mut ws, "client0", "c").await;
    let close = json!({"action": "closeSession", "token": "c", "tracingId": "bye", "closeAllConnections": false});
    send(&mut ws, close).await;
    let event = recv(&mut ws).await;
    assert_eq!(
        (&event["type"], &event["class"], &event["code"]),
        (
            &json!("message"),
            &json!("ConnectionClosedEvent"),
            &json!(200)
        )
    );
    assert_eq!(event["body"]["reason"], "closeSession");
    assert_eq!(ended(&mut ws).await, Some(1000));

    // Two sockets of one session; closing all connections closes the other one too.
    let (mut a, mut b) = (connect(&t, "client0").await, connect(&t, "client0").await);
    assert!(
        configure(&mut a, "client0", "c").await,
        "a closed session is over"
    );
    assert!(!configure(&mut b, "client0", "c").await);
    send(
        &mut a,
        json!({"action": "closeSession", "token": "c", "closeAllConnections": true}),
    )
    .await;
    for ws in [&mut a, &mut b] {
        assert_eq!(recv(ws).await["class"], "ConnectionClosedEvent");
        assert_eq!(ended(ws).await, Some(1000));
    }
    let m = t.server.truth().total.messaging;
    assert_eq!(
        (m.sessions_new, m.sessions_resumed, m.sessions_closed),
        (2, 1, 2)
    );
    assert_eq!(m.sockets_open, 0, "counted down before the close went out");
}

#[tokio::test]
async fn a_session_expires_on_the_servers_clock() {
    let mut cfg = config(1, Duration::from_secs(60));
    let clock = ClockControl::default();
    cfg.clock = clock.clone();
    cfg.messaging.session_duration = Duration::from_secs(600);
    let t = Target::start(cfg).await;
    let mut ws = connect(&t, "client0").await;
    configure(&mut ws, "client0", "x").await;
    clock.advance(Duration::from_secs(599));
    send(&mut ws, on_message("x", "still", "hi")).await;
    assert_eq!(recv(&mut ws).await["tracingId"], "still");
    clock.advance(Duration::from_secs(1));
    let event = recv(&mut ws).await;
    assert_eq!(
        (&event["type"], &event["class"], &event["body"]),
        (&json!("message"), &json!("SessionExpiredEvent"), &json!({}))
    );
    assert_eq!(ended(&mut ws).await, Some(1000));
    assert!(
        configure(&mut connect(&t, "client0").await, "client0", "x").await,
        "an expired session is over"
    );
    let m = t.server.truth().total.messaging;
    assert_eq!((m.sessions_expired, m.sessions_new), (1, 2));
}

/// Two sockets of one session: both are told when it expires, and it counts once.
#[tokio::test]
async fn an_expiring_session_tells_every_socket_and_counts_once() {
    let mut cfg = config(1, Duration::from_secs(60));
    let clock = ClockControl::default();
    cfg.clock = clock.clone();
    let t = Target::start(cfg).await;
    let (mut a, mut b) = (connect(&t, "client0").await, connect(&t, "client0").await);
    assert!(configure(&mut a, "client0", "two").await);
    assert!(!configure(&mut b, "client0", "two").await);
    clock.advance(Duration::from_secs(72 * 3600));
    for ws in [&mut a, &mut b] {
        assert_eq!(recv(ws).await["class"], "SessionExpiredEvent");
        assert_eq!(ended(ws).await, Some(1000));
    }
    assert_eq!(t.server.truth().total.messaging.sessions_expired, 1);
}

/// `closeAllConnections: false`: the session is over, and its other socket is no longer configured.
#[tokio::test]
async fn closing_one_connection_leaves_the_others_unconfigured() {
    let t = Target::start(config(1, Duration::from_secs(60))).await;
    let (mut a, mut b) = (connect(&t, "client0").await, connect(&t, "client0").await);
    configure(&mut a, "client0", "one").await;
    configure(&mut b, "client0", "one").await;
    send(
        &mut a,
        json!({"action": "closeSession", "token": "one", "tracingId": "c"}),
    )
    .await;
    assert_eq!(recv(&mut a).await["class"], "ConnectionClosedEvent");
    assert_eq!(ended(&mut a).await, Some(1000));
    send(&mut b, on_message("one", "after", "hi")).await;
    let answer = error_of(&recv(&mut b).await, "after");
    assert_eq!(answer, (400, "Session not configured".into()));
    assert!(configure(&mut b, "client0", "one").await, "a new session");
    let m = t.server.truth().total.messaging;
    assert_eq!(
        (m.sessions_closed, m.sessions_new, m.sockets_open),
        (1, 2, 1)
    );
}

#[tokio::test]
async fn an_unknown_deployment_is_told_on_the_socket() {
    let mut cfg = config(2, Duration::from_secs(60));
    cfg.orgs[1].clients[0].disabled_at = Some(Duration::ZERO);
    let t = Target::start(cfg).await;
    for deployment in ["nobody", "client1"] {
        let mut ws = connect(&t, deployment).await;
        send(&mut ws, guest(deployment, "u", "who")).await;
        let answer = error_of(&recv(&mut ws).await, "who");
        assert_eq!(answer, (400, "Deployment not found".into()), "{deployment}");
        assert_eq!(ended(&mut ws).await, Some(1000));
    }
    // A configure naming another deployment than the socket's URL is not found either.
    let mut ws = connect(&t, "client0").await;
    send(&mut ws, guest("client9", "u", "other")).await;
    let answer = error_of(&recv(&mut ws).await, "other");
    assert_eq!(answer.1, "Deployment not found");
    assert_eq!(ended(&mut ws).await, Some(1000));
    let truth = t.server.truth();
    assert_eq!(truth.total.messaging.socket_bad_request, 3);
    assert_eq!(truth.total.messaging.sockets_opened, 3);
    let opened = |org: &str| truth.per_org[org].messaging.sockets_opened;
    // The unknown deployment has no org; the disabled one has.
    assert_eq!((opened("org0"), opened("org1")), (1, 1));
}

#[tokio::test]
async fn pings_get_pongs_and_frames_over_64_kib_get_1009() {
    let t = Target::start(config(1, Duration::from_secs(60))).await;
    let mut ws = connect(&t, "client0").await;
    ws.send(Message::Ping(b"hb".to_vec().into())).await.unwrap();
    let pong = ws.next().await.unwrap().unwrap();
    assert_eq!(pong, Message::Pong(b"hb".to_vec().into()));
    send(
        &mut ws,
        on_message("m", "x".repeat(64 * 1024).as_str(), "hi"),
    )
    .await;
    assert_eq!(ended(&mut ws).await, Some(1009));
    let m = t.server.truth().total.messaging;
    assert_eq!((m.socket_too_large, m.sockets_open), (1, 0));
}
