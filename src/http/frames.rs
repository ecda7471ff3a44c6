//! The web-messaging socket's frames as the widget sees them: flat JSON actions it sends, and the
//! server's envelopes `{type, class, code, body, tracingId}` read into what the session acts on.
//! Shapes follow the public web-messaging SDKs (docs/messaging.md).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a widget sends; `token` is its session token (a UUID it made up, kept across reconnects).
#[derive(Debug, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action<'a> {
    #[serde(rename_all = "camelCase")]
    ConfigureSession {
        deployment_id: &'a str,
        token: &'a str,
        tracing_id: &'a str,
    },
    #[serde(rename_all = "camelCase")]
    ConfigureAuthenticatedSession {
        deployment_id: &'a str,
        token: &'a str,
        tracing_id: &'a str,
        data: AuthData<'a>,
    },
    #[serde(rename_all = "camelCase")]
    GetJwt { token: &'a str, tracing_id: &'a str },
    #[serde(rename_all = "camelCase")]
    OnMessage {
        token: &'a str,
        tracing_id: &'a str,
        message: Outgoing<'a>,
    },
    #[serde(rename_all = "camelCase")]
    Echo {
        token: &'a str,
        tracing_id: &'a str,
        message: Outgoing<'a>,
    },
    #[serde(rename_all = "camelCase")]
    CloseSession {
        token: &'a str,
        tracing_id: &'a str,
        close_all_connections: bool,
    },
}

#[derive(Debug, Serialize)]
pub struct AuthData<'a> {
    pub code: &'a str,
}

/// A message's content: text, and custom attributes in its channel's metadata when it has any.
#[derive(Debug, Serialize)]
pub struct Outgoing<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'a serde_json::Value>,
}

impl Outgoing<'_> {
    pub fn text(text: &str) -> Outgoing<'_> {
        Outgoing {
            kind: "Text",
            text,
            channel: None,
        }
    }
}

impl Action<'_> {
    pub fn to_json(&self) -> String {
        // A struct of strings and bools always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A server frame, read into what a session acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A configure's answer: whether the server made a new session or resumed one.
    Session { new_session: bool },
    /// `getJwt`'s answer: the JWT's expiry, in Unix seconds.
    Jwt { exp: i64 },
    /// A message or an echo answered.
    Structured,
    /// An error answer, `class: "string"`: 401, 403, 400, 4011, 4013, ...
    Error { code: u32 },
    /// `TooManyRequestsErrorMessage` (4029): wait this long before sending again.
    RateLimited { retry_after: Duration },
    /// The session's duration ran out; the server closes the socket.
    SessionExpired,
    /// The server ends the connection (after `closeSession`, or on its own).
    ConnectionClosed,
}

/// A frame and the request it answers (`tracingId`), if it names one.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub reply: Reply,
    pub tracing_id: Option<String>,
}

/// Why a server frame could not be read: counted, never acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadFrame {
    #[error("not JSON or not an envelope")]
    NotJson,
    #[error("a class the widget does not know")]
    UnknownClass,
    #[error("a known class with a body of the wrong shape")]
    BadBody,
    #[error("a binary frame")]
    Binary,
    #[error("larger than the widget reads")]
    TooLarge,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(rename = "type")]
    _kind: String,
    class: String,
    code: u32,
    #[serde(default)]
    body: serde_json::Value,
    #[serde(default)]
    tracing_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionBody {
    new_session: bool,
}

#[derive(Deserialize)]
struct JwtBody {
    exp: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TooManyBody {
    retry_after: f64,
}

/// The frame `text` holds, or why it holds none.
pub fn parse(text: &str) -> Result<Frame, BadFrame> {
    let envelope: Envelope = serde_json::from_str(text).map_err(|_| BadFrame::NotJson)?;
    let body = envelope.body;
    let shaped = |r: Result<Reply, serde_json::Error>| r.map_err(|_| BadFrame::BadBody);
    let reply = match envelope.class.as_str() {
        "SessionResponse" => {
            shaped(
                serde_json::from_value::<SessionBody>(body).map(|b| Reply::Session {
                    new_session: b.new_session,
                }),
            )?
        }
        "JwtResponse" => {
            shaped(serde_json::from_value::<JwtBody>(body).map(|b| Reply::Jwt { exp: b.exp }))?
        }
        "StructuredMessage" => Reply::Structured,
        "string" => Reply::Error {
            code: envelope.code,
        },
        "TooManyRequestsErrorMessage" => shaped(serde_json::from_value::<TooManyBody>(body).map(
            // A negative or absurd wait from a broken server is bounded, not trusted.
            |b| Reply::RateLimited {
                retry_after: Duration::from_secs_f64(b.retry_after.clamp(0.0, 3_600.0)),
            },
        ))?,
        "SessionExpiredEvent" => Reply::SessionExpired,
        "ConnectionClosedEvent" => Reply::ConnectionClosed,
        _ => return Err(BadFrame::UnknownClass),
    };
    Ok(Frame {
        reply,
        tracing_id: envelope.tracing_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_flat_json_with_the_sdk_names() {
        let json = Action::ConfigureSession {
            deployment_id: "d-1",
            token: "t-1",
            tracing_id: "1",
        }
        .to_json();
        assert_eq!(
            json,
            r#"{"action":"configureSession","deploymentId":"d-1","token":"t-1","tracingId":"1"}"#
        );
        let json = Action::OnMessage {
            token: "t",
            tracing_id: "2",
            message: Outgoing::text("hi"),
        }
        .to_json();
        assert_eq!(
            json,
            r#"{"action":"onMessage","token":"t","tracingId":"2","message":{"type":"Text","text":"hi"}}"#
        );
    }

    #[test]
    fn envelopes_read_into_replies() {
        let frame = parse(
            r#"{"type":"response","class":"SessionResponse","code":200,"body":{"connected":true,"newSession":false},"tracingId":"7"}"#,
        );
        assert_eq!(
            frame,
            Ok(Frame {
                reply: Reply::Session { new_session: false },
                tracing_id: Some("7".into())
            })
        );
        let frame = parse(
            r#"{"type":"response","class":"TooManyRequestsErrorMessage","code":429,"body":{"retryAfter":3,"errorCode":4029}}"#,
        );
        assert_eq!(
            frame.map(|f| f.reply),
            Ok(Reply::RateLimited {
                retry_after: Duration::from_secs(3)
            })
        );
        let frame = parse(
            r#"{"type":"response","class":"string","code":401,"body":"User is unauthorized"}"#,
        );
        assert_eq!(frame.map(|f| f.reply), Ok(Reply::Error { code: 401 }));
    }

    #[test]
    fn bad_frames_say_why() {
        assert_eq!(parse("not json"), Err(BadFrame::NotJson));
        assert_eq!(parse("[1,2]"), Err(BadFrame::NotJson));
        assert_eq!(
            parse(r#"{"type":"message","class":"Mystery","code":200,"body":{}}"#),
            Err(BadFrame::UnknownClass)
        );
        assert_eq!(
            parse(r#"{"type":"response","class":"JwtResponse","code":200,"body":{"jwt":"x"}}"#),
            Err(BadFrame::BadBody)
        );
    }
}
