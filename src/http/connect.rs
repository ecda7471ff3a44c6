//! Opening one connection for the API calls: TCP, TLS when the scheme says so, then HTTP/1.1 of our
//! own (`h1.rs`) or hyper's HTTP/2 handshake, whichever the profile asks for or ALPN picks.

use super::direct::Body;
use super::h1;
use crate::profile::target::HttpVersion;
use crate::vocabulary::Outcome;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Where a connection goes: the pool's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Origin {
    pub fn of(uri: &http::Uri) -> Option<Origin> {
        let (https, host, port) = Self::parts(uri)?;
        Some(Origin {
            https,
            host: host.to_owned(),
            port,
        })
    }

    /// Whether `uri` goes here; without allocating, as every request asks.
    pub fn serves(&self, uri: &http::Uri) -> bool {
        Self::parts(uri).is_some_and(|(https, host, port)| {
            https == self.https && port == self.port && host == self.host
        })
    }

    fn parts(uri: &http::Uri) -> Option<(bool, &str, u16)> {
        let https = match uri.scheme_str()? {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        // `[::1]` in a URI, `::1` for a socket address and a TLS server name.
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        Some((https, host, uri.port_u16().unwrap_or(default_port(https))))
    }
}

/// The port a URL without one means.
pub fn default_port(https: bool) -> u16 {
    if https {
        443
    } else {
        80
    }
}

/// A ready connection: an HTTP/1.1 one owned by one request at a time, or a sender on a multiplexed
/// HTTP/2 connection (senders are clones of one).
pub enum Conn {
    H1(h1::Conn<Stream>),
    H2(http2::SendRequest<Body>),
}

/// A socket, in the clear or under TLS.
pub enum Stream {
    Plain(TcpStream),
    // Boxed: rustls's connection state is kilobytes, and plain sockets should not pay for it.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

#[derive(Clone)]
pub struct Connector {
    pub(super) tls: tokio_rustls::TlsConnector,
    pub(super) version: HttpVersion,
    pub(super) connect_timeout: Duration,
}

impl Connector {
    /// `tls` without ALPN; the protocols offered follow `version`.
    pub fn new(mut tls: rustls::ClientConfig, version: HttpVersion, timeout: Duration) -> Self {
        tls.alpn_protocols = super::tls::alpn_protocols(version);
        Connector {
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            version,
            connect_timeout: timeout,
        }
    }

    /// A new connection to `origin`, or the outcome that stopped it (a connect timeout is a timeout,
    /// as reqwest reports it).
    pub async fn connect(&self, origin: &Origin) -> Result<Conn, Outcome> {
        let tcp = tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect((origin.host.as_str(), origin.port)),
        )
        .await
        .map_err(|_| Outcome::Timeout)?
        .map_err(|_| Outcome::ConnectError)?;
        // Requests are small and latency is what is measured: no Nagle delay.
        tcp.set_nodelay(true).map_err(|_| Outcome::ConnectError)?;
        if !origin.https {
            return self
                .handshake(Stream::Plain(tcp), self.version == HttpVersion::Http2)
                .await;
        }
        let name = ServerName::try_from(origin.host.clone()).map_err(|_| Outcome::ConnectError)?;
        let tls = tokio::time::timeout(self.connect_timeout, self.tls.connect(name, tcp))
            .await
            .map_err(|_| Outcome::Timeout)?
            .map_err(|_| Outcome::ConnectError)?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice())
            || self.version == HttpVersion::Http2;
        self.handshake(Stream::Tls(Box::new(tls)), h2).await
    }

    async fn handshake(&self, io: Stream, h2: bool) -> Result<Conn, Outcome> {
        if !h2 {
            return Ok(Conn::H1(h1::Conn::new(io)));
        }
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(io))
            .await
            .map_err(|_| Outcome::ConnectError)?;
        tokio::spawn(connection);
        Ok(Conn::H2(sender))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
