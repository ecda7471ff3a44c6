//! JUnit XML for CI test-report views: one test suite per variant, one test case per threshold.

use super::model::{Report, ThresholdResult};
use std::fmt::Write;

/// A test case with its failure message, if it failed. Shared with `compare`'s regression limits.
pub struct Case<'a> {
    pub suite: &'a str,
    pub name: String,
    pub failure: Option<String>,
}

pub fn from_thresholds(report: &Report) -> String {
    let cases: Vec<Case> = report.thresholds.iter().map(case).collect();
    render("tokenstorm", &cases)
}

fn case(t: &ThresholdResult) -> Case<'_> {
    let observed = t.observed.map_or("no value".to_owned(), |v| format!("{v}"));
    Case {
        suite: &t.variant,
        name: format!("{} {}", t.metric, t.condition),
        failure: (!t.passed)
            .then(|| format!("{} was {observed}, wanted {}", t.metric, t.condition)),
    }
}

/// Groups cases by suite in order of first appearance.
pub fn render(name: &str, cases: &[Case]) -> String {
    let mut suites: Vec<(&str, Vec<&Case>)> = Vec::new();
    for c in cases {
        match suites.iter_mut().find(|(s, _)| *s == c.suite) {
            Some((_, list)) => list.push(c),
            None => suites.push((c.suite, vec![c])),
        }
    }
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{failures}\">",
        escape(name),
        cases.len()
    );
    for (suite, list) in suites {
        let failed = list.iter().filter(|c| c.failure.is_some()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\">",
            escape(suite),
            list.len()
        );
        for c in list {
            let case_name = escape(&c.name);
            let class = escape(&format!("{name}.{suite}"));
            match &c.failure {
                None => {
                    let _ = writeln!(
                        out,
                        "    <testcase name=\"{case_name}\" classname=\"{class}\"/>"
                    );
                }
                Some(message) => {
                    let message = escape(message);
                    let _ = writeln!(
                        out,
                        "    <testcase name=\"{case_name}\" classname=\"{class}\">\n      <failure message=\"{message}\" type=\"threshold\">{message}</failure>\n    </testcase>"
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_counts() {
        let cases = [
            Case {
                suite: "a",
                name: "contacts.p99_ms < 250".into(),
                failure: None,
            },
            Case {
                suite: "a",
                name: "x".into(),
                failure: Some("was 3 & \"more\"".into()),
            },
            Case {
                suite: "b",
                name: "y".into(),
                failure: None,
            },
        ];
        let xml = render("t", &cases);
        assert!(
            xml.contains("<testsuites name=\"t\" tests=\"3\" failures=\"1\">"),
            "{xml}"
        );
        assert!(xml.contains("name=\"contacts.p99_ms &lt; 250\""), "{xml}");
        assert!(xml.contains("was 3 &amp; &quot;more&quot;"), "{xml}");
        assert_eq!(xml.matches("<testsuite ").count(), 2);
    }
}
