//! The one mapping from the recorder's live reading to metric families: names, help, labels and
//! classic buckets (counted in buckets.rs). The OpenMetrics text, the remote-write and OTLP encoders
//! all write these, so a scrape and a push always say the same thing.

use crate::metrics::messaging::Event;
use crate::metrics::telemetry::{Calls, Telemetry};
use crate::vocabulary::{Endpoint, Outcome, Phase};

use super::buckets::{herd_histogram, seconds_histogram};
pub use super::buckets::{Counted, Native, HERD_BOUNDS, LATENCY_BOUNDS_S, NATIVE_SCHEMA};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Counter(u64),
    Gauge(f64),
    /// `(upper bound, count in this bucket alone)` pairs, the last one +Inf; written cumulative.
    /// `native` is the same observations in exponential buckets, for receivers that take native
    /// histograms (latency and wait histograms only).
    Histogram {
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
        native: Option<Native>,
    },
}

impl From<Counted> for Value {
    fn from(c: Counted) -> Value {
        Value::Histogram {
            buckets: c.buckets,
            sum: c.sum,
            count: c.count,
            native: c.native,
        }
    }
}

pub type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub value: Value,
}

/// One metric: `name` is the base name; counters get `_total` when written.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub series: Vec<Series>,
}

/// The families of every source (a variant's recorder with its labels), in a fixed order.
pub fn families<'a>(sources: impl IntoIterator<Item = (&'a Labels, Telemetry)>) -> Vec<Family> {
    let mut out = skeleton();
    for (labels, t) in sources {
        add(&mut out, labels, &t);
    }
    out
}

fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
    Family {
        name,
        help,
        kind,
        series: Vec::new(),
    }
}

fn skeleton() -> Vec<Family> {
    use Kind::{Counter, Gauge, Histogram};
    vec![
        family(
            "tokenstorm_http_requests",
            Counter,
            "HTTP exchanges by endpoint and outcome (report.json endpoints.*.outcomes)",
        ),
        family(
            "tokenstorm_http_request_duration_seconds",
            Histogram,
            "Exchange latency per endpoint, from the intended send time for first API calls",
        ),
        family(
            "tokenstorm_contacts_calls",
            Counter,
            "Contacts calls by their token's phase and outcome (report.json variants[].phases)",
        ),
        family(
            "tokenstorm_requests_scheduled",
            Counter,
            "User-level requests the schedule released",
        ),
        family(
            "tokenstorm_requests_sent",
            Counter,
            "User-level requests that started",
        ),
        family(
            "tokenstorm_requests_dropped",
            Counter,
            "User-level requests not started because too many were in flight",
        ),
        family(
            "tokenstorm_requests_finished",
            Counter,
            "User-level requests by final outcome",
        ),
        family(
            "tokenstorm_request_retries",
            Counter,
            "API calls sent again after a failed first call (a 401, a 429)",
        ),
        family(
            "tokenstorm_requests_in_flight",
            Gauge,
            "User-level requests started and not finished",
        ),
        family(
            "tokenstorm_refreshes_in_flight",
            Gauge,
            "Token refreshes in flight, all orgs",
        ),
        family(
            "tokenstorm_refresh_herd_size",
            Histogram,
            "Refreshes each ended token generation drew",
        ),
        family(
            "tokenstorm_refresh_wait_seconds",
            Histogram,
            "Time callers waited on a refresh someone else was making",
        ),
        family(
            "tokenstorm_refresh_waiter_timeouts",
            Counter,
            "Callers that gave up waiting on someone else's refresh",
        ),
    ]
    .into_iter()
    .chain(session_families())
    .chain(messaging_families())
    .collect()
}

/// Sessions with a life: series only in runs with `[sessions]`.
fn session_families() -> [Family; 4] {
    use Kind::{Counter, Gauge};
    [
        family(
            "tokenstorm_sessions_active",
            Gauge,
            "Sessions alive now ([sessions] runs only)",
        ),
        family(
            "tokenstorm_sessions_arrived",
            Counter,
            "Sessions admitted (report.json sessions.arrived)",
        ),
        family(
            "tokenstorm_sessions_departed",
            Counter,
            "Sessions that left at the end of their length (report.json sessions.departed)",
        ),
        family(
            "tokenstorm_sessions_refused",
            Counter,
            "Arrivals refused because [load] sessions were alive (report.json sessions.refused)",
        ),
    ]
}

