//! A real target's client credentials, read at run time from the environment variables the profile names
//! or from a credentials file that only its owner can read. Error messages name variables, files, lines
//! and orgs, never a value read from them.

use super::credentials_file::{read_file, FileEntry};
use crate::plan::Plan;
use crate::profile::target::{Dialect, HttpTarget};
use crate::secret::Secret;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("environment variable {var} is not set (target.orgs[{index}].{key}, org `{org}`)")]
    MissingEnv {
        var: String,
        index: usize,
        key: &'static str,
        org: String,
    },
    #[error("cannot read credentials file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "credentials file {} is readable by group or others (mode {mode:03o}); \
         run `chmod 600 {}` first",
        path.display(),
        path.display()
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("credentials file {}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Several(Vec<CredentialsError>),
    #[error("org `{org}` has no source for its {what}: name an environment variable or set target.credentials_file")]
    NoSource { org: String, what: &'static str },
    #[error("credentials file {} has no {what} for org `{org}`", path.display())]
    MissingOrg {
        path: PathBuf,
        org: String,
        what: &'static str,
    },
}

/// Fills in every org's client id and secret. `env` looks up an environment variable (tests pass
/// their own); `profile_dir` anchors a relative credentials file.
pub fn attach(
    plan: &mut Plan,
    profile_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), CredentialsError> {
    let Some(http) = plan.profile.target.http().cloned() else {
        return Ok(());
    };
    if http.dialect == Dialect::WebDeployments {
        // Web messaging authenticates with a public deployment id and a code: no client secret.
        return Ok(());
    }
    let file = match &http.credentials_file {
        Some(path) => {
            let path = profile_dir.join(path);
            Some((read_file(&path)?, path))
        }
        None => None,
    };
    // Every org is looked at, so a user sees all that is missing at once, not one variable per attempt.
    let mut errors = Vec::new();
    for (index, org) in plan.orgs.iter_mut().enumerate() {
        if let Err(e) = attach_org(org, &http, index, file.as_ref(), env) {
            errors.push(e);
        }
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(CredentialsError::Several(errors)),
    }
}

type File = (HashMap<String, FileEntry>, PathBuf);

fn attach_org(
    org: &mut crate::plan::Org,
    http: &HttpTarget,
    index: usize,
    file: Option<&File>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), CredentialsError> {
    let spec = &http.orgs[index];
    let entry = file.and_then(|(f, _)| f.get(&spec.name));
    let var = |name: &Option<String>, key: &'static str| -> Result<_, CredentialsError> {
        name.as_ref()
            .map(|var| {
                env(var).ok_or_else(|| CredentialsError::MissingEnv {
                    var: var.clone(),
                    index,
                    key,
                    org: spec.name.clone(),
                })
            })
            .transpose()
    };
    let missing = |what| match file {
        Some((_, path)) => CredentialsError::MissingOrg {
            path: path.clone(),
            org: spec.name.clone(),
            what,
        },
        // Validation already refuses this profile; say why anyway rather than trust it.
        None => CredentialsError::NoSource {
            org: spec.name.clone(),
            what,
        },
    };
    org.client_id = match (var(&spec.client_id_env, "client_id_env")?, &spec.client_id) {
        (Some(id), _) => id,
        (None, Some(id)) => id.clone(),
        (None, None) => entry
            .and_then(|e| e.client_id.clone())
            .ok_or_else(|| missing("client_id"))?,
    };
    org.client_secret = match var(&spec.client_secret_env, "client_secret_env")? {
        Some(secret) => Secret::new(secret),
        None => entry
            .and_then(|e| e.client_secret.clone())
            .ok_or_else(|| missing("client_secret"))?,
    };
    Ok(())
}

/// The orgs of a real target, with which of their credentials come from where: for `--dry-run`.
pub fn sources(http: &HttpTarget) -> Vec<String> {
    http.orgs
        .iter()
        .map(|o| {
            let id = match (&o.client_id_env, &o.client_id) {
                (Some(var), _) => format!("client id from ${var}"),
                (None, Some(_)) => "client id from the profile".to_owned(),
                (None, None) => "client id from the credentials file".to_owned(),
            };
            let secret = match &o.client_secret_env {
                Some(var) => format!("secret from ${var}"),
                None => "secret from the credentials file".to_owned(),
            };
            match http.dialect {
                Dialect::WebDeployments => format!("{}: deployment id from the profile", o.name),
                Dialect::Rfc6749 => format!("{}: {id}, {secret}", o.name),
            }
        })
        .collect()
}
