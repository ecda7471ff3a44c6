//! The messaging block in words: the summary's lines and the HTML page's notes say the same.

use super::MessagingReport;
use crate::report::histogram::format_ms;
use crate::report::model::VariantReport;
use crate::report::summary::spots;
use crate::vocabulary::{Outcome, Phase};
use std::fmt::Write as _;

/// `(label, line)` pairs: sockets, sessions, messages, and the storm when a socket was lost.
pub fn lines(v: &VariantReport) -> Vec<(&'static str, String)> {
    let Some(m) = &v.messaging else {
        return Vec::new();
    };
    let c = &m.counts;
    let ms = |v: f64| format_ms(v, "");
    let mut out = vec![
        (
            "sockets",
            format!(
                "connects {} of {} attempts (reconnects {})  refused {} (origin {}, capacity {}, unavailable {}, other {})  failed {}  lost {}{}  gave up {}  connect p99 {}  [reconnect: {}]",
                c.connected, c.connect_attempts, c.reconnects, c.refused(), c.refused_origin,
                c.refused_capacity, c.refused_unavailable, c.refused_other, c.connect_failed,
                c.lost, while_configuring(c.lost_configuring), c.gave_up, ms(m.connect_ms.ms.p99), m.reconnect.describe(),
            ),
        ),
        (
            "configure",
            format!(
                "new {}  resumed {}  failed {}  expired {}  closed {}  p50 {}  p99 {}",
                c.configured_new, c.configured_resumed, c.configure_failed, c.sessions_expired,
                c.closed, ms(m.configure_ms.ms.p50), ms(m.configure_ms.ms.p99),
            ),
        ),
        ("messages", messages(m)),
    ];
    if let Some(lens) = &m.expiry_lens {
        out.push((
            "jwt life",
            format!(
                "socket 401s by time to expiry {}  4029s {}  by phase: {}",
                spots(lens, Outcome::Unauthorized),
                spots(lens, Outcome::RateLimited),
                phases(m)
            ),
        ));
    }
    if let Some(s) = &m.storm {
        let recovered = match (s.recovered_at_s, s.recovery_s) {
            (Some(at), Some(took)) => {
                format!("99% configured again by {at:.0}s: recovery {took:.0}s")
            }
            _ => "99% of the sessions were NOT configured again before the run ended".to_owned(),
        };
        out.push((
            "storm",
            format!(
                "{} sockets lost at {:.0}s (of {} open); reconnect wave peak {:.0}/s at {:.0}s; {recovered}",
                s.lost, s.drop_at_s, s.open_before, s.peak_connect_attempts_per_s, s.peak_at_s,
            ),
        ));
    }
    out
}

fn messages(m: &MessagingReport) -> String {
    let c = &m.counts;
    let mut line = format!(
        "sent {}  answered {}  unanswered {}  4029 {}  round trip p50 {}  p99 {}  echo {}/{}",
        c.messages_sent,
        c.messages_answered,
        c.messages_unanswered,
        c.rate_limited,
        format_ms(m.message_ms.ms.p50, ""),
        format_ms(m.message_ms.ms.p99, ""),
        c.echoes_answered,
        c.echoes_sent,
    );
    if c.jwts_fetched > 0 {
        let _ = write!(line, "  jwt {}", c.jwts_fetched);
    }
    let errors = c.unauthorized + c.forbidden + c.bad_request + c.too_large + c.other_error;
    if errors > 0 {
        let _ = write!(
            line,
            "  errors 401:{} 403:{} 400:{} too-large:{} other:{}",
            c.unauthorized, c.forbidden, c.bad_request, c.too_large, c.other_error
        );
    }
    if c.bad_frames() > 0 {
        let _ = write!(
            line,
            "  BAD FRAMES {} (not JSON {}, unknown class {}, bad body {}, binary {}, too large {})",
            c.bad_frames(),
            c.bad_frame_not_json,
            c.bad_frame_unknown_class,
            c.bad_frame_body,
            c.bad_frame_binary,
            c.bad_frame_too_large
        );
    }
    line
}

/// The frames sent with a JWT by its phase, in the order a JWT lives through them.
fn phases(m: &MessagingReport) -> String {
    let parts: Vec<String> = Phase::ALL
        .iter()
        .filter_map(|p| Some((p.name(), m.phases.get(p.name())?)))
        .map(|(name, o)| {
            format!(
                "{name} {} (401 {}, 4029 {})",
                o.total(),
                o[Outcome::Unauthorized],
                o[Outcome::RateLimited]
            )
        })
        .collect();
    parts.join("  ")
}

fn while_configuring(n: u64) -> String {
    match n {
        0 => String::new(),
        n => format!(" (+{n} while configuring)"),
    }
}

/// The summary's messaging lines.
pub fn summary(out: &mut String, v: &VariantReport) {
    for (label, line) in lines(v) {
        let _ = writeln!(out, "{label:<9} {line}");
    }
}
