//! HTTP/1.1 on one connection, written out by hand: the request future itself writes the request
//! and reads the response (as wrk does), with one reusable buffer per connection.
//!
//! hyper's client connection is a task of its own fed through channels: every request crosses two
//! tasks, and an idle connection holds ~26 KiB (its request channel's blocks, an 8 KiB write buffer,
//! an 8 KiB read buffer). Here a connection is its socket and a buffer of a few KiB, and a request is
//! one write and, usually, one read. Responses are parsed with `httparse` (hyper's parser); the
//! framing follows RFC 9112 section 6.

use super::connect::default_port;
use super::exchange::{retry_after, Collected, RawResponse};
use crate::vocabulary::Outcome;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST};
use http::Method;
use std::io::{ErrorKind, Write as _};
use std::pin::Pin;
use std::task::{Context, Waker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// A response head larger than this is not a response a load tester should wait for.
const MAX_HEAD_BYTES: usize = 64 << 10;
const MAX_HEADERS: usize = 100;
/// Free space a read asks the socket to fill, at least.
const READ_SPARE: usize = 2 << 10;
/// An idle connection's buffer is cut back to this after a large response.
const IDLE_BUFFER: usize = 4 << 10;

/// One HTTP/1.1 connection, one request at a time.
pub struct Conn<S> {
    io: S,
    /// The request's bytes on the way out, then the response's on the way in.
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    start: usize,
    /// Bytes the last response took: the first read of the next asks for that much and an eighth,
    /// so responses of the usual size come in one system call (an API's responses are alike).
    last: usize,
    /// Bytes of this response so far.
    seen: usize,
}

/// What a response head says about the response.
struct Head {
    status: u16,
    retry_after: Option<std::time::Duration>,
    framing: Framing,
    keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(io: S) -> Conn<S> {
        Conn {
            io,
            buf: Vec::new(),
            start: 0,
            last: 0,
            seen: 0,
        }
    }

    /// Sends `request` (absolute URI) and reads the whole response; the flag says whether the
    /// connection can carry another request.
    pub async fn exchange(
        &mut self,
        request: &http::Request<Bytes>,
        keep_body: bool,
    ) -> Result<(RawResponse, bool), Outcome> {
        self.buf.clear();
        self.start = 0;
        write_request(&mut self.buf, request);
        let sent = self.io.write_all(&self.buf).await;
        let sent = match sent {
            Ok(()) => self.io.flush().await,
            Err(e) => Err(e),
        };
        self.buf.clear();
        self.seen = 0;
        if let Err(e) = sent {
            return Err(io_outcome(&e, Outcome::ConnectError));
        }
        let head = self.read_head(request.method() == Method::HEAD).await?;
        let body = self.read_body(head.framing, keep_body).await?;
        // Bytes after the response are not a response to anything: the connection is not reused.
        let reusable = head.keep_alive && self.start == self.buf.len();
        self.last = self.seen;
        if self.buf.capacity() > IDLE_BUFFER {
            self.buf = Vec::with_capacity(IDLE_BUFFER);
            self.start = 0;
        }
        Ok((
            RawResponse {
                status: head.status,
                retry_after: head.retry_after,
                body,
            },
            reusable,
        ))
    }

    /// Whether an idle connection can no longer carry a request: the peer closed it, or sent bytes
    /// nobody asked for. The socket's readiness answers, so a connection nothing happened to costs
    /// no system call. A request written to a connection the server had closed would fail, and
    /// could not be sent again: it may have reached the server (hyper's client does the same check).
    pub fn is_closed(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let mut byte = [0u8; 1];
        let mut probe = ReadBuf::new(&mut byte);
        Pin::new(&mut self.io)
            .poll_read(&mut cx, &mut probe)
            .is_ready()
    }

    async fn read_head(&mut self, head_request: bool) -> Result<Head, Outcome> {
        loop {
            if self.start < self.buf.len() {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut response = httparse::Response::new(&mut headers);
                match response.parse(&self.buf[self.start..]) {
                    Ok(httparse::Status::Complete(n)) => {
                        let head = Head::of(&response, head_request)?;
                        self.consume(n);
                        // 100 Continue and other interim responses precede the real one.
                        if (100..200).contains(&head.status) && head.status != 101 {
                            continue;
                        }
                        return Ok(head);
                    }
                    Ok(httparse::Status::Partial)
                        if self.buf.len() - self.start < MAX_HEAD_BYTES => {}
                    // Not HTTP, or a head without end: no response came back.
                    _ => return Err(Outcome::ConnectError),
                }
            }
            // A connection that ends or breaks before a whole head is one that broke (as hyper
            // reports it), not a response that says something wrong.
            match self.fill().await {
                Ok(0) => return Err(Outcome::ConnectError),
                Ok(_) => {}
                Err(e) => return Err(io_outcome(&e, Outcome::ConnectError)),
            }
        }
    }

    async fn read_body(&mut self, framing: Framing, keep: bool) -> Result<Vec<u8>, Outcome> {
        let mut body = Collected::new(keep);
        match framing {
            Framing::Length(n) => self.read_exact(n, &mut body).await?,
            Framing::Chunked => self.read_chunks(&mut body).await?,
            Framing::UntilClose => loop {
                body.add(&self.buf[self.start..])?;
                self.consume(self.buf.len() - self.start);
                match self.fill().await {
                    Ok(0) => break,
                    Ok(_) => {}
                    // A TLS peer that closes without close_notify: the body still ended.
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(io_outcome(&e, Outcome::BadResponse)),
                }
            },
        }
        Ok(body.kept)
    }

    /// `n` bytes of body; a connection that ends before is a body broken off, a length beyond the
    /// cap a bad response before anything is read.
    async fn read_exact(&mut self, n: u64, body: &mut Collected) -> Result<(), Outcome> {
        if n > body.room() as u64 {
            return Err(Outcome::BadResponse);
        }
        let mut left = n as usize;
        loop {
            let take = left.min(self.buf.len() - self.start);
            body.add(&self.buf[self.start..self.start + take])?;
            self.consume(take);
            left -= take;
            if left == 0 {
                return Ok(());
            }
            self.fill_some().await?;
        }
    }

    /// A chunked body (RFC 9112 section 7.1): size lines, data, then trailers up to an empty line.
    async fn read_chunks(&mut self, body: &mut Collected) -> Result<(), Outcome> {
        loop {
            let size = loop {
                match httparse::parse_chunk_size(&self.buf[self.start..]) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        self.consume(n);
                        break size;
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() - self.start < 4096 => {
                        self.fill_some().await?;
                    }
                    _ => return Err(Outcome::BadResponse),
                }
            };
            if size == 0 {
                return self.skip_trailers().await;
            }
            self.read_exact(size, body).await?;
            while self.buf.len() - self.start < 2 {
                self.fill_some().await?;
            }
            if &self.buf[self.start..self.start + 2] != b"\r\n" {
                return Err(Outcome::BadResponse);
            }
            self.consume(2);
        }
    }

    async fn skip_trailers(&mut self) -> Result<(), Outcome> {
        loop {
            let pending = &self.buf[self.start..];
            match pending.windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.consume(2);
                    return Ok(());
                }
                Some(end) => self.consume(end + 2),
                None if pending.len() < MAX_HEAD_BYTES => self.fill_some().await?,
                None => return Err(Outcome::BadResponse),
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads more into `buf`; 0 at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.start > 0 && self.buf.capacity() - self.buf.len() < READ_SPARE {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.seen == 0 {
            // Exact: doubling a 2 KiB buffer for a 2.5 KB response would hold 4 KiB per idle connection.
            self.buf
                .reserve_exact((self.last + self.last / 8).clamp(READ_SPARE, IDLE_BUFFER));
        } else {
            self.buf.reserve(READ_SPARE);
        }
        let n = self.io.read_buf(&mut self.buf).await?;
        self.seen += n;
        Ok(n)
    }

    /// Reads more of a body that must go on: its end is a body broken off.
    async fn fill_some(&mut self) -> Result<(), Outcome> {
        match self.fill().await {
            Ok(0) => Err(Outcome::BadResponse),
            Ok(_) => Ok(()),
            Err(e) => Err(io_outcome(&e, Outcome::BadResponse)),
        }
    }
}

impl Head {
    fn of(response: &httparse::Response<'_, '_>, head_request: bool) -> Result<Head, Outcome> {
        let status = response.code.ok_or(Outcome::ConnectError)?;
        let mut length: Option<u64> = None;
        let mut chunked = None;
        let mut close = false;
        let mut keep_alive = false;
        let mut retry = None;
        for h in response.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                let n = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or(Outcome::BadResponse)?;
                // Two different lengths: which one frames the body is anyone's guess.
                if length.is_some_and(|l| l != n) {
                    return Err(Outcome::BadResponse);
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
                chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case("retry-after") {
                retry = retry_after(h.value);
            }
        }
        let no_body =
            head_request || (100..200).contains(&status) || status == 204 || status == 304;
        let framing = match (no_body, chunked, length) {
            (true, _, _) => Framing::Length(0),
            // Transfer-Encoding overrides Content-Length; one not ending in chunked runs to the close.
            (_, Some(true), _) => Framing::Chunked,
            (_, Some(false), _) => Framing::UntilClose,
            (_, None, Some(n)) => Framing::Length(n),
            (_, None, None) => Framing::UntilClose,
        };
        // HTTP/1.0 closes unless it says otherwise; HTTP/1.1 stays open unless it says otherwise.
        let persistent = if response.version == Some(0) {
            keep_alive
        } else {
            !close
        };
        Ok(Head {
            status,
            retry_after: retry,
            framing,
            // After 101 the connection speaks another protocol; nothing asked for that.
            keep_alive: persistent && framing != Framing::UntilClose && status != 101,
        })
    }
}

/// The request in origin form with a Host header, as HTTP/1.1 wants it; header names as the `http`
/// crate keeps them (lower case, as hyper sends them).
fn write_request(buf: &mut Vec<u8>, request: &http::Request<Bytes>) {
    let uri = request.uri();
    buf.extend_from_slice(request.method().as_str().as_bytes());
    buf.push(b' ');
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    buf.extend_from_slice(if target.is_empty() {
        b"/"
    } else {
        target.as_bytes()
    });
    buf.extend_from_slice(b" HTTP/1.1\r\n");
    let headers = request.headers();
    if !headers.contains_key(HOST) {
        if let Some(host) = uri.host() {
            buf.extend_from_slice(b"host: ");
            buf.extend_from_slice(host.as_bytes());
            let default = default_port(uri.scheme_str() == Some("https"));
            // The port only when it is not the scheme's default, as browsers send it.
            if let Some(port) = uri.port_u16().filter(|&p| p != default) {
                let _ = write!(buf, ":{port}");
            }
            buf.extend_from_slice(b"\r\n");
        }
    }
    for (name, value) in headers {
        buf.extend_from_slice(name.as_str().as_bytes());
        buf.extend_from_slice(b": ");
        buf.extend_from_slice(value.as_bytes());
        buf.extend_from_slice(b"\r\n");
    }
    let body = request.body();
    let carries_body = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    );
    if (carries_body || !body.is_empty()) && !headers.contains_key(CONTENT_LENGTH) {
        let _ = write!(buf, "content-length: {}\r\n", body.len());
    }
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(body);
}

fn io_outcome(e: &std::io::Error, otherwise: Outcome) -> Outcome {
    if e.kind() == ErrorKind::TimedOut {
        Outcome::Timeout
    } else {
        otherwise
    }
}

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
