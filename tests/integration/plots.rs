//! Every chart rendered from a fixed report (tests/fixtures/report.json, from tests/fixtures/fixture.toml):
//! the SVGs parse and hold their series and labels, the PNGs decode, and long runs and big herds
//! stay readable.

use std::collections::BTreeMap;
use std::path::Path;
use tokenstorm::report::model::{Bucket, Report};
use tokenstorm::report::plots::{self, Chart, Side};

pub const FIXTURE: &str = "tests/fixtures/report.json";

pub fn fixture() -> Report {
    tokenstorm::report::load(Path::new(FIXTURE)).expect("the fixture is a valid report")
}

fn sides(report: &Report) -> Vec<Side<'_>> {
    report
        .variants
        .iter()
        .map(|v| Side {
            label: v.name.clone(),
            variant: v,
        })
        .collect()
}

/// All text of an SVG document, each text node on its own line.
fn texts(svg: &str) -> String {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("SVG does not parse: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("\n")
}

/// How many filled rectangles of this colour (`#RRGGBB`) the SVG holds.
fn rects(svg: &str, color: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter(|n| {
            n.attribute("fill")
                .is_some_and(|f| f.eq_ignore_ascii_case(color))
        })
        .count()
}

fn by_file<'a>(charts: &'a [Chart], file: &str) -> &'a Chart {
    charts
        .iter()
        .find(|c| c.file == file)
        .unwrap_or_else(|| panic!("no chart {file}"))
}

#[test]
fn every_chart_renders_with_its_series_and_labels() {
    let report = fixture();
    let charts = plots::charts(&sides(&report), report.server.as_ref()).unwrap();
    charts_come_in_reading_order(&charts);
    every_chart_holds_its_labels(&charts);
    naive_401s_are_bars_and_coalesced_has_none(&charts);
    only_the_coalescing_client_waited(&charts);
}

fn charts_come_in_reading_order(charts: &[Chart]) {
    let files: Vec<&str> = charts.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "failed-calls",
            "expiry-lens-naive",
            "expiry-lens-coalesced",
            "timeline-naive",
            "timeline-coalesced",
            "latency-percentiles-contacts",
            "latency-histogram-contacts",
            "latency-percentiles-token",
            "latency-histogram-token",
            "latency-percentiles-refresh",
            "latency-histogram-refresh",
            "refresh-herds",
            "refresh-waits",
        ]
    );
}

/// Text each chart must show, by chart file, for the fixture report.
const LABELS: &[(&str, &[&str])] = &[
    (
        "expiry-lens-naive",
        &[
            "Expiry lens: naive (reactive, coalesce none)",
            "401",
            "429",
            "invalid_grant",
            "other errors",
            "refresh calls started",
            "expiry",
            "server leeway 1 s",
            "API + refresh calls not ok",
            "API calls ok",
            "seconds from token expiry (send time minus expiry)",
        ],
    ),
    (
        "failed-calls",
        &[
            "API calls not ok per second: naive vs coalesced",
            "naive (13 not ok)",
            "coalesced (0 not ok)",
            "API calls/s not ok",
        ],
    ),
    (
        "expiry-lens-coalesced",
        &["client margin 1 s", "server leeway 1 s", "expiry"],
    ),
    (
        "timeline-naive",
        &[
            "Over the run: naive",
            "API calls/s",
            "API calls/s not ok",
            "scheduled/s",
            "request latency (ms)",
            "p99",
            "p50",
            "token + refresh calls/s",
            "refreshes in flight (max)",
            "requests in flight (max)",
            "dropped/s",
            "seconds since the variant started",
        ],
    ),
    (
        "latency-percentiles-contacts",
        &[
            "contacts latency by percentile: naive vs coalesced",
            "naive (1613 calls)",
            "coalesced (1600 calls)",
            "percentile (log of 1/(1-p))",
            "latency (ms)",
            "0%",
            "99%",
            "99.9%",
        ],
    ),
    (
        "latency-histogram-refresh",
        &[
            "naive",
            "coalesced",
            "latency (ms, log scale)",
            "calls per bucket",
        ],
    ),
    (
        "refresh-herds",
        &[
            "naive (4 generations, mean 3.25, max 5)",
            "coalesced (12 generations, mean 1.00, max 1)",
            "token generations",
            "refresh calls drawn by one token generation",
        ],
    ),
    (
        "refresh-waits",
        &["coalesced (57 waits)", "callers per bucket"],
    ),
];

