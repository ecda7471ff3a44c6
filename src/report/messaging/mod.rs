//! The `messaging` block of a variant whose sessions are web-messaging widgets: what their sockets
//! did, the latency of connects, configures and messages, and the socket series from which an
//! outage's reconnect wave and time to recover are found. Built from the recorder or from shards'
//! blocks (counts and histograms add, series add bucket by bucket); everything derived is found
//! again from the sums, so a merged report says what one process would have.

pub mod words;

use super::histogram::{decode, encode, Percentiles};
use super::model::{ExpiryLens, TimeSeries};
use crate::metrics::messaging::{Event, MessagingSnapshot, SocketBucket};
use crate::metrics::outcomes::Outcomes;
use crate::plan::client::ReconnectSettings;
use crate::profile::messaging::MessagingStat;
use crate::vocabulary::Phase;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The share of the sessions alive that must be configured again for an outage to be over.
pub const RECOVERED_SHARE: f64 = 0.99;

macro_rules! counts {
    ($($(#[doc = $doc:expr])* $field:ident = $event:ident,)*) => {
        /// Every count of the widgets' sockets.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct MessagingCounts {
            $($(#[doc = $doc])* pub $field: u64,)*
        }

        impl MessagingCounts {
            pub fn of(s: &MessagingSnapshot) -> MessagingCounts {
                MessagingCounts { $($field: s.count(Event::$event),)* }
            }

            pub fn add(&mut self, other: &MessagingCounts) {
                $(self.$field += other.$field;)*
            }
        }
    };
}

counts! {
    /// Attempts to open a socket, first ones and reconnects.
    connect_attempts = ConnectAttempt,
    /// Of them, attempts after the session's socket was lost.
    reconnects = Reconnect,
    connected = Connected,
    /// Upgrades refused with 403: the page's `Origin` is not on the deployment's allowed list.
    refused_origin = RefusedOrigin,
    /// 429 at the upgrade: the deployment's socket capacity.
    refused_capacity = RefusedCapacity,
    /// 503 at the upgrade: the service refusing sockets.
    refused_unavailable = RefusedUnavailable,
    refused_other = RefusedOther,
    /// TCP, TLS or the WebSocket handshake failed or timed out.
    connect_failed = ConnectFailed,
    configured_new = ConfiguredNew,
    /// Configures that resumed the session (a reconnect with the same session token).
    configured_resumed = ConfiguredResumed,
    configure_failed = ConfigureFailed,
    /// Configured sockets that ended without the widget closing them.
    lost = Lost,
    /// Sockets just opened that ended before their configure was answered.
    lost_configuring = LostConfiguring,
    sessions_expired = SessionExpired,
    /// Sessions that used up their reconnect attempts.
    gave_up = GaveUp,
    /// Sessions that left with `closeSession`.
    closed = Closed,
    /// Messages sent, resends after a 4029 included.
    messages_sent = MessageSent,
    messages_answered = MessageAnswered,
    messages_unanswered = MessageUnanswered,
    /// Answers to messages and echoes that came after the widget gave up on them, and to `getJwt`.
    late_answers = LateAnswer,
    late_jwts = LateJwt,
    echoes_sent = EchoSent,
    echoes_answered = EchoAnswered,
    jwts_fetched = JwtFetched,
    /// Authenticated sessions: JWTs refreshed over REST after a 401 on the socket, and REST
    /// failures that left a session without one.
    reauthenticated = Reauthenticated,
    no_jwt = NoJwt,
    /// Error answers on the socket by code: 401, 403, 400, 4011/4013, and the rest.
    unauthorized = Unauthorized,
    forbidden = Forbidden,
    /// `TooManyRequestsErrorMessage` (4029).
    rate_limited = RateLimited,
    bad_request = BadRequest,
    too_large = TooLarge,
    other_error = OtherError,
    /// Frames from the server the widget could not read: not JSON, an unknown class, a body of the
    /// wrong shape, binary, over the widget's 1 MiB limit.
    bad_frame_not_json = BadFrameNotJson,
    bad_frame_unknown_class = BadFrameUnknownClass,
    bad_frame_body = BadFrameBody,
    bad_frame_binary = BadFrameBinary,
    bad_frame_too_large = BadFrameTooLarge,
}

impl MessagingCounts {
    pub fn bad_frames(&self) -> u64 {
        self.bad_frame_not_json
            + self.bad_frame_unknown_class
            + self.bad_frame_body
            + self.bad_frame_binary
            + self.bad_frame_too_large
    }

    pub fn refused(&self) -> u64 {
        self.refused_origin + self.refused_capacity + self.refused_unavailable + self.refused_other
    }
}

/// A latency with its histogram (HdrHistogram V2, base64), so shards merge exactly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    #[serde(flatten)]
    pub ms: Percentiles,
    pub histogram: String,
}

/// The model's reconnect policy, as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconnect {
    /// `fixed`, `immediate` or `exponential` (with full jitter).
    pub policy: ReconnectPolicy,
    /// The preset's name when the policy is one.
    pub preset: Option<String>,
    pub delay_s: Option<f64>,
    pub base_s: Option<f64>,
    pub max_s: Option<f64>,
    pub attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReconnectPolicy {
    Fixed,
    Immediate,
    Exponential,
}

/// One bucket of the socket series, with the sockets configured at its end (derived).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketRow {
    pub t_s: u64,
    pub connect_attempts: u64,
    /// Of them, attempts after the session's socket was lost.
    #[serde(default)]
    pub reconnects: u64,
    pub configured: u64,
    pub unconfigured: u64,
    pub lost: u64,
    /// Sockets configured at the end of the bucket: all configured so far minus all ended.
    #[serde(default)]
    pub open: u64,
}

/// The biggest loss of sockets in the run and how the widgets came back from it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storm {
    /// Start of the bucket in which the most sockets were lost.
    pub drop_at_s: f64,
    pub lost: u64,
    /// Sockets configured just before it.
    pub open_before: u64,
    /// Most connect attempts in one bucket from the drop on, per second, and when.
    pub peak_connect_attempts_per_s: f64,
    pub peak_at_s: f64,
    /// End of the first bucket from the drop on in which 99 % of the sessions alive were configured
    /// again; `None` if that never happened before the run ended.
    pub recovered_at_s: Option<f64>,
    pub recovery_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingReport {
    pub reconnect: Reconnect,
    pub counts: MessagingCounts,
    /// TCP, TLS and the upgrade.
    pub connect_ms: Timing,
    /// From sending configure to the `SessionResponse`.
    pub configure_ms: Timing,
    /// From a message's intended send time to its answer (reconnects and 4029 waits included).
    pub message_ms: Timing,
    /// From a socket's loss to the session configured again: how long each widget was away.
    pub reconnect_ms: Timing,
    pub bucket_s: f64,
    pub series: Vec<SocketRow>,
    /// Absent when no socket was lost.
    pub storm: Option<Storm>,
    /// Frames an authenticated session sent with its JWT (configures, messages, echoes, `getJwt`,
    /// `closeSession`), by their send time minus the JWT's expiry as the client knew it, with how
    /// each was answered: a socket's 401s and 4029s placed as a REST call's are. Absent for guests,
    /// whose frames carry a session token that has no expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_lens: Option<ExpiryLens>,
    /// The same frames by their JWT's phase when sent; phases with none are left out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phases: BTreeMap<String, Outcomes>,
}

impl Reconnect {
    pub fn of(policy: ReconnectSettings) -> Reconnect {
        let secs = |d: std::time::Duration| Some(d.as_secs_f64());
        let mut r = Reconnect {
            policy: ReconnectPolicy::Immediate,
            preset: policy.preset_name().map(str::to_owned),
            delay_s: None,
            base_s: None,
            max_s: None,
            attempts: policy.attempts(),
        };
        match policy {
            ReconnectSettings::Fixed { delay, .. } => {
                r.policy = ReconnectPolicy::Fixed;
                r.delay_s = secs(delay);
            }
            ReconnectSettings::Immediate { .. } => {}
            ReconnectSettings::Exponential { base, max, .. } => {
                r.policy = ReconnectPolicy::Exponential;
                r.base_s = secs(base);
                r.max_s = secs(max);
            }
        }
        r
    }

    /// `fixed 5s x60`, `immediate x10`, `full jitter 1s..30s x30`.
    pub fn describe(&self) -> String {
        let s = |v: Option<f64>| format!("{}s", v.unwrap_or(0.0));
        match self.policy {
            ReconnectPolicy::Fixed => format!("fixed {} x{}", s(self.delay_s), self.attempts),
            ReconnectPolicy::Immediate => format!("immediate x{}", self.attempts),
            ReconnectPolicy::Exponential => format!(
                "full jitter {}..{} x{}",
                s(self.base_s),
                s(self.max_s),
                self.attempts
            ),
        }
    }
}

fn timing(h: &hdrhistogram::Histogram<u64>) -> Timing {
    Timing {
        ms: Percentiles::of(Some(h)),
        histogram: encode(h),
    }
}

/// The block for one variant's run.
pub fn build(
    s: &MessagingSnapshot,
    policy: ReconnectSettings,
    bucket_s: f64,
    series: &TimeSeries,
) -> MessagingReport {
    let mut report = MessagingReport {
        reconnect: Reconnect::of(policy),
        counts: MessagingCounts::of(s),
        connect_ms: timing(&s.connect),
        configure_ms: timing(&s.configure),
        message_ms: timing(&s.message),
        reconnect_ms: timing(&s.reconnect),
        bucket_s,
        series: rows(&s.series),
        storm: None,
        expiry_lens: super::build::lens_if_placed(&s.lens),
        phases: Phase::ALL
            .iter()
            .map(|p| (p.name().to_owned(), Outcomes(s.by_phase[p.index()])))
            .filter(|(_, o)| o.total() > 0)
            .collect(),
    };
    report.derive(series);
    report
}

fn rows(buckets: &[SocketBucket]) -> Vec<SocketRow> {
    buckets
        .iter()
        .enumerate()
        .map(|(i, b)| SocketRow {
            t_s: i as u64,
            connect_attempts: b.connect_attempts,
            reconnects: b.reconnects,
            configured: b.configured,
            unconfigured: b.unconfigured,
            lost: b.lost,
            open: 0,
        })
        .collect()
}

impl MessagingReport {
    /// The open sockets per bucket and the storm, from the series and the sessions alive.
    pub fn derive(&mut self, sessions: &TimeSeries) {
        let mut open: u64 = 0;
        for row in &mut self.series {
            open = (open + row.configured).saturating_sub(row.unconfigured);
            row.open = open;
        }
        self.storm = storm(&self.series, self.bucket_s, sessions);
    }

    /// Shards' blocks joined: counts and histograms add, series add bucket by bucket (shards share
    /// a clock: a shard that started `shift` buckets later adds there).
    pub fn merge<'a>(
        mut parts: impl Iterator<Item = (&'a MessagingReport, usize)>,
        sessions: &TimeSeries,
    ) -> Result<Option<MessagingReport>, String> {
        let Some((first, shift)) = parts.next() else {
            return Ok(None);
        };
        let mut sum = first.clone();
        sum.series = shifted(&first.series, shift);
        let mut lenses: Vec<&ExpiryLens> = first.expiry_lens.iter().collect();
        for (p, shift) in parts {
            sum.counts.add(&p.counts);
            lenses.extend(&p.expiry_lens);
            for (phase, outcomes) in &p.phases {
                sum.phases.entry(phase.clone()).or_default().add(outcomes);
            }
            for (into, from) in [
                (&mut sum.connect_ms, &p.connect_ms),
                (&mut sum.configure_ms, &p.configure_ms),
                (&mut sum.message_ms, &p.message_ms),
                (&mut sum.reconnect_ms, &p.reconnect_ms),
            ] {
                add_timing(into, from)?;
            }
            for row in shifted(&p.series, shift) {
                let at = row.t_s as usize;
                if sum.series.len() <= at {
                    sum.series.resize_with(at + 1, SocketRow::default);
                }
                let into = &mut sum.series[at];
                into.connect_attempts += row.connect_attempts;
                into.reconnects += row.reconnects;
                into.configured += row.configured;
                into.unconfigured += row.unconfigured;
                into.lost += row.lost;
            }
        }
        for (i, row) in sum.series.iter_mut().enumerate() {
            row.t_s = i as u64;
        }
        if !lenses.is_empty() {
            sum.expiry_lens = Some(super::merge::variant::lens(lenses.into_iter()));
        }
        sum.derive(sessions);
        Ok(Some(sum))
    }
}

fn shifted(series: &[SocketRow], shift: usize) -> Vec<SocketRow> {
    let mut out = vec![SocketRow::default(); shift];
    out.extend_from_slice(series);
    for (i, row) in out.iter_mut().enumerate() {
        row.t_s = i as u64;
    }
    out
}

fn add_timing(into: &mut Timing, from: &Timing) -> Result<(), String> {
    let mut a = decode(&into.histogram).map_err(|e| e.to_string())?;
    let b = decode(&from.histogram).map_err(|e| e.to_string())?;
    // Auto-resizing histograms take any value, so adding cannot run out of range.
    let _ = a.add(&b);
    *into = timing(&a);
    Ok(())
}

/// The bucket with the most sockets lost, the wave of connect attempts after it, and the first
/// bucket in which the sockets open reach 99 % of the sessions alive (the main series' count).
fn storm(series: &[SocketRow], bucket_s: f64, sessions: &TimeSeries) -> Option<Storm> {
    let (drop, worst) = series
        .iter()
        .enumerate()
        .filter(|(_, r)| r.lost > 0)
        .max_by_key(|(i, r)| (r.lost, std::cmp::Reverse(*i)))?;
    let after = &series[drop..];
    let (peak_i, peak) = after
        .iter()
        .enumerate()
        .max_by_key(|(i, r)| (r.connect_attempts, std::cmp::Reverse(*i)))
        .map(|(i, r)| (drop + i, r.connect_attempts))
        .unwrap_or((drop, 0));
    let alive = |i: usize| sessions.buckets.get(i).map_or(0, |b| b.active_sessions);
    let recovered = (drop..series.len()).find(|&i| {
        series[i].open as f64 >= RECOVERED_SHARE * alive(i) as f64 && series[i].lost == 0
            || alive(i) == 0
    });
    let at = |i: usize| i as f64 * bucket_s;
    Some(Storm {
        drop_at_s: at(drop),
        lost: worst.lost,
        open_before: drop.checked_sub(1).map_or(0, |i| series[i].open),
        peak_connect_attempts_per_s: peak as f64 / bucket_s.max(f64::MIN_POSITIVE),
        peak_at_s: at(peak_i),
        recovered_at_s: recovered.map(|i| at(i + 1)),
        recovery_s: recovered.map(|i| at(i + 1) - at(drop)),
    })
}

/// A `messaging.*` threshold's value on this block.
pub fn value(m: &MessagingReport, stat: MessagingStat) -> Option<f64> {
    let c = &m.counts;
    Some(match stat {
        MessagingStat::MessageP50Ms => m.message_ms.ms.p50,
        MessagingStat::MessageP99Ms => m.message_ms.ms.p99,
        MessagingStat::ConfigureP99Ms => m.configure_ms.ms.p99,
        MessagingStat::ConnectP99Ms => m.connect_ms.ms.p99,
        MessagingStat::RecoveryS => match &m.storm {
            None => 0.0,
            Some(storm) => storm.recovery_s?,
        },
        MessagingStat::ReconnectPeakPerS => m.storm.map_or(0.0, |s| s.peak_connect_attempts_per_s),
        MessagingStat::Lost => c.lost as f64,
        MessagingStat::GaveUp => c.gave_up as f64,
        MessagingStat::Refused => c.refused() as f64,
        MessagingStat::ConfigureFailed => c.configure_failed as f64,
        MessagingStat::Unanswered => c.messages_unanswered as f64,
        MessagingStat::RateLimited => c.rate_limited as f64,
        MessagingStat::Unauthorized => c.unauthorized as f64,
        MessagingStat::UnauthorizedBeforeExpiry => {
            m.expiry_lens.as_ref().map_or(0, super::early::before_zero) as f64
        }
        MessagingStat::BadFrames => c.bad_frames() as f64,
    })
}
