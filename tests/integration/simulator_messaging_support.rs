//! Raw WebSocket to the embedded target's messaging endpoint: connect (with an `Origin`), send flat
//! JSON frames, read envelopes, see how a socket ends.

use super::simulator_support::{json, str_of, Target};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A safety net only: a frame that never comes fails the test instead of hanging it.
const NEVER: Duration = Duration::from_secs(20);

pub fn socket_url(t: &Target, deployment: &str) -> String {
    format!("ws://{}/v1?deploymentId={deployment}", t.server.addr())
}

/// A socket, or the HTTP status the upgrade was refused with (and its `Retry-After`).
pub async fn try_connect(
    t: &Target,
    deployment: &str,
    origin: Option<&str>,
) -> Result<Ws, (StatusCode, String)> {
    let mut request = socket_url(t, deployment).into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(response)) => {
            let retry = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            Err((response.status(), retry))
        }
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

pub async fn connect(t: &Target, deployment: &str) -> Ws {
    try_connect(t, deployment, None)
        .await
        .expect("the upgrade is accepted")
}

pub async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

/// The next server frame, parsed (pings and pongs skipped); panics when the socket ends first.
pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(NEVER, ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a readable frame");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// How a socket ended: with a close frame (its code), or dropped without one (`None`).
pub async fn ended(ws: &mut Ws) -> Option<u16> {
    loop {
        let next = tokio::time::timeout(NEVER, ws.next())
            .await
            .expect("the socket ends in time");
        match next {
            Some(Ok(Message::Close(frame))) => {
                return Some(frame.map_or(1005, |f: CloseFrame| u16::from(f.code)))
            }
            Some(Ok(Message::Text(text))) => panic!("a frame before the end: {text}"),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// Reads to the end of a closed socket, so the server has seen the close handshake through.
pub async fn drain(ws: &mut Ws) {
    while let Ok(Some(Ok(_))) = tokio::time::timeout(NEVER, ws.next()).await {}
}

pub fn guest(deployment: &str, token: &str, tracing: &str) -> Value {
    json!({"action": "configureSession", "deploymentId": deployment, "token": token, "tracingId": tracing})
}

pub fn authenticated(deployment: &str, token: &str, tracing: &str, jwt: &str) -> Value {
    json!({"action": "configureAuthenticatedSession", "deploymentId": deployment, "token": token,
           "tracingId": tracing, "data": {"code": jwt}})
}

pub fn on_message(token: &str, tracing: &str, text: &str) -> Value {
    json!({"action": "onMessage", "token": token, "tracingId": tracing,
           "message": {"type": "Text", "text": text}})
}

/// Configures a guest session and checks the answer; `newSession` comes back.
pub async fn configure(ws: &mut Ws, deployment: &str, token: &str) -> bool {
    send(ws, guest(deployment, token, "cfg")).await;
    let answer = recv(ws).await;
    assert_eq!(
        (&answer["class"], &answer["code"]),
        (&json!("SessionResponse"), &json!(200)),
        "{answer}"
    );
    answer["body"]["newSession"].as_bool().unwrap()
}

/// A messenger JWT and refresh token for `deployment` from the REST code exchange.
pub async fn exchange(t: &Target, deployment: &str) -> (String, String) {
    let body = json!({"deploymentId": deployment, "oauth": {"code": "sim-abc"}});
    let url = t.url("/api/v2/webdeployments/token/oauthcodegrantjwtexchange");
    let r = t.http.post(url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    (str_of(&body, "jwt"), str_of(&body, "refreshToken"))
}

/// A fresh JWT through the REST refresh.
pub async fn refreshed(t: &Target, deployment: &str, refresh_token: &str) -> String {
    let body = json!({"refreshToken": refresh_token, "deploymentId": deployment});
    let url = t.url("/api/v2/webdeployments/token/refresh");
    let r = t.http.post(url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    str_of(&json(r).await, "jwt")
}

/// `(code, body)` of an error envelope, after checking its shape and tracing id.
pub fn error_of(answer: &Value, tracing: &str) -> (i64, String) {
    assert_eq!(answer["type"], "response", "{answer}");
    assert_eq!(answer["tracingId"], tracing, "{answer}");
    if answer["class"] == "TooManyRequestsErrorMessage" {
        return (answer["body"]["errorCode"].as_i64().unwrap(), String::new());
    }
    assert_eq!(answer["class"], "string", "{answer}");
    (
        answer["code"].as_i64().unwrap(),
        answer["body"].as_str().unwrap().to_owned(),
    )
}
