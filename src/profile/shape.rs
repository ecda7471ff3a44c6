//! Reads a profile into its serde model past the first error, so that every unknown key and every
//! value that does not parse is reported in one pass, each once.
//!
//! serde stops at the first error. Rather than a second description of the schema to walk the file
//! against (which would drift from the serde model), the file is read by serde itself, again and
//! again: after each error the key it names is taken out of the document (or, when serde needs it,
//! replaced by a stand-in value) and the rest is read once more. Every message is serde's own, and
//! the keys it knows are the ones it lists (see [`super::suggest::improve`]).

use super::locate::{self, Locator};
use super::schema::Profile;
use super::suggest;
use super::{target, Located};
use toml_edit::{DocumentMut, Item, TableLike, Value};

/// Bound on re-reads of one file: each one settles a key or fills one in, so files end far sooner.
const MAX_READS: usize = 400;

/// What serde made of the file.
pub struct Shape {
    /// The profile as serde reads it once every key with a problem is removed or stood in for;
    /// `None` when the file could not be read that far (a TOML syntax error).
    pub profile: Option<Profile>,
    pub problems: Vec<Located>,
    /// Keys with a problem: what stands at or under them now is not the user's value.
    settled: Vec<String>,
}

impl Shape {
    /// Whether `key` is, or lies under, a key that had a problem.
    pub fn is_settled(&self, key: &str) -> bool {
        self.settled.iter().any(|s| is_within(key, s))
    }
}

/// Reads `text`; `original` locates keys in it, for the line numbers of problems.
pub fn read(text: &str, original: &Locator) -> Shape {
    let mut shape = Shape {
        profile: None,
        problems: Vec::new(),
        settled: Vec::new(),
    };
    let Ok(doc) = text.parse::<DocumentMut>() else {
        // Not TOML: serde's reader gives the same error in its own words, with its place.
        if let Err(fault) = attempt(text) {
            shape.problems.push(fault.located(original, true));
        }
        return shape;
    };
    let mut reader = Reader { doc, edited: false };
    for _ in 0..MAX_READS {
        let fault = match attempt(&reader.text(text)) {
            Ok(profile) => {
                shape.profile = Some(profile);
                return shape;
            }
            Err(fault) => fault,
        };
        if !reader.settle(fault, &mut shape, original) {
            break;
        }
    }
    if shape.problems.is_empty() {
        shape.problems.push(Located {
            line: None,
            key: String::new(),
            message: "this profile could not be read".to_owned(),
        });
    }
    shape
}

/// One serde error, placed in the text it was read from.
struct Fault {
    /// Dotted key path; for a missing key, the path it would have.
    key: String,
    message: String,
    /// The error is serde's "missing field".
    missing: bool,
    /// Line of the error's position in the text that was read.
    line: Option<usize>,
}

impl Fault {
    /// `unedited`: the text read was the user's, so the error's own position is the line to give.
    fn located(&self, original: &Locator, unedited: bool) -> Located {
        let line = match unedited {
            true => self.line.or_else(|| original.line_of_key(&self.key)),
            false => original.line_of_key(&self.key),
        };
        Located {
            line,
            key: self.key.clone(),
            message: suggest::improve(&self.message),
        }
    }
}

/// One read by serde, its error placed at a key.
fn attempt(text: &str) -> Result<Profile, Fault> {
    let locator = Locator::new(text);
    toml::from_str(text).map_err(|e| {
        let e = match e.span().and_then(|s| locator.key_at(s.start)).as_deref() {
            Some("target") => target::pinpoint(text, e),
            _ => e,
        };
        let offset = e.span().map(|s| s.start);
        let message = match e.message().trim() {
            // The TOML parser has no words for a few inputs (a lone carriage return).
            "" => "this is not valid TOML".to_owned(),
            m => m.to_owned(),
        };
        // serde's wording for an absent required key: it names the key, and its span is the table's.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
            .map(|field| {
                let table = e.span().and_then(|s| locator.table_at(s));
                locate::join(&table.unwrap_or_default(), field)
            });
        // A missing key has no line of its own: it gets its table's, from the key path.
        let line = offset
            .filter(|_| missing.is_none())
            .map(|o| locator.line_of_offset(o));
        Fault {
            missing: missing.is_some(),
            key: missing
                .or_else(|| offset.and_then(|o| locator.key_at(o)))
                .unwrap_or_default(),
            message,
            line,
        }
    })
}

/// The document being read, with the edits made so far.
struct Reader {
    doc: DocumentMut,
    edited: bool,
}

impl Reader {
    fn text(&self, original: &str) -> String {
        match self.edited {
            true => self.doc.to_string(),
            false => original.to_owned(),
        }
    }

    /// Records the fault unless it follows from an earlier one, then edits the document so that the
    /// next read gets past it. False when there is no way past.
    fn settle(&mut self, fault: Fault, shape: &mut Shape, original: &Locator) -> bool {
        if !shape.is_settled(&fault.key) {
            shape.problems.push(fault.located(original, !self.edited));
            if fault.key.is_empty() {
                return false;
            }
            shape.settled.push(fault.key.clone());
        }
        self.edited = true;
        match fault.missing {
            true => self.stand_in(&fault.key, shape),
            false => edit(&mut self.doc, &fault.key, Edit::Remove),
        }
    }

