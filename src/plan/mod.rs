//! Turns a validated profile into what runs: orgs with credentials, the session-to-org map, the
//! seeded arrival order and the resolved client models. Nothing after this reads the profile again.

pub mod client;
pub mod credentials;
mod credentials_file;
pub mod journey;
pub mod messaging;
pub mod schedule;
pub mod sessions;
pub mod shard;

use crate::profile::{Loaded, Profile};
use crate::secret::Secret;
pub use client::{ClientModel, Coalescing, RefreshTrigger};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schedule::{Schedule, Stage};
use sessions::SessionPlan;
pub use shard::{Shard, ShardSpec, Slice};
use std::sync::Arc;
use std::time::Duration;

/// One tenant organisation and the OAuth client its sessions use.
#[derive(Debug, Clone)]
pub struct Org {
    pub index: usize,
    pub name: String,
    /// For a partner org: the index of the primary org whose app it is part of.
    pub primary: Option<usize>,
    pub client_id: String,
    /// Empty for a real target until [`credentials::attach`] fills it in.
    pub client_secret: Secret,
    /// Web-messaging deployment id (a real target's `deployment_id`; the client id on the embedded one).
    pub deployment_id: String,
}

/// The load shape: open model, or closed with `connections` workers.
#[derive(Debug, Clone)]
pub struct Load {
    /// 0 with `connections`: unpaced. With `[sessions]`: session arrivals per second.
    pub rate_per_second: f64,
    /// Sessions with a life, when the profile has `[sessions]`; the fixed pool otherwise.
    pub sessions: Option<Arc<SessionPlan>>,
    /// Sessions are messaging widgets on a WebSocket, when the profile has `[messaging]`.
    pub messaging: Option<Arc<messaging::MessagingPlan>>,
    /// Closed model with this many workers; `None` for the open model.
    pub connections: Option<u32>,
    /// The profile's `top_orgs`: how many orgs keep latency histograms of their own.
    pub top_orgs: u32,
    /// When each org joins, from the start of the run (all zero unless `org_start_spread` is set);
    /// arrivals of an org that has not joined yet are not scheduled.
    pub org_start: Arc<[Duration]>,
    pub ramp_up: Duration,
    /// The profile's stages, end to end from 0 (empty without `[[load.stage]]`).
    pub stages: Vec<Stage>,
    pub duration: Duration,
    pub max_in_flight: u32,
    /// Open model: HTTP/1.1 connections per host the API calls share, at most.
    pub max_connections: Option<u32>,
    pub request_timeout: Duration,
    pub drain: Duration,
    /// Bound on a whole user-level request (token work, API call, retries); none on the embedded target.
    pub total_timeout: Option<Duration>,
}

impl Load {
    /// With `[sessions]` at a constant arrival rate: from the end of the ramp plus the sessions' p99
    /// length to the end of the run, the window in which the sessions alive are those of a steady
    /// rate, where Little's law holds. `None` under stages (the rate keeps changing) or when the run
    /// is shorter than that.
    pub fn steady_window(&self) -> Option<(Duration, Duration)> {
        let sessions = self.sessions.as_ref()?;
        if !self.stages.is_empty() {
            return None;
        }
        let from = self.ramp_up + Duration::try_from_secs_f64(sessions.length.p99_s()).ok()?;
        (from < self.duration).then_some((from, self.duration))
    }

    /// The arrivals of the open model (and the paced closed one): the stages when there are any,
    /// else `rate` after `ramp_up`; a shorter `duration` (`--duration`) cuts either.
    pub fn schedule(&self) -> Schedule {
        let full = if self.stages.is_empty() {
            Schedule::new(self.rate_per_second, self.ramp_up, self.duration)
        } else {
            Schedule::staged(&self.stages)
        };
        full.until(self.duration)
    }
}

/// Everything a run needs, fixed before the first request.
#[derive(Debug, Clone)]
pub struct Plan {
    pub profile_name: String,
    /// FNV-1a of the profile text: shards and comparisons check they ran the same profile.
    pub profile_hash: String,
    pub seed: u64,
    pub load: Load,
    pub orgs: Vec<Org>,
    /// Org index of each session.
    pub session_org: Arc<[u32]>,
    /// The order in which sessions send: a seeded permutation, cycled, so every session sends equally often.
    pub arrival_order: Arc<[u32]>,
    pub variants: Vec<ClientModel>,
    pub profile: Profile,
    /// This process's part of a sharded run, if it is one.
    pub shard: Option<Shard>,
    /// The arrivals this process sends: all of them, or its shard's.
    pub slice: Slice,
    /// The busiest orgs this process sends for (most sessions, then lowest index), at most `top_orgs`:
    /// they get latency histograms of their own in the report.
    pub top_orgs: Vec<usize>,
    /// Pacing of the first variant starts at this wall-clock time (all shards of a run share it); later
    /// variants start in fixed slots after it.
    pub start_at: Option<time::OffsetDateTime>,
    /// A `tokenstorm serve` already running here is the target, instead of the profile's `[target]`.
    pub target_url: Option<String>,
    /// The profile's folder: relative paths in it (credentials file, certificates) start here.
    pub profile_dir: std::path::PathBuf,
}

