//! `tokenstorm serve`: the embedded target on its own, until Ctrl-C, for curl, peers and shards.

use super::signals::Signals;
use super::AppError;
use std::net::SocketAddr;
use std::path::Path;

/// Environment variable holding the client secret every org's client uses on a served target.
pub const SECRET_ENV: &str = "TOKENSTORM_SERVE_SECRET";
/// Used when the variable is unset: the served target is a local simulator, not a vault.
pub const DEFAULT_SECRET: &str = "tokenstorm-dev-secret";

/// The client secret of every org on a served target: `run --target-url` uses the same derivation.
pub fn served_secret() -> crate::secret::Secret {
    crate::secret::Secret::new(
        std::env::var(SECRET_ENV).unwrap_or_else(|_| DEFAULT_SECRET.to_owned()),
    )
}

pub struct Served {
    pub addr: SocketAddr,
    pub orgs: usize,
}

/// Starts the server, reports where it listens through `ready`, and serves until the first signal.
#[cfg(feature = "simulator")]
pub async fn serve(
    profile: &Path,
    addr: SocketAddr,
    signals: Signals,
    ready: impl FnOnce(&Served),
) -> Result<(), AppError> {
    let loaded = crate::profile::load(profile)?;
    let mut plan = crate::plan::build(&loaded, &crate::plan::Overrides::default())?;
    let secret = served_secret();
    for org in &mut plan.orgs {
        org.client_secret = secret.clone();
    }
    let config = super::embedded::target_config(&plan.profile.server, &plan.orgs, plan.seed);
    let server = crate::simulator::Server::start(config, addr)
        .await
        .map_err(|source| AppError::Target { addr, source })?;
    ready(&Served {
        addr: server.addr(),
        orgs: plan.orgs.len(),
    });
    signals.count_reaches(1).await;
    server.stop().await;
    Ok(())
}

#[cfg(not(feature = "simulator"))]
pub async fn serve(
    _: &Path,
    _: SocketAddr,
    _: Signals,
    _: impl FnOnce(&Served),
) -> Result<(), AppError> {
    Err(AppError::Usage(
        "this build has no embedded target (built without the `simulator` feature)".into(),
    ))
}
