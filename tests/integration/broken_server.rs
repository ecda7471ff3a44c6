//! A deliberately broken server on 127.0.0.1: every way a response can be wrong is classified as an
//! outcome, never an error or a panic.

use std::time::Duration;
use tokenstorm::http::{Api, ApiConfig, BadTokenBody, CallVars, Credentials, Grant};
use tokenstorm::profile::template::Template;
use tokenstorm::secret::Secret;
use tokenstorm::vocabulary::Outcome;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers by the request path with hand-written bytes, so nothing is cleaned up by an HTTP library.
async fn broken_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let ok = |body: &str, kind: &str| {
                    format!("HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
                };
                let reply = match path.as_str() {
                    "/garbage" => ok("this is not json", "application/json"),
                    "/no-token" => ok(r#"{"token_type":"Bearer","expires_in":60}"#, "application/json"),
                    "/string-expiry" => ok(r#"{"access_token":"tok-1","token_type":"Bearer","expires_in":"3599"}"#, "application/json"),
                    "/fraction-expiry" => ok(r#"{"access_token":"tok-1","expires_in":"3599.5"}"#, "application/json"),
                    "/word-expiry" => ok(r#"{"access_token":"tok-1","expires_in":"abc"}"#, "application/json"),
                    "/crlf-token" => ok(r#"{"access_token":"tok\r\nX-Injected: yes","expires_in":60}"#, "application/json"),
                    "/html" => ok("<html><body>login</body></html>", "text/html"),
                    "/truncated" => "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n{\"access_token\":\"ab".to_owned(),
                    "/huge" => {
                        let body = "x".repeat(2 << 20);
                        ok(&body, "application/json")
                    }
                    "/trickle" => {
                        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n").await;
                        for _ in 0..50 {
                            if socket.write_all(b"x").await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        return;
                    }
                    "/reset" => return,
                    "/not-http" => "SSH-2.0-OpenSSH_9.6\r\n".to_owned(),
                    _ => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_owned(),
                };
                let _ = socket.write_all(reply.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    addr
}

fn api(base: &str, token_path: &str, contacts_path: &str) -> Api {
    let mut config = ApiConfig::embedded(base, Duration::from_secs(1));
    config.token.url = format!("{base}{token_path}");
    config.call.url = Template::parse(contacts_path).unwrap().prefixed(base);
    Api::new(&config).unwrap()
}

/// `expires_in` as a digit string is taken; anything else wrong in a token body is `bad_response`
/// naming the field, and an access token that could not go into a header is refused here.
async fn token_bodies_are_read_as_real_clients_read_them(base: &str, creds: Credentials<'_>) {
    let issued = api(base, "/string-expiry", "/x")
        .token(creds, Grant::ClientCredentials)
        .await;
    assert_eq!(issued.outcome, Outcome::Ok);
    assert_eq!(
        issued.value.and_then(|i| i.expires_in),
        Some(Duration::from_secs(3599)),
        "a numeric string, as golang.org/x/oauth2 and MSAL read it"
    );
    let named = [
        ("/fraction-expiry", BadTokenBody::ExpiresIn),
        ("/word-expiry", BadTokenBody::ExpiresIn),
        // Refused at the token endpoint, so no API call ever carries it.
        ("/crlf-token", BadTokenBody::AccessTokenCharacters),
        ("/no-token", BadTokenBody::NoAccessToken),
        ("/garbage", BadTokenBody::NotJson),
    ];
    for (path, why) in named {
        let reply = api(base, path, "/x")
            .token(creds, Grant::ClientCredentials)
            .await;
        assert_eq!(reply.outcome, Outcome::BadResponse, "{path}");
        assert_eq!(reply.bad_body, Some(why), "{path}");
    }
}

#[test]
fn every_broken_response_is_a_classified_outcome() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let addr = broken_server().await;
        let base = format!("http://{addr}");
        let secret = Secret::new("s");
        let creds = Credentials {
            org: "o",
            session: 0,
            client_id: "c",
            client_secret: &secret,
            deployment_id: "d",
        };
        let vars = CallVars {
            org: "o",
            org_index: 0,
            session: 0,
            deployment_id: "d",
        };
        let token_cases = [
            ("/garbage", Outcome::BadResponse),
            ("/no-token", Outcome::BadResponse),
            ("/html", Outcome::BadResponse),
            ("/truncated", Outcome::BadResponse),
            ("/huge", Outcome::BadResponse),
            ("/trickle", Outcome::Timeout),
            ("/reset", Outcome::ConnectError),
            ("/not-http", Outcome::ConnectError),
            ("/missing", Outcome::ClientError),
        ];
        for (path, want) in token_cases {
            let reply = api(&base, path, "/x")
                .token(creds, Grant::ClientCredentials)
                .await;
            assert_eq!(reply.outcome, want, "token endpoint {path}");
            assert!(reply.value.is_none(), "{path}");
        }
        token_bodies_are_read_as_real_clients_read_them(&base, creds).await;
        let contacts_cases = [
            ("/huge", Outcome::BadResponse),
            ("/trickle", Outcome::Timeout),
            ("/reset", Outcome::ConnectError),
            ("/truncated", Outcome::BadResponse),
        ];
        for (path, want) in contacts_cases {
            let reply = api(&base, "/x", path).contacts(&secret, vars).await;
            assert_eq!(reply.outcome, want, "contacts {path}");
        }
        // TLS against a server that speaks plain HTTP: the handshake fails.
        let tls = api(&format!("https://{addr}"), "/garbage", "/garbage");
        assert_eq!(
            tls.contacts(&secret, vars).await.outcome,
            Outcome::ConnectError
        );
        // Nothing listening at all.
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let nobody = api(&format!("http://{closed}"), "/t", "/c");
        assert_eq!(
            nobody.token(creds, Grant::ClientCredentials).await.outcome,
            Outcome::ConnectError
        );
    });
}
