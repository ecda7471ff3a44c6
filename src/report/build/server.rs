//! The embedded target's settings as the report records them: expiry, and the socket endpoint's.

use crate::plan::Org;
use crate::profile::schema::Profile;
use crate::profile::server::ServerSection;
use crate::report::model::{
    DeploymentOrigins, MessagingFaultSettings, MessagingServerSettings, ServerSettings,
};
use std::time::Duration;

/// The embedded target's settings for a run of `profile` with these orgs.
pub fn server_settings(profile: &Profile, orgs: &[Org]) -> ServerSettings {
    let section = &profile.server;
    let offset_ms = i64::try_from(section.clock_offset.magnitude.as_millis()).unwrap_or(i64::MAX);
    let own_origins = section.orgs.iter().any(|o| o.allowed_origins.is_some());
    // Widgets meet the endpoint's defaults when the profile does not set them: those are recorded too.
    let messaging = (section.messaging.is_some() || own_origins || profile.messaging.is_some())
        .then(|| messaging(section, orgs));
    ServerSettings {
        token_ttl_s: section.token_ttl.0.as_secs_f64(),
        leeway_s: section.leeway.0.as_secs_f64(),
        clock_offset_ms: if section.clock_offset.negative {
            -offset_ms
        } else {
            offset_ms
        },
        messaging,
    }
}

fn messaging(section: &ServerSection, orgs: &[Org]) -> MessagingServerSettings {
    let m = section.messaging.clone().unwrap_or_default();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    MessagingServerSettings {
        session_duration_s: m.session_duration.0.as_secs_f64(),
        allowed_origins: m.allowed_origins,
        deployment_origins: deployment_origins(section, orgs),
        max_sockets_per_deployment: m.max_sockets_per_deployment.map(|n| n as u64),
        messages_per_second: m.messages_per_second.map(|r| r.per_second),
        retry_after_s: m.retry_after.0.as_secs_f64(),
        max_text_bytes: m.max_text_bytes as u64,
        faults: MessagingFaultSettings {
            drop_all_at_s: m
                .faults
                .drop_all_at
                .iter()
                .map(|s| s.0.as_secs_f64())
                .collect(),
            refuse_for_s: m.faults.refuse_for.0.as_secs_f64(),
            reply_latency_p50_ms: m.faults.reply_latency_p50.map(|s| ms(s.0)),
            reply_latency_p99_ms: m.faults.reply_latency_p99.map(|s| ms(s.0)),
        },
    }
}

/// Every deployment that has a list of its own, resolved as the target resolves it.
fn deployment_origins(section: &ServerSection, orgs: &[Org]) -> Vec<DeploymentOrigins> {
    let clients = section.clients_per_org.max(1);
    orgs.iter()
        .flat_map(|org| (0..clients).map(move |k| (org, k)))
        .filter_map(|(org, k)| {
            Some(DeploymentOrigins {
                org: org.name.clone(),
                client: u32::try_from(k).unwrap_or(u32::MAX),
                allowed_origins: section.own_origins_of(org.index, k)?.to_vec(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &str) -> ServerSettings {
        let text = format!(
            "duration = \"1s\"\n[load]\norgs = 1\nsessions = 2\n{extra}\n[[variant]]\nname = \"a\"\nclient = \"genesys-messenger\"\n"
        );
        let profile = crate::profile::parse(&text, std::path::Path::new("t.toml")).unwrap();
        server_settings(&profile, &[])
    }

    #[test]
    fn widgets_on_the_endpoints_defaults_record_the_defaults_and_rest_alone_nothing() {
        assert_eq!(settings("rate = \"1/s\"").messaging, None);
        let widgets = r#"
            [sessions]
            arrival_rate = "1/s"
            length = { dist = "fixed", value = "1s" }
            think = { dist = "fixed", value = "1s" }
            [messaging]"#;
        let m = settings(widgets)
            .messaging
            .expect("the widgets met the endpoint");
        assert_eq!(m.session_duration_s, 72.0 * 3600.0);
        assert!(m.allowed_origins.is_empty() && m.deployment_origins.is_empty());
        assert_eq!(
            (m.max_sockets_per_deployment, m.messages_per_second),
            (None, None)
        );
        assert_eq!((m.retry_after_s, m.max_text_bytes), (3.0, 4096));
        assert_eq!(m.faults.reply_latency_p50_ms, None);
    }
}
