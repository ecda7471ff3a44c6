//! Text with variables (`{org}`, `{session}`, ...) for paths, headers and bodies of a real target,
//! parsed once when the profile loads so a typo in a variable name is a profile error, not a bad request.

use std::fmt;

/// A variable a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// The org's name (`[[target.orgs]] name`).
    Org,
    /// The session number, 0-based.
    Session,
    /// The org's web-messaging deployment id (`[[target.orgs]] deployment_id`).
    DeploymentId,
    /// One of `[target.api] contact_ids`, drawn at random per request.
    ContactId,
    /// A fresh random UUID (version 4 layout) per request.
    RandomId,
}

impl Var {
    pub const ALL: [Var; 5] = [
        Var::Org,
        Var::Session,
        Var::DeploymentId,
        Var::ContactId,
        Var::RandomId,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Var::Org => "org",
            Var::Session => "session",
            Var::DeploymentId => "deployment_id",
            Var::ContactId => "contact_id",
            Var::RandomId => "random_id",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// A parsed template. `{{` and `}}` stand for literal braces (JSON bodies need them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            literal.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("{{") {
                literal.push('{');
                rest = after;
            } else if let Some(after) = tail.strip_prefix("}}") {
                literal.push('}');
                rest = after;
            } else if let Some(after) = tail.strip_prefix('{') {
                let end = after
                    .find('}')
                    .ok_or_else(|| format!("`{{` without a closing `}}` in `{text}`"))?;
                let name = &after[..end];
                let var = Var::ALL
                    .into_iter()
                    .find(|v| v.name() == name)
                    .ok_or_else(|| {
                        format!(
                            "unknown variable `{{{name}}}`; known: {} (write `{{{{` for a literal brace)",
                            Var::ALL.map(|v| format!("{{{}}}", v.name())).join(", ")
                        )
                    })?;
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Var(var));
                rest = &after[end + 1..];
            } else {
                return Err(format!(
                    "a lone `}}` in `{text}`; write `}}}}` for a literal brace"
                ));
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// This template with fixed text in front (a base URL before a path).
    pub fn prefixed(&self, prefix: &str) -> Template {
        let mut parts = vec![Part::Text(prefix.to_owned())];
        parts.extend(self.parts.iter().cloned());
        Template { parts }
    }

    /// The text, when there are no variables to fill in.
    pub fn fixed(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(_) => return None,
            }
        }
        Some(out)
    }

    pub fn uses(&self, var: Var) -> bool {
        self.parts.contains(&Part::Var(var))
    }

    /// Fills the variables in; `value` maps each one to its text (already escaped as the caller needs).
    pub fn render(&self, mut value: impl FnMut(Var) -> String) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => out.push_str(&value(*v)),
            }
        }
        out
    }
}

impl TryFrom<String> for Template {
    type Error = String;
    fn try_from(text: String) -> Result<Template, String> {
        Template::parse(&text)
    }
}

impl schemars::JsonSchema for Template {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Template".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Text with variables: {org}, {session}, {deployment_id}, {contact_id}, {random_id}; {{ and }} for literal braces."
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Text(t) => f.write_str(&t.replace('{', "{{").replace('}', "}}"))?,
                Part::Var(v) => write!(f, "{{{}}}", v.name())?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_escaped_braces_render() {
        let t = Template::parse(r#"{{"org":"{org}","n":{session}}}"#).unwrap();
        assert!(t.uses(Var::Org) && !t.uses(Var::ContactId));
        let out = t.render(|v| match v {
            Var::Org => "acme".into(),
            Var::Session => "7".into(),
            _ => "?".into(),
        });
        assert_eq!(out, r#"{"org":"acme","n":7}"#);
        assert_eq!(Template::parse(&t.to_string()).unwrap(), t);
    }

    #[test]
    fn unknown_variables_and_lone_braces_are_errors() {
        assert!(Template::parse("/x/{orgg}").unwrap_err().contains("{org}"));
        assert!(Template::parse("/x/{org").is_err());
        assert!(Template::parse("/x/}").is_err());
        assert_eq!(Template::parse("").unwrap().render(|_| String::new()), "");
    }
}
