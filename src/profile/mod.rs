//! Profiles: the TOML file a user writes, parsed into typed sections and validated.

pub mod client;
pub mod journey;
pub mod locate;
pub mod messaging;
pub mod messaging_server;
pub mod presets;
pub mod problems;
pub mod schema;
pub mod search;
pub mod server;
pub mod service;
pub mod sessions;
mod shape;
mod suggest;
pub mod target;
pub mod target_checks;
pub mod template;
pub mod thresholds;
pub mod units;
pub mod validate;

pub use schema::Profile;

use locate::Locator;
use std::fmt;
use std::path::{Path, PathBuf};

/// A problem placed in the file: `profiles/x.toml:12: load.sessions: must be ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read profile {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", render(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Located>,
    },
}

fn render(path: &Path, problems: &[Located]) -> String {
    let mut out = format!(
        "{}: {} problem{}",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string_in(path));
    }
    out
}

impl Located {
    fn to_string_in(&self, path: &Path) -> String {
        let mut s = path.display().to_string();
        if let Some(line) = self.line {
            s.push_str(&format!(":{line}"));
        }
        if !self.key.is_empty() {
            s.push_str(&format!(": {}", self.key));
        }
        s.push_str(&format!(": {}", self.message));
        s
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_string_in(Path::new("<profile>")))
    }
}

/// A profile read from disk, with the name it goes by.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub name: String,
    pub profile: Profile,
    /// The exact text, so reports can carry its hash and shards can check they ran the same profile.
    pub text: String,
}

pub fn load(path: &Path) -> Result<Loaded, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let profile = parse(&text, path)?;
    let name = profile.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "profile".to_owned())
    });
    Ok(Loaded {
        path: path.to_owned(),
        name,
        profile,
        text,
    })
}

/// Parses and validates. Every problem of reading (unknown keys, values that do not parse, unknown
/// presets) comes back at once; when there is none, every problem of the values; each with its key and line.
pub fn parse(text: &str, path: &Path) -> Result<Profile, ProfileError> {
    let locator = Locator::new(text);
    let dir = path.parent().unwrap_or(Path::new("."));
    let problems = match read(text, &locator, dir) {
        Ok(profile) => match check(&profile, &locator) {
            problems if problems.is_empty() => return Ok(profile),
            problems => problems,
        },
        Err(problems) => problems,
    };
    Err(ProfileError::Invalid {
        path: path.to_owned(),
        problems,
    })
}

/// The file read into its serde model with every client's presets applied, or every problem met on
/// the way: keys serde does not know, values it cannot read, presets that do not exist.
fn read(text: &str, locator: &Locator, dir: &Path) -> Result<Profile, Vec<Located>> {
    let mut shape = shape::read(text, locator);
    let mut problems = std::mem::take(&mut shape.problems);
    let Some(mut profile) = shape.profile.take() else {
        return Err(problems);
    };
    for (i, variant) in profile.variants.iter_mut().enumerate() {
        let key = format!("variant[{i}].client");
        if shape.is_settled(&key) {
            continue;
        }
        match presets::resolve(&variant.client, dir) {
            Ok(resolved) => variant.client = resolved,
            Err(message) => problems.push(Located {
                line: locator.line_of_key(&key),
                key,
                message,
            }),
        }
    }
    match problems.is_empty() {
        true => Ok(profile),
        false => Err(problems),
    }
}

/// Values against their ranges and against each other. Only a profile that reads as written gets
/// here: with a key removed or stood in for, these checks would judge values the file does not have.
fn check(profile: &Profile, locator: &Locator) -> Vec<Located> {
    let mut problems = validate::validate(profile);
    // `[server]` has defaults, so only the text tells whether it was written; against a real target it
    // would be silently ignored, which is worse than an error.
    if profile.target.http().is_some() && locator.line_of_key("server").is_some() {
        problems.push(
            "server",
            "configures the embedded target only; remove it when [target] kind = \"http\"",
        );
    }
    problems
        .into_vec()
        .into_iter()
        .map(|p| Located {
            line: locator.line_of_key(&p.key),
            key: p.key,
            message: p.message,
        })
        .collect()
}

/// The JSON Schema of a profile, generated from the types above, for editors (`tokenstorm schema`).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Profile);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}
