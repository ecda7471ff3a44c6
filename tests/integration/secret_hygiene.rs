//! Secrets stay secret: real runs with known client secrets (from the environment and from credentials
//! files) against a server that issues known access and refresh tokens, then every output of every run
//! (stdout, stderr, every file of the report folder, JUnit, debug renderings) is searched for them.

use super::platform_support::Platform;
use super::remote_support::{files_under, run_bin, runtime, serve_plain, text, write_private};
use base64::Engine as _;
use std::path::Path;
use std::time::Duration;
use tokenstorm::plan::{self, credentials, Overrides};

const ENV_SECRET: &str = "EnvSecret-5b1f0c7e";
const FILE_SECRET: &str = "FileSecret-93ad44e2";
const TOKEN_PREFIX: &str = "KnownTok9c2e";

fn profile(base: &str, credentials_file: &str) -> String {
    format!(
        r#"
duration = "2s"
[target]
kind = "http"
token_base = "{base}"
api_base = "{base}"
auth_code = "code-{{session}}"
credentials_file = "{credentials_file}"
[[target.orgs]]
name = "envorg"
client_id = "env-client"
client_secret_env = "HYGIENE_SECRET"
[[target.orgs]]
name = "fileorg"
[load]
orgs = 2
sessions = 4
rate = "20/s"
drain = "2s"
[thresholds]
"contacts.unauthorized_rate" = "< 0.5"
[[variant]]
name = "org-tokens"
client = "naive"
[[variant]]
name = "session-tokens"
client = {{ token_scope = "session", trigger = "reactive", refresh_grant = "refresh_token" }}
"#
    )
}

/// Everything a secret might leak as: the values, their Basic encodings, the tokens the server issued.
fn forbidden() -> Vec<String> {
    let basic = |id: &str, secret: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    };
    vec![
        ENV_SECRET.to_owned(),
        FILE_SECRET.to_owned(),
        basic("env-client", ENV_SECRET),
        basic("file-client", FILE_SECRET),
        format!("tok-{TOKEN_PREFIX}"),
        format!("rt-{TOKEN_PREFIX}"),
        TOKEN_PREFIX.to_owned(),
    ]
}

fn assert_clean(what: &str, haystack: &str) {
    for needle in forbidden() {
        assert!(
            !haystack.contains(&needle),
            "{what} contains `{needle}`:\n{haystack}"
        );
    }
}

fn assert_outputs_clean(label: &str, out: &std::process::Output, report_dir: &Path) {
    assert_clean(&format!("{label} stdout"), &text(&out.stdout));
    assert_clean(&format!("{label} stderr"), &text(&out.stderr));
    if report_dir.exists() {
        for file in files_under(report_dir) {
            let bytes = std::fs::read(&file).unwrap();
            assert_clean(&file.display().to_string(), &text(&bytes));
        }
    }
}

#[test]
fn no_output_of_any_run_holds_a_secret_or_a_token() {
    let rt = runtime();
    let platform = Platform::new(Duration::from_secs(1), TOKEN_PREFIX);
    let (addr, _task) = rt.block_on(serve_plain(platform.router()));
    let base = format!("http://{addr}");
    let creds = tempfile::tempdir().unwrap();
    let toml_file = creds.path().join("creds.toml");
    write_private(
        &toml_file,
        &format!(
            "[orgs.fileorg]\nclient_id = \"file-client\"\nclient_secret = \"{FILE_SECRET}\"\n"
        ),
    );
    let csv_file = creds.path().join("creds.csv");
    write_private(
        &csv_file,
        &format!("org,client_id,client_secret\nfileorg,file-client,{FILE_SECRET}\n"),
    );
    let env = [("HYGIENE_SECRET", ENV_SECRET)];

    for file in [&toml_file, &csv_file] {
        let dir = tempfile::tempdir().unwrap();
        let text_of = profile(&base, &file.display().to_string());
        let junit = dir.path().join("out").join("junit.xml");
        let out = run_bin(
            dir.path(),
            &text_of,
            &env,
            &["--junit", junit.to_str().unwrap()],
        );
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).contains("running variant session-tokens"));
        assert!(text(&out.stdout).contains("== session-tokens"));
        assert_outputs_clean("run", &out, &dir.path().join("out"));
        let json = run_bin(dir.path(), &text_of, &env, &["--json"]);
        assert_outputs_clean("run --json", &json, &dir.path().join("out"));
        let dry = run_bin(dir.path(), &text_of, &env, &["--dry-run"]);
        assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stdout));
        assert_outputs_clean("dry run", &dry, &dir.path().join("out"));
        // A wrong secret makes every token request fail: the errors must not show it either.
        let wrong = run_bin(
            dir.path(),
            &text_of,
            &[("HYGIENE_SECRET", "x")],
            &["--dry-run"],
        );
        assert_outputs_clean("dry run, wrong secret", &wrong, dir.path());
    }

    // The run really used both secrets and really got tokens back, so the checks above meant something.
    let seen = platform.seen.lock().unwrap();
    let auths: Vec<&String> = seen.token_auth.iter().flatten().collect();
    for needle in &forbidden()[2..4] {
        assert!(auths.iter().any(|a| a.contains(needle.as_str())));
    }
    assert!(seen.token_forms.iter().any(|f| f
        .get("refresh_token")
        .is_some_and(|r| r.contains(TOKEN_PREFIX))));
    assert!(seen.api_ok > 0 && seen.api_unauthorized > 0);
}