    /// Puts a value at `key` that serde takes, so that reading goes on past a required key that is
    /// absent or was removed. Failing that, the table holding it is taken out, its other keys unread.
    fn stand_in(&mut self, key: &str, shape: &mut Shape) -> bool {
        for value in stand_ins() {
            if !edit(&mut self.doc, key, Edit::Put(value)) {
                return false;
            }
            match attempt(&self.doc.to_string()) {
                Ok(_) => return true,
                // An error further on, or inside the stand-in (its own required keys), is progress.
                Err(next) if !is_within(key, &next.key) => return true,
                Err(_) => {}
            }
        }
        let parent = parent_of(key);
        if parent.is_empty() {
            return false;
        }
        let removed = edit(&mut self.doc, &parent, Edit::Remove);
        shape.settled.push(parent);
        removed
    }
}

/// Values of every TOML kind; the first that serde accepts stands in (a number serves counts,
/// durations and rates alike).
fn stand_ins() -> [Item; 5] {
    [
        toml_edit::value(1),
        toml_edit::value("stand-in"),
        toml_edit::value(true),
        Item::Value(Value::InlineTable(toml_edit::InlineTable::new())),
        Item::Value(Value::Array(toml_edit::Array::new())),
    ]
}

/// `key` is `outer` or lies under it (`outer` = "" holds every key).
fn is_within(key: &str, outer: &str) -> bool {
    outer.is_empty()
        || key
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// The key that holds `key`: `a.b."c.d"` -> `a.b`; "" for a key at the top.
fn parent_of(key: &str) -> String {
    let segments = locate::segments(key);
    let parents = &segments[..segments.len().saturating_sub(1)];
    parents
        .iter()
        .fold(String::new(), |path, segment| locate::join(&path, segment))
}

enum Edit {
    Remove,
    Put(Item),
}

/// Applies the edit at a dotted key path; false when the path leads nowhere.
fn edit(doc: &mut DocumentMut, key: &str, edit: Edit) -> bool {
    let segments = locate::segments(key);
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let Some(table) = table_mut(doc.as_table_mut(), parents) else {
        return false;
    };
    match (locate::split_index(last), edit) {
        ((name, None), Edit::Remove) => table.remove(name).is_some(),
        ((name, None), Edit::Put(item)) => {
            table.insert(name, item);
            true
        }
        // A table of an array is emptied rather than removed, so the later ones keep their indexes;
        // what it lacks now is filled in as it is found.
        ((name, Some(i)), Edit::Remove) => match table.get_mut(name) {
            Some(Item::ArrayOfTables(array)) => array.get_mut(i).map(|t| t.clear()).is_some(),
            _ => false,
        },
        ((_, Some(_)), Edit::Put(_)) => false,
    }
}

fn table_mut<'d>(mut table: &'d mut dyn TableLike, path: &[&str]) -> Option<&'d mut dyn TableLike> {
    for segment in path {
        let (name, index) = locate::split_index(segment);
        table = match (table.get_mut(name)?, index) {
            (Item::ArrayOfTables(array), Some(i)) => array.get_mut(i)?,
            (Item::Value(Value::Array(array)), Some(i)) => match array.get_mut(i)? {
                Value::InlineTable(t) => t,
                _ => return None,
            },
            (item, None) => item.as_table_like_mut()?,
            _ => return None,
        };
    }
    Some(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_nest_by_dots_and_indexes() {
        assert!(is_within("load.rate", "load"));
        assert!(is_within("variant[0].client", "variant[0]"));
        assert!(is_within("load", "load"));
        assert!(is_within("anything", ""));
        assert!(!is_within("loader", "load"));
        assert!(!is_within("load", "load.rate"));
        assert_eq!(parent_of("load.rate"), "load");
        assert_eq!(parent_of("seed"), "");
        assert_eq!(parent_of("variant[1].client.margin"), "variant[1].client");
        assert_eq!(
            parent_of("thresholds.\"contacts.p99_ms\".condition"),
            "thresholds.\"contacts.p99_ms\""
        );
    }

    #[test]
    fn edits_reach_nested_and_indexed_keys() {
        let mut doc: DocumentMut =
            "[load]\nrate = 1\n[[variant]]\nname = \"a\"\n[variant.client]\ntrigger = \"x\"\n"
                .parse()
                .unwrap();
        assert!(edit(&mut doc, "variant[0].client.trigger", Edit::Remove));
        assert!(edit(&mut doc, "load.orgs", Edit::Put(toml_edit::value(2))));
        assert!(!edit(&mut doc, "nothing.here", Edit::Remove));
        let text = doc.to_string();
        assert!(
            !text.contains("trigger") && text.contains("orgs = 2"),
            "{text}"
        );
    }
}
