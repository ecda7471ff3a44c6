//! The expiry lens: API calls by when they were sent relative to their token's expiry, stacked by
//! outcome, with the expiry, the client's refresh margin and the server's leeway marked.

use super::style::{self, legend, Group, FAMILY, INK, MUTED};
use super::{slug, Body, Chart, DrawResult, PlotError, Side};
use crate::report::model::{
    ClientInfo, ExpiryLens, LensBin, ServerSettings, Trigger, VariantReport,
};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Refresh markers: a colour that is no outcome's and no variant's.
const REFRESH: RGBColor = RGBColor(20, 20, 20);

pub struct Lens {
    /// (bin start, counts by `Group::ALL`, refresh calls started in the bin)
    bins: Vec<(i64, [u64; 5], u64)>,
    first: i64,
    last: i64,
    markers: Vec<(f64, String)>,
    /// Shared by every side's chart, so an empty panel looks empty next to a full one.
    failed_max: f64,
    ok_max: f64,
    /// The panels' axis names: what is not ok, what is.
    axes: [&'static str; 2],
}

/// A bin's API calls by group, with its refresh calls' failures added (ok stays the API calls'), so
/// invalid_grant and token-endpoint 429s stand where the refreshes went.
fn with_refreshes(b: &LensBin) -> [u64; 5] {
    let mut counts = Group::split(&b.outcomes);
    let refreshes = Group::split(&b.refresh_outcomes);
    for (c, r) in counts.iter_mut().zip(refreshes).skip(1) {
        *c += r;
    }
    counts
}

fn failed(counts: &[u64; 5]) -> u64 {
    counts[1..].iter().sum()
}

pub fn chart(
    side: &Side,
    sides: &[Side],
    server: Option<&ServerSettings>,
) -> Result<Chart, PlotError> {
    let lens = &side.variant.expiry_lens;
    let client = &side.variant.client;
    let mut caption = String::from(
        "API calls by when they were sent relative to their token's expiry as the client saw it \
         (1 s bins; left of 0 the client still thought the token good). Top: API calls and refresh \
         calls that did not succeed, by outcome (refreshes placed by the token they replaced), and \
         dots where refresh calls started; bottom: API calls that succeeded.",
    );
    if client.clock_skew_ms != 0 {
        caption.push_str(&format!(
            " The client's clock is {} ms off the server's, so its 401s sit that far from 0.",
            client.clock_skew_ms
        ));
    }
    let all = sides.iter().map(|s| &s.variant.expiry_lens);
    let l = build(
        lens,
        all,
        client,
        server,
        &mut caption,
        ["API + refresh calls not ok", "API calls ok"],
    );
    Ok(Chart {
        file: format!("expiry-lens-{}", slug(&side.label)),
        title: format!(
            "Expiry lens: {} ({}, coalesce {})",
            side.label, client.trigger, client.coalesce
        ),
        caption,
        body: Body::Lens(l),
    })
}

/// The socket's lens for a side whose authenticated widgets sent frames with their JWT: the same
/// chart, for the frames, with the REST refreshes left to the API lens.
pub fn socket_chart(side: &Side, sides: &[Side], server: Option<&ServerSettings>) -> Option<Chart> {
    let lens = socket(side.variant)?;
    let mut caption = String::from(
        "Frames the widgets sent on their sockets with their JWT (configure, messages, echoes, \
         getJwt, closeSession), by when they were sent relative to the JWT's expiry as the client \
         saw it (1 s bins). Top: frames answered with an error (401, 4029, ...) or not at all; \
         bottom: frames answered.",
    );
    let all = sides.iter().filter_map(|s| socket(s.variant));
    let client = &side.variant.client;
    let l = build(
        lens,
        all,
        client,
        server,
        &mut caption,
        ["socket frames not ok", "socket frames ok"],
    );
    Some(Chart {
        file: format!("socket-expiry-lens-{}", slug(&side.label)),
        title: format!("Socket expiry lens: {} ({})", side.label, client.trigger),
        caption,
        body: Body::Lens(l),
    })
}

fn socket(v: &VariantReport) -> Option<&ExpiryLens> {
    v.messaging.as_ref().and_then(|m| m.expiry_lens.as_ref())
}

/// The chart's data from `lens`, scaled to the largest bin of `all` (every side's), its markers,
/// and what lies outside it said in `caption`.
fn build<'a>(
    lens: &ExpiryLens,
    all: impl Iterator<Item = &'a ExpiryLens>,
    client: &ClientInfo,
    server: Option<&ServerSettings>,
    caption: &mut String,
    axes: [&'static str; 2],
) -> Lens {
    let bins: Vec<(i64, [u64; 5], u64)> = lens
        .bins
        .iter()
        .map(|b| (b.offset_s, with_refreshes(b), b.refreshes))
        .collect();
    let (mut failed_max, mut ok_max) = (0u64, 0u64);
    for other in all {
        for b in &other.bins {
            let counts = with_refreshes(b);
            failed_max = failed_max.max(failed(&counts)).max(b.refreshes);
            ok_max = ok_max.max(counts[0]);
        }
    }
    let first = bins.first().map_or(-30, |b| b.0);
    let last = bins.last().map_or(9, |b| b.0) + 1;
    let (markers, outside) = markers(client, server, first, last);
    let (before, after) = (lens.before.total(), lens.after.total());
    if before + after > 0 {
        caption.push_str(&format!(
            " Outside the lens: {before} calls earlier, {after} later."
        ));
    }
    for note in outside {
        caption.push_str(&format!(" {note} lies outside the lens."));
    }
    Lens {
        bins,
        first,
        last,
        markers,
        failed_max: style::top(failed_max as f64),
        ok_max: style::top(ok_max as f64),
        axes,
    }
}

/// Lines at expiry, at the client's refresh points and at the server's leeway; the ones that fall
/// outside the lens come back as notes.
fn markers(
    client: &ClientInfo,
    server: Option<&ServerSettings>,
    first: i64,
    last: i64,
) -> (Vec<(f64, String)>, Vec<String>) {
    let mut all: Vec<(f64, String)> = vec![(0.0, "expiry".into())];
    let secs = |s: f64| format!("{} s", style::seconds(s));
    match client.trigger {
        Trigger::Margin => {
            if let Some(m) = client.margin_s {
                all.push((-m, format!("client margin {}", secs(m))));
            }
        }
        Trigger::TwoWindow => {
            if let Some(m) = client.margin_s {
                all.push((-m, format!("mandatory {}", secs(m))));
            }
            if let Some(a) = client.advisory_s {
                all.push((-a, format!("advisory {}", secs(a))));
            }
        }
        Trigger::Fraction => {
            if let (Some(f), Some(s)) = (client.fraction, server) {
                all.push((
                    -(1.0 - f) * s.token_ttl_s,
                    format!("refresh at {} of lifetime", style::percent(f)),
                ));
            }
        }
        Trigger::Reactive => {}
    }
    if client.early_expiry_s > 0.0 {
        let e = client.early_expiry_s;
        all.push((-e, format!("client expires it {} early", secs(e))));
    }
    if let Some(s) = server {
        all.push((s.leeway_s, format!("server leeway {}", secs(s.leeway_s))));
    }
    let mut inside: Vec<(f64, String)> = Vec::new();
    let mut outside = Vec::new();
    for (x, label) in all {
        if x < first as f64 || x > last as f64 {
            outside.push(format!("The {label} line"));
        } else if let Some(same) = inside.iter_mut().find(|(at, _)| (*at - x).abs() < 0.05) {
            same.1.push_str(", ");
            same.1.push_str(&label);
        } else {
            inside.push((x, label));
        }
    }
    (inside, outside)
}

pub fn draw<DB>(l: &Lens, title: &str, root: &DrawingArea<DB, Shift>) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let root = root.titled(title, (FAMILY, 20))?;
    let height = root.dim_in_pixel().1;
    let (top, bottom) = root.split_vertically(height * 58 / 100);
    let x = l.first as f64..l.last as f64;
    draw_failed(l, &top, x.clone())?;
    draw_ok(l, &bottom, x)
}