#[test]
fn debug_renderings_of_a_plan_with_credentials_hide_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    let file = dir.path().join("creds.toml");
    write_private(
        &file,
        &format!(
            "[orgs.fileorg]\nclient_id = \"file-client\"\nclient_secret = \"{FILE_SECRET}\"\n"
        ),
    );
    std::fs::write(&path, profile("https://login.example.test", "creds.toml")).unwrap();
    let loaded = tokenstorm::profile::load(&path).unwrap();
    let mut plan = plan::build(&loaded, &Overrides::default()).unwrap();
    credentials::attach(&mut plan, dir.path(), &|var| {
        (var == "HYGIENE_SECRET").then(|| ENV_SECRET.to_owned())
    })
    .unwrap();
    assert_eq!(plan.orgs[0].client_secret.expose(), ENV_SECRET);
    assert_eq!(plan.orgs[1].client_secret.expose(), FILE_SECRET);
    let debug = format!("{plan:?} {:#?}", plan.orgs);
    assert_clean("Debug of the plan", &debug);
    assert!(debug.contains("[redacted]"));
    assert_eq!(plan.orgs[1].client_secret.to_string(), "[redacted]");
}

#[test]
fn credentials_files_others_can_read_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("creds.toml");
    write_private(
        &file,
        &format!(
            "[orgs.fileorg]\nclient_id = \"file-client\"\nclient_secret = \"{FILE_SECRET}\"\n"
        ),
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let env = [("HYGIENE_SECRET", ENV_SECRET)];
    let out = run_bin(
        dir.path(),
        &profile("http://127.0.0.1:9", "creds.toml"),
        &env,
        &["--dry-run"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("readable by group or others (mode 644)"),
        "{stderr}"
    );
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert_clean("refusal", &stderr);

    // Owner-only, but malformed: the error names the line, not the text on it.
    write_private(
        &file,
        &format!("[orgs.fileorg]\nclient_id = \"file-client\"\nclient_secret = \"{FILE_SECRET}\n"),
    );
    let bad = run_bin(
        dir.path(),
        &profile("http://127.0.0.1:9", "creds.toml"),
        &env,
        &["--dry-run"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("creds.toml:3"),
        "{}",
        text(&bad.stderr)
    );
    assert_clean("parse error", &text(&bad.stderr));
}

#[test]
fn debug_output_of_a_target_configuration_hides_the_client_key() {
    let dir = tempfile::tempdir().unwrap();
    let key_material = "PrivateKeyMaterial-77e1d0";
    std::fs::write(
        dir.path().join("client.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    write_private(
        &dir.path().join("client.key"),
        &format!("-----BEGIN PRIVATE KEY-----\n{key_material}\n-----END PRIVATE KEY-----\n"),
    );
    let text = profile("https://login.example.test", "creds.toml").replacen(
        "[[target.orgs]]",
        "[target.tls]\nclient_cert = \"client.pem\"\nclient_key = \"client.key\"\n[[target.orgs]]",
        1,
    );
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    let loaded = tokenstorm::profile::load(&path).unwrap();
    let plan = plan::build(&loaded, &Overrides::default()).unwrap();
    let http = plan.profile.target.http().unwrap();
    let config = tokenstorm::app::remote::api_config(&plan, http).unwrap();
    let identity = config.transport.identity_pem.as_ref().unwrap();
    assert!(identity.expose().contains(key_material), "the key was read");
    let debug = format!("{config:?}");
    assert!(!debug.contains(key_material), "{debug}");
}
