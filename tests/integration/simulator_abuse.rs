//! The embedded target under abuse: oversized bodies, malformed forms and JSON, header floods. It
//! answers 4xx and keeps serving.

use super::simulator_support::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn abuse_gets_4xx_and_the_server_keeps_serving() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let target = Target::start(config(1, Duration::from_secs(60))).await;
        oversized_body_gets_4xx(&target).await;
        malformed_forms_get_4xx(&target).await;
        malformed_json_gets_4xx(&target).await;
        garbage_basic_credentials_get_4xx(&target).await;
        header_flood_is_refused_or_cut_off(&target).await;
        still_serving(&target).await;
    });
}

fn status(r: reqwest::Response) -> u16 {
    r.status().as_u16()
}

/// An 8 MiB form body.
async fn oversized_body_gets_4xx(target: &Target) {
    let huge = "a".repeat(8 << 20);
    let r = target
        .http
        .post(target.url("/oauth/token"))
        .basic_auth("client0", Some("secret0"))
        .header("content-type", "application/x-www-form-urlencoded")
        // The server answers without reading the upload and closes: a pooled connection would
        // race that close and fail the next request (seen once in a full run).
        .header("connection", "close")
        .body(format!("grant_type=client_credentials&junk={huge}"))
        .send()
        .await;
    // The server may refuse before reading it all (413) or cut the upload off.
    if let Ok(r) = r {
        assert!((400..500).contains(&status(r)), "oversized body gets 4xx");
    }
}

async fn malformed_forms_get_4xx(target: &Target) {
    for body in [
        "grant_type",
        "%%%",
        "grant_type=client_credentials&grant_type=refresh_token",
        "\u{0}\u{1}",
    ] {
        let r = target
            .http
            .post(target.url("/oauth/token"))
            .basic_auth("client0", Some("secret0"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!((400..500).contains(&status(r)), "malformed form {body:?}");
    }
}

async fn malformed_json_gets_4xx(target: &Target) {
    for body in ["{", "[]", "{\"refreshToken\": 5}", "null", "\"\u{0}\""] {
        let r = target
            .http
            .post(target.url("/api/v2/webdeployments/token/refresh"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!((400..500).contains(&status(r)), "malformed JSON {body:?}");
    }
}

async fn garbage_basic_credentials_get_4xx(target: &Target) {
    let r = target
        .http
        .post(target.url("/oauth/token"))
        .header("authorization", "Basic !!!not-base64")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert!((400..500).contains(&status(r)), "garbage Basic credentials");
}

/// Thousands of headers on one raw request.
async fn header_flood_is_refused_or_cut_off(target: &Target) {
    let mut stream = tokio::net::TcpStream::connect(target.server.addr())
        .await
        .unwrap();
    let mut request = String::from("GET /api/v2/externalcontacts/contacts HTTP/1.1\r\nhost: x\r\n");
    for i in 0..5000 {
        request.push_str(&format!("x-flood-{i}: {}\r\n", "v".repeat(64)));
    }
    request.push_str("\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .unwrap_or(Ok(0))
        .unwrap_or(0);
    let head = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(
        n == 0 || head.starts_with("HTTP/1.1 4"),
        "a header flood is refused or cut off: {head}"
    );
}

async fn still_serving(target: &Target) {
    let token = target.access_token(0).await;
    assert_eq!(target.contacts(&token).await.status(), 200);
}