/// Messaging widgets' sockets: series only in runs with `[messaging]`.
const MESSAGING_COUNTERS: [(&str, Event, &str); 10] = [
    (
        "tokenstorm_messaging_connect_attempts",
        Event::ConnectAttempt,
        "Attempts to open a socket (report.json messaging.counts.connect_attempts)",
    ),
    (
        "tokenstorm_messaging_reconnects",
        Event::Reconnect,
        "Of them, attempts after the socket was lost (messaging.counts.reconnects)",
    ),
    (
        "tokenstorm_messaging_refused_unavailable",
        Event::RefusedUnavailable,
        "Upgrades answered 503 (messaging.counts.refused_unavailable)",
    ),
    (
        "tokenstorm_messaging_sockets_lost",
        Event::Lost,
        "Sockets that ended without the widget closing them (messaging.counts.lost)",
    ),
    (
        "tokenstorm_messaging_configured_resumed",
        Event::ConfiguredResumed,
        "Configures that resumed the session (messaging.counts.configured_resumed)",
    ),
    (
        "tokenstorm_messaging_messages_sent",
        Event::MessageSent,
        "Messages sent (messaging.counts.messages_sent)",
    ),
    (
        "tokenstorm_messaging_messages_answered",
        Event::MessageAnswered,
        "Messages answered (messaging.counts.messages_answered)",
    ),
    (
        "tokenstorm_messaging_messages_unanswered",
        Event::MessageUnanswered,
        "Messages given up on (messaging.counts.messages_unanswered)",
    ),
    (
        "tokenstorm_messaging_rate_limited",
        Event::RateLimited,
        "4029 answers (messaging.counts.rate_limited)",
    ),
    (
        "tokenstorm_messaging_unauthorized",
        Event::Unauthorized,
        "401 answers on the socket: a JWT refused (messaging.counts.unauthorized)",
    ),
];

fn messaging_families() -> impl Iterator<Item = Family> {
    let open = family(
        "tokenstorm_messaging_sockets_open",
        Kind::Gauge,
        "Widgets' sockets configured now ([messaging] runs only)",
    );
    let counters = MESSAGING_COUNTERS
        .iter()
        .map(|(name, _, help)| family(name, Kind::Counter, help));
    std::iter::once(open).chain(counters)
}

fn messaging(out: &mut [Family], labels: &Labels, t: &Telemetry) {
    let Some(m) = &t.messaging else {
        return;
    };
    #[allow(clippy::cast_precision_loss)] // sockets open stay far below 2^53
    let open = Value::Gauge(m.open as f64);
    push(
        out,
        "tokenstorm_messaging_sockets_open",
        labels.clone(),
        open,
    );
    for (name, event, _) in MESSAGING_COUNTERS {
        push(out, name, labels.clone(), Value::Counter(m.count(event)));
    }
}

