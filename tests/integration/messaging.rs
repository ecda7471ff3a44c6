//! Messaging widgets on the embedded target's WebSocket: the client's counts equal the target's
//! truth, every session that leaves closes its session, a dropped socket comes back by the model's
//! reconnect policy (resuming its session), a refused `Origin` is counted and given up on. Runs are
//! seeded and short; assertions are on counts, and on delays a policy guarantees by construction
//! (a fixed 2 s delay cannot bring a widget back sooner than 2 s), never on how fast the machine is.

use tokenstorm::report::messaging::MessagingReport;
use tokenstorm::report::model::VariantReport;
use tokenstorm::vocabulary::Outcome;

fn messaging(v: &VariantReport) -> &MessagingReport {
    v.messaging.as_ref().expect("a messaging block")
}

fn truth(v: &VariantReport, key: &str) -> u64 {
    let truth = v.truth.as_ref().expect("embedded target truth");
    truth.server[&format!("messaging.{key}")]
}

const CHAT: &str = r#"
seed = 5
duration = "8s"
[load]
orgs = 3
sessions = 400
[sessions]
arrival = "uniform"
arrival_rate = "25/s"
length = { dist = "fixed", value = "3s" }
think = { dist = "uniform", min = "300ms", max = "900ms" }
[messaging]
echo_interval = "1s"
jwt = true
attributes_bytes = 300
[[variant]]
name = "widget"
client = "genesys-messenger"
"#;

#[test]
fn a_chat_run_equals_the_targets_truth_and_every_leaving_widget_closes_its_session() {
    let ran = super::support::run_profile(CHAT);
    let v = &ran.report.variants[0];
    let truth_report = v.truth.as_ref().unwrap();
    assert!(truth_report.ok, "{:?}", truth_report.checks);
    let m = messaging(v);
    let c = &m.counts;
    // A guest's frames carry no JWT: nothing to place by expiry.
    assert!(m.expiry_lens.is_none() && m.phases.is_empty());
    assert!(socket_lens_chart(&ran.report).is_none());
    let sessions = v.sessions.as_ref().unwrap();
    // 25/s for 8 s, uniform: exactly 200 arrivals, each one socket configured as a new session.
    assert_eq!(sessions.arrived, 200);
    assert_eq!((c.connect_attempts, c.connected), (200, 200));
    assert_eq!((c.configured_new, c.configured_resumed), (200, 0));
    assert_eq!(c.closed, sessions.departed);
    assert_eq!(truth(v, "sessions_closed"), sessions.departed);
    assert_eq!(
        truth(v, "sockets_open"),
        0,
        "every socket closed by the end"
    );
    assert!(c.messages_sent > 200, "{c:?}");
    assert_eq!(
        c.messages_sent, c.messages_answered,
        "nothing is lost without faults"
    );
    assert_eq!(c.echoes_sent, c.echoes_answered);
    assert_eq!(
        c.jwts_fetched, 200,
        "a JWT per widget: it outlives the session"
    );
    assert_eq!((c.lost, c.bad_frames(), c.refused()), (0, 0, 0));
    assert_eq!(m.message_ms.ms.count, c.messages_answered);
    assert!(m.storm.is_none());
    // Guest widgets make no REST call: the summary gives their lines, not a table of zeros.
    let summary = tokenstorm::report::summary::render(&ran.report);
    assert!(
        summary.contains("\nsockets   connects 200 of 200"),
        "{summary}"
    );
    assert!(!summary.contains("endpoint     calls"), "{summary}");
}

/// 20 widgets a second for 4 s, all alive until the end; at 4.5 s (server time) every socket is
/// dropped. One model waits a fixed 2 s, the other draws below 1 s first (full jitter).
fn storm_profile(reconnect: &str) -> String {
    format!(
        r#"
seed = 8
duration = "9s"
[server.messaging.faults]
drop_all_at = ["4.5s"]
[load]
orgs = 2
sessions = 400
[[load.stage]]
name = "arrive"
duration = "4s"
target = "20/s"
[[load.stage]]
name = "after"
duration = "5s"
target = "20/s"
[sessions]
arrival = "uniform"
length = {{ dist = "fixed", value = "1m" }}
think = {{ dist = "uniform", min = "500ms", max = "2s" }}
[messaging]
echo_interval = "0s"
[[variant]]
name = "widget"
client = {{ preset = "genesys-messenger", reconnect = {reconnect} }}
"#
    )
}

