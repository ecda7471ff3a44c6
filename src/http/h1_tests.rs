//! The HTTP/1.1 connection against scripted peers over an in-memory pipe: exact bytes both ways.

use super::Conn;
use crate::vocabulary::Outcome;
use bytes::Bytes;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

fn get(uri: &str) -> http::Request<Bytes> {
    http::Request::get(uri).body(Bytes::new()).unwrap()
}

/// Reads one request head (and a `content-length` body) from the peer's side.
async fn request_on(peer: &mut DuplexStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        if peer.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        got.push(byte[0]);
    }
    let head = String::from_utf8(got).unwrap();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse::<usize>().unwrap());
    let mut body = vec![0u8; length];
    peer.read_exact(&mut body).await.unwrap();
    head + &String::from_utf8(body).unwrap()
}

/// Answers one request with `reply`, written in pieces of `piece` bytes so every parser state
/// sees a partial read; then closes when asked.
async fn respond(peer: &mut DuplexStream, reply: &[u8], piece: usize, close: bool) -> String {
    let request = request_on(peer).await;
    for part in reply.chunks(piece) {
        peer.write_all(part).await.unwrap();
        tokio::task::yield_now().await;
    }
    if close {
        peer.shutdown().await.unwrap();
    }
    request
}

async fn exchange(
    reply: &'static [u8],
    piece: usize,
    keep: bool,
) -> (
    Result<(crate::http::exchange::RawResponse, bool), Outcome>,
    String,
) {
    let (client, mut peer) = tokio::io::duplex(64 << 10);
    let server = tokio::spawn(async move { respond(&mut peer, reply, piece, true).await });
    let mut conn = Conn::new(client);
    let got = conn
        .exchange(&get("http://example.test/contacts?q=1"), keep)
        .await;
    (got, server.await.unwrap())
}

#[tokio::test]
async fn a_request_goes_out_in_origin_form_and_a_sized_response_keeps_the_connection() {
    let (client, mut peer) = tokio::io::duplex(64 << 10);
    let mut conn = Conn::new(client);
    let server = tokio::spawn(async move {
        let mut requests = Vec::new();
        for body in ["first", "second"] {
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            requests.push(respond(&mut peer, reply.as_bytes(), 3, false).await);
        }
        requests
    });
    let mut request = http::Request::post("http://example.test:8080/v1/x?y=%20")
        .header("authorization", "Bearer t")
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    let (first, reusable) = conn.exchange(&request, true).await.unwrap();
    assert_eq!(
        (first.status, first.body.as_slice(), reusable),
        (200, &b"first"[..], true)
    );
    *request.method_mut() = http::Method::GET;
    *request.body_mut() = Bytes::new();
    let (second, _) = conn.exchange(&request, false).await.unwrap();
    assert!(second.body.is_empty(), "an API body is read but not kept");
    let requests = server.await.unwrap();
    assert_eq!(
        requests[0],
        "POST /v1/x?y=%20 HTTP/1.1\r\nhost: example.test:8080\r\nauthorization: Bearer t\r\ncontent-length: 2\r\n\r\n{}"
    );
    assert_eq!(
        requests[1],
        "GET /v1/x?y=%20 HTTP/1.1\r\nhost: example.test:8080\r\nauthorization: Bearer t\r\n\r\n"
    );
}

#[tokio::test]
async fn a_chunked_body_with_extensions_and_trailers_is_read_to_its_end() {
    let reply = b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\nretry-after: 7\r\n\r\n5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\n";
    for piece in [1, 4, reply.len()] {
        let (got, request) = exchange(reply, piece, true).await;
        let (answer, reusable) = got.unwrap();
        assert_eq!(answer.body, b"helloabcdefghijklmnopqrstuvwxyz");
        assert_eq!(answer.retry_after, Some(Duration::from_secs(7)));
        assert!(reusable, "pieces of {piece}");
        assert!(request.starts_with("GET /contacts?q=1 HTTP/1.1\r\nhost: example.test\r\n"));
    }
}

#[tokio::test]
async fn responses_framed_by_the_close_end_with_it_and_end_the_connection() {
    let cases: [(&[u8], &[u8]); 4] = [
        (b"HTTP/1.0 200 OK\r\n\r\nuntil close", b"until close"),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nraw",
            b"raw",
        ),
        (
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
            b"ok",
        ),
        (
            b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\n\r\nno length",
            b"no length",
        ),
    ];
    for (reply, body) in cases {
        let (got, _) = exchange(reply, 5, true).await;
        let (answer, reusable) = got.unwrap();
        assert_eq!(answer.body, body);
        assert!(!reusable, "{}", String::from_utf8_lossy(reply));
    }
    let (got, _) = exchange(
        b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\nx",
        5,
        true,
    )
    .await;
    assert!(got.unwrap().1, "HTTP/1.0 keep-alive with a length");
}

