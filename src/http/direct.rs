//! The client for every call the proxy does not carry (API, token, discovery): HTTP/1.1 of our own
//! (`h1.rs`) or hyper's HTTP/2 connection, with a small pool of idle connections (`pool.rs`).
//!
//! The API call is the load itself, so its client's cost per request is the load tester's own
//! overhead. reqwest formats and re-parses every request's URL and boxes a large future per call;
//! hyper-util's pooled client, under it, hashes the origin and builds a connect future per request
//! even when a connection is idle; hyper's HTTP/1.1 connection is a task fed through channels. Here
//! a request takes an idle connection from a short list, or opens one (`connect.rs`), and writes and
//! reads it itself. Proxied calls go through reqwest (`proxied.rs`); both share one rustls configuration (`tls.rs`).
//!
//! A request on a reused HTTP/1.1 connection that fails before a byte of an answer came back most
//! likely met the server closing that connection for idleness as it went out. It is sent once more on
//! a new connection when that is safe, as browsers and Go's net/http do: an idempotent method (RFC
//! 9110 9.2.2) or a token grant the server does not consume (`client_credentials`). Others are not:
//! the server may have received and acted on the first (a rotating server rotates a refresh token on
//! receipt, an authorization code is single use, a POST may have created something), and a second
//! one would then fail, or do it twice, for the client's own doing; they stay `connect_error`.

use super::client::Transport;
use super::connect::{Conn, Connector, Origin, Stream};
use super::exchange::{read, RawResponse};
use super::h1;
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

/// What sending a request came to, and whether it had to go out a second time.
pub(crate) struct Sent {
    pub result: Result<RawResponse, Outcome>,
    /// The request went out again on a new connection, after a reused one failed before any byte
    /// of an answer came back (the server had closed it as the request was written).
    pub resent: bool,
}

impl Direct {
    pub fn new(t: &Transport, tls: rustls::ClientConfig, limit: Option<usize>) -> Direct {
        Direct {
            connector: Connector::new(tls, t.version, t.connect_timeout),
            pool: Pool::new(t.pool_max_idle_per_host, t.idle_timeout),
            timeout: t.request_timeout,
            limit: limit.map(|n| Semaphore::new(n.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// One exchange, bounded by the request timeout from sending to the end of the body (a resend
    /// included: its time is what the caller waited). `repeatable` says whether the request may go
    /// out twice: an idempotent method, or a token grant the server does not consume.
    pub async fn send(&self, request: Request, keep_body: bool, repeatable: bool) -> Sent {
        let mut resent = false;
        let exchange = self.exchange(request, keep_body, repeatable, &mut resent);
        let result = tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(Outcome::Timeout));
        Sent { result, resent }
    }

    async fn exchange(
        &self,
        mut request: Request,
        keep_body: bool,
        repeatable: bool,
        resent: &mut bool,
    ) -> Result<RawResponse, Outcome> {
        // Waiting for a connection is inside the call's timeout, as a pool's wait is in reqwest's.
        let _turn = match &self.limit {
            // The semaphore is never closed.
            Some(limit) => Some(limit.acquire().await.map_err(|_| Outcome::ClientError)?),
            None => None,
        };
        let mut pooled = self.idle(request.uri());
        loop {
            // Only a reused connection may fail this way; a new one's failure is the server's.
            let reused = pooled.is_some();
            let conn = match pooled.take() {
                Some(conn) => conn,
                // Boxed: the TCP, TLS and HTTP/2 handshake state is kilobytes, and every call's
                // future (boxed per call) would otherwise carry it though few calls connect.
                None => Box::pin(self.connect(request.uri())).await?,
            };
            match conn {
                Conn::H1(conn) => match self.h1(conn, &request, keep_body).await {
                    Err(Lost::BeforeAnswer) if reused && repeatable => *resent = true,
                    Err(Lost::BeforeAnswer) => return Err(Outcome::ConnectError),
                    Err(Lost::Failed(outcome)) => return Err(outcome),
                    Ok(response) => return Ok(response),
                },
                Conn::H2(sender) => {
                    let (parts, body) = request.into_parts();
                    let h2 = http::Request::from_parts(parts, Full::new(body.clone()));
                    match send_h2(sender, h2, keep_body).await {
                        Ok(response) => return response,
                        // Never sent (the connection was going away): safe to send whatever it is.
                        Err(Unsent {
                            request: Some(unsent),
                            ..
                        }) if reused => {
                            *resent = true;
                            request = http::Request::from_parts(unsent.into_parts().0, body);
                        }
                        Err(e) => return Err(e.outcome),
                    }
                }
            }
        }
    }

    /// One exchange on an HTTP/1.1 connection, which goes back to the pool when it can carry another.
    async fn h1(
        &self,
        mut conn: h1::Conn<Stream>,
        request: &Request,
        keep_body: bool,
    ) -> Result<RawResponse, Lost> {
        match conn.exchange(request, keep_body).await {
            Ok((response, reusable)) => {
                if reusable {
                    self.pool.put(request.uri(), conn);
                }
                Ok(response)
            }
            Err(Outcome::ConnectError) if conn.answered_nothing() => Err(Lost::BeforeAnswer),
            Err(outcome) => Err(Lost::Failed(outcome)),
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

/// How an HTTP/1.1 exchange failed: before any byte of an answer (the request may or may not have
/// reached the server), or otherwise.
enum Lost {
    BeforeAnswer,
    Failed(Outcome),
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers each connection's first request and closes it, unanswered, when the
    /// client writes a second: every reuse meets a connection closing under it.
    async fn answer_once() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    if matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                        let _ = socket.write_all(reply).await;
                        let _ = socket.read(&mut buf).await;
                    }
                });
            }
        });
        base
    }

    fn direct() -> Direct {
        let t = Transport::local(Duration::from_secs(5));
        let tls = super::super::tls::client_config(&t).unwrap();
        Direct::new(&t, tls, None)
    }

    fn get(base: &str) -> Request {
        http::Request::get(format!("{base}/x"))
            .body(Bytes::new())
            .unwrap()
    }

    #[tokio::test]
    async fn a_repeatable_request_on_a_connection_closed_under_it_goes_out_again() {
        let (base, client) = (answer_once().await, direct());
        let first = client.send(get(&base), false, true).await;
        assert!(first.result.is_ok() && !first.resent, "a new connection");
        let second = client.send(get(&base), false, true).await;
        assert_eq!(second.result.map(|r| r.status).ok(), Some(200));
        assert!(second.resent);
    }

    #[tokio::test]
    async fn a_request_that_may_not_go_twice_stays_a_connect_error() {
        let (base, client) = (answer_once().await, direct());
        assert!(client.send(get(&base), false, false).await.result.is_ok());
        let second = client.send(get(&base), false, false).await;
        assert!(matches!(second.result, Err(Outcome::ConnectError)));
        assert!(!second.resent);
        // The lost connection is gone: the next request opens a new one and is answered.
        assert!(client.send(get(&base), false, false).await.result.is_ok());
    }
}
