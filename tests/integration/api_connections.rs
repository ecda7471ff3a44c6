//! The API calls' own connection pool, against a hand-written HTTP/1.1 server on 127.0.0.1 that
//! counts connections and keeps what each request looked like on the wire.

use reqwest::header::HeaderName;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokenstorm::http::{Api, ApiConfig, CallVars};
use tokenstorm::profile::template::Template;
use tokenstorm::secret::Secret;
use tokenstorm::vocabulary::Outcome;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

struct Seen {
    connections: usize,
    heads: Vec<String>,
    /// One permit for each connection the server has closed, so a test can wait for a close
    /// instead of sleeping and hoping it happened.
    closed: Arc<tokio::sync::Semaphore>,
    /// Requests arrived so far; no answer goes out before `hold` have (a burst made to overlap).
    arrived: Arc<tokio::sync::watch::Sender<usize>>,
    hold: usize,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            connections: 0,
            heads: Vec::new(),
            closed: Arc::new(tokio::sync::Semaphore::new(0)),
            arrived: Arc::new(tokio::sync::watch::channel(0).0),
            hold: 0,
        }
    }
}

/// Answers every request with a small 200; with `close_after_one`, closes each connection after its
/// first response without saying so (as a server whose keep-alive timeout ran out does).
async fn server(close_after_one: bool) -> (String, Arc<Mutex<Seen>>) {
    server_holding(close_after_one, 0).await
}

/// As `server`, but the first answers wait until `hold` requests have arrived: with fewer
/// connections than that, none would come, so a burst's calls truly overlap on any machine.
async fn server_holding(close_after_one: bool, hold: usize) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen {
        hold,
        ..Seen::default()
    }));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let closed = {
                let mut seen = record.lock().unwrap();
                seen.connections += 1;
                seen.closed.clone()
            };
            let record = record.clone();
            tokio::spawn(async move {
                answer(socket, &record, close_after_one).await;
                // The socket is dropped (closed) by now.
                closed.add_permits(1);
            });
        }
    });
    (base, seen)
}

async fn answer(socket: tokio::net::TcpStream, record: &Mutex<Seen>, close_after_one: bool) {
    let mut socket = BufReader::new(socket);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let (arrived, hold) = {
            let mut seen = record.lock().unwrap();
            seen.heads.push(head);
            seen.arrived.send_replace(seen.heads.len());
            (seen.arrived.clone(), seen.hold)
        };
        let _ = arrived.subscribe().wait_for(|n| *n >= hold).await;
        let reply = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        if socket.write_all(reply.as_bytes()).await.is_err() || close_after_one {
            return;
        }
    }
}

fn api(base: &str, max_idle: Option<usize>) -> Api {
    api_bounded(base, max_idle, None)
}

fn api_bounded(base: &str, max_idle: Option<usize>, max_connections: Option<usize>) -> Api {
    let mut config = ApiConfig::embedded(base, Duration::from_secs(2));
    config.call.url = Template::parse("/x?q=1").unwrap().prefixed(base);
    config.call.headers = vec![(
        HeaderName::from_static("accept"),
        Template::parse("application/json").unwrap(),
    )];
    config.transport.pool_max_idle_per_host = max_idle;
    config.transport.max_api_connections = max_connections;
    Api::new(&config).unwrap()
}

const VARS: CallVars = CallVars {
    org: "o",
    org_index: 0,
    session: 0,
    deployment_id: "d",
};

#[test]
fn calls_reuse_one_connection_and_send_origin_form_with_a_host_and_the_profiles_headers() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (base, seen) = server(false).await;
        let api = api(&base, None);
        let token = Secret::new("tok");
        for _ in 0..20 {
            assert_eq!(api.contacts(&token, VARS).await.outcome, Outcome::Ok);
        }
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.connections, 1,
            "one keep-alive connection for sequential calls"
        );
        assert_eq!(seen.heads.len(), 20);
        let host = base.trim_start_matches("http://");
        for head in &seen.heads {
            assert!(head.starts_with("GET /x?q=1 HTTP/1.1\r\n"), "{head}");
            let head = head.to_ascii_lowercase();
            assert!(head.contains(&format!("host: {host}\r\n")), "{head}");
            assert!(head.contains("authorization: bearer tok\r\n"), "{head}");
            // The profile's header replaces the default, not joins it.
            assert_eq!(head.matches("accept:").count(), 1, "{head}");
            assert!(head.contains("accept: application/json\r\n"), "{head}");
        }
    });
}

#[test]
fn a_connection_the_server_closed_while_idle_is_replaced_not_failed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (base, seen) = server(true).await;
        let api = api(&base, None);
        let token = Secret::new("tok");
        let closed = seen.lock().unwrap().closed.clone();
        for _ in 0..5 {
            assert_eq!(api.contacts(&token, VARS).await.outcome, Outcome::Ok);
            // The next call starts once the server has closed this connection, as a real client's
            // next call comes after the server's idle timeout: the pool must see the close and
            // open a new connection.
            closed.acquire().await.unwrap().forget();
        }
        assert_eq!(seen.lock().unwrap().connections, 5);
    });
}

#[test]
fn no_idle_connections_kept_means_a_connection_per_call() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (base, seen) = server(false).await;
        let api = api(&base, Some(0));
        let token = Secret::new("tok");
        for _ in 0..4 {
            assert_eq!(api.contacts(&token, VARS).await.outcome, Outcome::Ok);
        }
        assert_eq!(seen.lock().unwrap().connections, 4);
    });
}

#[test]
fn a_connection_bound_makes_a_burst_of_calls_share_that_many() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let burst = |api: Api| async move {
            let api = Arc::new(api);
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..40 {
                let api = api.clone();
                calls.spawn(async move { api.contacts(&Secret::new("tok"), VARS).await });
            }
            calls.join_all().await
        };
        // Unbounded, a burst opens a connection per concurrent call: the server answers none until
        // four are in flight, which takes four connections.
        let (base, seen) = server_holding(false, 4).await;
        let replies = burst(api(&base, None)).await;
        assert!(replies.iter().all(|r| r.outcome == Outcome::Ok));
        let unbounded = seen.lock().unwrap().connections;
        assert!(
            unbounded > 3,
            "{unbounded} connections for 40 concurrent calls"
        );

        // Bounded at 3, and the server holds its answers until 3 are in flight: exactly 3 connections.
        let (base, seen) = server_holding(false, 3).await;
        let replies = burst(api_bounded(&base, None, Some(3))).await;
        assert!(replies.iter().all(|r| r.outcome == Outcome::Ok));
        assert_eq!(seen.lock().unwrap().connections, 3);
        assert_eq!(seen.lock().unwrap().heads.len(), 40);
    });
}