fn every_chart_holds_its_labels(charts: &[Chart]) {
    let expected: BTreeMap<&str, &[&str]> = LABELS.iter().copied().collect();
    for chart in charts {
        let svg = chart.svg().unwrap();
        let text = texts(&svg);
        for label in expected.get(chart.file.as_str()).copied().unwrap_or(&[]) {
            assert!(
                text.lines().any(|l| l == *label),
                "{}: no text `{label}` in\n{text}",
                chart.file
            );
        }
        assert!(!chart.caption.is_empty() && !chart.title.is_empty());
    }
}

/// The naive client's 401s are drawn as bars, the coalesced one's legend entry stands alone.
fn naive_401s_are_bars_and_coalesced_has_none(charts: &[Chart]) {
    let red = "#D62728";
    let naive = by_file(charts, "expiry-lens-naive").svg().unwrap();
    let coalesced = by_file(charts, "expiry-lens-coalesced").svg().unwrap();
    assert!(rects(&naive, red) > 1, "naive lens has no 401 bars");
    assert_eq!(rects(&coalesced, red), 1, "only the legend swatch is red");
}

fn only_the_coalescing_client_waited(charts: &[Chart]) {
    let waits = texts(&by_file(charts, "refresh-waits").svg().unwrap());
    assert!(!waits.contains("naive ("), "{waits}");
}

#[test]
fn png_files_decode_at_the_chart_size_and_show_the_401_colour() {
    let report = fixture();
    let charts = plots::charts(&sides(&report), report.server.as_ref()).unwrap();
    let lens = by_file(&charts, "expiry-lens-naive");
    let png = lens.png().unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let svg = lens.svg().unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let width: u32 = doc
        .root_element()
        .attribute("width")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(info.width, width);
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let red = pixels
        .chunks(3)
        .filter(|p| p[0] == 214 && p[1] == 39 && p[2] == 40)
        .count();
    assert!(red > 500, "too few 401-red pixels: {red}");
}

#[test]
fn an_hour_long_run_and_a_herd_of_500_stay_readable() {
    let mut report = fixture();
    let v = &mut report.variants[0];
    let template = v.timeseries.buckets[2].clone();
    v.timeseries.bucket_s = 6.0;
    v.timeseries.buckets = (0..600)
        .map(|i| Bucket {
            t_s: 6.0 * f64::from(i),
            ..template.clone()
        })
        .collect();
    v.refresh.per_generation = BTreeMap::from([("1".into(), 3), ("500".into(), 2)]);
    let charts = plots::charts(&sides(&report), report.server.as_ref()).unwrap();

    let timeline = texts(&by_file(&charts, "timeline-naive").svg().unwrap());
    let numbers = timeline
        .lines()
        .filter(|l| l.parse::<f64>().is_ok())
        .count();
    assert!(
        numbers < 120,
        "{numbers} tick labels for 600 buckets: the axes print every bucket"
    );
    assert!(timeline.lines().any(|l| l == "3000"), "{timeline}");

    let herds = texts(&by_file(&charts, "refresh-herds").svg().unwrap());
    assert!(herds.lines().any(|l| l == "257-512"), "{herds}");
    let categories = herds
        .lines()
        .filter(|l| l.chars().all(|c| c.is_ascii_digit() || c == '-') && !l.is_empty())
        .count();
    assert!(categories <= 30, "{categories} labels in the herd chart");
}

#[test]
fn a_run_stopped_before_any_variant_still_gets_its_page() {
    let mut report = fixture();
    report.variants.clear();
    report.interrupted = true;
    let dir = tempfile::tempdir().unwrap();
    let page = tokenstorm::report::pages::write_run(&report, dir.path()).unwrap();
    let text = std::fs::read_to_string(page).unwrap();
    assert!(text.contains("Interrupted"), "{text}");
    let charts = plots::charts(&[], report.server.as_ref()).unwrap();
    let files: Vec<&str> = charts.iter().map(|c| c.file.as_str()).collect();
    assert_eq!(files, ["failed-calls", "refresh-herds"]);
    for chart in &charts {
        texts(&chart.svg().unwrap());
    }
}

#[test]
fn refresh_calls_that_got_invalid_grant_stack_in_the_lens() {
    let mut report = fixture();
    let purple = "#9467BD";
    let lens_of = |report: &Report| {
        let charts = plots::charts(&sides(report), report.server.as_ref()).unwrap();
        by_file(&charts, "expiry-lens-naive").svg().unwrap()
    };
    assert_eq!(
        rects(&lens_of(&report), purple),
        1,
        "only the legend swatch"
    );
    let bin = report.variants[0]
        .expiry_lens
        .bins
        .iter_mut()
        .find(|b| b.offset_s == 1)
        .unwrap();
    bin.refresh_outcomes[tokenstorm::vocabulary::Outcome::InvalidGrant] = 5;
    assert_eq!(
        rects(&lens_of(&report), purple),
        2,
        "a bar for the invalid_grant"
    );
}
