//! Refresh contention: how many refreshes each token generation drew (the herd size), side by side.

use super::style::{self, legend, variant_color, FAMILY, MUTED};
use super::{Body, Chart, DrawResult, Side};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Up to this herd size every size gets its own bar; beyond, sizes are grouped by powers of two so a
/// herd of 500 does not need 500 bars.
const SINGLE_BARS: u64 = 12;

pub struct Herds {
    /// Bar labels, in order: "1", "2", ..., or "5-8", "9-16", ...
    bins: Vec<String>,
    /// Per side: label, colour, generations per bin.
    sides: Vec<(String, RGBColor, Vec<u64>)>,
}

/// Bin upper bounds for herd sizes up to `max`.
fn bounds(max: u64) -> Vec<(u64, u64)> {
    if max <= SINGLE_BARS {
        return (1..=max.max(1)).map(|n| (n, n)).collect();
    }
    let mut out: Vec<(u64, u64)> = (1..=4).map(|n| (n, n)).collect();
    let mut lo = 5;
    while lo <= max {
        let hi = (lo - 1) * 2;
        out.push((lo, hi));
        lo = hi + 1;
    }
    out
}

pub fn herds(sides: &[Side]) -> Chart {
    let sizes = |s: &Side| -> Vec<(u64, u64)> {
        s.variant
            .refresh
            .per_generation
            .iter()
            .filter_map(|(size, n)| Some((size.parse::<u64>().ok()?, *n)))
            .collect()
    };
    let max = sides
        .iter()
        .flat_map(|s| sizes(s).into_iter().map(|(size, _)| size))
        .max()
        .unwrap_or(1);
    let bins = bounds(max);
    let labels = bins
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect();
    let per_side = sides
        .iter()
        .enumerate()
        .map(|(i, side)| {
            let mut counts = vec![0; bins.len()];
            for (size, n) in sizes(side) {
                if let Some(b) = bins.iter().position(|&(lo, hi)| size >= lo && size <= hi) {
                    counts[b] += n;
                }
            }
            let r = &side.variant.refresh;
            let label = format!(
                "{} ({} generations, mean {:.2}, max {})",
                side.label, r.generations, r.per_generation_mean, r.per_generation_max
            );
            (label, variant_color(i), counts)
        })
        .collect();
    let names: Vec<&str> = sides.iter().map(|s| s.label.as_str()).collect();
    Chart {
        file: "refresh-herds".into(),
        title: format!("Refreshes per token generation: {}", names.join(" vs ")),
        caption: "Each time a token (an org's, for org tokens) was replaced, how many refresh calls \
                  that expiry drew: 1 is a coalescing client; a naive client's bars sit at the size \
                  of its herd."
            .into(),
        body: Body::Herds(Herds {
            bins: labels,
            sides: per_side,
        }),
    }
}

pub fn draw<DB>(h: &Herds, title: &str, root: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let n = h.bins.len();
    let y_max = h
        .sides
        .iter()
        .flat_map(|s| s.2.iter())
        .copied()
        .max()
        .unwrap_or(0) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 20))
        .margin(14)
        .x_label_area_size(46)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..style::top(y_max))?;
    let labels = h.bins.clone();
    style::mesh(&mut chart.configure_mesh(), 13)
        .x_desc("refresh calls drawn by one token generation")
        .y_desc("token generations")
        .x_labels(n + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| style::count(*y))
        .disable_x_mesh()
        .draw()?;
    let width = 0.8 / h.sides.len().max(1) as f64;
    for (j, (label, color, counts)) in h.sides.iter().enumerate() {
        let color = *color;
        chart
            .draw_series(
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, &c)| c > 0)
                    .map(|(i, &c)| {
                        let x0 = i as f64 - 0.4 + j as f64 * width;
                        Rectangle::new([(x0, 0.0), (x0 + width * 0.92, c as f64)], color.filled())
                    }),
            )?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    if y_max == 0.0 {
        chart.draw_series(std::iter::once(Text::new(
            "no token was refreshed",
            (n as f64 / 2.0 - 1.0, 0.5),
            (FAMILY, 16).into_font().color(&MUTED),
        )))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_herds_are_grouped_by_powers_of_two() {
        assert_eq!(bounds(3), vec![(1, 1), (2, 2), (3, 3)]);
        assert_eq!(bounds(0), vec![(1, 1)]);
        let wide = bounds(100);
        assert_eq!(&wide[..5], &[(1, 1), (2, 2), (3, 3), (4, 4), (5, 8)]);
        assert_eq!(wide.last(), Some(&(65, 128)));
        assert!(wide.len() < 12);
    }
}
