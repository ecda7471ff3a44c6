//! The known name nearest a misspelt one ("did you mean `naive`?"), by edit distance.

/// Edits that turn `a` into `b`: insert, delete or replace a character, or swap two neighbours
/// (the optimal string alignment distance, a restricted Damerau-Levenshtein).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the table are enough: a swap looks two rows back.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The candidate nearest `name`, when it is near enough to be what was meant: at most one edit per
/// three characters, so `nave` finds `naive` and `nope` finds nothing. Ties go to the first.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (distance(name, c), c))
        .filter(|(d, c)| d * 3 <= name.chars().count().max(c.chars().count()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Adds a suggestion to serde's "unknown field" and "unknown variant" errors. Their candidates are read
/// from the error itself, which lists what serde accepts at that spot: the names come from the serde
/// model, so no second list of keys (or of enum values) can drift from it.
/// `unknown field `duraton`, expected one of ...` becomes
/// `unknown field `duraton`: did you mean `duration`? (expected one of ...)`.
pub fn improve(message: &str) -> String {
    let Some((head, expected)) = message.split_once(", expected ") else {
        return message.to_owned();
    };
    let name = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|prefix| head.strip_prefix(prefix))
        .and_then(|rest| rest.strip_suffix('`'));
    let Some(name) = name else {
        return message.to_owned();
    };
    // The names are the backquoted parts: `a`, `b` or `c`.
    let known = expected.split('`').skip(1).step_by(2);
    match nearest(name, known) {
        Some(near) => format!("{head}: did you mean `{near}`? (expected {expected})"),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits_and_swaps() {
        let cases = [
            ("", "", 0),
            ("naive", "naive", 0),
            ("nave", "naive", 1),
            ("duraton", "duration", 1),
            ("sesions", "sessions", 1),
            ("tigger", "trigger", 1),
            ("trigegr", "trigger", 1),
            ("ograns", "orgs", 3),
            ("", "abc", 3),
            ("kitten", "sitting", 3),
            ("two_window", "two-window", 1),
        ];
        for (a, b, d) in cases {
            assert_eq!(distance(a, b), d, "{a} -> {b}");
            assert_eq!(distance(b, a), d, "{b} -> {a}");
        }
    }

    #[test]
    fn only_near_names_are_suggested() {
        let presets = ["genesys-messenger", "naive", "okta", "msal"];
        assert_eq!(nearest("nave", presets), Some("naive"));
        assert_eq!(
            nearest("genesys-messengr", presets),
            Some("genesys-messenger")
        );
        assert_eq!(nearest("oktaa", presets), Some("okta"));
        assert_eq!(nearest("nope", presets), None);
        assert_eq!(nearest("x", presets), None);
        assert_eq!(
            nearest("naive", presets),
            None,
            "an exact name is no misspelling"
        );
    }

    #[test]
    fn serde_errors_gain_a_suggestion() {
        let field = "unknown field `duraton`, expected one of `name`, `seed`, `duration`";
        assert_eq!(
            improve(field),
            "unknown field `duraton`: did you mean `duration`? (expected one of `name`, `seed`, `duration`)"
        );
        let variant = "unknown variant `reactiv`, expected `reactive` or `margin`";
        assert!(improve(variant).contains("did you mean `reactive`?"));
        let far = "unknown field `zzzz`, expected one of `name`, `seed`";
        assert_eq!(improve(far), far);
        assert_eq!(
            improve("invalid type: string \"two\", expected u32"),
            "invalid type: string \"two\", expected u32"
        );
    }

    #[test]
    fn the_names_come_from_the_serde_model_itself() {
        // The suggestion relies on serde listing its fields in the error; this fails if it stops doing so.
        let err = toml::from_str::<crate::profile::schema::LoadSection>(
            "orgs = 1\nsesions = 1\nrate = 1\n",
        )
        .unwrap_err();
        assert!(
            improve(err.message()).contains("did you mean `sessions`?"),
            "{}",
            err.message()
        );
    }
}
