//! Turns a profile's `[server]` section and the plan's orgs into the embedded target's configuration.

use crate::plan::Org;
use crate::profile::server::ServerSection;
use crate::target::{ClientConfig, Config, OrgConfig};

pub fn target_config(section: &ServerSection, orgs: &[Org], seed: u64) -> Config {
    let orgs = orgs
        .iter()
        .map(|org| OrgConfig {
            name: org.name.clone(),
            clients: vec![ClientConfig {
                client_id: org.client_id.clone(),
                client_secret: org.client_secret.expose().to_owned(),
            }],
        })
        .collect();
    let mut config = Config::new(orgs, section.token_ttl.0);
    config.leeway = section.leeway.0;
    config.seed = seed;
    config
}
