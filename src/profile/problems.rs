//! Collects every problem found in a profile, each tied to the key it is about.

/// One problem: the dotted key path it concerns (`load.sessions`, `variant[1].margin`) and what is wrong.
/// The loader turns the key path into a line number of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

/// Validation does not stop at the first problem: a user fixes a profile in one pass (k6 does the same).
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}
