//! Which kind of call an exchange was: the rows of every table and chart.

use serde::{Deserialize, Serialize};

/// Which kind of call an HTTP exchange was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// First token of a session or org (no token held yet).
    Token,
    /// Replacing a token the client already held (refresh_token grant, or client_credentials again).
    Refresh,
    /// The API call the load is made of.
    Contacts,
}

impl Endpoint {
    pub const ALL: [Endpoint; 3] = [Endpoint::Token, Endpoint::Refresh, Endpoint::Contacts];
    pub const COUNT: usize = Self::ALL.len();

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::Refresh => "refresh",
            Endpoint::Contacts => "contacts",
        }
    }
}
