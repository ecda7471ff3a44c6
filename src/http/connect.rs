//! Opening one connection for the API calls: TCP, TLS when the scheme says so, then hyper's HTTP/1.1
//! or HTTP/2 handshake, whichever the profile asks for or ALPN picks.

use super::direct::Body;
use super::Outcome;
use crate::profile::target::HttpVersion;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
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
        let https = match uri.scheme_str()? {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let host = uri.host()?;
        Some(Origin {
            https,
            // `[::1]` in a URI, `::1` for a socket address and a TLS server name.
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
        })
    }
}

/// A ready connection's sender. HTTP/2 senders are clones of one multiplexed connection.
pub enum Conn {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
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
        tls.alpn_protocols = match version {
            HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
            HttpVersion::Http2 => vec![b"h2".to_vec()],
        };
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
                .handshake(tcp, self.version == HttpVersion::Http2)
                .await;
        }
        let name = ServerName::try_from(origin.host.clone()).map_err(|_| Outcome::ConnectError)?;
        let tls = tokio::time::timeout(self.connect_timeout, self.tls.connect(name, tcp))
            .await
            .map_err(|_| Outcome::Timeout)?
            .map_err(|_| Outcome::ConnectError)?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice())
            || self.version == HttpVersion::Http2;
        self.handshake(tls, h2).await
    }

    async fn handshake<T>(&self, io: T, h2: bool) -> Result<Conn, Outcome>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        if h2 {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .map_err(|_| Outcome::ConnectError)?;
            tokio::spawn(connection);
            Ok(Conn::H2(sender))
        } else {
            let (sender, connection) = http1::Builder::new()
                .handshake(io)
                .await
                .map_err(|_| Outcome::ConnectError)?;
            tokio::spawn(connection);
            Ok(Conn::H1(sender))
        }
    }
}
