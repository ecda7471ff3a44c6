//! `[messaging]` made runnable: the message every widget sends (built once), and the socket's
//! timings. The socket's URL and TLS come from the target (the app builds them).

use crate::profile::messaging::{MessagingAuth, MessagingSection};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct MessagingPlan {
    pub auth: MessagingAuth,
    /// The socket's URL, absolute (`ws://`, `wss://`) or a path on the embedded target, with
    /// `{deployment_id}` in it.
    pub url: String,
    pub origin: Option<String>,
    /// Every message's text: `text_bytes` of it.
    pub text: Arc<str>,
    /// The channel metadata carrying `attributes_bytes` of custom attributes; `None` for none.
    pub channel: Option<Arc<serde_json::Value>>,
    pub ping_interval: Duration,
    /// `None`: the widget sends no echo.
    pub echo_interval: Option<Duration>,
    pub jwt: bool,
    pub reply_timeout: Duration,
    /// Local addresses the sockets are opened from, in turn; empty: the system picks.
    pub source_addresses: Vec<IpAddr>,
}

impl MessagingPlan {
    pub fn new(section: &MessagingSection) -> MessagingPlan {
        MessagingPlan {
            auth: section.auth,
            url: section.url.clone(),
            origin: section.origin.clone(),
            text: "m".repeat(section.text_bytes as usize).into(),
            channel: (section.attributes_bytes > 0)
                .then(|| Arc::new(channel(section.attributes_bytes as usize))),
            ping_interval: section.ping_interval.0,
            echo_interval: (!section.echo_interval.0.is_zero()).then_some(section.echo_interval.0),
            jwt: section.jwt,
            reply_timeout: section.reply_timeout.0,
            source_addresses: section.sources(),
        }
    }
}

/// `{"metadata":{"customAttributes":{"note":"aaa..."}}}` whose custom attributes serialize to `bytes`.
fn channel(bytes: usize) -> serde_json::Value {
    // `{"note":""}` is 11 bytes; the value fills the rest.
    let value = "a".repeat(bytes.saturating_sub(11));
    serde_json::json!({ "metadata": { "customAttributes": { "note": value } } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_attributes_serialize_to_the_bytes_asked() {
        let channel = channel(2_048);
        let attributes = &channel["metadata"]["customAttributes"];
        assert_eq!(serde_json::to_string(attributes).unwrap().len(), 2_048);
    }
}
