//! The `[server]` section: how the embedded target behaves (used by `run` on an embedded target and by `serve`).

use super::problems::Problems;
use super::units::Span;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Access-token lifetime (REFERENCE.md: platform default is long; tests use seconds).
    pub token_ttl: Span,
    /// Tolerance when the server checks `exp` (0 s, like golang-jwt).
    pub leeway: Span,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            token_ttl: Span(Duration::from_secs(300)),
            leeway: Span(Duration::ZERO),
        }
    }
}

impl ServerSection {
    pub fn validate(&self, problems: &mut Problems) {
        if self.token_ttl.0 < Duration::from_secs(1) {
            problems.push("server.token_ttl", "must be at least 1s");
        }
        if self.token_ttl.0 > Duration::from_secs(172_800) {
            problems.push(
                "server.token_ttl",
                "must be at most 172800s (48 h, the platform's maximum)",
            );
        }
    }
}
