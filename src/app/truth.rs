//! Cross-checks the client's counts against what the embedded target says it sent.

use crate::report::model::{Truth, TruthCheck, VariantReport};
use crate::vocabulary::Outcome;
use std::collections::BTreeMap;

/// Flattens the target's run-wide counters (`{"total": {"contacts": {"unauthorized": 3}}}` ->
/// `contacts.unauthorized = 3`); per-org counts stay out of the report to keep it small.
pub fn flatten(value: &serde_json::Value) -> BTreeMap<String, u64> {
    let value = value.get("total").unwrap_or(value);
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, u64>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            serde_json::Value::Number(n) => {
                if let Some(n) = n.as_u64() {
                    out.insert(prefix.to_owned(), n);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// Each pair: what the client counted, and the server counter that must equal it.
pub fn check(variant: &VariantReport, server: BTreeMap<String, u64>) -> Truth {
    let e = &variant.endpoints;
    let token_side = |o: Outcome| e.token.outcomes[o] + e.refresh.outcomes[o];
    let pairs = [
        (
            "contacts 401s",
            e.contacts.outcomes[Outcome::Unauthorized],
            "contacts.unauthorized",
        ),
        (
            "contacts 403s",
            e.contacts.outcomes[Outcome::Forbidden],
            "contacts.forbidden",
        ),
        (
            "contacts 429s",
            e.contacts.outcomes[Outcome::RateLimited],
            "contacts.rate_limited",
        ),
        (
            "contacts 2xx",
            e.contacts.outcomes[Outcome::Ok],
            "contacts.ok",
        ),
        (
            "token invalid_grant",
            token_side(Outcome::InvalidGrant),
            "token.invalid_grant",
        ),
        (
            "token invalid_client",
            token_side(Outcome::InvalidClient),
            "token.invalid_client",
        ),
        (
            "token 429s",
            token_side(Outcome::RateLimited),
            "token.rate_limited",
        ),
        ("tokens issued", token_side(Outcome::Ok), "token.ok"),
    ];
    // A leaving session's revocation is a call the server counts too.
    let revocations = variant
        .sessions
        .as_ref()
        .filter(|s| s.leave == crate::profile::sessions::LeaveKind::Revoke)
        .map(|s| {
            (
                "sessions revoked",
                s.revoked + s.revoke_failed,
                "revocations",
            )
        });
    let checks: Vec<TruthCheck> = pairs
        .into_iter()
        .chain(revocations)
        .filter_map(|(what, client, key)| Some(TruthCheck::new(what, client, *server.get(key)?)))
        .chain(messaging_checks(variant, &server))
        .collect();
    Truth {
        ok: checks.iter().all(|c| c.equal),
        server,
        checks,
    }
}

/// The widgets' sockets against the socket endpoint's own counts. Every answer the server sent is
/// read before a widget lets its socket go (late ones are counted as such), so these are exact.
fn messaging_checks(variant: &VariantReport, server: &BTreeMap<String, u64>) -> Vec<TruthCheck> {
    let Some(m) = &variant.messaging else {
        return Vec::new();
    };
    let c = &m.counts;
    let at = |key: &str| server.get(&format!("messaging.{key}")).copied();
    let sum = |a: &str, b: &str| Some(at(a)? + at(b)?);
    let pairs = [
        ("sockets opened", c.connected, at("sockets_opened")),
        (
            "sockets refused for their origin",
            c.refused_origin,
            at("sockets_refused_origin"),
        ),
        (
            "sockets refused at capacity",
            c.refused_capacity,
            at("sockets_refused_capacity"),
        ),
        (
            "sockets refused in an outage",
            c.refused_unavailable,
            at("sockets_refused_outage"),
        ),
        (
            "sessions configured new",
            c.configured_new,
            at("sessions_new"),
        ),
        (
            "sessions resumed",
            c.configured_resumed,
            at("sessions_resumed"),
        ),
        (
            "sessions expired",
            c.sessions_expired,
            at("sessions_expired"),
        ),
        (
            "messages and echoes answered",
            c.messages_answered + c.echoes_answered + c.late_answers,
            sum("messages_answered", "echoes_answered"),
        ),
        ("JWTs", c.jwts_fetched + c.late_jwts, at("jwts_issued")),
        ("socket 401s", c.unauthorized, at("socket_unauthorized")),
        ("socket 4029s", c.rate_limited, at("socket_rate_limited")),
    ];
    pairs
        .into_iter()
        .filter_map(|(what, client, server)| Some(TruthCheck::new(what, client, server?)))
        .collect()
}

#[cfg(all(test, feature = "simulator"))]
mod tests {
    use super::*;
    use crate::simulator::{MessagingCounts, TruthCounts, TruthSnapshot};

    /// The socket endpoint's counters land in report.json's truth as the REST ones do, named by
    /// their typed fields (`messaging.sockets_opened`).
    #[test]
    fn the_messaging_truth_flattens_beside_the_rest() {
        let snapshot = TruthSnapshot {
            total: TruthCounts {
                messaging: MessagingCounts {
                    sockets_opened: 4,
                    sessions_resumed: 2,
                    socket_rate_limited: 1,
                    ..MessagingCounts::default()
                },
                ..TruthCounts::default()
            },
            per_org: Default::default(),
        };
        let flat = flatten(&serde_json::to_value(snapshot).unwrap());
        assert_eq!(flat["messaging.sockets_opened"], 4);
        assert_eq!(flat["messaging.sessions_resumed"], 2);
        assert_eq!(flat["messaging.socket_rate_limited"], 1);
        assert_eq!(flat["messaging.sockets_open"], 0);
        assert_eq!(flat["contacts.unauthorized"], 0);
        assert_eq!(
            flat.keys().filter(|k| k.starts_with("messaging.")).count(),
            18
        );
    }
}
