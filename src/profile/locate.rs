//! Maps dotted key paths to line numbers in the profile text, and byte offsets back to key paths.

use toml_edit::{ImDocument, Item, TableLike, Value};

/// A parsed view of the profile text that keeps every key's position.
pub struct Locator {
    doc: Option<ImDocument<String>>,
    line_starts: Vec<usize>,
}

impl Locator {
    pub fn new(text: &str) -> Locator {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Locator {
            doc: ImDocument::parse(text.to_owned()).ok(),
            line_starts,
        }
    }

    /// 1-based line of a byte offset.
    pub fn line_of_offset(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// Line where the key (or, if it is absent, its nearest present parent) is written.
    /// Paths look like `load.sessions` or `variant[1].margin`.
    pub fn line_of_key(&self, path: &str) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let mut table: &dyn TableLike = doc.as_table();
        let mut line = None;
        for segment in segments(path) {
            let (name, index) = split_index(segment);
            let Some((key, item)) = table.get_key_value(name) else {
                break;
            };
            line = key.span().map(|s| self.line_of_offset(s.start)).or(line);
            let next: Option<&dyn TableLike> = match (item, index) {
                (Item::ArrayOfTables(array), Some(i)) => array.get(i).map(|t| {
                    line = t.span().map(|s| self.line_of_offset(s.start)).or(line);
                    t as &dyn TableLike
                }),
                (Item::Value(Value::Array(array)), Some(i)) => match array.get(i) {
                    Some(Value::InlineTable(t)) => Some(t as &dyn TableLike),
                    _ => None,
                },
                (item, None) => item.as_table_like(),
                _ => None,
            };
            match next {
                Some(t) => table = t,
                None => break,
            }
        }
        line
    }

    /// The deepest key whose key or value covers the offset (where a parse error points).
    pub fn key_at(&self, offset: usize) -> Option<String> {
        let doc = self.doc.as_ref()?;
        let mut best = None;
        walk(doc.as_table(), "", &mut |path, spot| {
            if covers(spot.key, offset) || covers(spot.body, offset) {
                best = Some(path.to_owned());
            }
        });
        best
    }

    /// The key of the table written exactly at `span` (where serde places a key missing from it);
    /// "" for the top level.
    pub fn table_at(&self, span: std::ops::Range<usize>) -> Option<String> {
        let doc = self.doc.as_ref()?;
        if doc.as_table().span() == Some(span.clone()) {
            return Some(String::new());
        }
        let mut found = None;
        walk(doc.as_table(), "", &mut |path, spot| {
            if spot.body.as_ref() == Some(&span) {
                found = Some(path.to_owned());
            }
        });
        found
    }
}

/// Splits `a.b[1]."c.d"` into `a`, `b[1]`, `c.d`: quoted segments may hold dots (threshold names do).
pub(super) fn segments(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            out.push(&quoted[..end]);
            rest = quoted.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            out.push(&rest[..end]);
            rest = &rest[end..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    out
}

pub(super) fn split_index(segment: &str) -> (&str, Option<usize>) {
    match segment.split_once('[') {
        Some((name, rest)) => (name, rest.trim_end_matches(']').parse().ok()),
        None => (segment, None),
    }
}

/// `prefix.name`, with `name` quoted when it holds a dot.
pub(super) fn join(prefix: &str, name: &str) -> String {
    let name = if name.contains('.') {
        format!("\"{name}\"")
    } else {
        name.to_owned()
    };
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}.{name}")
    }
}

fn covers(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
}

/// Where an entry of the document is written: its key, and its value or table.
struct Spot {
    key: Option<std::ops::Range<usize>>,
    body: Option<std::ops::Range<usize>>,
}

/// Visits every entry, parents before their children, with its dotted path.
fn walk(table: &dyn TableLike, prefix: &str, visit: &mut dyn FnMut(&str, Spot)) {
    for (name, item) in table.iter() {
        let path = join(prefix, name);
        let key = table.get_key_value(name).and_then(|(k, _)| k.span());
        let spot = match item {
            Item::Value(v) => Spot {
                key,
                body: v.span(),
            },
            Item::Table(t) => Spot {
                key: None,
                body: t.span(),
            },
            _ => Spot { key, body: None },
        };
        visit(&path, spot);
        match item {
            Item::ArrayOfTables(array) => {
                for (i, t) in array.iter().enumerate() {
                    let indexed = format!("{path}[{i}]");
                    let spot = Spot {
                        key: None,
                        body: t.span(),
                    };
                    visit(&indexed, spot);
                    walk(t, &indexed, visit);
                }
            }
            Item::Value(Value::InlineTable(t)) => walk(t, &path, visit),
            Item::Table(t) => walk(t, &path, visit),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "seed = 3\n\n[load]\norgs = 2\nsessions = 10\n\n[[variant]]\nname = \"a\"\n\n[[variant]]\nname = \"b\"\nmargin = \"3s\"\n";

    #[test]
    fn keys_map_to_their_lines() {
        let loc = Locator::new(TEXT);
        assert_eq!(loc.line_of_key("seed"), Some(1));
        assert_eq!(loc.line_of_key("load.sessions"), Some(5));
        assert_eq!(loc.line_of_key("variant[1].margin"), Some(12));
        // An absent key falls back to its nearest present parent.
        assert_eq!(loc.line_of_key("load.rate"), Some(3));
        assert_eq!(loc.line_of_key("nothing.here"), None);
        let quoted = Locator::new("[thresholds]\n\"contacts.p99_ms\" = \"< 1\"\n");
        assert_eq!(
            quoted.line_of_key("thresholds.\"contacts.p99_ms\""),
            Some(2)
        );
    }

    #[test]
    fn offsets_map_back_to_keys() {
        let loc = Locator::new(TEXT);
        let offset = TEXT.find("\"3s\"").unwrap();
        assert_eq!(loc.key_at(offset).as_deref(), Some("variant[1].margin"));
        assert_eq!(loc.line_of_offset(offset), 12);
        // A table's span runs from its header to the end of its last value.
        let load = TEXT.find("[load]").unwrap()..TEXT.find("sessions = 10").unwrap() + 13;
        assert_eq!(loc.table_at(load).as_deref(), Some("load"));
        assert_eq!(loc.table_at(0..8).as_deref(), Some(""));
    }
}
