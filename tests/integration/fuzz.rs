//! Property tests over untrusted input: profiles, token-endpoint bodies and report files. Whatever
//! the bytes, the answer is a value or a clear error, never a panic. `PROPTEST_CASES=100000 cargo
//! nextest run fuzz` runs them longer.

use proptest::prelude::*;
use std::path::Path;
use tokenstorm::http::outcome::{classify_api, classify_token_error};
use tokenstorm::vocabulary::Outcome;

const PROFILE: &str = include_str!("../../profiles/default.toml");

/// Lines a mutated profile may gain: valid keys with odd values, and plain junk.
const LINES: &[&str] = &[
    "orgs = -1",
    "sessions = 1e99",
    "rate = \"1/fortnight\"",
    "token_ttl = \"\"",
    "margin = \"-3s\"",
    "[[variant]]",
    "[load]",
    "client = { preset = \"preset\" }",
    "client = \"../../etc/passwd\"",
    "\"contacts.p99_ms\" = \"<\"",
    "[thresholds]",
    "x = [1, \"a\", {b = 2}]",
    "= = =",
    "\u{0}\u{feff}",
    "duration = 18446744073709551615",
];

proptest! {
    // Failures are reported with their minimal input; no regression files are written into the repo.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_text_parses_or_errors_with_lines_inside_the_file(text in ".{0,400}") {
        check_profile(&text)?;
    }

    #[test]
    fn a_mutated_profile_parses_or_errors_with_lines_inside_the_file(
        edits in proptest::collection::vec((0usize..80, 0usize..LINES.len(), any::<bool>()), 1..6)
    ) {
        let mut lines: Vec<String> = PROFILE.lines().map(str::to_owned).collect();
        for (at, pick, insert) in edits {
            let at = at % (lines.len() + 1);
            if insert || at == lines.len() {
                lines.insert(at, LINES[pick].to_owned());
            } else {
                lines.remove(at);
            }
        }
        check_profile(&lines.join("\n"))?;
    }

    /// Whatever the body says, the status decides where RFC 6585 and 9110 leave no choice: 429 is
    /// rate limiting and 5xx the server's failure; a token error is never `ok`, and the API's outcome
    /// follows its status class alone.
    #[test]
    fn token_error_bodies_always_classify(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let token = classify_token_error(status, &body);
        prop_assert_ne!(token, Outcome::Ok);
        match status {
            429 => prop_assert_eq!(token, Outcome::RateLimited),
            500..=599 => prop_assert_eq!(token, Outcome::ServerError),
            _ => {}
        }
        let api = classify_api(status);
        let want = match status {
            200..=299 => Outcome::Ok,
            401 => Outcome::Unauthorized,
            403 => Outcome::Forbidden,
            429 => Outcome::RateLimited,
            400..=499 => Outcome::ClientError,
            500..=599 => Outcome::ServerError,
            _ => Outcome::BadResponse,
        };
        prop_assert_eq!(api, want);
    }

    /// A body that is an RFC 6749 5.2 error names its own outcome, whatever else it holds.
    #[test]
    fn an_oauth_error_code_decides_a_4xx_token_answer(
        status in 400u16..429,
        code in prop::sample::select(vec!["invalid_grant", "invalid_client"]),
        extra in "[a-z ]{0,40}",
    ) {
        let body = format!(r#"{{"error":"{code}","error_description":"{extra}"}}"#);
        let want = if code == "invalid_grant" { Outcome::InvalidGrant } else { Outcome::InvalidClient };
        prop_assert_eq!(classify_token_error(status, body.as_bytes()), want);
    }

    #[test]
    fn report_files_load_or_error(cut in 0usize..100_000, flip in 0usize..100_000, byte in any::<u8>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = sample_report().into_bytes();
        let flip = flip % bytes.len();
        bytes[flip] = byte;
        bytes.truncate(cut % (bytes.len() + 1));
        let path = dir.path().join("report.json");
        std::fs::write(&path, &bytes).unwrap();
        let _ = tokenstorm::report::load(&path);
    }
}

fn check_profile(text: &str) -> Result<(), TestCaseError> {
    let lines = text.lines().count().max(1);
    if let Err(tokenstorm::profile::ProfileError::Invalid { problems, .. }) =
        tokenstorm::profile::parse(text, Path::new("p.toml"))
    {
        prop_assert!(!problems.is_empty());
        for p in problems {
            prop_assert!(
                p.line.is_none_or(|l| l >= 1 && l <= lines + 1),
                "{p:?} in a file of {lines} lines"
            );
            prop_assert!(!p.message.is_empty());
        }
    }
    Ok(())
}

/// A small real report, made once.
fn sample_report() -> String {
    static REPORT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    REPORT
        .get_or_init(|| {
            let ran = super::support::run_profile(
                "duration = \"1s\"\n[load]\norgs = 1\nsessions = 2\nrate = \"20/s\"\n[[variant]]\nname = \"v\"\nclient = \"naive\"\n",
            );
            std::fs::read_to_string(&ran.report_path).unwrap()
        })
        .clone()
}

#[test]
fn corrupt_histograms_are_an_error_not_a_panic() {
    for bad in [
        "",
        "AAAA",
        "not base64 at all",
        "HISTFAAAACR4nJNpmSzMwMDAxQABzFCaEUzOmNZg",
    ] {
        assert!(tokenstorm::report::histogram::decode(bad).is_err(), "{bad}");
    }
}