fn assert_every_dropped_widget_resumed(v: &VariantReport) {
    let c = &messaging(v).counts;
    assert!(v.truth.as_ref().unwrap().ok, "{:?}", v.truth);
    assert!(c.lost > 0);
    // A widget whose socket went between the upgrade and the configure's answer (a busy machine
    // widens that moment) lost a socket too, but no configured one.
    assert_eq!(c.lost + c.lost_configuring, truth(v, "sockets_dropped"));
    // Each came back to its own session; one lost mid-configure resumes it only if the target
    // had made it before the drop.
    assert!(
        c.configured_resumed >= c.lost && c.configured_resumed <= c.lost + c.lost_configuring,
        "{c:?}"
    );
    assert_eq!(c.gave_up, 0);
    let series = &messaging(v).series;
    let reconnects: u64 = series.iter().map(|r| r.reconnects).sum();
    assert_eq!(reconnects, c.reconnects, "the series holds every reconnect");
}

#[test]
fn a_fixed_delay_brings_every_dropped_widget_back_at_once_and_jitter_sooner_and_spread() {
    let fixed = super::support::run_profile(&storm_profile(
        r#"{ policy = "fixed", delay = "2s", attempts = 5 }"#,
    ));
    let fixed = &fixed.report.variants[0];
    assert_every_dropped_widget_resumed(fixed);
    let m = messaging(fixed);
    let storm = m.storm.expect("a storm");
    // No widget can be back sooner than its 2 s delay; all of them retry in the same second.
    assert!(m.reconnect_ms.ms.count == m.counts.lost);
    assert!(m.reconnect_ms.ms.p50 >= 2_000.0, "{:?}", m.reconnect_ms.ms);
    assert_eq!(storm.peak_at_s, storm.drop_at_s + 2.0, "{storm:?}");
    let wave = &m.series[storm.peak_at_s as usize];
    // The drop is mid-second, so the fixed delay puts every reconnect in the wave's second,
    // beside the first connects of widgets still arriving.
    assert_eq!(wave.reconnects, m.counts.lost, "{wave:?}");
    assert!(storm.peak_connect_attempts_per_s >= m.counts.lost as f64);
    assert!(storm.recovery_s.is_some());

    let jitter = super::support::run_profile(&storm_profile(
        r#"{ policy = "exponential", base = "1s", max = "4s", attempts = 10 }"#,
    ));
    let jitter = &jitter.report.variants[0];
    assert_every_dropped_widget_resumed(jitter);
    let j = messaging(jitter);
    // First retries are uniform below 1 s: half of the widgets are back in under a second.
    assert!(j.reconnect_ms.ms.p50 < 1_000.0, "{:?}", j.reconnect_ms.ms);
    assert!(j.reconnect_ms.ms.p50 < m.reconnect_ms.ms.p50);
}

#[test]
fn a_refused_origin_is_counted_at_each_attempt_and_the_widget_gives_up() {
    let text = r#"
seed = 2
duration = "3s"
[server.messaging]
allowed_origins = ["https://shop.example"]
[load]
orgs = 1
sessions = 50
[sessions]
arrival = "uniform"
arrival_rate = "10/s"
length = { dist = "fixed", value = "30s" }
think = { dist = "fixed", value = "1s" }
[messaging]
origin = "https://elsewhere.example"
[[variant]]
name = "widget"
client = { preset = "genesys-messenger", reconnect = { policy = "immediate", attempts = 2 } }
"#;
    let ran = super::support::run_profile(text);
    let v = &ran.report.variants[0];
    let c = &messaging(v).counts;
    // 30 widgets, each refused at its first attempt and its 2 retries.
    assert_eq!(v.sessions.as_ref().unwrap().arrived, 30);
    assert_eq!(c.refused_origin, 90);
    assert_eq!(truth(v, "sockets_refused_origin"), 90);
    assert_eq!((c.gave_up, c.connected, c.configured_new), (30, 0, 0));
    assert!(v.truth.as_ref().unwrap().ok);
}

