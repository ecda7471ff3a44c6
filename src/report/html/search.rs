//! The search section of a run page: the verdict line and a row per step.

use crate::report::histogram::format_ms;
use crate::report::search::{load, SearchReport};
use crate::vocabulary::SearchVerdict;
use serde::Serialize;

#[derive(Serialize)]
pub struct Section {
    unit: &'static str,
    verdict: String,
    rows: Vec<Row>,
    spread: Option<String>,
}

#[derive(Serialize)]
struct Row {
    class: &'static str,
    cells: Vec<String>,
}

/// The page's badge for a search: what it found, not whether the answer's gates passed (they do).
pub fn badge(s: &SearchReport) -> (&'static str, &'static str) {
    match s.verdict {
        SearchVerdict::Found => ("KNEE FOUND", "pass"),
        SearchVerdict::AboveRange => ("ABOVE RANGE", "none"),
        SearchVerdict::StartFails => ("START FAILS", "fail"),
        SearchVerdict::Interrupted => ("INTERRUPTED", "none"),
    }
}

pub fn section(s: &SearchReport) -> Section {
    let pct = |v: f64| format!("{:.2} %", 100.0 * v);
    let rows = s
        .steps
        .iter()
        .map(|st| Row {
            class: if st.held { "better" } else { "worse" },
            cells: vec![
                load(st.load),
                st.kind.name().to_owned(),
                if st.held { "holds" } else { "fails" }.to_owned(),
                format_ms(st.contacts_p50_ms, " "),
                format_ms(st.contacts_p99_ms, " "),
                st.token_p99_ms
                    .map_or_else(|| "-".to_owned(), |v| format_ms(v, " ")),
                pct(st.unauthorized_rate),
                pct(st.rate_limited_rate),
                pct(st.invalid_grant_rate),
                pct(st.error_rate),
                st.herd_max.to_string(),
                st.dropped.to_string(),
                st.failed
                    .iter()
                    .map(crate::report::search::failure)
                    .collect::<Vec<_>>()
                    .join("; "),
            ],
        })
        .collect();
    Section {
        unit: s.grow.unit(),
        verdict: s.verdict_line(),
        rows,
        spread: s.spread(),
    }
}
