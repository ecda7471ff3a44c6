//! The web-messaging WebSocket: opened over the same TCP and TLS code as the API calls (one rustls
//! configuration per target), framed by tokio-tungstenite, and read into frames the session acts on.
//! Everything a server can send wrong (a refused upgrade, a frame that is not JSON, one too large, a
//! close in the middle) comes back as a value to count, never a panic.

use super::connect::{Connector, Origin, Stream};
use super::frames::{self, BadFrame, Frame};
use crate::profile::target::HttpVersion;
use futures_util::{SinkExt, StreamExt};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};
use tokio_tungstenite::WebSocketStream;

/// The largest server frame a widget reads: the platform's messages are a few KiB; a server that
/// sends megabytes is counted and cut off, not buffered.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// A socket's read buffer: a page, several typical frames (a longer one is read in several reads).
/// tungstenite zero-fills the whole buffer before each read, so all of it stays resident: its default
/// of 128 KiB would be 13 GiB (and a mapping per socket) at 100,000 idle sockets; 8 KiB read 15.0 KB
/// of RSS per idle socket at 10,000, 4 KiB 10.9 KB (benches/messaging.sh).
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// The local addresses sockets are opened from, each open taking the next in turn.
#[derive(Clone, Default)]
pub struct Sources {
    addresses: Arc<[IpAddr]>,
    next: Arc<AtomicUsize>,
}

impl Sources {
    /// `addresses` in turn; none: the system picks the source.
    pub fn new(addresses: Vec<IpAddr>) -> Sources {
        Sources {
            addresses: addresses.into(),
            next: Arc::default(),
        }
    }

    fn take(&self) -> Option<IpAddr> {
        if self.addresses.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        Some(self.addresses[turn % self.addresses.len()])
    }
}

/// Where and how a widget opens its socket.
#[derive(Clone)]
pub struct SocketTarget {
    /// `ws://` or `wss://` URL with `{deployment_id}` still in it.
    url_template: String,
    origin: Option<String>,
    sources: Sources,
    connector: Connector,
}

/// Why a socket did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The server answered the upgrade with this HTTP status (403 origin, 429 capacity, 503 outage).
    #[error("upgrade refused with HTTP {0}")]
    Refused(u16),
    #[error("timed out connecting")]
    Timeout,
    #[error("could not connect")]
    Connect,
    #[error("the WebSocket handshake failed")]
    Handshake,
}

/// What reading the socket gave.
#[derive(Debug)]
pub enum Received {
    Frame(Frame),
    Bad(BadFrame),
    /// The socket is gone: a close frame (`Some(code)`), or the connection ended or broke (`None`).
    Closed(Option<u16>),
}

impl SocketTarget {
    /// Sockets to `url_template` from `sources`, trusting, identifying and timing out as `transport`
    /// says, as the target's HTTP calls do.
    pub fn new(
        url_template: String,
        origin: Option<String>,
        sources: Sources,
        transport: &super::Transport,
    ) -> Result<SocketTarget, super::HttpError> {
        let tls = super::tls::client_config(transport)?;
        // The upgrade is an HTTP/1.1 request: ALPN must not offer h2.
        let connector = Connector::new(tls, HttpVersion::Http1, transport.connect_timeout);
        Ok(SocketTarget {
            url_template,
            origin,
            sources,
            connector,
        })
    }

    pub fn url(&self, deployment_id: &str) -> String {
        let id = percent_encoding::utf8_percent_encode(
            deployment_id,
            percent_encoding::NON_ALPHANUMERIC,
        );
        self.url_template
            .replace("{deployment_id}", &id.to_string())
    }

    /// A socket to `deployment_id`'s endpoint, upgraded; `connect_timeout` bounds TCP, TLS and the
    /// upgrade together.
    pub async fn open(&self, deployment_id: &str) -> Result<Socket, OpenError> {
        let url = self.url(deployment_id);
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|_| OpenError::Connect)?;
        if let Some(origin) = &self.origin {
            let value = http::HeaderValue::from_str(origin).map_err(|_| OpenError::Connect)?;
            request.headers_mut().insert(http::header::ORIGIN, value);
        }
        let origin = Origin::of(request.uri()).ok_or(OpenError::Connect)?;
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let open = async {
            let (stream, _) = self
                .connector
                .open(&origin, self.sources.take())
                .await
                .map_err(|_| OpenError::Connect)?;
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(|e| match e {
                    tungstenite::Error::Http(response) => {
                        OpenError::Refused(response.status().as_u16())
                    }
                    _ => OpenError::Handshake,
                })
        };
        let (ws, _) = tokio::time::timeout(self.connector.connect_timeout, open)
            .await
            .map_err(|_| OpenError::Timeout)??;
        Ok(Socket { ws })
    }
}

/// An open, upgraded socket.
pub struct Socket {
    ws: WebSocketStream<Stream>,
}

impl Socket {
    /// Sends one text frame; false when the socket is gone.
    pub async fn send(&mut self, text: String) -> bool {
        self.ws.send(Message::text(text)).await.is_ok()
    }

    /// A WebSocket ping (the SDKs' keep-alive); false when the socket is gone.
    pub async fn ping(&mut self) -> bool {
        self.ws
            .send(Message::Ping(Default::default()))
            .await
            .is_ok()
    }

