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
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};

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
        // A WebSocket URL goes over the same TCP (and TLS) as its HTTP scheme.
        let https = match uri.scheme_str()? {
            "https" | "wss" => true,
            "http" | "ws" => false,
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

    /// A new connection to `origin`, or the outcome that stopped it. `connect_timeout` bounds TCP and
    /// TLS together, as a user reads "time to connect" (a timeout is a timeout, as reqwest reports it).
    pub async fn connect(&self, origin: &Origin) -> Result<Conn, Outcome> {
        let (io, h2) = tokio::time::timeout(self.connect_timeout, self.open(origin, None))
            .await
            .map_err(|_| Outcome::Timeout)??;
        self.handshake(io, h2).await
    }

    /// TCP (from `local` when given, else from where the system picks), then TLS when the scheme
    /// says so; and whether HTTP/2 is to be spoken on it.
    pub(super) async fn open(
        &self,
        origin: &Origin,
        local: Option<IpAddr>,
    ) -> Result<(Stream, bool), Outcome> {
        let tcp = match local {
            None => TcpStream::connect((origin.host.as_str(), origin.port)).await,
            Some(ip) => connect_from(ip, origin).await,
        }
        .map_err(|_| Outcome::ConnectError)?;
        // Requests are small and latency is what is measured: no Nagle delay.
        tcp.set_nodelay(true).map_err(|_| Outcome::ConnectError)?;
        let asked_h2 = self.version == HttpVersion::Http2;
        if !origin.https {
            return Ok((Stream::Plain(tcp), asked_h2));
        }
        let name = ServerName::try_from(origin.host.clone()).map_err(|_| Outcome::ConnectError)?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|_| Outcome::ConnectError)?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice()) || asked_h2;
        Ok((Stream::Tls(Box::new(tls)), h2))
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

/// A TCP connection to `origin` from `local` (port chosen by the system): to the first address of
/// the host in `local`'s family.
async fn connect_from(local: IpAddr, origin: &Origin) -> io::Result<TcpStream> {
    let remote = tokio::net::lookup_host((origin.host.as_str(), origin.port))
        .await?
        .find(|a| a.is_ipv4() == local.is_ipv4())
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::AddrNotAvailable, "no address in the family")
        })?;
    let socket = match local {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(remote).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(timeout: Duration) -> Connector {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(rustls::RootCertStore::empty()))
        .map(|b| b.with_no_client_auth());
        Connector::new(tls.unwrap(), HttpVersion::Auto, timeout)
    }

    // The clock is paused: a server that accepts TCP and never answers the TLS hello holds the
    // connection until the timeout, which then fires at once instead of after real seconds.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_tls_handshake_is_a_timeout_within_the_connect_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move { listener.accept().await.map(|(s, _)| s) });
        let origin = Origin::of(&format!("https://127.0.0.1:{port}/").parse().unwrap()).unwrap();
        let started = tokio::time::Instant::now();
        let got = connector(Duration::from_secs(3)).connect(&origin).await;
        assert!(matches!(got, Err(Outcome::Timeout)));
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(3),
            "one bound for TCP and TLS"
        );
        drop(held);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let origin = Origin::of(&format!("http://127.0.0.1:{port}/").parse().unwrap()).unwrap();
        let got = connector(Duration::from_secs(3)).connect(&origin).await;
        assert!(matches!(got, Err(Outcome::ConnectError)));
    }

    #[tokio::test]
    async fn sockets_opened_from_two_source_addresses_arrive_from_both() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let origin = Origin::of(&format!("http://127.0.0.1:{port}/").parse().unwrap()).unwrap();
        let c = connector(Duration::from_secs(3));
        let sources: [IpAddr; 2] = ["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()];
        let mut seen = Vec::new();
        for from in sources.iter().cycle().take(4) {
            let (_stream, _) = c.open(&origin, Some(*from)).await.ok().unwrap();
            seen.push(listener.accept().await.unwrap().1.ip());
        }
        let want: Vec<IpAddr> = sources.iter().cycle().take(4).copied().collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn origins_match_scheme_host_and_port_with_default_ports() {
        let o = Origin::of(&"https://[::1]/x".parse().unwrap()).unwrap();
        assert_eq!((o.host.as_str(), o.port, o.https), ("::1", 443, true));
        assert!(o.serves(&"https://[::1]:443/y?q".parse().unwrap()));
        assert!(!o.serves(&"http://[::1]:443/".parse().unwrap()));
        assert!(!o.serves(&"https://[::1]:8443/".parse().unwrap()));
        assert!(Origin::of(&"ftp://h/".parse().unwrap()).is_none());
    }
}