#[tokio::test]
async fn interim_responses_and_bodiless_statuses_are_skipped_or_empty() {
    let (got, _) = exchange(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\nx", 7, true).await;
    let (answer, _) = got.unwrap();
    assert_eq!((answer.status, answer.body.as_slice()), (201, &b"x"[..]));
    // 204 and 304 have no body whatever they say; the connection stays usable.
    for reply in [
        &b"HTTP/1.1 204 No Content\r\n\r\n"[..],
        b"HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n",
    ] {
        let (client, mut peer) = tokio::io::duplex(1024);
        let reply = reply.to_vec();
        tokio::spawn(async move {
            respond(&mut peer, &reply, 64, false).await;
            peer
        });
        let (answer, reusable) = Conn::new(client)
            .exchange(&get("http://h/"), true)
            .await
            .unwrap();
        assert!(answer.body.is_empty() && reusable, "{}", answer.status);
    }
}

#[tokio::test]
async fn broken_responses_are_outcomes() {
    let cases: [(&'static [u8], Outcome); 7] = [
        (b"", Outcome::ConnectError),
        (b"HTTP/1.1 200 O", Outcome::ConnectError),
        (b"SSH-2.0-OpenSSH_9.6\r\n", Outcome::ConnectError),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
            Outcome::BadResponse,
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc",
            Outcome::BadResponse,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            Outcome::BadResponse,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nFFFFFFF\r\n",
            Outcome::BadResponse,
        ),
    ];
    for (reply, want) in cases {
        let (got, _) = exchange(reply, 3, true).await;
        assert_eq!(got.err(), Some(want), "{}", String::from_utf8_lossy(reply));
    }
}

#[tokio::test]
async fn a_body_over_the_cap_is_a_bad_response_kept_or_not() {
    let (client, mut peer) = tokio::io::duplex(64 << 10);
    tokio::spawn(async move {
        request_on(&mut peer).await;
        let _ = peer.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
        let chunk = vec![b'x'; 64 << 10];
        for _ in 0..20 {
            if peer.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let got = Conn::new(client).exchange(&get("http://h/"), false).await;
    assert_eq!(got.err(), Some(Outcome::BadResponse));
}

#[tokio::test]
async fn an_idle_connection_is_closed_once_the_peer_closes_it_or_talks_out_of_turn() {
    let (client, mut peer) = tokio::io::duplex(1024);
    let mut conn = Conn::new(client);
    assert!(!conn.is_closed(), "nothing happened");
    assert!(!conn.is_closed(), "asking does not change it");
    peer.shutdown().await.unwrap();
    assert!(conn.is_closed(), "the peer closed it");
    let (client, mut peer) = tokio::io::duplex(1024);
    let mut conn = Conn::new(client);
    peer.write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        .await
        .unwrap();
    assert!(conn.is_closed(), "bytes nobody asked for");
}

#[tokio::test]
async fn framing_that_rfc_9112_calls_an_error_is_a_bad_response() {
    let cases: [&'static [u8]; 5] = [
        // Both framings: request smuggling's shape (RFC 9112 6.3).
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        // Content-Length is digits only.
        b"HTTP/1.1 200 OK\r\ncontent-length: +5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\nhello",
        // HTTP/1.0 has no Transfer-Encoding.
        b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        // Trailers past their bound.
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n",
    ];
    for (i, reply) in cases.into_iter().enumerate() {
        let reply: &'static [u8] = if i == 4 {
            let mut long = reply.to_vec();
            for n in 0..2_000 {
                long.extend_from_slice(format!("x-trailer-{n}: {}\r\n", "v".repeat(8)).as_bytes());
            }
            long.extend_from_slice(b"\r\n");
            long.leak()
        } else {
            reply
        };
        let (got, _) = exchange(reply, 5, true).await;
        assert_eq!(
            got.err(),
            Some(Outcome::BadResponse),
            "{}",
            String::from_utf8_lossy(&reply[..reply.len().min(90)])
        );
    }
    // One length said twice is one length.
    let (got, _) = exchange(
        b"HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\n\r\nhello",
        4,
        true,
    )
    .await;
    assert_eq!(got.unwrap().0.body, b"hello");
}

#[tokio::test]
async fn a_response_too_large_to_read_or_without_end_is_a_bad_response_not_a_broken_connection() {
    let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
    while huge.len() < 200 << 10 {
        huge.extend_from_slice(b"x-padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    huge.extend_from_slice(b"content-length: 0\r\n\r\n");
    // The client stops reading at its bound, so the peer may never finish writing: not awaited.
    let (client, mut peer) = tokio::io::duplex(64 << 10);
    tokio::spawn(async move { respond(&mut peer, &huge, 4096, true).await });
    let got = Conn::new(client).exchange(&get("http://h/"), true).await;
    assert_eq!(got.err(), Some(Outcome::BadResponse), "a 200 KB head");

    let mut endless = Vec::new();
    for _ in 0..=super::MAX_INTERIM {
        endless.extend_from_slice(b"HTTP/1.1 102 Processing\r\n\r\n");
    }
    endless.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    let (got, _) = exchange(endless.leak(), 64, true).await;
    assert_eq!(
        got.err(),
        Some(Outcome::BadResponse),
        "interim responses without end"
    );
}