/// The `k` orgs with the most sessions among those this process sends for.
fn busiest(session_org: &[u32], orgs: usize, slice: &Slice, order: &[u32], k: usize) -> Vec<usize> {
    let mut sessions = vec![0u64; orgs];
    let cycle = order.len() as u64;
    // One pass over a cycle of this slice's arrivals: which sessions, so which orgs, it sends for.
    for n in 0..slice.owned_before(cycle) {
        let session = order[(slice.global(n) % cycle.max(1)) as usize];
        sessions[session_org[session as usize] as usize] += 1;
    }
    let mut ranked: Vec<usize> = (0..orgs).filter(|&o| sessions[o] > 0).collect();
    ranked.sort_by_key(|&o| (std::cmp::Reverse(sessions[o]), o));
    ranked.truncate(k);
    ranked
}

/// Each org's joining time, uniform over `[0, spread)` from the seed: a stream of its own, so the
/// arrival order does not change when the spread does.
fn org_start(seed: u64, orgs: usize, spread: Duration) -> Arc<[Duration]> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0A6_57A7);
    (0..orgs)
        .map(|_| {
            if spread.is_zero() {
                Duration::ZERO
            } else {
                spread.mul_f64(rng.random::<f64>())
            }
        })
        .collect()
}

/// Settings given on the command line that override the profile.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub duration: Option<Duration>,
    pub seed: Option<u64>,
    /// Run only the variants with these names (all when empty).
    pub variants: Vec<String>,
    /// Run only this shard's slice of the orgs and arrivals (`--shard`, already resolved).
    pub shard: Option<Shard>,
    /// Wait until then before pacing (`--start-at`).
    pub start_at: Option<time::OffsetDateTime>,
    /// Load a `tokenstorm serve` at this URL instead of the profile's target (`--target-url`).
    pub target_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialsError),
    #[error("no variant named `{0}` in the profile (it has: {1})")]
    UnknownVariant(String, String),
    #[error("--shard {0}: {1}")]
    Shard(Shard, String),
}

pub fn build(loaded: &Loaded, overrides: &Overrides) -> Result<Plan, PlanError> {
    let profile = &loaded.profile;
    let seed = overrides.seed.unwrap_or(profile.seed);
    let org_count = profile.load.orgs as usize;
    let session_count = profile.load.sessions as usize;
    let orgs = orgs(profile);
    let session_org: Arc<[u32]> = (0..session_count).map(|s| (s % org_count) as u32).collect();
    let mut order: Vec<u32> = (0..session_count as u32).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let slice = match overrides.shard {
        None => Slice::whole(session_count as u32),
        Some(shard) => shard_slice(shard, &orgs, &session_org, &order)?,
    };
    let variants = chosen_variants(profile, &overrides.variants)?;
    let mut load = load(profile, seed, overrides.duration);
    let top_orgs = match &profile.sessions {
        None => busiest(
            &session_org,
            org_count,
            &slice,
            &order,
            profile.top_orgs as usize,
        ),
        Some(section) => {
            let plan = sessions::plan(section, profile, seed, &orgs, overrides.shard)?;
            let top = sessions::heaviest(&plan, profile.top_orgs as usize);
            load.sessions = Some(Arc::new(plan));
            top
        }
    };
    Ok(Plan {
        profile_name: loaded.name.clone(),
        profile_hash: fnv1a_hex(loaded.text.as_bytes()),
        seed,
        load,
        orgs,
        session_org,
        arrival_order: order.into(),
        variants,
        profile: profile.clone(),
        shard: overrides.shard,
        slice,
        top_orgs,
        start_at: overrides.start_at,
        target_url: overrides.target_url.clone(),
        profile_dir: loaded
            .path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default(),
    })
}

/// The orgs and their clients. The last `load.partners` are partner orgs of org 0.
fn orgs(profile: &Profile) -> Vec<Org> {
    let org_count = profile.load.orgs as usize;
    let partners = profile.load.partners as usize;
    let primary = |index: usize| (index >= org_count - partners).then_some(0);
    match profile.target.http() {
        // A real target's orgs are its own; their secrets are read only when a run needs them.
        Some(http) => http
            .orgs
            .iter()
            .enumerate()
            .map(|(index, o)| Org {
                index,
                primary: primary(index),
                name: o.name.clone(),
                client_id: o.client_id.clone().unwrap_or_default(),
                client_secret: Secret::new(""),
                deployment_id: o.deployment_id.clone().unwrap_or_default(),
            })
            .collect(),
        None => {
            // Fresh per run: nothing about them needs to repeat, and a guessable secret is a bad habit.
            let mut secret_rng = rand::rng();
            (0..org_count)
                .map(|index| {
                    let secret: u128 = secret_rng.random();
                    Org {
                        index,
                        primary: primary(index),
                        name: format!("org-{index:04}"),
                        client_id: format!("org-{index:04}-client"),
                        client_secret: Secret::new(format!("{secret:032x}")),
                        deployment_id: format!("org-{index:04}-client"),
                    }
                })
                .collect()
        }
    }
}

