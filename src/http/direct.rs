//! The API calls' HTTP client: hyper's connection API with a small pool of our own (`pool.rs`).
//!
//! The API call is the load itself, so its client's cost per request is the load tester's own
//! overhead. reqwest formats and re-parses every request's URL (its redirect layer does so even with
//! redirects off) and boxes a large future per call; hyper-util's pooled client, under it, boxes
//! another, hashes the origin with SipHash and builds a connect future per request even when a
//! connection is idle. Here a request takes an idle sender from a short list, or opens a connection
//! (`connect.rs`), as oha does. Token calls are few and stay on reqwest; both share one rustls
//! configuration (`tls.rs`).

use super::client::Transport;
use super::connect::{Conn, Connector, Origin};
use super::exchange::{read, Answer};
use super::pool::Pool;
use super::Outcome;
use bytes::Bytes;
use http::header::{HeaderValue, HOST};
use http::uri::PathAndQuery;
use http_body_util::Full;
use hyper::client::conn::TrySendError;
use std::error::Error as _;
use std::time::Duration;

pub type Body = Full<Bytes>;
type Request = http::Request<Body>;

pub struct Direct {
    connector: Connector,
    pool: Pool,
    /// Bound on each call, from sending to the end of the body.
    timeout: Duration,
}

impl Direct {
    pub fn new(t: &Transport, tls: rustls::ClientConfig) -> Direct {
        Direct {
            connector: Connector::new(tls, t.version, t.connect_timeout),
            pool: Pool::new(t.pool_max_idle_per_host),
            timeout: t.request_timeout,
        }
    }

    /// One exchange, bounded by the request timeout from sending to the end of the body.
    pub async fn send(
        &self,
        request: http::Request<Bytes>,
        keep_body: bool,
    ) -> Result<Answer, Outcome> {
        let exchange = self.exchange(request.map(Full::new), keep_body);
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(Outcome::Timeout))
    }

    async fn exchange(&self, mut request: Request, keep_body: bool) -> Result<Answer, Outcome> {
        let origin = Origin::of(request.uri()).ok_or(Outcome::ClientError)?;
        let mut pooled = self.pool.checkout(&origin);
        loop {
            let reused = pooled.is_some();
            let conn = match pooled.take() {
                Some(conn) => conn,
                // Boxed: the TCP, TLS and HTTP/2 handshake state is kilobytes, and every call's
                // future (boxed per call) would otherwise carry it though few calls connect.
                None => {
                    let conn = Box::pin(self.connector.connect(&origin)).await?;
                    if let Conn::H2(sender) = &conn {
                        self.pool.share(&origin, sender);
                    }
                    conn
                }
            };
            match self.send_on(conn, &origin, request, keep_body).await {
                Ok(answer) => return answer,
                // An idle connection the server had closed, found out before the request went
                // out: the request goes again on a new one (as hyper's pooled client does).
                Err(Unsent {
                    request: Some(unsent),
                    ..
                }) if reused => request = unsent,
                Err(e) => return Err(e.outcome),
            }
        }
    }

    async fn send_on(
        &self,
        conn: Conn,
        origin: &Origin,
        mut request: Request,
        keep_body: bool,
    ) -> Result<Result<Answer, Outcome>, Unsent> {
        match conn {
            Conn::H1(mut sender) => {
                if let Err(e) = sender.ready().await {
                    return Err(Unsent::before(&e, request));
                }
                // HTTP/1.1 wants the origin form and a Host header; a retry needs the absolute URI.
                let absolute = request.uri().clone();
                if !request.headers().contains_key(HOST) {
                    if let Some(host) = host_header(&absolute) {
                        request.headers_mut().insert(HOST, host);
                    }
                }
                let path = absolute
                    .path_and_query()
                    .map_or_else(|| PathAndQuery::from_static("/"), Clone::clone);
                *request.uri_mut() = http::Uri::from(path);
                let response = match sender.try_send_request(request).await {
                    Ok(response) => response,
                    Err(e) => {
                        let mut e = Unsent::from(e);
                        if let Some(unsent) = &mut e.request {
                            *unsent.uri_mut() = absolute;
                        }
                        return Err(e);
                    }
                };
                // A body that breaks off is a response that does not say what it must.
                let answer = read(response, keep_body, |_| Outcome::BadResponse).await;
                // Only a response read to its end leaves the connection fit for the next request.
                if answer.is_ok() {
                    self.pool.put(origin, sender);
                }
                Ok(answer)
            }
            Conn::H2(mut sender) => {
                if let Err(e) = sender.ready().await {
                    return Err(Unsent::before(&e, request));
                }
                let response = sender.try_send_request(request).await?;
                Ok(read(response, keep_body, |_| Outcome::BadResponse).await)
            }
        }
    }
}

/// Why a connection gave no response; the request is back when it never went out.
struct Unsent {
    request: Option<Request>,
    outcome: Outcome,
}

impl Unsent {
    /// A connection found closed before anything was written.
    fn before(e: &hyper::Error, request: Request) -> Unsent {
        Unsent {
            request: Some(request),
            outcome: send_outcome(e),
        }
    }
}

impl From<TrySendError<Request>> for Unsent {
    fn from(mut e: TrySendError<Request>) -> Unsent {
        Unsent {
            outcome: send_outcome(e.error()),
            request: e.take_message(),
        }
    }
}

/// `host[:port]`, the port left out when it is the scheme's default (as browsers and hyper send it).
fn host_header(uri: &http::Uri) -> Option<HeaderValue> {
    let host = uri.host()?;
    let default = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    match uri.port_u16() {
        Some(port) if port != default => HeaderValue::try_from(format!("{host}:{port}")).ok(),
        _ => HeaderValue::from_str(host).ok(),
    }
}

/// Anything that stops a request before its response is a connection that could not be made or
/// broke; a timeout underneath it is a timeout.
fn send_outcome(e: &hyper::Error) -> Outcome {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return Outcome::Timeout;
            }
        }
        source = s.source();
    }
    Outcome::ConnectError
}