/// Authenticated widgets log in with the REST code exchange; their JWTs live 2 s, the sessions 5 s,
/// so each meets the socket's 401 and refreshes over REST, configures again on the same socket and
/// sends the refused message again.
const AUTHENTICATED: &str = r#"
seed = 6
duration = "8s"
[server]
token_ttl = "2s"
expiry_precision = "exact"
[load]
orgs = 2
sessions = 200
[sessions]
arrival = "uniform"
arrival_rate = "10/s"
length = { dist = "fixed", value = "5s" }
think = { dist = "uniform", min = "300ms", max = "600ms" }
[messaging]
auth = "authenticated"
echo_interval = "0s"
[[variant]]
name = "widget"
client = { token_scope = "session", trigger = "reactive" }
"#;

#[test]
fn an_authenticated_widget_refreshes_its_jwt_over_rest_on_the_sockets_401_and_resends() {
    let ran = super::support::run_profile(AUTHENTICATED);
    let v = &ran.report.variants[0];
    assert!(v.truth.as_ref().unwrap().ok, "{:?}", v.truth);
    let c = &messaging(v).counts;
    let arrived = v.sessions.as_ref().unwrap().arrived;
    assert_eq!(arrived, 80);
    // One code exchange per widget, one REST refresh per 401 the socket sent.
    assert_eq!(v.endpoints.token.outcomes.total(), arrived);
    assert!(c.reauthenticated > 0, "{c:?}");
    assert_eq!(v.endpoints.refresh.outcomes.total(), c.reauthenticated);
    assert_eq!(c.unauthorized, truth(v, "socket_unauthorized"));
    // A 401 answering `closeSession` as the widget leaves asks for no new JWT.
    assert!(c.reauthenticated <= c.unauthorized);
    super::remote_messaging_tls::assert_every_configure_is_counted(c);
    assert_eq!(
        (c.configured_new, c.connected, c.lost),
        (arrived, arrived, 0)
    );
    // A refused message goes again after the new JWT: only one the run's end cut off (its widget
    // still re-authenticating then) may stay unanswered, one at most per widget cut.
    let cut = v.sessions.as_ref().unwrap().alive_at_end;
    assert!(c.messages_unanswered <= cut, "{c:?}");
    assert_eq!(c.no_jwt, 0);
    assert_socket_401s_are_placed_after_expiry(messaging(v), c.reauthenticated);
}

/// Frames with outcome `o` anywhere in `lens`, its before and after rows included.
fn in_lens(lens: &tokenstorm::report::model::ExpiryLens, o: Outcome) -> u64 {
    lens.before[o] + lens.after[o] + lens.bins.iter().map(|b| b.outcomes[o]).sum::<u64>()
}

/// Every socket 401 is in the lens, at the JWT's expiry: a reactive widget sends its JWT until
/// refused, and the target's `exp` is exact here, so a 401 comes only for a frame sent at or after
/// expiry (phase `expired`) or one sent just before it that reached the target after (its transit,
/// which a busy machine stretches, but never to a second). Each JWT refreshed after a 401 is first
/// used by the configure that follows.
fn assert_socket_401s_are_placed_after_expiry(m: &MessagingReport, reauthenticated: u64) {
    let lens = m
        .expiry_lens
        .as_ref()
        .expect("frames sent with a JWT are placed");
    let unauthorized = |keep: fn(i64) -> bool| -> u64 {
        lens.bins
            .iter()
            .filter(|b| keep(b.offset_s))
            .map(|b| b.outcomes[Outcome::Unauthorized])
            .sum()
    };
    let (long_before, just_before, after) = (
        unauthorized(|at| at < -1) + lens.before[Outcome::Unauthorized],
        unauthorized(|at| at == -1),
        unauthorized(|at| at >= 0) + lens.after[Outcome::Unauthorized],
    );
    assert_eq!(
        long_before + just_before + after,
        m.counts.unauthorized,
        "every socket 401 is placed"
    );
    assert_eq!(long_before, 0, "{lens:?}");
    assert!(after > just_before, "{lens:?}");
    let phase = |name: &str| m.phases.get(name).copied().unwrap_or_default();
    assert_eq!(phase("expired")[Outcome::Unauthorized], after);
    assert_eq!(phase("first_after_refresh").total(), reauthenticated);
    // Each resumed session's configure was its refreshed JWT's first use (no socket is dropped).
    assert!(phase("first_after_refresh")[Outcome::Ok] >= m.counts.configured_resumed);
}

