//! Client-model presets: the built-in ones (profiles/clients/*.toml, compiled in) and any
//! `clients/<name>.toml` next to a profile, which takes precedence.

use super::client::{parse_settings, ClientSettings};
use std::path::Path;

macro_rules! built_in {
    ($($name:literal),* $(,)?) => {
        /// `(name, file text)` of every built-in preset.
        pub const BUILT_IN: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../profiles/clients/", $name, ".toml"))),)*
        ];
    };
}

built_in!(
    "genesys-platform-sdk",
    "genesys-messenger",
    "azure-acs",
    "azure-core",
    "botocore",
    "msal",
    "google-auth",
    "auth0-spa",
    "okta",
    "go-oauth2",
    "naive",
    "partner-bug",
);

/// Presets may start from other presets; a chain longer than this is a loop.
const MAX_DEPTH: usize = 8;

/// Applies the presets a client's settings name, innermost first; the error says what went wrong.
pub fn resolve(settings: &ClientSettings, profile_dir: &Path) -> Result<ClientSettings, String> {
    let mut chain = vec![settings.clone()];
    let mut next = settings.preset.clone();
    while let Some(name) = next {
        if chain.len() > MAX_DEPTH {
            return Err(format!(
                "preset `{name}` starts a chain of more than {MAX_DEPTH} presets (a loop?)"
            ));
        }
        let preset = load(&name, profile_dir)?;
        next = preset.preset.clone();
        chain.push(preset);
    }
    let top_preset = settings.preset.clone();
    let mut merged = chain
        .into_iter()
        .rev()
        .fold(ClientSettings::default(), |acc, s| acc.overlaid(&s));
    merged.preset = top_preset;
    Ok(merged)
}

fn load(name: &str, profile_dir: &Path) -> Result<ClientSettings, String> {
    let safe = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !safe || name.starts_with('.') {
        return Err(format!("`{name}` is not a preset name"));
    }
    let file = profile_dir.join("clients").join(format!("{name}.toml"));
    let (text, origin) = match std::fs::read_to_string(&file) {
        Ok(text) => (text, file.display().to_string()),
        Err(_) => match BUILT_IN.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => (text.to_string(), format!("built-in preset {name}")),
            None => return Err(unknown(name, profile_dir)),
        },
    };
    parse_settings(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| super::locate::Locator::new(&text).line_of_offset(s.start));
        let message = super::suggest::improve(e.message().trim());
        match line {
            Some(line) => format!("in {origin}, line {line}: {message}"),
            None => format!("in {origin}: {message}"),
        }
    })
}

/// What to say about a preset that is neither built in nor a file, with the nearest name if one is close.
fn unknown(name: &str, profile_dir: &Path) -> String {
    let built_in: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
    let files = local_names(profile_dir);
    let known = built_in
        .iter()
        .copied()
        .chain(files.iter().map(String::as_str));
    let listed = format!(
        "built-in presets are {}, or put clients/{name}.toml next to the profile",
        built_in.join(", ")
    );
    match super::suggest::nearest(name, known) {
        Some(near) => format!("unknown client preset `{name}`: did you mean `{near}`? ({listed})"),
        None => format!("unknown client preset `{name}`; {listed}"),
    }
}

/// The presets in `clients/` next to the profile.
fn local_names(profile_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(profile_dir.join("clients")) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let stem = path.file_stem()?.to_str()?;
            (path.extension()? == "toml").then(|| stem.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_preset_parses_and_describes_itself() {
        for (name, text) in BUILT_IN {
            let s = parse_settings(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let resolved = resolve(
                &ClientSettings {
                    preset: Some(name.to_string()),
                    ..s.clone()
                },
                Path::new("."),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(resolved.description.is_some(), "{name} needs a description");
            assert!(
                resolved.token_scope.is_some() && resolved.trigger.is_some(),
                "{name}"
            );
        }
    }

    #[test]
    fn inline_settings_override_the_preset() {
        let inline = ClientSettings {
            preset: Some("genesys-messenger".into()),
            retries_on_401: Some(0),
            ..Default::default()
        };
        let r = resolve(&inline, Path::new(".")).unwrap();
        assert_eq!(r.retries_on_401, Some(0));
        assert_eq!(r.preset.as_deref(), Some("genesys-messenger"));
        let err = resolve(
            &ClientSettings {
                preset: Some("nope".into()),
                ..Default::default()
            },
            Path::new("."),
        );
        assert!(err
            .unwrap_err()
            .contains("built-in presets are genesys-platform-sdk"));
        let err = resolve(
            &ClientSettings {
                preset: Some("nave".into()),
                ..Default::default()
            },
            Path::new("."),
        );
        assert!(err.unwrap_err().starts_with(
            "unknown client preset `nave`: did you mean `naive`? (built-in presets are"
        ));
        let err = resolve(
            &ClientSettings {
                preset: Some("../x".into()),
                ..Default::default()
            },
            Path::new("."),
        );
        assert!(err.is_err());
    }
}