/// The arrivals of the orgs this shard owns (a partner org goes with its primary).
fn shard_slice(
    shard: Shard,
    orgs: &[Org],
    session_org: &[u32],
    order: &[u32],
) -> Result<Slice, PlanError> {
    let primary: Vec<Option<usize>> = orgs.iter().map(|o| o.primary).collect();
    let mut per_org = vec![0_u64; primary.len()];
    for &org in session_org {
        per_org[org as usize] += 1;
    }
    let owns = shard::assign(shard, &primary, &per_org).map_err(|e| PlanError::Shard(shard, e))?;
    Ok(Slice::of(order, session_org, &owns))
}

/// The client models to run: those named on the command line, or all of them.
fn chosen_variants(profile: &Profile, wanted: &[String]) -> Result<Vec<ClientModel>, PlanError> {
    let names: Vec<&str> = profile.variants.iter().map(|v| v.name.as_str()).collect();
    if let Some(unknown) = wanted.iter().find(|w| !names.contains(&w.as_str())) {
        return Err(PlanError::UnknownVariant(unknown.clone(), names.join(", ")));
    }
    Ok(profile
        .variants
        .iter()
        .filter(|v| wanted.is_empty() || wanted.contains(&v.name))
        .map(|v| client::resolve(&v.name, &v.client))
        .collect())
}

fn load(profile: &Profile, seed: u64, duration: Option<Duration>) -> Load {
    let load = &profile.load;
    let arrival_rate = profile
        .sessions
        .as_ref()
        .and_then(|s| s.arrival_rate)
        .map(|r| r.per_second);
    Load {
        rate_per_second: arrival_rate.unwrap_or_else(|| load.peak_rate()),
        sessions: None,
        messaging: profile
            .messaging
            .as_ref()
            .map(|m| Arc::new(messaging::MessagingPlan::new(m))),
        connections: load.connections,
        top_orgs: profile.top_orgs,
        org_start: org_start(seed, load.orgs as usize, load.org_start_spread.0),
        ramp_up: load.ramp_up.0,
        stages: Stage::chain(
            load.stages
                .iter()
                .map(|s| (s.name.clone(), s.duration.0, s.target.per_second)),
        ),
        // `--duration` may cut stages short, never stretch them: after the last there is no rate.
        duration: match duration {
            Some(d) if !load.stages.is_empty() => d.min(profile.run_length()),
            Some(d) => d,
            None => profile.run_length(),
        },
        max_in_flight: load.max_in_flight,
        max_connections: load.max_connections,
        request_timeout: load.request_timeout.0,
        drain: load.drain.0,
        total_timeout: profile
            .target
            .http()
            .and_then(|h| h.http.total_timeout)
            .map(|t| t.0),
    }
}

impl Plan {
    /// Share of the whole run's load this process sends: its slice of the arrivals, or with
    /// `[sessions]` its orgs' share of the sessions.
    pub fn share(&self) -> f64 {
        match &self.load.sessions {
            Some(sessions) => sessions.share(),
            None => self.slice.share(),
        }
    }
}

fn fnv1a_hex(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const TEXT: &str = r#"
duration = "10s"
seed = 7
[load]
orgs = 3
sessions = 10
rate = "100/s"
[[variant]]
name = "a"
client = "naive"
[[variant]]
name = "b"
client = { token_scope = "session", trigger = "margin", margin = "2s", coalesce = "single-flight" }
"#;

    fn loaded() -> Loaded {
        Loaded {
            path: "p.toml".into(),
            name: "p".into(),
            profile: crate::profile::parse(TEXT, Path::new("p.toml")).unwrap(),
            text: TEXT.into(),
        }
    }

    #[test]
    fn same_seed_gives_same_arrival_order_and_sessions_cover_all_orgs() {
        let a = build(&loaded(), &Overrides::default()).unwrap();
        let b = build(&loaded(), &Overrides::default()).unwrap();
        assert_eq!(a.arrival_order, b.arrival_order);
        let mut sorted = a.arrival_order.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<u32>>());
        let c = build(
            &loaded(),
            &Overrides {
                seed: Some(8),
                ..Default::default()
            },
        )
        .unwrap();
        assert_ne!(a.arrival_order, c.arrival_order);
        assert_eq!(a.session_org.iter().max(), Some(&2));
    }

    #[test]
    fn variants_resolve_defaults_and_filter() {
        let plan = build(
            &loaded(),
            &Overrides {
                variants: vec!["b".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(plan.variants.len(), 1);
        let b = &plan.variants[0];
        assert_eq!(
            b.trigger,
            RefreshTrigger::Margin {
                margin: Duration::from_secs(2)
            }
        );
        assert_eq!(
            b.refresh_grant,
            crate::profile::schema::RefreshGrant::RefreshToken
        );
        let err = build(
            &loaded(),
            &Overrides {
                variants: vec!["zzz".into()],
                ..Default::default()
            },
        );
        assert!(err.unwrap_err().to_string().contains("a, b"));
    }
}
