//! Latency charts from the report's HdrHistograms: the percentile spectrum and the log-bucket
//! histogram per endpoint (one line per side, so two SDK versions overlay), and refresh wait times.

use super::style::{self, legend, variant_color, FAMILY};
use super::{histogram, Body, Chart, DrawResult, PlotError, Side};
use crate::metrics::latency::new_histogram;
use crate::report::model::EndpointReport;
use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// The spectrum runs to 99.999 %: x = 1/(1-p) from 1 to 10^5.
const DECADES: f64 = 5.0;
const SPECTRUM_POINTS: usize = 200;
/// Histogram buckets per factor of ten.
const BINS_PER_DECADE: f64 = 10.0;

pub struct Line {
    label: String,
    color: RGBColor,
    /// (1/(1-p), ms)
    points: Vec<(f64, f64)>,
}

pub struct Spectrum {
    lines: Vec<Line>,
    y_max: f64,
}

pub struct Bars {
    label: String,
    color: RGBColor,
    /// Bucket index (log10(ms) * BINS_PER_DECADE, floored) -> count.
    bins: BTreeMap<i32, u64>,
}

pub struct Distribution {
    bars: Vec<Bars>,
    y_desc: &'static str,
}

fn endpoint<'a>(side: &Side<'a>, name: &str) -> &'a EndpointReport {
    let e = &side.variant.endpoints;
    match name {
        "token" => &e.token,
        "refresh" => &e.refresh,
        _ => &e.contacts,
    }
}

/// Every outcome's histogram of one endpoint, added up.
fn merged(side: &Side, name: &str) -> Result<Option<Histogram<u64>>, PlotError> {
    let mut all: Option<Histogram<u64>> = None;
    for (outcome, text) in &endpoint(side, name).histograms {
        let h = histogram(text, || {
            format!(
                "variant {}: endpoints.{name}.histograms.{outcome}",
                side.variant.name
            )
        })?;
        // The sum auto-resizes, so adding cannot run out of range.
        let _ = all.get_or_insert_with(new_histogram).add(&h);
    }
    Ok(all.filter(|h| !h.is_empty()))
}

fn names(sides: &[Side]) -> String {
    sides
        .iter()
        .map(|s| s.label.as_str())
        .collect::<Vec<_>>()
        .join(" vs ")
}

pub fn spectrum(name: &str, sides: &[Side]) -> Result<Option<Chart>, PlotError> {
    let mut lines = Vec::new();
    let mut y_max: f64 = 0.0;
    for (i, side) in sides.iter().enumerate() {
        let Some(h) = merged(side, name)? else {
            continue;
        };
        let points: Vec<(f64, f64)> = (0..=SPECTRUM_POINTS)
            .map(|k| {
                let x = 10f64.powf(DECADES * k as f64 / SPECTRUM_POINTS as f64);
                let ms = h.value_at_quantile(1.0 - 1.0 / x) as f64 / 1000.0;
                (x, ms)
            })
            .collect();
        y_max = y_max.max(h.max() as f64 / 1000.0);
        lines.push(Line {
            label: format!("{} ({} calls)", side.label, h.len()),
            color: variant_color(i),
            points,
        });
    }
    if lines.is_empty() {
        return Ok(None);
    }
    Ok(Some(Chart {
        file: format!("latency-percentiles-{name}"),
        title: format!("{name} latency by percentile: {}", names(sides)),
        caption: format!(
            "Latency of every {name} call at each percentile, 0 % to 99.999 %; the x axis stretches \
             the tail (log of 1/(1-p)), so where a line bends upward is where latency bends."
        ),
        body: Body::Spectrum(Spectrum {
            lines,
            y_max: style::top(y_max),
        }),
    }))
}

fn bins_of(h: &Histogram<u64>) -> BTreeMap<i32, u64> {
    let mut bins = BTreeMap::new();
    for v in h.iter_recorded() {
        let ms = (v.value_iterated_to().max(1)) as f64 / 1000.0;
        let bin = (ms.log10() * BINS_PER_DECADE).floor() as i32;
        *bins.entry(bin).or_default() += v.count_at_value();
    }
    bins
}