    /// The next thing the server sent. Pings are answered by tungstenite as it reads; pongs are
    /// skipped (a ping's answer has nothing to act on).
    pub async fn receive(&mut self) -> Received {
        loop {
            let message = match self.ws.next().await {
                None => return Received::Closed(None),
                Some(Ok(message)) => message,
                Some(Err(tungstenite::Error::Capacity(_))) => {
                    return Received::Bad(BadFrame::TooLarge)
                }
                Some(Err(_)) => return Received::Closed(None),
            };
            return match message {
                Message::Text(text) => match frames::parse(text.as_str()) {
                    Ok(frame) => Received::Frame(frame),
                    Err(bad) => Received::Bad(bad),
                },
                Message::Binary(_) => Received::Bad(BadFrame::Binary),
                Message::Close(frame) => Received::Closed(frame.map(|f| u16::from(f.code))),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
        }
    }

    /// Closes with a normal close frame, waiting at most `within` for the server's.
    pub async fn close(mut self, within: Duration) {
        let _ = tokio::time::timeout(within, async {
            let _ = self.ws.close(None).await;
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Transport;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn target(listener: &TcpListener) -> SocketTarget {
        let url = format!(
            "ws://{}/v1?deploymentId={{deployment_id}}",
            listener.local_addr().unwrap()
        );
        let transport = Transport::local(Duration::from_secs(5));
        SocketTarget::new(url, None, Sources::default(), &transport).unwrap()
    }

    /// A server that upgrades one socket and sends `frames` after reading the widget's first frame.
    async fn broken_server(listener: TcpListener, frames: Vec<Message>) {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let _configure = ws.next().await;
        for frame in frames {
            if ws.send(frame).await.is_err() {
                return;
            }
        }
        // Hold the socket open until the widget goes.
        while let Some(Ok(_)) = ws.next().await {}
    }

    #[tokio::test]
    async fn frames_a_widget_cannot_read_are_named_and_the_socket_goes_on_until_one_is_too_large() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = target(&listener).await;
        let huge = "x".repeat(20 << 20);
        let frames = vec![
            Message::text("not json at all"),
            Message::text(r#"{"type":"message","class":"Mystery","code":200,"body":{}}"#),
            Message::text(r#"{"type":"response","class":"SessionResponse","code":200,"body":{}}"#),
            Message::binary(vec![1, 2, 3]),
            Message::text(
                r#"{"type":"response","class":"StructuredMessage","code":200,"body":{},"tracingId":"9"}"#,
            ),
            Message::text(huge),
        ];
        let server = tokio::spawn(broken_server(listener, frames));
        let mut socket = target.open("d-1").await.unwrap();
        assert!(socket.send("{}".into()).await);
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(match socket.receive().await {
                Received::Bad(bad) => format!("bad {bad:?}"),
                Received::Frame(frame) => format!("frame {:?}", frame.reply),
                Received::Closed(code) => format!("closed {code:?}"),
            });
        }
        assert_eq!(
            seen,
            [
                "bad NotJson",
                "bad UnknownClass",
                "bad BadBody",
                "bad Binary",
                "frame Structured",
                "bad TooLarge"
            ]
        );
        server.abort();
    }

    #[tokio::test]
    async fn a_close_in_the_middle_of_configure_is_a_closed_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = target(&listener).await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let _configure = ws.next().await;
            let _ = ws.close(None).await;
        });
        let mut socket = target.open("d-1").await.unwrap();
        assert!(
            socket
                .send("{\"action\":\"configureSession\"}".into())
                .await
        );
        assert!(matches!(socket.receive().await, Received::Closed(_)));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_upgrade_names_its_status_and_a_dead_port_cannot_connect() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = target(&listener).await;
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 2048];
            let _ = tcp.read(&mut buf).await;
            let answer =
                b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            tcp.write_all(answer).await.unwrap();
        });
        assert_eq!(
            target.open("d-1").await.err(),
            Some(OpenError::Refused(403))
        );
        server.await.unwrap();
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead = self::target(&closed).await;
        drop(closed);
        assert_eq!(dead.open("d-1").await.err(), Some(OpenError::Connect));
    }

    #[tokio::test]
    async fn sockets_take_the_source_addresses_in_turn() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "ws://{}/v1?deploymentId={{deployment_id}}",
            listener.local_addr().unwrap()
        );
        let from: Vec<IpAddr> = vec!["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()];
        let transport = Transport::local(Duration::from_secs(5));
        let target = SocketTarget::new(url, None, Sources::new(from.clone()), &transport).unwrap();
        let server = tokio::spawn(async move {
            let mut peers = Vec::new();
            for _ in 0..3 {
                let (tcp, peer) = listener.accept().await.unwrap();
                peers.push(peer.ip());
                tokio::spawn(tokio_tungstenite::accept_async(tcp));
            }
            peers
        });
        let mut sockets = Vec::new();
        for _ in 0..3 {
            sockets.push(target.open("d-1").await.unwrap());
        }
        assert_eq!(server.await.unwrap(), [from[0], from[1], from[0]]);
    }

    #[test]
    fn deployment_ids_are_escaped_into_the_url() {
        let transport = Transport::local(Duration::from_secs(1));
        let target = SocketTarget::new(
            "ws://h/v1?deploymentId={deployment_id}".into(),
            None,
            Sources::default(),
            &transport,
        );
        assert_eq!(
            target.unwrap().url("a b&c"),
            "ws://h/v1?deploymentId=a%20b%26c"
        );
    }
}
