//! What every chart shares: one colour per outcome and per variant, the embedded font, axis labels.

use crate::report::outcomes::Outcomes;
use crate::vocabulary::Outcome;
use plotters::chart::MeshStyle;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::sync::OnceLock;

/// The font used to measure (SVG) and draw (PNG) text. Embedded, so a machine without a font library
/// renders the same charts; its licence is assets/fonts/LICENSE-DejaVu.txt.
const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
pub const FAMILY: &str = "sans-serif";

type DrawResult = super::DrawResult;

/// Registers the embedded font once; false only if the font file were unusable.
pub fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok())
}

/// The outcome groups the charts draw. Every chart gives a group the same colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Ok,
    Unauthorized,
    RateLimited,
    InvalidGrant,
    Errors,
}

impl Group {
    pub const ALL: [Group; 5] = [
        Group::Ok,
        Group::Unauthorized,
        Group::RateLimited,
        Group::InvalidGrant,
        Group::Errors,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Group::Ok => "ok",
            Group::Unauthorized => "401",
            Group::RateLimited => "429",
            Group::InvalidGrant => "invalid_grant",
            Group::Errors => "other errors",
        }
    }

    pub fn color(self) -> RGBColor {
        match self {
            Group::Ok => RGBColor(44, 160, 44),
            Group::Unauthorized => RGBColor(214, 39, 40),
            Group::RateLimited => RGBColor(255, 127, 14),
            Group::InvalidGrant => RGBColor(148, 103, 189),
            Group::Errors => RGBColor(110, 110, 110),
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Outcome counts folded into the groups ("other errors" takes everything not named).
    pub fn split(o: &Outcomes) -> [u64; 5] {
        let mut out = [0; 5];
        out[Group::Ok.index()] = o[Outcome::Ok];
        out[Group::Unauthorized.index()] = o[Outcome::Unauthorized];
        out[Group::RateLimited.index()] = o[Outcome::RateLimited];
        out[Group::InvalidGrant.index()] = o[Outcome::InvalidGrant];
        out[Group::Errors.index()] = o.other();
        out
    }
}

/// Variant colours, by position in the report (or base, candidate in a comparison). None of them is
/// an outcome colour, so a line's colour never reads as an outcome.
const VARIANTS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(57, 59, 121),
    RGBColor(140, 86, 75),
];

pub fn variant_color(i: usize) -> RGBColor {
    VARIANTS[i % VARIANTS.len()]
}

/// `c` mixed halfway to white: the lighter companion line (p50 next to p99).
pub fn lighter(c: RGBColor) -> RGBColor {
    let mix = |v: u8| ((u16::from(v) + 255) / 2) as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

pub const INK: RGBColor = RGBColor(40, 40, 40);
const GRID: RGBColor = RGBColor(225, 225, 225);

/// The mesh every chart draws: light grid lines at the labels only, labels in the embedded font at
/// `size` and axis names one point larger.
pub fn mesh<'m, 'a, 'b, X, Y, XT, YT, DB>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
    size: u32,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB>
where
    X: Ranged<ValueType = XT> + ValueFormatter<XT>,
    Y: Ranged<ValueType = YT> + ValueFormatter<YT>,
    DB: DrawingBackend,
{
    mesh.label_style((FAMILY, size))
        .axis_desc_style((FAMILY, size + 1))
        .max_light_lines(0)
        .bold_line_style(GRID)
}
pub const MUTED: RGBColor = RGBColor(150, 150, 150);

/// A percentile as a short label: 0.999 -> "99.9%".
pub fn percent(p: f64) -> String {
    let text = format!("{:.3}", p * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// Milliseconds for an axis: no decimals from 10 ms on, up to two below.
pub fn ms(v: f64) -> String {
    if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Seconds for a label: whole numbers without decimals.
pub fn seconds(v: f64) -> String {
    if v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Counts for an axis: 12k, 1.5M.
pub fn count(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A y-axis top with headroom, never zero (an empty series still gets an axis).
pub fn top(max: f64) -> f64 {
    if max > 0.0 {
        max * 1.1
    } else {
        1.0
    }
}

/// The series legend, boxed, where it covers the least.
pub fn legend<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    at: SeriesLabelPosition,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
{
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.85))
        .border_style(MUTED)
        .label_font((FAMILY, 13))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_well() {
        assert_eq!(percent(0.999), "99.9%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.99999), "99.999%");
        assert_eq!(ms(0.5), "0.50");
        assert_eq!(ms(250.0), "250");
        assert_eq!(count(12_500.0), "12k");
        assert_eq!(count(3.0), "3");
        let mut o = Outcomes::default();
        o[Outcome::Ok] = 5;
        o[Outcome::Timeout] = 2;
        o[Outcome::Unauthorized] = 1;
        assert_eq!(Group::split(&o), [5, 1, 0, 0, 2]);
        assert!(font_ready());
    }
}
