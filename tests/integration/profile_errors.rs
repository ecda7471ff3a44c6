//! Profile validation: every kind of mistake is reported with its key and line, all at once.

use std::path::Path;
use tokenstorm::profile::{parse, Located, ProfileError};

const GOOD: &str = r#"duration = "10s"
[server]
token_ttl = "15s"
[load]
orgs = 2
sessions = 10
rate = "100/s"
[[variant]]
name = "a"
[variant.client]
token_scope = "org"
trigger = "reactive"
"#;

fn problems(text: &str) -> Vec<Located> {
    match parse(text, Path::new("t.toml")) {
        Err(ProfileError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("profile was accepted:\n{text}"),
    }
}

/// Replaces the first occurrence of `from` in the good profile.
fn with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

fn assert_one(text: &str, key: &str, line: usize, says: &str) {
    let p = problems(text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].key, key, "{p:?}");
    assert_eq!(p[0].line, Some(line), "{p:?}");
    assert!(
        p[0].message.contains(says),
        "`{}` should contain `{says}`",
        p[0].message
    );
}

#[test]
fn the_good_profile_parses() {
    assert!(parse(GOOD, Path::new("t.toml")).is_ok());
}

#[test]
fn unknown_keys_name_the_key_and_line() {
    assert_one(
        &with("orgs = 2", "orgs = 2\nograns = 3"),
        "load.ograns",
        6,
        "unknown field `ograns`",
    );
    assert_one(
        &with("duration", "durashun = 1\nduration"),
        "durashun",
        1,
        "unknown field",
    );
}

#[test]
fn wrong_types_name_the_key_and_line() {
    assert_one(
        &with("orgs = 2", "orgs = \"two\""),
        "load.orgs",
        5,
        "invalid type",
    );
    assert_one(
        &with("rate = \"100/s\"", "rate = \"quick\""),
        "load.rate",
        7,
        "not a rate",
    );
    assert_one(
        &with("token_ttl = \"15s\"", "token_ttl = \"soon\""),
        "server.token_ttl",
        3,
        "not a duration",
    );
    assert_one(
        &with("trigger = \"reactive\"", "trigger = \"sometimes\""),
        "variant[0].client.trigger",
        12,
        "unknown variant",
    );
    assert_one(
        &with(
            "token_ttl = \"15s\"",
            "token_ttl = \"15s\"\nexpiry_precision = \"milli\"",
        ),
        "server.expiry_precision",
        4,
        "unknown variant `milli`, expected `second` or `exact`",
    );
}

#[test]
fn values_out_of_range_name_the_key_and_line() {
    assert_one(
        &with("token_ttl = \"15s\"", "token_ttl = \"0s\""),
        "server.token_ttl",
        3,
        "at least 1s",
    );
    assert_one(&with("orgs = 2", "orgs = 0"), "load.orgs", 5, "at least 1");
    assert_one(
        &with("orgs = 2", "orgs = 2\nmax_connections = 0"),
        "load.max_connections",
        6,
        "at least 1",
    );
    assert_one(
        &with("rate = \"100/s\"", "rate = \"0/s\""),
        "load.rate",
        7,
        "more than 0/s",
    );
    assert_one(
        &with("duration = \"10s\"", "duration = \"0s\""),
        "duration",
        1,
        "more than 0s",
    );
    assert_one(
        &with("name = \"a\"", "name = \"a b/c\""),
        "variant[0].name",
        9,
        "letters, digits",
    );
}

#[test]
fn inconsistencies_name_the_key_and_line() {
    assert_one(
        &with("sessions = 10", "sessions = 1"),
        "load.sessions",
        6,
        "at least load.orgs (2)",
    );
    let trigger = |to: &str| with("trigger = \"reactive\"", to);
    assert_one(
        &trigger("trigger = \"margin\""),
        "variant[0].client.margin",
        10,
        "needs a margin",
    );
    assert_one(
        &trigger("trigger = \"reactive\"\nmargin = \"2s\""),
        "variant[0].client.margin",
        13,
        "only applies to trigger",
    );
    assert_one(
        &trigger("trigger = \"two-window\"\nmargin = \"5s\"\nadvisory = \"2s\""),
        "variant[0].client.advisory",
        14,
        "longer than margin",
    );
    assert_one(
        &trigger("trigger = \"reactive\"\npartner_credentials = \"primary\""),
        "variant[0].client.partner_credentials",
        13,
        "load.partners",
    );
    assert_one(
        &with("orgs = 2", "orgs = 2\nmax_connections = 8\nconnections = 4"),
        "load.max_connections",
        6,
        "open model only",
    );
    let twice = format!("{GOOD}[[variant]]\nname = \"a\"\nclient = \"naive\"\n");
    assert_one(&twice, "variant[1].name", 14, "used by an earlier variant");
}