/// The top panel: calls not ok, stacked by outcome group, and where refreshes started.
fn draw_failed<DB>(l: &Lens, top: &DrawingArea<DB, Shift>, x: std::ops::Range<f64>) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let mut failed = ChartBuilder::on(top)
        .margin(10)
        .margin_bottom(0)
        .x_label_area_size(10)
        .y_label_area_size(64)
        .build_cartesian_2d(x, 0f64..l.failed_max)?;
    style::mesh(&mut failed.configure_mesh(), 13)
        .y_desc(l.axes[0])
        .x_labels(0)
        .y_label_formatter(&|y| style::count(*y))
        .draw()?;
    for (g, group) in Group::ALL.iter().enumerate().skip(1) {
        let color = group.color();
        failed
            .draw_series(l.bins.iter().filter(|b| b.1[g] > 0).map(|(at, counts, _)| {
                let below: u64 = counts[1..g].iter().sum();
                let x0 = *at as f64 + 0.08;
                Rectangle::new(
                    [(x0, below as f64), (x0 + 0.84, (below + counts[g]) as f64)],
                    color.filled(),
                )
            }))?
            .label(group.label())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    failed
        .draw_series(
            l.bins
                .iter()
                .filter(|b| b.2 > 0)
                .map(|(at, _, n)| Circle::new((*at as f64 + 0.5, *n as f64), 4, REFRESH.filled())),
        )?
        .label("refresh calls started")
        .legend(|(x, y)| Circle::new((x + 7, y), 4, REFRESH.filled()));
    if l.bins.iter().all(|b| failed_count(b) == 0 && b.2 == 0) {
        let mid = (l.first + l.last) as f64 / 2.0;
        failed.draw_series(std::iter::once(Text::new(
            "no failed calls, no refreshes in the lens",
            (mid - 8.0, l.failed_max * 0.55),
            (FAMILY, 16).into_font().color(&MUTED),
        )))?;
    }
    marker_lines(&mut failed, &l.markers, l.failed_max, true)?;
    legend(&mut failed, SeriesLabelPosition::UpperLeft)
}

