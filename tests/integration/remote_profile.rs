//! Validation of `[target] kind = "http"`: every mistake named with its key and line, all at once.

use std::path::Path;
use tokenstorm::profile::{parse, Located, ProfileError};

const GOOD: &str = r#"duration = "10s"
[target]
kind = "http"
token_base = "https://login.example.test"
api_base = "https://api.example.test"
[target.api]
path = "/api/v2/externalcontacts/contacts/{contact_id}"
contact_ids = ["c1"]
[[target.orgs]]
name = "acme"
client_id = "acme-client"
client_secret_env = "ACME_SECRET"
[load]
orgs = 1
sessions = 10
rate = "10/s"
[[variant]]
name = "a"
client = "naive"
"#;

fn problems(text: &str) -> Vec<Located> {
    match parse(text, Path::new("t.toml")) {
        Err(ProfileError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("profile was accepted:\n{text}"),
    }
}

fn with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

fn assert_has(p: &[Located], key: &str, line: usize, says: &str) {
    assert!(
        p.iter()
            .any(|x| x.key == key && x.line == Some(line) && x.message.contains(says)),
        "no `{key}` at line {line} saying `{says}` in {p:#?}"
    );
}

#[test]
fn the_good_http_profile_parses() {
    let profile = parse(GOOD, Path::new("t.toml")).unwrap();
    assert!(profile.target.http().is_some());
}

#[test]
fn urls_paths_methods_headers_and_templates_are_checked() {
    let p = problems(
        &with("https://login.example.test", "ftp://login")
            .replace(
                "path = \"/api",
                "method = \"G E T\"\nheaders = { authorization = \"x\" }\npath = \"/api",
            )
            .replace("contact_ids = [\"c1\"]", "contact_ids = []"),
    );
    assert_has(&p, "target.token_base", 4, "http:// or https://");
    assert_has(&p, "target.api.method", 7, "not an HTTP method");
    assert_has(
        &p,
        "target.api.headers.\"authorization\"",
        8,
        "secrets never live in a profile",
    );
    assert_has(&p, "target.api.contact_ids", 10, "{contact_id} is used");
    // An unknown variable is refused while parsing, at its line.
    let p = problems(&with("{contact_id}", "{contactid}"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].line, Some(7));
    assert!(
        p[0].message.contains("unknown variable `{contactid}`"),
        "{p:?}"
    );
}

#[test]
fn credentials_orgs_and_dialects_are_checked() {
    // A secret must come from somewhere, and orgs must match load.orgs.
    let p = problems(
        &with("client_secret_env = \"ACME_SECRET\"\n", "")
            .replace("orgs = 1", "orgs = 2\npartners = 0"),
    );
    assert_has(
        &p,
        "target.orgs[0].client_secret_env",
        9,
        "environment variable",
    );
    assert_has(&p, "target.orgs", 9, "load.orgs is 2");
    // A secret in the profile itself is an unknown key.
    let p = problems(&with(
        "client_id = \"acme-client\"",
        "client_secret = \"hunter2\"",
    ));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].message.contains("unknown field `client_secret`"),
        "{p:?}"
    );
    assert!(!p[0].message.contains("hunter2"), "{p:?}");
    // web-deployments: deployment ids, a code, and no client_credentials clients.
    let p = problems(&with(
        "kind = \"http\"",
        "kind = \"http\"\ndialect = \"web-deployments\"",
    ));
    assert_has(&p, "target.orgs[0].deployment_id", 10, "web-deployments");
    assert_has(
        &p,
        "variant[0].client.refresh_grant",
        20,
        "no client_credentials grant",
    );
    let p = problems(&with(
        "client = \"naive\"",
        "client = \"genesys-messenger\"",
    ));
    assert_has(&p, "target.auth_code", 2, "auth_code");
    // mTLS needs both halves; timeouts must be positive.
    let p = problems(&with(
        "[target.api]",
        "[target.tls]\nclient_cert = \"c.pem\"\n[target.http]\nconnect_timeout = \"0s\"\n[target.api]",
    ));
    assert_has(&p, "target.tls.client_cert", 7, "client_key");
    assert_has(&p, "target.http.connect_timeout", 9, "more than 0s");
    // The embedded target's settings mean nothing to a real one.
    let p = problems(&format!("{GOOD}[server]\ntoken_ttl = \"15s\"\n"));
    assert_has(&p, "server", 20, "embedded target only");
}
