//! `run --dry-run`: the safe first step against staging. Resolves the plan, checks every credential is
//! present, gets one token per org and makes one API call with it, prints what it found, and stops.

use super::target::Running;
use super::AppError;
use crate::http::{Api, CallVars, Credentials, Grant, Reply};
use crate::plan::{self, Overrides, Plan};
use crate::profile::schema::RefreshGrant;
use crate::vocabulary::Outcome;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

/// One HTTP exchange of the dry run.
#[derive(Debug, Clone)]
pub struct Check {
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub took: Duration,
    /// What else is worth saying (token lifetime, refresh token); never a token or secret.
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct OrgFinding {
    pub org: String,
    pub token: Check,
    /// `None` when there was no token to call with.
    pub api: Option<Check>,
}

/// What the dry run found.
#[derive(Debug, Clone)]
pub struct DryRun {
    /// The resolved plan, target and credential sources, one line each.
    pub plan: Vec<String>,
    pub warnings: Vec<String>,
    pub orgs: Vec<OrgFinding>,
}

impl DryRun {
    pub fn ok(&self) -> bool {
        self.orgs.iter().all(|o| {
            o.token.outcome == Outcome::Ok
                && o.api.as_ref().is_some_and(|a| a.outcome == Outcome::Ok)
        })
    }

    /// Nothing answered at all: wrong address, firewall, TLS trust.
    pub fn unreachable(&self) -> bool {
        self.orgs
            .iter()
            .all(|o| matches!(o.token.outcome, Outcome::ConnectError | Outcome::Timeout))
    }

    pub fn exit_code(&self) -> u8 {
        if self.ok() {
            super::exit::SUCCESS
        } else if self.unreachable() {
            super::exit::UNREACHABLE
        } else {
            super::exit::THRESHOLDS_FAILED
        }
    }
}

pub async fn run(profile: &Path, overrides: &Overrides) -> Result<DryRun, AppError> {
    let loaded = crate::profile::load(profile)?;
    let mut plan = plan::build(&loaded, overrides)?;
    let dir = plan.profile_dir.clone();
    plan::credentials::attach(&mut plan, &dir, &|var| std::env::var(var).ok())
        .map_err(plan::PlanError::from)?;
    let target = Running::start(&plan).await?;
    let result = match check(&plan, &target).await {
        Ok((api, lines)) => Ok(DryRun {
            plan: lines,
            warnings: super::remote::warnings(&plan),
            orgs: probe(&plan, &api).await,
        }),
        Err(e) => Err(e),
    };
    target.stop().await;
    result
}

async fn probe(plan: &Plan, api: &Api) -> Vec<OrgFinding> {
    let mut found = Vec::new();
    let grant_kind = plan
        .variants
        .first()
        .map_or(RefreshGrant::ClientCredentials, |m| m.refresh_grant);
    // Sequential on purpose: a dry run must not look like load.
    for org in &plan.orgs {
        let session = org.index as u32;
        let code = format!("sim-dryrun-{}", org.name);
        let grant = match grant_kind {
            RefreshGrant::ClientCredentials => Grant::ClientCredentials,
            RefreshGrant::RefreshToken => Grant::AuthorizationCode { code: &code },
        };
        let who = Credentials {
            org: &org.name,
            session,
            client_id: &org.client_id,
            client_secret: &org.client_secret,
            deployment_id: &org.deployment_id,
        };
        let started = Instant::now();
        let reply = api.token(who, grant).await;
        let token = check_of(&reply, started, |issued| {
            format!(
                "expires in {}, refresh token {}",
                issued
                    .expires_in
                    .map_or("(not said)".to_owned(), |d| format!("{}s", d.as_secs())),
                if issued.refresh_token.is_some() {
                    "yes"
                } else {
                    "no"
                }
            )
        });
        let api_check = match &reply.value {
            Some(issued) => {
                let vars = CallVars {
                    org: &org.name,
                    org_index: org.index,
                    session,
                    deployment_id: &org.deployment_id,
                };
                let started = Instant::now();
                let r = api.contacts(&issued.access_token, vars).await;
                Some(check_of(&r, started, |_| String::new()))
            }
            None => None,
        };
        found.push(OrgFinding {
            org: org.name.clone(),
            token,
            api: api_check,
        });
    }
    found
}

async fn check(plan: &Plan, target: &Running) -> Result<(Api, Vec<String>), AppError> {
    let api = super::remote::connect(&target.api, plan).await?;
    let load = &plan.load;
    let names: Vec<&str> = plan.variants.iter().map(|v| v.name.as_str()).collect();
    let shape = match load.sessions {
        Some(_) => format!(
            "sessions arriving at {}/s, at most {} alive",
            load.rate_per_second,
            plan.session_org.len()
        ),
        None => format!(
            "{} sessions; {}/s",
            plan.session_org.len(),
            load.rate_per_second
        ),
    };
    let mut lines = vec![
        format!(
            "plan      {} variant{} ({}); {} orgs, {shape} for {:.0}s each",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            plan.orgs.len(),
            load.duration.as_secs_f64()
        ),
        format!("target    {}", target.label),
        format!("token at  {}", api.token_url()),
    ];
    if let Some(http) = plan.profile.target.http() {
        lines.push(format!(
            "dialect   {}, client auth {}{}",
            http.dialect.name(),
            match http.client_auth {
                crate::profile::target::ClientAuth::Basic => "basic",
                crate::profile::target::ClientAuth::Body => "body",
            },
            http.resource
                .as_ref()
                .map(|r| format!(", resource {r}"))
                .unwrap_or_default()
        ));
        lines.push("credentials (all present)".to_owned());
        for source in plan::credentials::sources(http) {
            lines.push(format!("  {source}"));
        }
    }
    Ok((api, lines))
}

fn check_of<T>(reply: &Reply<T>, started: Instant, detail: impl Fn(&T) -> String) -> Check {
    Check {
        outcome: reply.outcome,
        status: reply.status,
        took: started.elapsed(),
        detail: match (&reply.value, reply.bad_body) {
            (Some(value), _) => detail(value),
            (None, Some(bad)) => bad.to_string(),
            (None, None) => String::new(),
        },
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.outcome.name())?;
        if let Some(status) = self.status {
            write!(f, " {status}")?;
        }
        write!(f, " in {}ms", self.took.as_millis())?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl fmt::Display for DryRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.plan {
            writeln!(f, "{line}")?;
        }
        for w in &self.warnings {
            writeln!(f, "{w}")?;
        }
        for o in &self.orgs {
            let api = o
                .api
                .as_ref()
                .map_or("not called (no token)".to_owned(), |a| a.to_string());
            writeln!(f, "org {}: token {}; api {}", o.org, o.token, api)?;
        }
        let verdict = if self.ok() {
            "ok: every org got a token and a 2xx from the API; nothing else was sent"
        } else if self.unreachable() {
            "UNREACHABLE: no token request got an answer (address, firewall, proxy or TLS trust)"
        } else {
            "FAILED: see the orgs above; nothing else was sent"
        };
        writeln!(f, "dry run   {verdict}")
    }
}