pub fn distribution(name: &str, sides: &[Side]) -> Result<Option<Chart>, PlotError> {
    let mut bars = Vec::new();
    for (i, side) in sides.iter().enumerate() {
        if let Some(h) = merged(side, name)? {
            bars.push(Bars {
                label: side.label.clone(),
                color: variant_color(i),
                bins: bins_of(&h),
            });
        }
    }
    if bars.is_empty() {
        return Ok(None);
    }
    Ok(Some(Chart {
        file: format!("latency-histogram-{name}"),
        title: format!("{name} latency histogram: {}", names(sides)),
        caption: format!(
            "How many {name} calls took how long, in buckets ten to a factor of ten (log x axis): \
             a second hump is a second population, such as calls that waited for a refresh."
        ),
        body: Body::Distribution(Distribution {
            bars,
            y_desc: "calls per bucket",
        }),
    }))
}

/// Wait time of callers blocked on somebody else's refresh; none when no side had waiters.
pub fn waits(sides: &[Side]) -> Result<Option<Chart>, PlotError> {
    let mut bars = Vec::new();
    for (i, side) in sides.iter().enumerate() {
        let Some(text) = &side.variant.refresh.wait_histogram else {
            continue;
        };
        let h = histogram(text, || {
            format!("variant {}: refresh.wait_histogram", side.variant.name)
        })?;
        if !h.is_empty() {
            bars.push(Bars {
                label: format!("{} ({} waits)", side.label, h.len()),
                color: variant_color(i),
                bins: bins_of(&h),
            });
        }
    }
    if bars.is_empty() {
        return Ok(None);
    }
    Ok(Some(Chart {
        file: "refresh-waits".into(),
        title: format!("Time callers waited on a refresh: {}", names(sides)),
        caption: "Callers that found a refresh already under way and waited for it (single-flight \
                  or lock): how long, in log-spaced buckets. Sides with no waiting caller are absent."
            .into(),
        body: Body::Distribution(Distribution {
            bars,
            y_desc: "callers per bucket",
        }),
    }))
}

pub fn draw_spectrum<DB>(s: &Spectrum, title: &str, root: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 20))
        .margin(14)
        .margin_right(34)
        .x_label_area_size(46)
        .y_label_area_size(64)
        .build_cartesian_2d((1f64..10f64.powf(DECADES)).log_scale(), 0f64..s.y_max)?;
    style::mesh(&mut chart.configure_mesh(), 13)
        .x_desc("percentile (log of 1/(1-p))")
        .y_desc("latency (ms)")
        .x_label_formatter(&|x| style::percent(1.0 - 1.0 / x))
        .y_label_formatter(&|y| style::ms(*y))
        .draw()?;
    for line in &s.lines {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(&line.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

pub fn draw_distribution<DB>(
    d: &Distribution,
    title: &str,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let lo = d
        .bars
        .iter()
        .filter_map(|b| b.bins.keys().next())
        .min()
        .copied()
        .unwrap_or(0);
    let hi = d
        .bars
        .iter()
        .filter_map(|b| b.bins.keys().next_back())
        .max()
        .copied()
        .unwrap_or(0);
    let edge = |i: i32| 10f64.powf(f64::from(i) / BINS_PER_DECADE);
    let y_max = d
        .bars
        .iter()
        .flat_map(|b| b.bins.values())
        .copied()
        .max()
        .unwrap_or(0) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 20))
        .margin(14)
        .margin_right(34)
        .x_label_area_size(46)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (edge(lo)..edge(hi + 1)).log_scale(),
            0f64..style::top(y_max),
        )?;
    style::mesh(&mut chart.configure_mesh(), 13)
        .x_desc("latency (ms, log scale)")
        .y_desc(d.y_desc)
        .x_label_formatter(&|x| style::ms(*x))
        .y_label_formatter(&|y| style::count(*y))
        .draw()?;
    for bars in &d.bars {
        let color = bars.color;
        chart.draw_series(bars.bins.iter().map(|(&i, &n)| {
            Rectangle::new(
                [(edge(i), 0.0), (edge(i + 1), n as f64)],
                color.mix(0.3).filled(),
            )
        }))?;
        // The outline as a step line keeps overlapping sides readable.
        let mut steps = Vec::new();
        for i in lo..=hi {
            let n = bars.bins.get(&i).copied().unwrap_or(0) as f64;
            steps.push((edge(i), n));
            steps.push((edge(i + 1), n));
        }
        chart
            .draw_series(LineSeries::new(steps, color.stroke_width(2)))?
            .label(&bars.label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}
