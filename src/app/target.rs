//! Starting and stopping what a variant runs against: a fresh embedded target, a real one over
//! HTTP(S), or a `tokenstorm serve` already running (`run --target-url`).

use super::AppError;
use crate::http::{ApiCall, ApiConfig};
use crate::plan::Plan;
use crate::profile::schema::TargetSection;

/// A target ready for one variant.
pub struct Running {
    pub label: String,
    pub api: ApiConfig,
    #[cfg(feature = "simulator")]
    server: Option<crate::simulator::Server>,
}

impl Running {
    pub async fn start(plan: &Plan) -> Result<Running, AppError> {
        if let Some(url) = &plan.target_url {
            return served(url, plan);
        }
        match &plan.profile.target {
            TargetSection::Embedded => start_embedded(plan).await,
            TargetSection::Http(http) => Ok(Running {
                label: http.api_base.clone(),
                api: super::remote::api_config(plan, http)?,
                #[cfg(feature = "simulator")]
                server: None,
            }),
        }
    }

    /// The target's own counts, flattened to dotted names, when it keeps any.
    pub fn truth(&self) -> Option<serde_json::Value> {
        #[cfg(feature = "simulator")]
        if let Some(server) = &self.server {
            return serde_json::to_value(server.truth()).ok();
        }
        None
    }

    pub async fn stop(self) {
        #[cfg(feature = "simulator")]
        if let Some(server) = self.server {
            server.stop().await;
        }
    }
}

/// The journey's steps as calls on `base`, sharing `call`'s headers and contact ids.
pub(super) fn journey(plan: &Plan, call: &ApiCall, base: &str) -> Result<Vec<ApiCall>, AppError> {
    let Some(sessions) = &plan.profile.sessions else {
        return Ok(Vec::new());
    };
    let base = base.trim_end_matches('/');
    sessions
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let method = http::Method::from_bytes(step.method.as_bytes()).map_err(|_| {
                AppError::Usage(format!("sessions.step[{i}].method: `{}`", step.method))
            })?;
            Ok(call.step(method, step.path.prefixed(base), step.body.clone()))
        })
        .collect()
}

/// The embedded target's API at `base`, with the journey's steps; `{contact_id}` draws from the
/// ids of each org's first page of contacts, as a widget opens one it has just listed.
fn embedded_api(plan: &Plan, base: &str) -> Result<ApiConfig, AppError> {
    let mut api = ApiConfig::embedded(base, plan.load.request_timeout);
    #[cfg(feature = "simulator")]
    {
        let listed = plan.profile.server.contacts_per_org.min(25);
        api.call.contact_ids_by_org = (0..plan.orgs.len())
            .map(|org| {
                (0..u64::from(listed))
                    .map(|serial| crate::simulator::contact_id(org, serial))
                    .collect()
            })
            .collect();
    }
    api.steps = journey(plan, &api.call, base)?;
    Ok(api)
}

/// A `tokenstorm serve` running at `url` (embedded dialect); it is not ours to stop.
fn served(url: &str, plan: &Plan) -> Result<Running, AppError> {
    let base = url.trim_end_matches('/');
    Ok(Running {
        label: base.to_owned(),
        api: embedded_api(plan, base)?,
        #[cfg(feature = "simulator")]
        server: None,
    })
}

#[cfg(feature = "simulator")]
async fn start_embedded(plan: &Plan) -> Result<Running, AppError> {
    let config = super::embedded::target_config(&plan.profile.server, &plan.orgs, plan.seed);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let server = crate::simulator::Server::start(config, addr)
        .await
        .map_err(|source| AppError::Target { addr, source })?;
    let base = format!("http://{}", server.addr());
    Ok(Running {
        label: "embedded".into(),
        api: embedded_api(plan, &base)?,
        server: Some(server),
    })
}

#[cfg(not(feature = "simulator"))]
async fn start_embedded(_plan: &Plan) -> Result<Running, AppError> {
    Err(AppError::Usage(
        "this build has no embedded target (built without the `simulator` feature); \
         point the profile at a real server"
            .into(),
    ))
}
