//! The knee of a capacity search: each step a point, load on x; contacts p99 above, the share of
//! calls not ok and of 401s below; the answer and the first failing load marked.

use super::style::{self, legend, Group, FAMILY, MUTED};
use super::{Body, Chart, DrawResult};
use crate::report::search::{self, SearchReport};
use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

pub struct Knee {
    /// Per step: load, contacts p99 (ms), share not ok, share of 401s, whether every gate held.
    steps: Vec<(f64, f64, f64, f64, bool)>,
    holds: Option<f64>,
    breaks: Option<f64>,
    /// What grew, for the x axis.
    unit: &'static str,
}

const HELD: RGBColor = RGBColor(44, 160, 44);
const FAILED: RGBColor = RGBColor(214, 39, 40);

pub fn chart(s: &SearchReport) -> Chart {
    let steps = s
        .steps
        .iter()
        .map(|st| {
            let p99 = st.contacts_p99_ms;
            (st.load, p99, st.error_rate, st.unauthorized_rate, st.held)
        })
        .collect();
    Chart {
        file: "search-knee".into(),
        title: format!("Capacity search: {}", s.verdict_line()),
        caption: "Each step of the search is a point at its load: green where every gate held, red \
                  where one failed. Top: contacts p99 of the calls sent after settling; bottom: the \
                  share of those calls not ok, and of 401s. The solid line is the highest load that \
                  held, the dashed one the lowest that failed above it."
            .into(),
        body: Body::Knee(Knee {
            steps,
            holds: s.holds,
            breaks: s.breaks,
            unit: s.grow.unit(),
        }),
    }
}

pub fn draw<DB>(k: &Knee, title: &str, root: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let root = root.titled(title, (FAMILY, 18))?;
    let (top, bottom) = root.split_vertically(root.dim_in_pixel().1 * 3 / 5);
    let x_max = style::top(k.steps.iter().map(|s| s.0).fold(0.0, f64::max));
    // Log scale: the flat latency below the knee and the queueing above it both stay readable.
    let p99s = k.steps.iter().map(|s| s.1.max(0.01));
    let p99_min = p99s.clone().fold(f64::MAX, f64::min).min(1e6) / 2.0;
    let p99_max = p99s.fold(0.0, f64::max).max(p99_min * 4.0) * 2.0;
    let mut upper = ChartBuilder::on(&top)
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max, (p99_min..p99_max).log_scale())?;
    style::mesh(&mut upper.configure_mesh(), 13)
        .y_desc("contacts p99 (ms)")
        .x_label_formatter(&|x| search::load(*x))
        .y_label_formatter(&|y| style::ms(*y))
        .draw()?;
    mark(&mut upper, k, (p99_min, p99_max))?;
    points(
        &mut upper,
        k.steps.iter().map(|s| (s.0, s.1.max(0.01), s.4)),
    )?;
    let share_max = style::top(k.steps.iter().map(|s| s.2).fold(0.0, f64::max).max(0.01));
    let mut lower = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max, 0f64..share_max)?;
    style::mesh(&mut lower.configure_mesh(), 13)
        .x_desc(format!("load ({})", k.unit))
        .y_desc("share of calls")
        .x_label_formatter(&|x| search::load(*x))
        .y_label_formatter(&|y| style::percent(*y))
        .draw()?;
    mark(&mut lower, k, (0.0, share_max))?;
    let mut by_load = k.steps.clone();
    by_load.sort_by(|a, b| a.0.total_cmp(&b.0));
    let line = |pick: fn(&(f64, f64, f64, f64, bool)) -> f64, color: RGBColor, label: &str| {
        let series = LineSeries::new(
            by_load.iter().map(|s| (s.0, pick(s))),
            color.stroke_width(2),
        );
        (series, color, label.to_owned())
    };
    for (series, color, label) in [
        line(|s| s.2, Group::Errors.color(), "not ok"),
        line(|s| s.3, Group::Unauthorized.color(), "401"),
    ] {
        lower
            .draw_series(series)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    legend(&mut lower, SeriesLabelPosition::UpperLeft)
}

type Panel<'a, DB, Y> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>;

fn points<DB, Y>(
    chart: &mut Panel<'_, DB, Y>,
    at: impl Iterator<Item = (f64, f64, bool)>,
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    Y: Ranged<ValueType = f64>,
{
    chart.draw_series(at.map(|(x, y, held)| {
        let color = if held { HELD } else { FAILED };
        Circle::new((x, y), 5, color.filled())
    }))?;
    Ok(())
}

/// The answer (solid) and the first failing load (dashed), across the panel's `(bottom, top)`.
fn mark<DB, Y>(chart: &mut Panel<'_, DB, Y>, k: &Knee, (y0, y1): (f64, f64)) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    Y: Ranged<ValueType = f64>,
{
    if let Some(x) = k.holds {
        chart.draw_series(LineSeries::new([(x, y0), (x, y1)], HELD.stroke_width(2)))?;
    }
    if let Some(x) = k.breaks {
        chart.draw_series(DashedLineSeries::new(
            [(x, y0), (x, y1)],
            6,
            4,
            MUTED.stroke_width(2),
        ))?;
    }
    Ok(())
}