#[test]
fn missing_sections_are_reported() {
    let p = problems("duration = \"1s\"\n[[variant]]\nname = \"a\"\nclient = \"naive\"\n");
    assert!(p[0].message.contains("missing field `load`"), "{p:?}");
    assert_one(
        &with("token_scope = \"org\"\n", ""),
        "variant[0].client.token_scope",
        10,
        "is required",
    );
}

#[test]
fn presets_resolve_and_unknown_presets_are_errors() {
    let text = GOOD.replace(
        "[variant.client]\ntoken_scope = \"org\"\ntrigger = \"reactive\"\n",
        "client = \"genesys-messenger\"\n",
    );
    let profile = parse(&text, Path::new("t.toml")).unwrap();
    assert_eq!(profile.variants[0].client.retries_on_401, Some(3));
    assert_one(
        &text.replace("genesys-messenger", "genesys-messengr"),
        "variant[0].client",
        10,
        "unknown client preset `genesys-messengr`",
    );
    let over = GOOD.replace(
        "token_scope = \"org\"\n",
        "preset = \"go-oauth2\"\ntoken_scope = \"session\"\n",
    );
    let over = over.replace("trigger = \"reactive\"\n", "");
    let profile = parse(&over, Path::new("t.toml")).unwrap();
    let c = &profile.variants[0].client;
    assert_eq!(
        c.token_scope,
        Some(tokenstorm::profile::schema::TokenScope::Session),
        "inline wins"
    );
    assert_eq!(
        c.margin.map(|m| m.0.as_secs()),
        Some(10),
        "the rest comes from the preset"
    );
}

#[test]
fn a_preset_file_next_to_the_profile_is_used_and_its_errors_name_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("clients")).unwrap();
    std::fs::write(
        dir.path().join("clients/mine.toml"),
        "description = \"x\"\ntoken_scope = \"org\"\ntriger = \"reactive\"\n",
    )
    .unwrap();
    let text = GOOD.replace(
        "[variant.client]\ntoken_scope = \"org\"\ntrigger = \"reactive\"\n",
        "client = \"mine\"\n",
    );
    let err = parse(&text, &dir.path().join("p.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("clients/mine.toml, line 3: unknown field `triger`"),
        "{err}"
    );
}

#[test]
fn all_problems_come_back_together() {
    let text = with("orgs = 2", "orgs = 0").replace("token_ttl = \"15s\"", "token_ttl = \"0s\"");
    let p = problems(&text);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["load.orgs", "server.token_ttl"], "{p:?}");
}

#[test]
fn validate_command_exits_2_and_prints_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, with("sessions = 10", "sessions = 1")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokenstorm"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:6: load.sessions: must be at least"),
        "{stderr}"
    );

    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_tokenstorm"))
        .args(["validate", "profiles/default.toml"])
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn problems_of_every_kind_come_back_in_one_pass() {
    // A misspelt key, a value that does not parse and a misspelt preset, all in one report.
    let text = with("token_ttl", "token_tll")
        .replace("rate = \"100/s\"", "rate = \"quick\"")
        .replace(
            "[variant.client]\ntoken_scope = \"org\"\ntrigger = \"reactive\"\n",
            "client = \"nave\"\n",
        );
    let p = problems(&text);
    let found: Vec<(&str, Option<usize>)> = p.iter().map(|p| (p.key.as_str(), p.line)).collect();
    assert_eq!(
        found,
        [
            ("server.token_tll", Some(3)),
            ("load.rate", Some(7)),
            ("variant[0].client", Some(10)),
        ],
        "{p:#?}"
    );
    assert!(
        p[0].message
            .starts_with("unknown field `token_tll`: did you mean `token_ttl`?"),
        "{p:?}"
    );
    assert!(p[1].message.contains("not a rate"), "{p:?}");
    assert!(
        p[2].message
            .starts_with("unknown client preset `nave`: did you mean `naive`?"),
        "{p:?}"
    );
}

