//! A reused keep-alive connection that the server closes as the next request is written (its idle
//! timeout running out at that moment): the request fails before any byte of an answer. Idempotent
//! calls and `client_credentials` grants go out again on a new connection and are counted as
//! resends, not failures; a POST, an authorization code and a refresh token are never sent twice.
//!
//! The race is made deterministic, not timed: the servers here answer only the first request of each
//! connection and close it when the client writes a second one, which the client only does after it
//! read the whole first answer and found the connection still open.

use super::remote_http::embedded_profile;
use super::remote_support::{report_of, run_bin, runtime, text};
use super::simulator_support::config;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokenstorm::http::{Api, ApiConfig, CallVars};
use tokenstorm::profile::template::Template;
use tokenstorm::report::model::VariantReport;
use tokenstorm::secret::Secret;
use tokenstorm::vocabulary::Outcome;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Requests a server closed a connection at without answering, by what they asked for.
#[derive(Default)]
struct Cut {
    connections: AtomicU64,
    api: AtomicU64,
    token: AtomicU64,
}

impl Cut {
    fn count(&self, request: &[u8]) {
        let line = request.split(|b| *b == b'\r').next().unwrap_or_default();
        let counter = match line.windows(6).any(|w| w == b"/oauth") {
            true => &self.token,
            false => &self.api,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// Forwards each connection's first request to `upstream` and relays the answer; when the client
/// writes on the connection again, closes it without a word. Nothing cut reaches `upstream`.
async fn cutting_proxy(upstream: SocketAddr) -> (String, Arc<Cut>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let cut = Arc::new(Cut::default());
    let counts = cut.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            counts.connections.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(first_request_only(client, upstream, counts.clone()));
        }
    });
    (base, cut)
}

async fn first_request_only(mut client: TcpStream, upstream: SocketAddr, cut: Arc<Cut>) {
    let Ok(mut up) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut from_client, mut to_upstream) = (vec![0u8; 16 << 10], vec![0u8; 64 << 10]);
    let mut answered = false;
    loop {
        tokio::select! {
            n = client.read(&mut from_client) => match n {
                Ok(n) if n > 0 && !answered => {
                    if up.write_all(&from_client[..n]).await.is_err() {
                        return;
                    }
                }
                // The client's second request: the connection is "closed for idleness" under it.
                Ok(n) if n > 0 => return cut.count(&from_client[..n]),
                _ => return,
            },
            n = up.read(&mut to_upstream) => match n {
                Ok(n) if n > 0 => {
                    answered = true;
                    if client.write_all(&to_upstream[..n]).await.is_err() {
                        return;
                    }
                }
                _ => return,
            },
        }
    }
}

/// A server of its own that answers each connection's first request with a 200 and closes the
/// connection at the second, unanswered.
async fn answer_once_server() -> (String, Arc<Cut>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let cut = Arc::new(Cut::default());
    let counts = cut.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counts.connections.fetch_add(1, Ordering::SeqCst);
            let counts = counts.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 << 10];
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                // Requests here are small and written at once: one read holds one request.
                if !matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {
                    return;
                }
                if socket.write_all(reply).await.is_err() {
                    return;
                }
                if let Ok(n @ 1..) = socket.read(&mut buf).await {
                    counts.count(&buf[..n]);
                }
            });
        }
    });
    (base, cut)
}

fn api(base: &str, method: http::Method) -> Api {
    let mut config = ApiConfig::embedded(base, Duration::from_secs(5));
    config.call.url = Template::parse("/x").unwrap().prefixed(base);
    config.call.method = method;
    Api::new(&config).unwrap()
}

const VARS: CallVars = CallVars {
    org: "o",
    org_index: 0,
    session: 0,
    deployment_id: "d",
};

#[test]
fn get_calls_on_a_connection_closed_under_them_go_out_again_and_are_counted() {
    runtime().block_on(async {
        let (base, cut) = answer_once_server().await;
        let api = api(&base, http::Method::GET);
        let token = Secret::new("tok");
        let mut replies = Vec::new();
        for _ in 0..10 {
            replies.push(api.contacts(&token, VARS).await);
        }
        assert!(replies.iter().all(|r| r.outcome == Outcome::Ok));
        // The first call opened the connection; each later one met the previous connection closing.
        let resent: Vec<bool> = replies.iter().map(|r| r.resent).collect();
        assert_eq!(resent, [[false].as_slice(), &[true; 9]].concat());
        assert_eq!(cut.api.load(Ordering::SeqCst), 9);
        assert_eq!(cut.connections.load(Ordering::SeqCst), 10);
    });
}