/// The same widgets against a deployment that takes 20 messages a second: the socket's 4029s are
/// placed too, every one, each by the phase of the JWT it was sent with.
#[test]
fn socket_4029s_are_placed_by_their_jwts_expiry_and_phase() {
    let profile = AUTHENTICATED.replace(
        "[load]",
        "[server.messaging]\nmessages_per_second = 20\n[load]",
    );
    let ran = super::support::run_profile(&profile);
    let v = &ran.report.variants[0];
    assert!(v.truth.as_ref().unwrap().ok, "{:?}", v.truth);
    let m = messaging(v);
    assert!(m.counts.rate_limited > 0, "{:?}", m.counts);
    assert_eq!(m.counts.rate_limited, truth(v, "socket_rate_limited"));
    let lens = m.expiry_lens.as_ref().expect("a lens");
    assert_eq!(in_lens(lens, Outcome::RateLimited), m.counts.rate_limited);
    let by_phase: u64 = m.phases.values().map(|o| o[Outcome::RateLimited]).sum();
    assert_eq!(by_phase, m.counts.rate_limited);
    let summary = tokenstorm::report::summary::render(&ran.report);
    assert!(summary.contains("jwt life"), "{summary}");
    let svg = socket_lens_chart(&ran.report).expect("a socket lens chart");
    assert!(svg.contains("socket frames not ok"), "{svg}");
}

/// The socket expiry lens chart of the report's first variant, as SVG, if the page has one.
fn socket_lens_chart(report: &tokenstorm::report::model::Report) -> Option<String> {
    use tokenstorm::report::plots::{charts, Side};
    let v = &report.variants[0];
    let sides = [Side {
        label: v.name.clone(),
        variant: v,
    }];
    let all = charts(&sides, report.server.as_ref()).expect("charts");
    let chart = all
        .iter()
        .find(|c| c.file.starts_with("socket-expiry-lens"))?;
    Some(chart.svg().expect("the chart draws"))
}

/// Two shards of the rate-limited authenticated run, merged: counts, phases and the socket lens add
/// exactly, and the merged histograms hold every shard's samples.
#[test]
fn shards_of_a_messaging_run_merge_counts_lens_and_phases_exactly() {
    use tokenstorm::report::merge::merge;
    let dir = tempfile::tempdir().unwrap();
    let text = AUTHENTICATED.replace(
        "[load]",
        "[server.messaging]\nmessages_per_second = 20\n[load]",
    );
    let parts = super::support::run_shards(dir.path(), &text, 2);
    let merged = merge(&parts).unwrap();
    let m = messaging(&merged.variants[0]);
    let shards: Vec<&MessagingReport> = parts
        .iter()
        .map(|p| messaging(&p.report.variants[0]))
        .collect();
    let mut counts = shards[0].counts.clone();
    counts.add(&shards[1].counts);
    assert_eq!(m.counts, counts);
    assert!(m.counts.rate_limited > 0 && m.counts.unauthorized > 0);
    for (phase, got) in &m.phases {
        let want: u64 = shards
            .iter()
            .filter_map(|s| s.phases.get(phase))
            .map(|o| o.total())
            .sum();
        assert_eq!(got.total(), want, "{phase}");
    }
    let lens_total =
        |m: &MessagingReport, o: Outcome| in_lens(m.expiry_lens.as_ref().expect("a lens"), o);
    for o in [Outcome::Ok, Outcome::Unauthorized, Outcome::RateLimited] {
        let want: u64 = shards.iter().map(|s| lens_total(s, o)).sum();
        assert_eq!(lens_total(m, o), want, "{o:?}");
    }
    let samples = |m: &MessagingReport| {
        tokenstorm::report::histogram::decode(&m.message_ms.histogram)
            .unwrap()
            .len()
    };
    assert_eq!(samples(m), samples(shards[0]) + samples(shards[1]));
}
