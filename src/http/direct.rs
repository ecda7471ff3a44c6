//! The client for every call the proxy does not carry (API, token, discovery): HTTP/1.1 of our own
//! (`h1.rs`) or hyper's HTTP/2 connection, with a small pool of idle connections (`pool.rs`).
//!
//! The API call is the load itself, so its client's cost per request is the load tester's own
//! overhead. reqwest formats and re-parses every request's URL and boxes a large future per call;
//! hyper-util's pooled client, under it, hashes the origin and builds a connect future per request
//! even when a connection is idle; hyper's HTTP/1.1 connection is a task fed through channels. Here
//! a request takes an idle connection from a short list, or opens one (`connect.rs`), and writes and
//! reads it itself. Proxied calls go through reqwest (`proxied.rs`); both share one rustls configuration (`tls.rs`).

use super::client::Transport;
use super::connect::{Conn, Connector, Origin};
use super::exchange::{read, RawResponse};
use super::pool::Pool;
use crate::vocabulary::Outcome;
use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::{http2, TrySendError};
use std::error::Error as _;
use std::time::Duration;
use tokio::sync::Semaphore;

pub type Body = Full<Bytes>;
type Request = http::Request<Bytes>;

pub struct Direct {
    connector: Connector,
    pool: Pool,
    /// Bound on each call, from sending to the end of the body.
    timeout: Duration,
    /// Calls in flight at most (`load.max_connections`): over HTTP/1.1 each holds a connection, so it
    /// bounds the connections too (one is opened only when none is idle and a call is under the bound).
    limit: Option<Semaphore>,
}

impl Direct {
    pub fn new(t: &Transport, tls: rustls::ClientConfig, limit: Option<usize>) -> Direct {
        Direct {
            connector: Connector::new(tls, t.version, t.connect_timeout),
            pool: Pool::new(t.pool_max_idle_per_host),
            timeout: t.request_timeout,
            limit: limit.map(|n| Semaphore::new(n.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// One exchange, bounded by the request timeout from sending to the end of the body.
    pub async fn send(&self, request: Request, keep_body: bool) -> Result<RawResponse, Outcome> {
        let exchange = self.exchange(request, keep_body);
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(Outcome::Timeout))
    }

    async fn exchange(
        &self,
        mut request: Request,
        keep_body: bool,
    ) -> Result<RawResponse, Outcome> {
        // Waiting for a connection is inside the call's timeout, as a pool's wait is in reqwest's.
        let _turn = match &self.limit {
            // The semaphore is never closed.
            Some(limit) => Some(limit.acquire().await.map_err(|_| Outcome::ClientError)?),
            None => None,
        };
        let mut pooled = self.idle(request.uri());
        loop {
            let reused = pooled.is_some();
            let conn = match pooled.take() {
                Some(conn) => conn,
                // Boxed: the TCP, TLS and HTTP/2 handshake state is kilobytes, and every call's
                // future (boxed per call) would otherwise carry it though few calls connect.
                None => Box::pin(self.connect(request.uri())).await?,
            };
            match conn {
                Conn::H1(mut conn) => {
                    let (response, reusable) = conn.exchange(&request, keep_body).await?;
                    if reusable {
                        self.pool.put(request.uri(), conn);
                    }
                    return Ok(response);
                }
                Conn::H2(sender) => {
                    let (parts, body) = request.into_parts();
                    let h2 = http::Request::from_parts(parts, Full::new(body.clone()));
                    match send_h2(sender, h2, keep_body).await {
                        Ok(response) => return response,
                        Err(Unsent {
                            request: Some(unsent),
                            ..
                        }) if reused => {
                            request = http::Request::from_parts(unsent.into_parts().0, body);
                        }
                        Err(e) => return Err(e.outcome),
                    }
                }
            }
        }
    }

    /// An idle connection still open; those the server closed meanwhile are dropped.
    fn idle(&self, uri: &http::Uri) -> Option<Conn> {
        loop {
            match self.pool.checkout(uri)? {
                Conn::H1(mut conn) => {
                    if !conn.is_closed() {
                        return Some(Conn::H1(conn));
                    }
                }
                conn => return Some(conn),
            }
        }
    }

    async fn connect(&self, uri: &http::Uri) -> Result<Conn, Outcome> {
        let origin = Origin::of(uri).ok_or(Outcome::ClientError)?;
        let conn = self.connector.connect(&origin).await?;
        if let Conn::H2(sender) = &conn {
            self.pool.share(uri, sender);
        }
        Ok(conn)
    }
}

async fn send_h2(
    mut sender: http2::SendRequest<Body>,
    request: http::Request<Body>,
    keep_body: bool,
) -> Result<Result<RawResponse, Outcome>, Unsent> {
    if let Err(e) = sender.ready().await {
        return Err(Unsent {
            request: Some(request),
            outcome: send_outcome(&e),
        });
    }
    let response = sender.try_send_request(request).await?;
    // A body that breaks off is a response that does not say what it must.
    Ok(read(response, keep_body, |_| Outcome::BadResponse).await)
}

/// Why a connection gave no response; the request is back when it never went out.
struct Unsent {
    request: Option<http::Request<Body>>,
    outcome: Outcome,
}

impl From<TrySendError<http::Request<Body>>> for Unsent {
    fn from(mut e: TrySendError<http::Request<Body>>) -> Unsent {
        Unsent {
            outcome: send_outcome(e.error()),
            request: e.take_message(),
        }
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
