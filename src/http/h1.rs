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

/// A response head larger than this is not a response a load tester should wait for (hyper allows
/// up to ~400 KiB: a deliberate difference, see h1_differential.rs).
const MAX_HEAD_BYTES: usize = 64 << 10;
const MAX_HEADERS: usize = 100;
/// All trailer fields of a chunked body together, as hyper bounds them.
const MAX_TRAILER_BYTES: usize = 16 << 10;
/// A chunk-size line with its extensions.
const MAX_CHUNK_LINE: usize = 4096;
/// Interim (1xx) responses before the real one; a peer that sends them without end is not answering.
const MAX_INTERIM: usize = 16;
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

    /// Whether the last exchange failed before a single byte of a response came back: on a reused
    /// connection, the mark of a server that closed it as the request went out (its idle timeout).
    pub fn answered_nothing(&self) -> bool {
        self.seen == 0
    }

    /// Whether an idle connection can no longer carry a request: the peer closed it, or sent bytes
    /// nobody asked for. The socket's readiness answers, so a connection nothing happened to costs
    /// no system call. A request written to a connection the server had closed fails, and only an
    /// idempotent one may be sent again (`direct.rs`), so the check comes first (hyper's does too).
    pub fn is_closed(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let mut byte = [0u8; 1];
        let mut probe = ReadBuf::new(&mut byte);
        Pin::new(&mut self.io)
            .poll_read(&mut cx, &mut probe)
            .is_ready()
    }

    async fn read_head(&mut self, head_request: bool) -> Result<Head, Outcome> {
        let mut interim = 0;
        loop {
            if self.start < self.buf.len() {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut response = httparse::Response::new(&mut headers);
                let pending = &self.buf[self.start..];
                match response.parse(pending) {
                    Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD_BYTES => {
                        let head = Head::of(&response, head_request)?;
                        self.consume(n);
                        // 100 Continue and other interim responses precede the real one.
                        if (100..200).contains(&head.status) && head.status != 101 {
                            interim += 1;
                            if interim > MAX_INTERIM {
                                return Err(Outcome::BadResponse);
                            }
                            continue;
                        }
                        return Ok(head);
                    }
                    Ok(httparse::Status::Partial) if pending.len() < MAX_HEAD_BYTES => {}
                    // A response came back, but too large or malformed to read.
                    _ if pending.starts_with(b"HTTP/") => return Err(Outcome::BadResponse),
                    // Not HTTP at all: nothing that answers this request came back.
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
                match chunk_size(&self.buf[self.start..]) {
                    Ok(Some((n, size))) => {
                        self.consume(n);
                        break size;
                    }
                    Ok(None) if self.buf.len() - self.start < MAX_CHUNK_LINE => {
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

    /// The trailer section after the last chunk: header fields (RFC 9112 7.1.2), up to an empty
    /// line, all of them together within a bound.
    async fn skip_trailers(&mut self) -> Result<(), Outcome> {
        loop {
            let pending = &self.buf[self.start..];
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::parse_headers(pending, &mut fields) {
                // httparse takes a bare LF as a line's end; RFC 9112 2.2 and hyper want CRLF.
                Ok(httparse::Status::Complete((n, _)))
                    if n <= MAX_TRAILER_BYTES && crlf_only(&pending[..n]) =>
                {
                    self.consume(n);
                    return Ok(());
                }
                Ok(httparse::Status::Partial) if pending.len() < MAX_TRAILER_BYTES => {
                    self.fill_some().await?;
                }
                _ => return Err(Outcome::BadResponse),
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
        // RFC 9110 15: a status is three digits, the first 1 to 9 (hyper refuses `000` too).
        if !(100..=999).contains(&status) {
            return Err(Outcome::BadResponse);
        }
        let mut framing = FramingHeaders::default();
        let mut close = false;
        let mut keep_alive = false;
        let mut retry = None;
        for h in response.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                framing.length(h.value);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
                framing.chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
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
        let http10 = response.version == Some(0);
        let no_body =
            head_request || (100..200).contains(&status) || status == 204 || status == 304;
        let framing = if no_body {
            // Whatever the framing headers say, these have no body (RFC 9112 6.3 rules 1 and 2).
            Framing::Length(0)
        } else {
            framing.decide(http10)?
        };
        // HTTP/1.0 closes unless it says keep-alive; either closes once it says close.
        let persistent = !close && (!http10 || keep_alive);
        Ok(Head {
            status,
            retry_after: retry,
            framing,
            // After 101 the connection speaks another protocol; nothing asked for that.
            keep_alive: persistent && framing != Framing::UntilClose && status != 101,
        })
    }
}

/// The framing headers of a response head, judged once the whole head is read.
struct FramingHeaders {
    /// `Some(false)` for a Transfer-Encoding that does not end in chunked.
    chunked: Option<bool>,
    /// Any Content-Length line at all, valid or not.
    length_seen: bool,
    /// The one length every Content-Length value agrees on; `Err` when one is not digits or two
    /// differ, which leaves the framing to anyone's guess.
    length: Result<Option<u64>, ()>,
}

impl Default for FramingHeaders {
    fn default() -> Self {
        FramingHeaders {
            chunked: None,
            length_seen: false,
            length: Ok(None),
        }
    }
}

impl FramingHeaders {
    /// One Content-Length line; `5, 5` repeats one length (RFC 9110 8.6).
    fn length(&mut self, value: &[u8]) {
        self.length_seen = true;
        for v in value.split(|&b| b == b',') {
            self.length = match (self.length, digits(v.trim_ascii())) {
                (Ok(None), Some(n)) => Ok(Some(n)),
                (Ok(Some(l)), Some(n)) if l == n => Ok(Some(n)),
                _ => Err(()),
            };
        }
    }

    fn decide(&self, http10: bool) -> Result<Framing, Outcome> {
        match (self.chunked, self.length) {
            // RFC 9112 6.1: HTTP/1.0 has no Transfer-Encoding. RFC 9112 6.3: a message with both
            // Transfer-Encoding and Content-Length may be request smuggling or response splitting
            // and "ought to be handled as an error" (hyper lets Transfer-Encoding win: a
            // deliberate difference, see h1_differential.rs).
            (Some(_), _) if http10 || self.length_seen => Err(Outcome::BadResponse),
            (Some(true), _) => Ok(Framing::Chunked),
            // A Transfer-Encoding not ending in chunked runs to the close.
            (Some(false), _) => Ok(Framing::UntilClose),
            (None, Err(())) => Err(Outcome::BadResponse),
            (None, Ok(Some(n))) => Ok(Framing::Length(n)),
            (None, Ok(None)) => Ok(Framing::UntilClose),
        }
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

/// A chunk-size line (RFC 9112 7.1): hex digits, optional whitespace, optional extensions, CRLF.
/// `Ok(None)` until the line is complete; its length and the size once it is. Written out rather
/// than `httparse::parse_chunk_size`, which takes a bare LF inside an extension as the line's end,
/// where hyper (and the RFC's grammar) refuse the line.
fn chunk_size(buf: &[u8]) -> Result<Option<(usize, u64)>, ()> {
    #[derive(PartialEq)]
    enum At {
        Digits,
        Space,
        Extension,
        Lf,
    }
    let mut at = At::Digits;
    let mut size: u64 = 0;
    for (i, &b) in buf.iter().enumerate() {
        at = match (at, b) {
            (At::Digits, _) if b.is_ascii_hexdigit() => {
                let digit = (b as char).to_digit(16).ok_or(())?;
                size = size.checked_mul(16).ok_or(())? + u64::from(digit);
                At::Digits
            }
            (_, _) if i == 0 => return Err(()),
            (At::Digits | At::Space, b' ' | b'\t') => At::Space,
            (At::Digits | At::Space | At::Extension, b';') => At::Extension,
            (At::Digits | At::Space | At::Extension, b'\r') => At::Lf,
            (At::Extension, b'\n') => return Err(()),
            (At::Extension, _) => At::Extension,
            (At::Lf, b'\n') => return Ok(Some((i + 1, size))),
            _ => return Err(()),
        };
    }
    Ok(None)
}

fn crlf_only(lines: &[u8]) -> bool {
    lines
        .iter()
        .enumerate()
        .all(|(i, &b)| b != b'\n' || (i > 0 && lines[i - 1] == b'\r'))
}

/// A Content-Length value: ASCII digits only, as RFC 9110 8.6 writes it (`u64::from_str` would take
/// a leading `+`).
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
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

#[cfg(test)]
#[path = "h1_differential.rs"]
mod differential;
