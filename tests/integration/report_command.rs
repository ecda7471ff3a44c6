//! `tokenstorm report`: re-rendering a saved report into a self-contained page, and bad reports refused.

use super::plots::FIXTURE;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tokenstorm");

#[test]
fn report_renders_a_self_contained_page_and_every_plot_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["report", FIXTURE, "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    for needed in [
        "tokenstorm report: fixture",
        "naive, coalesced",
        "embedded",
        "<svg",
        "Expiry lens: naive",
        "refresh-herds",
    ] {
        assert!(page.contains(needed), "index.html lacks {needed}");
    }
    // Opens from disk with nothing fetched: no script, stylesheet, font or image from elsewhere.
    for banned in ["<script", "<link", "@import", "url(", "<img", "https://"] {
        assert!(!page.contains(banned), "index.html contains {banned}");
    }
    let without_xmlns = page.replace("http://www.w3.org/2000/svg", "");
    assert!(!without_xmlns.contains("http://"), "index.html links out");
    let svgs = page.matches("<svg").count();
    assert_eq!(svgs, 13, "one inline SVG per chart");
    let plots = dir.path().join("plots");
    let mut files: Vec<String> = std::fs::read_dir(&plots)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 26, "{files:?}");
    assert!(files.contains(&"expiry-lens-naive.png".to_owned()));
    assert!(files.contains(&"timeline-coalesced.svg".to_owned()));
}

#[test]
fn bad_reports_are_refused_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["variants"][0]["endpoints"]["contacts"]["histograms"]["ok"] = "!!not base64!!".into();
    let corrupt = dir.path().join("corrupt.json");
    std::fs::write(&corrupt, value.to_string()).unwrap();
    let missing = dir.path().join("missing.json");
    for (path, says) in [
        (&garbage, "is not a tokenstorm report"),
        (&corrupt, "endpoints.contacts.histograms.ok"),
        (&missing, "cannot read report"),
    ] {
        let out = Command::new(BIN)
            .arg("report")
            .arg(path)
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        assert!(stderr.contains(says), "{}: {stderr}", path.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn compare_writes_a_page_with_both_sides_overlaid() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["compare", FIXTURE, "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("index.html"), "{stdout}");
    let page = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    for needed in [
        "tokenstorm comparison",
        "contacts.p99_ms",
        "base: naive (1613 calls)",
        "candidate: coalesced (1600 calls)",
        "Expiry lens: candidate: coalesced",
    ] {
        assert!(page.contains(needed), "the comparison page lacks {needed}");
    }
    assert_eq!(page.matches("<svg").count(), 13);
    assert!(dir
        .path()
        .join("plots/expiry-lens-base-naive.svg")
        .is_file());
}
