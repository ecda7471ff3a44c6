//! The reconnect storm: sockets configured, and connect attempts per second, over the run, one line
//! per side (variant, or base and candidate), with the biggest loss marked. A fixed-delay policy
//! shows lockstep waves of attempts; full jitter a spread-out hump and a quicker climb back.

use super::style::{self, legend, variant_color, FAMILY};
use super::{Body, Chart, DrawResult, Side};
use plotters::coord::Shift;
use plotters::prelude::*;

pub struct Storm {
    sides: Vec<Line>,
    /// Where each side's biggest loss began.
    drops: Vec<(RGBColor, f64)>,
    end_s: f64,
}

/// The chart, when some side has messaging sockets.
pub fn chart(sides: &[Side]) -> Option<Chart> {
    let mut storm = Storm {
        sides: Vec::new(),
        drops: Vec::new(),
        end_s: 1.0,
    };
    for (i, side) in sides.iter().enumerate() {
        let Some(m) = &side.variant.messaging else {
            continue;
        };
        let color = variant_color(i);
        let width = m.bucket_s.max(f64::MIN_POSITIVE);
        let at = |r: &crate::report::messaging::SocketRow| r.t_s as f64 * width;
        let open = m.series.iter().map(|r| (at(r), r.open as f64)).collect();
        let attempts = m
            .series
            .iter()
            .map(|r| (at(r), r.connect_attempts as f64 / width))
            .collect();
        storm.end_s = storm.end_s.max(m.series.len() as f64 * width);
        if let Some(s) = &m.storm {
            storm.drops.push((color, s.drop_at_s));
        }
        let label = format!("{} ({})", side.label, m.reconnect.describe());
        storm.sides.push(Line {
            label,
            color,
            open,
            attempts_per_s: attempts,
        });
    }
    if storm.sides.is_empty() {
        return None;
    }
    Some(Chart {
        file: "reconnect-storm".into(),
        title: "Reconnect storm: sockets configured and connect attempts".into(),
        caption: "Top: widgets' sockets configured at the end of each second. Bottom: attempts to \
                  open a socket per second. After a loss (dashed line) a fixed delay brings every \
                  widget back at the same instants, wave after wave; full jitter spreads them out."
            .into(),
        body: Body::Storm(storm),
    })
}

pub fn draw<DB>(s: &Storm, title: &str, root: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let root = root.titled(title, (FAMILY, 20))?;
    let (top, bottom) = root.split_vertically(root.dim_in_pixel().1 / 2);
    panel(s, &top, "sockets configured", |line| &line.open)?;
    panel(s, &bottom, "connect attempts / s", |line| {
        &line.attempts_per_s
    })
}

/// One side's two lines, as (seconds, value) points.
struct Line {
    label: String,
    color: RGBColor,
    open: Vec<(f64, f64)>,
    attempts_per_s: Vec<(f64, f64)>,
}

fn panel<DB>(
    s: &Storm,
    area: &DrawingArea<DB, Shift>,
    y_desc: &str,
    pick: fn(&Line) -> &Vec<(f64, f64)>,
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let y_max = s
        .sides
        .iter()
        .flat_map(|side| pick(side).iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..s.end_s, 0f64..style::top(y_max))?;
    style::mesh(&mut chart.configure_mesh(), 13)
        .x_desc("seconds into the run")
        .y_desc(y_desc)
        .x_label_formatter(&|x| style::seconds(*x))
        .y_label_formatter(&|y| style::count(*y))
        .draw()?;
    for &(color, at) in &s.drops {
        let top = style::top(y_max);
        chart.draw_series(DashedLineSeries::new(
            [(at, 0.0), (at, top)],
            6,
            4,
            color.stroke_width(1),
        ))?;
    }
    for line in &s.sides {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(
                pick(line).iter().copied(),
                color.stroke_width(2),
            ))?
            .label(line.label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}
