//! Turns the profile's `[server]` section and the plan's orgs into the embedded target's configuration.
#![cfg(feature = "simulator")]

use crate::plan::Org;
use crate::profile::messaging_server::MessagingServerSection;
use crate::profile::server::{
    EndpointFaults, ErrorStyleName, ExpiryPrecisionName, OrgOverride, RefreshPolicyName,
    ServerSection,
};
use crate::profile::service::{RefuseName, StationSection};
use crate::profile::units::Rate;
use crate::simulator::{
    Capacity, ClientConfig, ClockOffset, Config, ErrorStyle, ExpiryPrecision, Faults, Latency,
    Messaging, MessagingFaults, OrgConfig, RefreshPolicy, Refusal, Service,
};

/// The target's configuration for these orgs. Client `k > 0` of an org (with `clients_per_org > 1`) gets
/// the id `<client_id>.<k>` and the secret `<client_secret>.<k>`.
pub fn target_config(section: &ServerSection, orgs: &[Org], seed: u64) -> Config {
    let org_configs = orgs
        .iter()
        .map(|org| OrgConfig {
            name: org.name.clone(),
            clients: (0..section.clients_per_org.max(1))
                .map(|k| client(section, org, k))
                .collect(),
        })
        .collect();
    let mut config = Config::new(org_configs, section.token_ttl.0);
    config.leeway = section.leeway.0;
    config.expiry_precision = match section.expiry_precision {
        ExpiryPrecisionName::Second => ExpiryPrecision::Second,
        ExpiryPrecisionName::Exact => ExpiryPrecision::Exact,
    };
    config.seed = seed;
    config.refresh_policy = match section.refresh_policy {
        RefreshPolicyName::None => RefreshPolicy::None,
        RefreshPolicyName::RotateStrict => RefreshPolicy::RotateStrict,
        RefreshPolicyName::RotateGrace => RefreshPolicy::RotateGrace(section.refresh_grace.0),
    };
    config.refresh_ttl = section.refresh_ttl.0;
    config.clock_offset = if section.clock_offset.negative {
        ClockOffset::behind(section.clock_offset.magnitude)
    } else {
        ClockOffset::ahead(section.clock_offset.magnitude)
    };
    config.idle_timeout = section.idle_timeout.map(|s| s.0);
    config.error_style = match section.error_style {
        ErrorStyleName::Standards => ErrorStyle::Standards,
        ErrorStyleName::Platform => ErrorStyle::Platform,
    };
    config.per_token_rate = positive(section.per_token_rate);
    config.token_capacity = Capacity {
        per_second: positive(section.token_rate),
        concurrent: (section.token_concurrency > 0).then_some(section.token_concurrency),
    };
    config.contacts_per_org = section.contacts_per_org;
    config.token_faults = faults(&section.faults.token);
    config.contacts_faults = faults(&section.faults.contacts);
    config.token_service = section.service.token.as_ref().map(station);
    config.contacts_service = section.service.contacts.as_ref().map(station);
    config.messaging = section
        .messaging
        .as_ref()
        .map(messaging)
        .unwrap_or_default();
    config
}

fn messaging(m: &MessagingServerSection) -> Messaging {
    let reply_latency = match (m.faults.reply_latency_p50, m.faults.reply_latency_p99) {
        (Some(p50), Some(p99)) => Latency::LogNormal {
            p50: p50.0,
            p99: p99.0,
        },
        _ => Latency::None,
    };
    Messaging {
        session_duration: m.session_duration.0,
        allowed_origins: m.allowed_origins.clone(),
        max_sockets_per_deployment: m.max_sockets_per_deployment,
        messages_per_second: m.messages_per_second.map(|r| r.per_second),
        retry_after: m.retry_after.0,
        max_text_bytes: m.max_text_bytes,
        faults: MessagingFaults {
            drop_all_at: m.faults.drop_all_at.iter().map(|s| s.0).collect(),
            refuse_for: m.faults.refuse_for.0,
            reply_latency,
        },
    }
}

fn station(s: &StationSection) -> Service {
    let time = match (s.service_time, s.service_time_p50, s.service_time_p99) {
        (Some(fixed), _, _) => Latency::Fixed(fixed.0),
        (None, Some(p50), Some(p99)) => Latency::LogNormal {
            p50: p50.0,
            p99: p99.0,
        },
        // Validation requires a service time; none would mean an unbounded station.
        _ => Latency::None,
    };
    Service {
        workers: s.workers,
        time,
        queue: s.queue,
        refuse: match s.refuse {
            RefuseName::Unavailable => Refusal::Unavailable,
            RefuseName::RateLimited => Refusal::RateLimited,
        },
    }
}

