//! Two capacity searches compared: did the candidate build lower what the system carries? Each answer
//! is only known to within its search's resolution, so a difference inside the wider of the two is
//! not a change.

use super::search::{load, SearchReport};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityComparison {
    /// The highest load that held in each search (`None`: even the start failed).
    pub base_holds: Option<f64>,
    pub candidate_holds: Option<f64>,
    pub delta_pct: Option<f64>,
    /// The wider of the two searches' resolutions: smaller changes are not changes.
    pub resolution: f64,
    /// What both searches grew, in their unit (`req/s`, `orgs`).
    pub unit: String,
    /// The candidate holds less than the base by more than the resolution.
    pub lowered: bool,
    /// The candidate holds more than the base by more than the resolution.
    pub raised: bool,
}

impl CapacityComparison {
    pub fn of(base: &SearchReport, candidate: &SearchReport) -> CapacityComparison {
        let resolution = base.resolution.max(candidate.resolution);
        let (b, c) = (base.holds, candidate.holds);
        let delta_pct = b
            .zip(c)
            .and_then(|(b, c)| (b > 0.0).then(|| 100.0 * (c - b) / b));
        let beyond = |pct: f64| pct.abs() > 100.0 * resolution;
        let (lowered, raised) = match (b, c, delta_pct) {
            (_, _, Some(pct)) if beyond(pct) => (pct < 0.0, pct > 0.0),
            (Some(_), None, _) => (true, false),
            (None, Some(_), _) => (false, true),
            _ => (false, false),
        };
        CapacityComparison {
            base_holds: b,
            candidate_holds: c,
            delta_pct,
            resolution,
            unit: base.grow.unit().to_owned(),
            lowered,
            raised,
        }
    }

    pub fn line(&self) -> String {
        let side = |v: Option<f64>| {
            v.map_or_else(
                || "nothing".to_owned(),
                |v| format!("{} {}", load(v), self.unit),
            )
        };
        let pct = self
            .delta_pct
            .map_or_else(String::new, |p| format!(" ({p:+.1} %)"));
        let verdict = if self.lowered {
            "LOWER: capacity regressed"
        } else if self.raised {
            "higher"
        } else {
            "the same within the resolution"
        };
        format!(
            "capacity  base holds {}, candidate holds {}{pct}: {verdict} (resolution {:.0} %)",
            side(self.base_holds),
            side(self.candidate_holds),
            100.0 * self.resolution
        )
    }
}
