//! Idle API connections, per origin, for reuse: HTTP/1.1 connections one request at a time (most
//! recently used first, so a steady load keeps reusing the same warm sockets), one shared HTTP/2
//! sender.

use super::connect::{Conn, Origin, Stream};
use super::direct::Body;
use super::h1;
use hyper::client::conn::http2;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Connections idle longer are closed rather than kept (the proxied calls' pool keeps the same
/// bound). Shorter than hyper's and reqwest's 90 s: under the minute or so after which common load
/// balancers and proxies drop an idle connection (AWS's at 60 s, nginx at 75 s), so against those
/// the client lets go first, and seldom writes a request onto a connection the server is closing.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Pool {
    origins: Mutex<Vec<Idle>>,
    max_idle_per_origin: usize,
}

struct Idle {
    origin: Origin,
    h1: Vec<(h1::Conn<Stream>, Instant)>,
    h2: Option<http2::SendRequest<Body>>,
}

impl Pool {
    pub fn new(max_idle_per_origin: Option<usize>) -> Pool {
        Pool {
            origins: Mutex::new(Vec::new()),
            max_idle_per_origin: max_idle_per_origin.unwrap_or(usize::MAX),
        }
    }

    /// A connection to where `uri` goes, if one is idle. HTTP/1.1 connections are not checked here,
    /// under the lock: the caller asks `is_closed` of the one it got.
    pub fn checkout(&self, uri: &http::Uri) -> Option<Conn> {
        let mut origins = self.lock();
        let idle = origins.iter_mut().find(|i| i.origin.serves(uri))?;
        if let Some(h2) = idle.h2.as_ref().filter(|s| !s.is_closed()) {
            return Some(Conn::H2(h2.clone()));
        }
        idle.h1.pop().map(|(conn, _)| Conn::H1(conn))
    }

    /// An HTTP/1.1 connection whose last response was read to the end, back for reuse.
    pub fn put(&self, uri: &http::Uri, conn: h1::Conn<Stream>) {
        let now = Instant::now();
        let mut origins = self.lock();
        let Some(idle) = Self::entry(&mut origins, uri) else {
            return;
        };
        // The oldest is at the front; dropping it closes the connection.
        if idle
            .h1
            .first()
            .is_some_and(|(_, since)| now.duration_since(*since) > IDLE_TIMEOUT)
        {
            idle.h1.remove(0);
        }
        if idle.h1.len() < self.max_idle_per_origin {
            idle.h1.push((conn, now));
        }
    }

    /// A new HTTP/2 connection becomes the one later requests share, unless one is already shared.
    pub fn share(&self, uri: &http::Uri, sender: &http2::SendRequest<Body>) {
        let mut origins = self.lock();
        let Some(idle) = Self::entry(&mut origins, uri) else {
            return;
        };
        if idle.h2.as_ref().is_none_or(|s| s.is_closed()) {
            idle.h2 = Some(sender.clone());
        }
    }

    fn entry<'a>(origins: &'a mut Vec<Idle>, uri: &http::Uri) -> Option<&'a mut Idle> {
        let at = match origins.iter().position(|i| i.origin.serves(uri)) {
            Some(at) => at,
            None => {
                origins.push(Idle {
                    origin: Origin::of(uri)?,
                    h1: Vec::new(),
                    h2: None,
                });
                origins.len() - 1
            }
        };
        Some(&mut origins[at])
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // A panic while holding the lock leaves only idle connections behind: still usable.
        self.origins.lock().unwrap_or_else(|e| e.into_inner())
    }
}
