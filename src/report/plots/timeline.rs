//! The run over time, one panel per question: calls by outcome, latency, the token endpoint, load.
//! Every side's chart shares its panels' scales, so a flat line next to a spike reads as one.

use super::style::{self, legend, lighter, variant_color, Group, FAMILY, INK};
use super::{histogram, slug, Body, Chart, DrawResult, PlotError, Side};
use crate::report::model::{Bucket, TimeSeries};
use plotters::coord::Shift;
use plotters::prelude::*;

const SCHEDULED: RGBColor = RGBColor(150, 150, 150);
const TOKEN_CALLS: RGBColor = RGBColor(170, 110, 0);
const IN_FLIGHT: RGBColor = RGBColor(60, 80, 110);
const DROPPED: RGBColor = RGBColor(190, 70, 0);
const STAGE: RGBColor = RGBColor(110, 110, 110);

struct Line {
    label: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

pub struct Panel {
    y_desc: &'static str,
    lines: Vec<Line>,
    y_max: f64,
}

pub struct Timeline {
    x_max: f64,
    panels: Vec<Panel>,
    /// Where each stage begins (seconds) and its name: a marked line on every panel.
    stages: Vec<(f64, String)>,
}

impl Timeline {
    pub fn panels(&self) -> usize {
        self.panels.len()
    }
}

fn line(label: &str, color: RGBColor, points: Vec<(f64, f64)>) -> Line {
    Line {
        label: label.to_owned(),
        color,
        dashed: false,
        points,
    }
}

/// Counts per bucket as rates per second.
fn rate(series: &TimeSeries, f: impl Fn(&Bucket) -> u64) -> Vec<(f64, f64)> {
    let width = series.bucket_s.max(f64::MIN_POSITIVE);
    series
        .buckets
        .iter()
        .map(|b| (b.t_s, f(b) as f64 / width))
        .collect()
}

/// Levels per bucket (in-flight maxima), not counts: no division by the bucket width.
fn level(series: &TimeSeries, f: impl Fn(&Bucket) -> u64) -> Vec<(f64, f64)> {
    series
        .buckets
        .iter()
        .map(|b| (b.t_s, f(b) as f64))
        .collect()
}

fn panels(side: &Side, index: usize) -> Result<Vec<Panel>, PlotError> {
    let series = &side.variant.timeseries;
    let calls = line("ok", Group::Ok.color(), outcome_group(series, 0));
    let mut scheduled = line("scheduled/s", SCHEDULED, rate(series, |b| b.scheduled));
    scheduled.dashed = true;
    let color = variant_color(index);
    let (p50, p99) = latency_quantiles(side)?;
    let mut in_flight_refreshes = line(
        "refreshes in flight (max)",
        IN_FLIGHT,
        level(series, |b| b.refreshes_in_flight_max),
    );
    in_flight_refreshes.dashed = true;
    let token_calls = rate(series, |b| b.token.total() + b.refresh.total());
    let in_flight = level(series, |b| b.requests_in_flight_max);
    let panels = vec![
        ("API calls/s", vec![calls, scheduled]),
        ("API calls/s not ok", failure_lines(series)),
        (
            "request latency (ms)",
            vec![line("p99", color, p99), line("p50", lighter(color), p50)],
        ),
        (
            "token calls/s, in flight",
            vec![
                line("token + refresh calls/s", TOKEN_CALLS, token_calls),
                in_flight_refreshes,
            ],
        ),
        (
            "in flight, dropped/s",
            vec![
                line("requests in flight (max)", IN_FLIGHT, in_flight),
                line("dropped/s", DROPPED, rate(series, |b| b.dropped)),
            ],
        ),
    ];
    let mut panels = panels;
    if side.variant.sessions.is_some() {
        panels.push(("sessions alive, per s", session_lines(series)));
    }
    Ok(panels
        .into_iter()
        .map(|(y_desc, lines)| panel(y_desc, lines))
        .collect())
}

/// Sessions with a life: how many are alive, and how many arrive and end each second.
fn session_lines(series: &TimeSeries) -> Vec<Line> {
    let mut ends = line("ended/s", DROPPED, rate(series, |b| b.session_ends));
    ends.dashed = true;
    vec![
        line(
            "sessions alive",
            IN_FLIGHT,
            level(series, |b| b.active_sessions),
        ),
        line(
            "arrived/s",
            TOKEN_CALLS,
            rate(series, |b| b.session_arrivals),
        ),
        ends,
    ]
}

fn outcome_group(series: &TimeSeries, g: usize) -> Vec<(f64, f64)> {
    rate(series, |b| Group::split(&b.contacts)[g])
}

fn failure_lines(series: &TimeSeries) -> Vec<Line> {
    let mut failures = Vec::new();
    for (g, grp) in Group::ALL.iter().enumerate().skip(1) {
        let points = outcome_group(series, g);
        // 401 always shows, so a clean run draws its flat line; the rest only when they occurred.
        if g == 1 || points.iter().any(|p| p.1 > 0.0) {
            failures.push(line(grp.label(), grp.color(), points));
        }
    }
    failures
}

/// p50 and p99 of each bucket's latency histogram, in milliseconds.
type Quantiles = (Vec<(f64, f64)>, Vec<(f64, f64)>);

fn latency_quantiles(side: &Side) -> Result<Quantiles, PlotError> {
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for b in &side.variant.timeseries.buckets {
        let Some(text) = &b.latency_histogram else {
            continue;
        };
        let h = histogram(text, || {
            format!(
                "variant {}: timeseries bucket at {} s",
                side.variant.name, b.t_s
            )
        })?;
        p50.push((b.t_s, h.value_at_quantile(0.5) as f64 / 1000.0));
        p99.push((b.t_s, h.value_at_quantile(0.99) as f64 / 1000.0));
    }
    Ok((p50, p99))
}

fn panel(y_desc: &'static str, lines: Vec<Line>) -> Panel {
    let max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    Panel {
        y_desc,
        lines,
        y_max: style::top(max),
    }
}

/// Failed API calls per second, every side on one chart: the first thing to look at.
pub fn overview(sides: &[Side]) -> Chart {
    let mut x_max: f64 = 1.0;
    let mut lines = Vec::new();
    for (i, side) in sides.iter().enumerate() {
        let series = &side.variant.timeseries;
        let width = series.bucket_s.max(f64::MIN_POSITIVE);
        if let Some(last) = series.buckets.last() {
            x_max = x_max.max(last.t_s + series.bucket_s);
        }
        let points: Vec<(f64, f64)> = series
            .buckets
            .iter()
            .map(|b| (b.t_s, b.contacts.failures() as f64 / width))
            .collect();
        let failed = side.variant.endpoints.contacts.outcomes.failures();
        lines.push(line(
            &format!("{} ({failed} not ok)", side.label),
            variant_color(i),
            points,
        ));
    }
    let max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let names: Vec<&str> = sides.iter().map(|s| s.label.as_str()).collect();
    Chart {
        file: "failed-calls".into(),
        title: format!("API calls not ok per second: {}", names.join(" vs ")),
        caption: "Every API call that did not succeed (401, 429, invalid_grant or another error), \
                  per second of each variant's run, all variants on one chart: a client that \
                  meets expired tokens spikes at each expiry, one that refreshes in time stays flat at 0."
            .into(),
        body: Body::Timeline(Timeline {
            x_max,
            panels: vec![Panel {
                y_desc: "API calls/s not ok",
                lines,
                y_max: style::top(max),
            }],
            stages: sides.first().map(stage_marks).unwrap_or_default(),
        }),
    }
}

pub fn chart(side: &Side, sides: &[Side]) -> Result<Chart, PlotError> {
    let index = sides
        .iter()
        .position(|s| s.label == side.label)
        .unwrap_or(0);
    let mut own = panels(side, index)?;
    let mut x_max: f64 = 1.0;
    for (i, other) in sides.iter().enumerate() {
        let series = &other.variant.timeseries;
        if let Some(last) = series.buckets.last() {
            x_max = x_max.max(last.t_s + series.bucket_s);
        }
        for (mine, theirs) in own.iter_mut().zip(panels(other, i)?) {
            mine.y_max = mine.y_max.max(theirs.y_max);
        }
    }
    let width = side.variant.timeseries.bucket_s;
    Ok(Chart {
        file: format!("timeline-{}", slug(&side.label)),
        title: format!("Over the run: {}", side.label),
        caption: format!(
            "Per {} s bucket from the variant's start: API calls that succeeded and those that did \
             not (by outcome), request latency p50 and p99, calls to the token endpoint and the most \
             refreshes in flight, the most requests in flight and arrivals dropped{}. Every side \
             shares each panel's scale.",
            style::ms(width),
            match side.variant.sessions {
                Some(_) => "; sessions alive at each bucket's end, and sessions arrived and ended per second",
                None => "",
            }
        ),
        body: Body::Timeline(Timeline {
            x_max,
            panels: own,
            stages: stage_marks(side),
        }),
    })
}

/// A `0s` stage (a jump) starts where the next one does: only the stage that lasts is marked.
fn stage_marks(side: &Side) -> Vec<(f64, String)> {
    side.variant
        .stages
        .iter()
        .filter(|s| s.end_s > s.start_s)
        .map(|s| (s.start_s, s.name.clone()))
        .collect()
}

pub fn draw<DB>(t: &Timeline, title: &str, root: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let root = root.titled(title, (FAMILY, 20))?;
    let areas = root.split_evenly((t.panels.len(), 1));
    let last = t.panels.len().saturating_sub(1);
    for (i, (panel, area)) in t.panels.iter().zip(&areas).enumerate() {
        let mut chart = ChartBuilder::on(area)
            .margin(8)
            .x_label_area_size(if i == last { 42 } else { 22 })
            .y_label_area_size(64)
            // A little room below 0, so a line flat at zero shows above the axis instead of on it.
            .build_cartesian_2d(0f64..t.x_max, -0.03 * panel.y_max..panel.y_max)?;
        let mut mesh = chart.configure_mesh();
        style::mesh(&mut mesh, 12)
            .y_desc(panel.y_desc)
            .x_labels(12)
            .y_labels(4)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| style::count(*y));
        if i == last {
            mesh.x_desc("seconds since the variant started");
        }
        mesh.draw()?;
        for (at, name) in &t.stages {
            let top = panel.y_max;
            chart.draw_series(DashedLineSeries::new(
                [(*at, -0.03 * top), (*at, top)],
                3,
                3,
                STAGE.stroke_width(1),
            ))?;
            if i == 0 {
                chart.draw_series(std::iter::once(Text::new(
                    name.clone(),
                    (*at, top),
                    (FAMILY, 11).into_font().color(&STAGE),
                )))?;
            }
        }
        for l in &panel.lines {
            let color = l.color;
            let style = color.stroke_width(if t.panels.len() == 1 { 3 } else { 2 });
            let drawn = if l.dashed {
                chart.draw_series(DashedLineSeries::new(l.points.iter().copied(), 6, 4, style))?
            } else {
                chart.draw_series(LineSeries::new(l.points.iter().copied(), style))?
            };
            drawn.label(&l.label).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        }
        if panel.lines.iter().all(|l| l.points.is_empty()) {
            chart.draw_series(std::iter::once(Text::new(
                "no data",
                (t.x_max * 0.45, panel.y_max * 0.5),
                (FAMILY, 14).into_font().color(&INK),
            )))?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}