/// The bottom panel: calls that succeeded, on the same time axis.
fn draw_ok<DB>(l: &Lens, bottom: &DrawingArea<DB, Shift>, x: std::ops::Range<f64>) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let mut ok = ChartBuilder::on(bottom)
        .margin(10)
        .margin_top(4)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x, 0f64..l.ok_max)?;
    style::mesh(&mut ok.configure_mesh(), 13)
        .x_desc("seconds from token expiry (send time minus expiry)")
        .y_desc(l.axes[1])
        .x_labels(((l.last - l.first) / 2).max(2) as usize)
        .x_label_formatter(&|x| {
            if x.abs() < 0.5 {
                "0".to_owned()
            } else {
                format!("{x:+.0}")
            }
        })
        .y_label_formatter(&|y| style::count(*y))
        .draw()?;
    let green = Group::Ok.color();
    ok.draw_series(l.bins.iter().filter(|b| b.1[0] > 0).map(|(at, counts, _)| {
        let x0 = *at as f64 + 0.08;
        Rectangle::new([(x0, 0.0), (x0 + 0.84, counts[0] as f64)], green.filled())
    }))?;
    marker_lines(&mut ok, &l.markers, l.ok_max, false)?;
    Ok(())
}

fn failed_count(b: &(i64, [u64; 5], u64)) -> u64 {
    failed(&b.1)
}

fn marker_lines<'a, DB>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    markers: &[(f64, String)],
    y_max: f64,
    labelled: bool,
) -> DrawResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
{
    for (i, (x, label)) in markers.iter().enumerate() {
        chart.draw_series(DashedLineSeries::new(
            [(*x, 0.0), (*x, y_max)],
            6,
            4,
            INK.stroke_width(2),
        ))?;
        if labelled {
            // Stagger the labels so markers a second apart do not print over each other.
            let y = y_max * (0.95 - 0.09 * (i % 3) as f64);
            chart.draw_series(std::iter::once(Text::new(
                label.clone(),
                (*x + 0.15, y),
                (FAMILY, 13).into_font().color(&INK),
            )))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Coalesce, PartnerCredentials, RefreshGrant, TokenScope};

    fn client(trigger: Trigger, margin_s: Option<f64>) -> ClientInfo {
        ClientInfo {
            preset: None,
            description: None,
            token_scope: TokenScope::Org,
            trigger,
            margin_s,
            advisory_s: None,
            fraction: None,
            jitter_s: 0.0,
            early_expiry_s: 0.0,
            coalesce: Coalesce::None,
            wait_timeout_s: None,
            lock_ttl_s: None,
            retries_on_401: 1,
            retries_on_429: 0,
            honor_retry_after: false,
            check_saved_expiry: true,
            refresh_grant: RefreshGrant::RefreshToken,
            partner_credentials: PartnerCredentials::Own,
            clock_skew_ms: 0,
        }
    }

    #[test]
    fn markers_merge_at_one_place_and_report_what_the_lens_cannot_show() {
        let server = ServerSettings {
            token_ttl_s: 900.0,
            leeway_s: 0.0,
            clock_offset_ms: 0,
            messaging: None,
        };
        let (inside, outside) =
            markers(&client(Trigger::Margin, Some(3.0)), Some(&server), -30, 10);
        assert_eq!(
            inside,
            vec![
                (0.0, "expiry, server leeway 0 s".to_owned()),
                (-3.0, "client margin 3 s".to_owned())
            ]
        );
        assert!(outside.is_empty());
        let (inside, outside) = markers(&client(Trigger::Margin, Some(60.0)), None, -30, 10);
        assert_eq!(inside, vec![(0.0, "expiry".to_owned())]);
        assert_eq!(outside, vec!["The client margin 60 s line".to_owned()]);
        let mut fraction = client(Trigger::Fraction, None);
        fraction.fraction = Some(0.99);
        let (inside, _) = markers(&fraction, Some(&server), -30, 10);
        assert!((inside[1].0 + 9.0).abs() < 1e-9, "{inside:?}");
    }
}
