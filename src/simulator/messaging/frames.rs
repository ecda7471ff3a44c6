//! The frames on the wire: what a client sends (flat JSON by `action`) and the server's envelopes.

use serde::{Deserialize, Serialize};

/// A client frame. Unknown actions and missing fields do not parse: the frame is answered 400.
#[derive(Debug, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub(super) enum ClientFrame {
    ConfigureSession {
        deployment_id: String,
        token: String,
        tracing_id: Option<String>,
    },
    ConfigureAuthenticatedSession {
        deployment_id: String,
        token: String,
        tracing_id: Option<String>,
        data: AuthData,
    },
    GetJwt {
        token: String,
        tracing_id: Option<String>,
    },
    OnMessage {
        token: String,
        tracing_id: Option<String>,
        message: TextMessage,
    },
    Echo {
        token: String,
        tracing_id: Option<String>,
        message: TextMessage,
    },
    CloseSession {
        token: String,
        tracing_id: Option<String>,
        #[serde(default)]
        close_all_connections: bool,
    },
}

impl ClientFrame {
    pub fn tracing_id(&self) -> Option<&str> {
        match self {
            ClientFrame::ConfigureSession { tracing_id, .. }
            | ClientFrame::ConfigureAuthenticatedSession { tracing_id, .. }
            | ClientFrame::GetJwt { tracing_id, .. }
            | ClientFrame::OnMessage { tracing_id, .. }
            | ClientFrame::Echo { tracing_id, .. }
            | ClientFrame::CloseSession { tracing_id, .. } => tracing_id.as_deref(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct AuthData {
    pub code: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct TextMessage {
    pub text: String,
    pub channel: Option<Channel>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Channel {
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Metadata {
    pub custom_attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

impl TextMessage {
    /// The custom attributes as JSON text, in bytes (what the 2,048-byte limit is about).
    pub fn attributes_bytes(&self) -> usize {
        self.channel
            .as_ref()
            .and_then(|c| c.metadata.as_ref())
            .and_then(|m| m.custom_attributes.as_ref())
            .and_then(|a| serde_json::to_string(a).ok())
            .map_or(0, |s| s.len())
    }
}

/// What a frame that did not parse still says: its tracing id, to echo in the 400.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Loose {
    pub tracing_id: Option<String>,
}

/// `type` of an envelope: an answer to a client frame, or an event the server raises itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Kind {
    Response,
    Message,
}

/// Every server frame: `{"type", "class", "code", "body", "tracingId"?}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Envelope<'a, B: Serialize> {
    #[serde(rename = "type")]
    pub kind: Kind,
    pub class: &'static str,
    pub code: u16,
    pub body: B,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing_id: Option<&'a str>,
}

impl<B: Serialize> Envelope<'_, B> {
    pub fn text(&self) -> String {
        // Serialising these plain structs cannot fail; an empty frame would be answered 400 by a client.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionBody {
    pub connected: bool,
    pub new_session: bool,
    pub read_only: bool,
    pub duration_seconds: u64,
    pub expiration_date: u64,
}

#[derive(Serialize)]
pub(super) struct JwtBody<'a> {
    pub jwt: &'a str,
    pub exp: u64,
}

#[derive(Serialize)]
pub(super) struct StructuredBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: &'a str,
    pub direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TooManyBody {
    pub retry_after: u64,
    pub error_code: u16,
    pub error_message: &'static str,
}

#[derive(Serialize)]
pub(super) struct ReasonBody {
    pub reason: &'static str,
}

#[derive(Serialize)]
pub(super) struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_by_action_and_unknown_ones_do_not() {
        let f: ClientFrame = serde_json::from_str(
            r#"{"action":"onMessage","token":"t","tracingId":"x","message":{"type":"Text","text":"hi",
                "channel":{"metadata":{"customAttributes":{"k":"v"}}}}}"#,
        )
        .unwrap();
        assert_eq!(f.tracing_id(), Some("x"));
        let ClientFrame::OnMessage { message, .. } = f else {
            panic!("{f:?}")
        };
        assert_eq!(
            (message.text.as_str(), message.attributes_bytes()),
            ("hi", 9)
        );
        let close: ClientFrame =
            serde_json::from_str(r#"{"action":"closeSession","token":"t"}"#).unwrap();
        assert!(matches!(
            close,
            ClientFrame::CloseSession {
                close_all_connections: false,
                ..
            }
        ));
        for bad in [
            r#"{"action":"dance","token":"t"}"#,
            r#"{"action":"getJwt"}"#,
            r#"{"token":"t"}"#,
            "[]",
        ] {
            assert!(serde_json::from_str::<ClientFrame>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn envelopes_leave_out_an_absent_tracing_id() {
        let e = Envelope {
            kind: Kind::Message,
            class: "SessionExpiredEvent",
            code: 200,
            body: Empty {},
            tracing_id: None,
        };
        assert_eq!(
            e.text(),
            r#"{"type":"message","class":"SessionExpiredEvent","code":200,"body":{}}"#
        );
    }
}