#[test]
fn a_post_is_not_sent_twice_it_stays_a_connect_error() {
    runtime().block_on(async {
        let (base, cut) = answer_once_server().await;
        let api = api(&base, http::Method::POST);
        let token = Secret::new("tok");
        let mut outcomes = Vec::new();
        for _ in 0..6 {
            let reply = api.contacts(&token, VARS).await;
            assert!(!reply.resent);
            outcomes.push(reply.outcome);
        }
        // A lost POST's connection is gone, so the next call opens a new one and is answered.
        let (ok, lost) = (Outcome::Ok, Outcome::ConnectError);
        assert_eq!(outcomes, [ok, lost, ok, lost, ok, lost]);
        assert_eq!(cut.api.load(Ordering::SeqCst), 3);
    });
}

fn run_through_cutting_proxy(client: &str) -> (VariantReport, Arc<Cut>, u64) {
    let rt = runtime();
    let server = rt
        .block_on(tokenstorm::simulator::Server::start(
            config(2, Duration::from_secs(1)),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let (base, cut) = rt.block_on(cutting_proxy(server.addr()));
    let dir = tempfile::tempdir().unwrap();
    let profile = embedded_profile(&base, "rfc6749", client);
    let env = [("S0", "secret0"), ("S1", "secret1")];
    let out = run_bin(dir.path(), &profile, &env, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = report_of(dir.path());
    let v = &report.variants[0];
    if let Some(resends) = v
        .endpoints
        .contacts
        .stale_connection_resends
        .filter(|n| *n > 0)
    {
        // Said where users look, since they are not failures.
        let summary = text(&out.stdout);
        assert!(summary.contains(&format!("resent    Sent again on a new connection after the server closed an idle one under them: contacts {resends}")), "{summary}");
        let page = std::fs::read_to_string(dir.path().join("out/index.html")).unwrap();
        assert!(page.contains(&format!(
            "closed an idle one under them: contacts {resends}, "
        )));
    }
    let truth = server.truth().total.contacts;
    let answered = truth.ok
        + truth.unauthorized
        + truth.forbidden
        + truth.rate_limited
        + truth.server_error
        + truth.client_error;
    (v.clone(), cut, answered)
}

fn resends(v: &VariantReport) -> [u64; 3] {
    let e = &v.endpoints;
    [&e.contacts, &e.token, &e.refresh].map(|r| r.stale_connection_resends.unwrap_or(u64::MAX))
}

#[test]
fn client_credentials_grants_and_api_calls_are_resent_none_fails() {
    let (v, cut, answered) = run_through_cutting_proxy(r#""naive""#);
    let e = &v.endpoints;
    for (name, r) in [
        ("contacts", &e.contacts),
        ("token", &e.token),
        ("refresh", &e.refresh),
    ] {
        assert_eq!(
            r.outcomes[Outcome::ConnectError],
            0,
            "{name}: {:?}",
            r.outcomes
        );
    }
    let [contacts, token, refresh] = resends(&v);
    assert!(
        cut.api.load(Ordering::SeqCst) > 0,
        "the run reused connections"
    );
    assert_eq!(contacts, cut.api.load(Ordering::SeqCst));
    assert_eq!(token + refresh, cut.token.load(Ordering::SeqCst));
    // A resend is one call: the server answered exactly the calls the report counts.
    assert_eq!(e.contacts.requests, answered);
}

#[test]
fn a_refresh_token_grant_is_never_resent() {
    let client =
        r#"{ token_scope = "session", trigger = "reactive", refresh_grant = "refresh_token" }"#;
    let (v, cut, answered) = run_through_cutting_proxy(client);
    let e = &v.endpoints;
    let [contacts, token, refresh] = resends(&v);
    assert_eq!(e.contacts.outcomes[Outcome::ConnectError], 0);
    assert_eq!(contacts, cut.api.load(Ordering::SeqCst));
    assert_eq!(
        (token, refresh),
        (0, 0),
        "codes and refresh tokens go out once"
    );
    let lost = e.token.outcomes[Outcome::ConnectError] + e.refresh.outcomes[Outcome::ConnectError];
    let cut_token = cut.token.load(Ordering::SeqCst);
    assert!(cut_token > 0, "refreshes met reused connections");
    assert_eq!(lost, cut_token, "every grant cut is a connect_error");
    assert_eq!(e.contacts.requests, answered);
}