fn client(section: &ServerSection, org: &Org, k: usize) -> ClientConfig {
    let (id, secret) = match k {
        0 => (
            org.client_id.clone(),
            org.client_secret.expose().to_string(),
        ),
        k => (
            format!("{}.{k}", org.client_id),
            format!("{}.{k}", org.client_secret.expose()),
        ),
    };
    let mut c = ClientConfig::new(id, secret);
    c.scopes = section.scopes.clone();
    // Later entries win, field by field, so a broad rule can be refined by a narrower one below it.
    let applies = |o: &&OrgOverride| o.org == org.index && o.client.is_none_or(|only| only == k);
    for o in section.orgs.iter().filter(applies) {
        if let Some(ttl) = o.token_ttl {
            c.token_ttl = Some(ttl.0);
        }
        if let Some(idle) = o.idle_timeout {
            c.idle_timeout = Some(idle.0);
        }
        if let Some(at) = o.disabled_at {
            c.disabled_at = Some(at.0);
        }
        if let Some(scopes) = &o.scopes {
            c.scopes = scopes.clone();
        }
    }
    c.allowed_origins = section.own_origins_of(org.index, k).map(<[_]>::to_vec);
    c
}

/// Zero (or less) means "no limit" in the profile.
fn positive(rate: Rate) -> Option<f64> {
    (rate.per_second > 0.0).then_some(rate.per_second)
}

fn faults(f: &EndpointFaults) -> Faults {
    let latency = match (f.latency, f.latency_p50, f.latency_p99) {
        (Some(fixed), _, _) => Latency::Fixed(fixed.0),
        (None, Some(p50), Some(p99)) => Latency::LogNormal {
            p50: p50.0,
            p99: p99.0,
        },
        _ => Latency::None,
    };
    Faults {
        latency,
        error_rate: f.error_rate,
        reset_rate: f.reset_rate,
        stall_rate: f.stall_rate,
        stall: f.stall.0,
        pause: f.pause_every.map(|every| (every.0, f.pause_for.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_messaging_section_maps_key_for_key() {
        let section: MessagingServerSection = toml::from_str(
            r#"
            session_duration = "10m"
            allowed_origins = ["https://shop.example"]
            max_sockets_per_deployment = 5
            messages_per_second = "120/min"
            [faults]
            drop_all_at = ["20s"]
            refuse_for = "4s"
            reply_latency_p50 = "10ms"
            reply_latency_p99 = "90ms"
            "#,
        )
        .unwrap();
        let m = messaging(&section);
        assert_eq!(m.session_duration, Duration::from_secs(600));
        assert_eq!(m.allowed_origins, ["https://shop.example"]);
        assert_eq!(
            (m.max_sockets_per_deployment, m.messages_per_second),
            (Some(5), Some(2.0))
        );
        assert_eq!(
            (m.retry_after, m.max_text_bytes),
            (Duration::from_secs(3), 4096)
        );
        assert_eq!(m.faults.drop_all_at, [Duration::from_secs(20)]);
        assert_eq!(m.faults.refuse_for, Duration::from_secs(4));
        let p50 = Duration::from_millis(10);
        let p99 = Duration::from_millis(90);
        assert_eq!(m.faults.reply_latency, Latency::LogNormal { p50, p99 });
        assert_eq!(
            messaging(&MessagingServerSection::default()),
            Messaging::default()
        );
    }

    #[test]
    fn an_orgs_own_origins_go_to_each_of_its_deployments() {
        let section: ServerSection = toml::from_str(
            r#"
            clients_per_org = 2
            [messaging]
            allowed_origins = ["https://shop.example"]
            [[orgs]]
            org = 1
            allowed_origins = ["https://partner.example"]
            "#,
        )
        .unwrap();
        let org = |index: usize| Org {
            index,
            name: format!("org{index}"),
            primary: None,
            client_id: format!("c{index}"),
            client_secret: crate::secret::Secret::new("s"),
            deployment_id: format!("c{index}"),
        };
        let config = target_config(&section, &[org(0), org(1)], 1);
        assert_eq!(config.messaging.allowed_origins, ["https://shop.example"]);
        assert!(config.orgs[0]
            .clients
            .iter()
            .all(|c| c.allowed_origins.is_none()));
        for c in &config.orgs[1].clients {
            assert_eq!(
                c.allowed_origins.as_deref(),
                Some(&["https://partner.example".to_string()][..])
            );
        }
        assert_eq!(config.orgs[1].clients.len(), 2);
    }
}
