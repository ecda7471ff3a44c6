//! Calls that met a connection the server had closed for idleness and went out again on a new one:
//! said in the summary and on the page only when there were any, since they are not failures.

use super::model::VariantReport;
use std::fmt;

/// Resends per endpoint, when any endpoint had one.
pub struct StaleResends {
    counts: [(&'static str, u64); 3],
}

impl StaleResends {
    pub fn of(v: &VariantReport) -> Option<StaleResends> {
        let e = &v.endpoints;
        let counts = [
            ("contacts", &e.contacts),
            ("token", &e.token),
            ("refresh", &e.refresh),
        ]
        .map(|(name, r)| (name, r.stale_connection_resends.unwrap_or(0)));
        counts
            .iter()
            .any(|(_, n)| *n > 0)
            .then_some(StaleResends { counts })
    }
}

impl fmt::Display for StaleResends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self
            .counts
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        write!(
            f,
            "Sent again on a new connection after the server closed an idle one under them: {}. \
             Not failures; calls that may not go out twice (a POST, a refresh_token or \
             authorization_code grant) stay connect_error.",
            list.join(", ")
        )
    }
}