#[test]
fn a_bad_value_of_a_required_key_does_not_hide_what_follows() {
    // `orgs` and `duration` are required: reading goes on past them, and their absence is not a
    // problem of its own.
    let text = with("orgs = 2", "orgs = \"two\"")
        .replace("duration = \"10s\"", "duration = \"long\"")
        .replace("trigger = \"reactive\"", "trigger = \"reactiv\"");
    let p = problems(&text);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["duration", "load.orgs", "variant[0].client.trigger"],
        "{p:#?}"
    );
    assert!(p[2].message.contains("did you mean `reactive`?"), "{p:?}");
}

#[test]
fn a_misspelt_required_key_is_unknown_and_then_missing() {
    let p = problems(&with("duration", "duraton"));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!((p[0].key.as_str(), p[0].line), ("duraton", Some(1)));
    assert!(
        p[0].message
            .starts_with("unknown field `duraton`: did you mean `duration`?"),
        "{p:?}"
    );
    // `duration` may be left out when stages give the run's length, so its absence is a check of
    // the whole profile, made once every key reads.
    let p = problems(&GOOD.replacen("duration = \"10s\"\n", "", 1));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].key, "duration");
    assert!(
        p[0].message
            .contains("is required (or give [[load.stage]]s)"),
        "{p:?}"
    );
}

#[test]
fn range_checks_wait_until_every_key_reads() {
    // Checked against stand-ins, `sessions` would be judged by an `orgs` the file does not have.
    let p = problems(&with("orgs = 2", "orgs = \"two\"").replace("sessions = 10", "sessions = 1"));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].key, "load.orgs");
}

#[test]
fn messaging_server_keys_name_their_key_and_line() {
    let with_messaging = |table: &str| format!("{GOOD}[server.messaging]\n{table}");
    // GOOD has 12 lines; `[server.messaging]` is line 13. A list's entries are placed at its key.
    assert_one(
        &with_messaging("max_text_bytes = 0"),
        "server.messaging.max_text_bytes",
        14,
        "from 1 to 65536",
    );
    assert_one(
        &with_messaging("allowed_origins = [\"https://a.example\",\n  \"nope\"]"),
        "server.messaging.allowed_origins[1]",
        14,
        "not an origin",
    );
    assert_one(
        &with_messaging("[server.messaging.faults]\ndrop_all_at = [\"20s\", \"10s\"]"),
        "server.messaging.faults.drop_all_at[1]",
        15,
        "later than",
    );
    // A deployment's own list: `[[server.orgs]]` is line 13, `org` 14, `allowed_origins` 15.
    assert_one(
        &format!("{GOOD}[[server.orgs]]\norg = 1\nallowed_origins = [\"https://a.example/x\"]"),
        "server.orgs[0].allowed_origins[0]",
        15,
        "not an origin",
    );
    assert_one(
        &format!("{GOOD}[[server.orgs]]\norg = 2\nallowed_origins = []"),
        "server.orgs[0].org",
        14,
        "has 2 orgs",
    );
    assert_one(
        &with_messaging("sesion_duration = \"1h\""),
        "server.messaging.sesion_duration",
        14,
        "unknown field",
    );
}

#[test]
fn messaging_source_addresses_name_the_entry_and_its_line() {
    let text = r#"duration = "10s"
[load]
orgs = 1
sessions = 10
[sessions]
arrival = "uniform"
arrival_rate = "5/s"
length = { dist = "fixed", value = "3s" }
think = { dist = "fixed", value = "1s" }
[messaging]
source_addresses = ["127.0.0.2",
  "127.0.0.300"]
[[variant]]
name = "widget"
client = "genesys-messenger"
"#;
    // A list's entries are placed at its key: line 11.
    assert_one(
        text,
        "messaging.source_addresses[1]",
        11,
        "not an IP address",
    );
}