fn with(labels: &Labels, more: &[(&'static str, &str)]) -> Labels {
    let mut l = labels.clone();
    l.extend(more.iter().map(|(k, v)| (*k, (*v).to_owned())));
    l
}

fn push(out: &mut [Family], name: &str, labels: Labels, value: Value) {
    if let Some(f) = out.iter_mut().find(|f| f.name == name) {
        f.series.push(Series { labels, value });
    }
}

fn add(out: &mut [Family], labels: &Labels, t: &Telemetry) {
    calls(out, labels, t);
    for e in Endpoint::ALL {
        let value = seconds_histogram(t.latency[e.index()].as_ref()).into();
        let l = with(labels, &[("endpoint", e.name())]);
        push(out, "tokenstorm_http_request_duration_seconds", l, value);
    }
    for p in Phase::ALL {
        for o in Outcome::ALL {
            let l = with(labels, &[("phase", p.name()), ("outcome", o.name())]);
            let n = t.by_phase[p.index()][o.index()];
            push(out, "tokenstorm_contacts_calls", l, Value::Counter(n));
        }
    }
    for o in Outcome::ALL {
        let l = with(labels, &[("outcome", o.name())]);
        let n = t.requests[o.index()];
        push(out, "tokenstorm_requests_finished", l, Value::Counter(n));
    }
    let counters = [
        ("tokenstorm_requests_scheduled", t.scheduled),
        ("tokenstorm_requests_sent", t.sent),
        ("tokenstorm_requests_dropped", t.dropped),
        ("tokenstorm_request_retries", t.retries),
        ("tokenstorm_refresh_waiter_timeouts", t.waiter_timeouts),
    ];
    for (name, n) in counters {
        push(out, name, labels.clone(), Value::Counter(n));
    }
    #[allow(clippy::cast_precision_loss)] // gauges of in-flight work stay far below 2^53
    let gauges = [
        ("tokenstorm_requests_in_flight", t.in_flight as f64),
        (
            "tokenstorm_refreshes_in_flight",
            t.refreshes_in_flight as f64,
        ),
    ];
    for (name, v) in gauges {
        push(out, name, labels.clone(), Value::Gauge(v));
    }
    push(
        out,
        "tokenstorm_refresh_herd_size",
        labels.clone(),
        herd_histogram(t).into(),
    );
    let wait = seconds_histogram(t.refresh_wait.as_ref()).into();
    push(out, "tokenstorm_refresh_wait_seconds", labels.clone(), wait);
    sessions(out, labels, t);
    messaging(out, labels, t);
}

/// Sessions with a life, when the run has them: alive now, and arrivals, departures and refusals.
/// A session the run's end cut is neither departed nor alive after it.
fn sessions(out: &mut [Family], labels: &Labels, t: &Telemetry) {
    let Some(s) = &t.sessions else {
        return;
    };
    let alive = s.arrived.saturating_sub(s.departed + s.cut);
    #[allow(clippy::cast_precision_loss)] // sessions alive stay far below 2^53
    let alive = Value::Gauge(alive as f64);
    push(out, "tokenstorm_sessions_active", labels.clone(), alive);
    for (name, n) in [
        ("tokenstorm_sessions_arrived", s.arrived),
        ("tokenstorm_sessions_departed", s.departed),
        ("tokenstorm_sessions_refused", s.refused),
    ] {
        push(out, name, labels.clone(), Value::Counter(n));
    }
}

/// Exchanges by endpoint and outcome; with stages, by the stage they were sent in, and what the
/// drain sent after the last stage under `stage="drain"`.
fn calls(out: &mut [Family], labels: &Labels, t: &Telemetry) {
    let name = "tokenstorm_http_requests";
    if t.calls_by_stage.is_empty() {
        calls_of(out, name, labels, &t.calls);
        return;
    }
    let mut drain = t.calls;
    for (i, stage) in t.calls_by_stage.iter().enumerate() {
        calls_of(
            out,
            name,
            &with(labels, &[("stage", &(i + 1).to_string())]),
            stage,
        );
        for (d, s) in drain.iter_mut().zip(stage) {
            for (d, s) in d.iter_mut().zip(s) {
                *d = d.saturating_sub(*s);
            }
        }
    }
    calls_of(out, name, &with(labels, &[("stage", "drain")]), &drain);
}

fn calls_of(out: &mut [Family], name: &str, labels: &Labels, calls: &Calls) {
    for e in Endpoint::ALL {
        for o in Outcome::ALL {
            let l = with(labels, &[("endpoint", e.name()), ("outcome", o.name())]);
            push(out, name, l, Value::Counter(calls[e.index()][o.index()]));
        }
    }
}

/// Series one variant makes in the OpenMetrics text (each histogram bucket, `_sum` and `_count`
/// counted): the number docs/telemetry.md states. `stages` is 0 without `[[load.stage]]`;
/// `sessions` when the run has `[sessions]`, `messaging` when it has `[messaging]` too.
pub fn series_per_variant(stages: usize, sessions: bool, messaging: bool) -> usize {
    let calls = Endpoint::COUNT * Outcome::COUNT;
    let by_stage = if stages == 0 {
        calls
    } else {
        calls * (stages + 1)
    };
    let latency = Endpoint::COUNT * (LATENCY_BOUNDS_S.len() + 3);
    let phases = Phase::COUNT * Outcome::COUNT;
    let finished = Outcome::COUNT;
    let herd = HERD_BOUNDS.len() + 3;
    let wait = LATENCY_BOUNDS_S.len() + 3;
    // scheduled, sent, dropped, retries, waiter timeouts; two in-flight gauges.
    let common = by_stage + latency + phases + finished + herd + wait + 5 + 2;
    // Sessions alive; arrived, departed and refused; the sockets open and their counters.
    let sessions = if sessions { 4 } else { 0 };
    let messaging = if messaging {
        1 + MESSAGING_COUNTERS.len()
    } else {
        0
    };
    common + sessions + messaging
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Recorder;
    use std::time::{Duration, Instant};

    fn text_series(stages: Vec<Duration>, sessions: bool) -> usize {
        text_series_of(stages, sessions, false)
    }

    fn text_series_of(stages: Vec<Duration>, sessions: bool, messaging: bool) -> usize {
        let start = Instant::now();
        let mut r = Recorder::new(2, start, Duration::from_secs(5)).with_stages(stages);
        if sessions {
            r = r.with_sessions(None);
        }
        if messaging {
            r = r.with_messaging(Duration::from_secs(5));
        }
        r.attempt(
            Endpoint::Contacts,
            Outcome::Ok,
            start,
            start + Duration::from_millis(3),
        );
        let labels = vec![("variant", "naive".to_owned())];
        let text = super::super::openmetrics::text(families([(&labels, r.telemetry(start))]));
        assert!(text.ends_with("# EOF\n"), "{text}");
        let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(
            series.iter().all(|l| l.starts_with("tokenstorm_")),
            "{text}"
        );
        assert!(
            series.iter().all(|l| l.contains("variant=\"naive\"")),
            "{text}"
        );
        series.len()
    }

    #[test]
    fn a_variant_makes_the_series_the_docs_state() {
        assert_eq!(
            text_series(Vec::new(), false),
            series_per_variant(0, false, false)
        );
        assert_eq!(series_per_variant(0, false, false), 184);
        let two = vec![Duration::from_secs(1), Duration::from_secs(2)];
        assert_eq!(text_series(two, false), series_per_variant(2, false, false));
        assert_eq!(series_per_variant(2, false, false), 184 + 2 * 33);
        assert_eq!(
            text_series(Vec::new(), true),
            series_per_variant(0, true, false)
        );
        assert_eq!(series_per_variant(0, true, false), 188);
        let chat = text_series_of(Vec::new(), true, true);
        assert_eq!(chat, series_per_variant(0, true, true));
        assert_eq!(chat, 199);
    }

    #[test]
    fn sessions_alive_are_those_arrived_less_departed_and_cut() {
        let start = Instant::now();
        let r = Recorder::new(2, start, Duration::from_secs(5)).with_sessions(None);
        let s = Duration::from_secs(1);
        for _ in 0..3 {
            r.session_arrived(start, s);
        }
        r.session_refused();
        r.session_ended(start, start + s, true);
        let labels = vec![("variant", "a".to_owned())];
        let fams = families([(&labels, r.telemetry(start))]);
        let value = |name: &str| {
            let f = fams.iter().find(|f| f.name == name).expect(name);
            f.series[0].value.clone()
        };
        assert_eq!(value("tokenstorm_sessions_active"), Value::Gauge(2.0));
        assert_eq!(value("tokenstorm_sessions_arrived"), Value::Counter(3));
        assert_eq!(value("tokenstorm_sessions_departed"), Value::Counter(1));
        assert_eq!(value("tokenstorm_sessions_refused"), Value::Counter(1));
        r.session_ended(start, start + s, false);
        let fams = families([(&labels, r.telemetry(start))]);
        let f = fams.iter().find(|f| f.name == "tokenstorm_sessions_active");
        assert_eq!(
            f.map(|f| f.series[0].value.clone()),
            Some(Value::Gauge(1.0))
        );
    }

    #[test]
    fn messaging_sockets_open_follow_configures_and_ends_and_counters_follow_events() {
        let start = Instant::now();
        let r =
            Recorder::new(2, start, Duration::from_secs(5)).with_messaging(Duration::from_secs(5));
        let m = r.messaging().unwrap();
        let ms = Duration::from_millis(1);
        for _ in 0..3 {
            m.connect_attempt(ms, false);
            m.configured(ms, ms, true, true);
        }
        m.unconfigured(ms, true);
        m.count(Event::Lost);
        m.connect_attempt(ms, true);
        let labels = vec![("variant", "a".to_owned())];
        let fams = families([(&labels, r.telemetry(start))]);
        let value = |name: &str| {
            let f = fams.iter().find(|f| f.name == name).expect(name);
            f.series[0].value.clone()
        };
        assert_eq!(
            value("tokenstorm_messaging_sockets_open"),
            Value::Gauge(2.0)
        );
        assert_eq!(
            value("tokenstorm_messaging_connect_attempts"),
            Value::Counter(4)
        );
        assert_eq!(value("tokenstorm_messaging_reconnects"), Value::Counter(1));
        assert_eq!(
            value("tokenstorm_messaging_sockets_lost"),
            Value::Counter(1)
        );
        // A run without [messaging] makes none of these series.
        let plain = Recorder::new(2, start, Duration::from_secs(5));
        let fams = families([(&labels, plain.telemetry(start))]);
        let f = fams
            .iter()
            .find(|f| f.name == "tokenstorm_messaging_sockets_open");
        assert!(f.is_some_and(|f| f.series.is_empty()));
    }
}
