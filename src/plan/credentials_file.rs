//! The credentials file: TOML or CSV, client id and secret per org name, readable by its owner only.
//! Parsed without serde's typed errors, so no message can quote a value from the file.

use super::credentials::CredentialsError;
use crate::secret::Secret;
use std::collections::HashMap;
use std::path::Path;

/// What the file says about one org.
#[derive(Debug, Default)]
pub(super) struct FileEntry {
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
}

pub(super) fn read_file(path: &Path) -> Result<HashMap<String, FileEntry>, CredentialsError> {
    let read = |source| CredentialsError::Read {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    check_mode(path, &meta)?;
    let text = std::fs::read_to_string(path).map_err(read)?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => parse_toml(&text, path),
        Some("csv") => parse_csv(&text, path),
        _ => Err(invalid(
            path,
            None,
            "must end in .toml or .csv, which says its format",
        )),
    }
}

#[cfg(unix)]
fn check_mode(path: &Path, meta: &std::fs::Metadata) -> Result<(), CredentialsError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CredentialsError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), CredentialsError> {
    Ok(())
}

fn invalid(path: &Path, line: Option<usize>, message: impl Into<String>) -> CredentialsError {
    CredentialsError::Invalid {
        path: path.to_owned(),
        line,
        message: message.into(),
    }
}

/// `[orgs.<name>] client_id = "..."  client_secret = "..."`. Parsed untyped, so no error message can
/// quote a value (serde's type errors would).
fn parse_toml(text: &str, path: &Path) -> Result<HashMap<String, FileEntry>, CredentialsError> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        // Only the parser's short message and the line: its full rendering shows the offending text.
        invalid(
            path,
            e.span().map(|s| line_of(s.start)),
            e.message().trim().to_owned(),
        )
    })?;
    let mut out = HashMap::new();
    for (key, value) in &table {
        if key != "orgs" {
            return Err(invalid(
                path,
                None,
                format!("unknown key `{key}`: expected only [orgs.<name>] tables"),
            ));
        }
        let Some(orgs) = value.as_table() else {
            return Err(invalid(path, None, "`orgs` must be a table of tables"));
        };
        for (name, org) in orgs {
            let Some(fields) = org.as_table() else {
                return Err(invalid(path, None, format!("orgs.{name} must be a table")));
            };
            let mut entry = FileEntry::default();
            for (field, value) in fields {
                let Some(text) = value.as_str() else {
                    return Err(invalid(
                        path,
                        None,
                        format!("orgs.{name}.{field} must be a string"),
                    ));
                };
                match field.as_str() {
                    "client_id" => entry.client_id = Some(text.to_owned()),
                    "client_secret" => entry.client_secret = Some(Secret::new(text)),
                    _ => {
                        return Err(invalid(
                            path,
                            None,
                            format!(
                                "orgs.{name}.{field}: expected only client_id and client_secret"
                            ),
                        ))
                    }
                }
            }
            out.insert(name.clone(), entry);
        }
    }
    Ok(out)
}

/// A header `org,client_id,client_secret` and one row per org.
fn parse_csv(text: &str, path: &Path) -> Result<HashMap<String, FileEntry>, CredentialsError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let header_error = || {
        invalid(
            path,
            Some(1),
            "the header must be `org,client_id,client_secret`",
        )
    };
    let headers = reader.headers().map_err(|_| header_error())?.clone();
    if headers.iter().collect::<Vec<_>>() != ["org", "client_id", "client_secret"] {
        return Err(header_error());
    }
    let mut out = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize);
            // csv's own message can quote data only for UTF-8 errors; say what is wrong in our words.
            invalid(
                path,
                line,
                "each row needs exactly org,client_id,client_secret",
            )
        })?;
        let line = record.position().map(|p| p.line() as usize);
        let (Some(org), Some(id), Some(secret)) = (record.get(0), record.get(1), record.get(2))
        else {
            return Err(invalid(
                path,
                line,
                "each row needs org,client_id,client_secret",
            ));
        };
        if out.contains_key(org) {
            return Err(invalid(path, line, format!("org `{org}` is listed twice")));
        }
        out.insert(
            org.to_owned(),
            FileEntry {
                client_id: Some(id.to_owned()),
                client_secret: Some(Secret::new(secret)),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_csv_files_parse_and_errors_never_quote_values() {
        let p = Path::new("c.toml");
        let m = parse_toml(
            "[orgs.acme]\nclient_id = \"id1\"\nclient_secret = \"s3cret\"\n",
            p,
        )
        .unwrap();
        assert_eq!(m["acme"].client_secret.as_ref().unwrap().expose(), "s3cret");
        let e = parse_toml("[orgs.acme]\nclient_secret = 12345678\n", p).unwrap_err();
        assert!(!e.to_string().contains("12345678"), "{e}");
        let e = parse_toml("[orgs.acme]\nclient_secret = \"s3cret\nx", p).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");

        let c = Path::new("c.csv");
        let m = parse_csv(
            "org,client_id,client_secret\n# comment\nacme, id1 ,s3cret\n",
            c,
        )
        .unwrap();
        assert_eq!(m["acme"].client_id.as_deref(), Some("id1"));
        let e = parse_csv("org,client_id,client_secret\nacme,id1\n", c).unwrap_err();
        assert!(
            e.to_string().contains(":2:") || e.to_string().contains("row"),
            "{e}"
        );
        assert!(parse_csv("a,b\n", c).is_err());
    }
}
