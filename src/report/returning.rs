//! The `returning` part of the sessions block (`[sessions.returning]`): how many visitors came back,
//! how old the tokens they restored were, and the 401s they met on page load (a model that sends
//! its saved token without checking its expiry). Counts and microsecond totals, so shards add.

use crate::metrics::sessions::{AgeCounts, SessionsSnapshot};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturningReport {
    /// `[sessions.returning] share`: the share of arrivals drawn as returning visitors.
    pub share: f64,
    /// Returning visitors that arrived.
    pub arrived: u64,
    /// Of them, those that restored a saved token, and how old those tokens were.
    pub restored: Ages,
    /// Of them, those that found no saved token for their org and arrived as new visitors.
    pub nothing_saved: u64,
    /// First calls of a returning visitor that met 401 with the restored token, before any user
    /// interaction, with those tokens' ages (their place in the expiry lens: age minus lifetime).
    pub unauthorized_on_load: Ages,
}

/// How many tokens, and their ages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ages {
    pub count: u64,
    pub min_age_s: f64,
    pub mean_age_s: f64,
    pub max_age_s: f64,
    /// What the ages are computed from (whole microseconds).
    pub sum_us: u64,
    pub min_us: u64,
    pub max_us: u64,
}

impl Ages {
    fn of(c: &AgeCounts) -> Ages {
        let mut ages = Ages {
            count: c.count,
            sum_us: c.sum_us,
            min_us: c.min_us,
            max_us: c.max_us,
            ..Ages::default()
        };
        ages.derive();
        ages
    }

    fn derive(&mut self) {
        let s = |us: u64| us as f64 / 1e6;
        self.min_age_s = s(self.min_us);
        self.max_age_s = s(self.max_us);
        self.mean_age_s = match self.count {
            0 => 0.0,
            n => s(self.sum_us) / n as f64,
        };
    }

    fn add(&mut self, o: &Ages) {
        if o.count > 0 {
            self.min_us = match self.count {
                0 => o.min_us,
                _ => self.min_us.min(o.min_us),
            };
            self.max_us = self.max_us.max(o.max_us);
        }
        self.count += o.count;
        self.sum_us += o.sum_us;
        self.derive();
    }
}

impl ReturningReport {
    pub fn build(s: &SessionsSnapshot, share: f64) -> ReturningReport {
        ReturningReport {
            share,
            arrived: s.returning,
            restored: Ages::of(&s.restored),
            nothing_saved: s.nothing_saved,
            unauthorized_on_load: Ages::of(&s.unauthorized_on_load),
        }
    }

    /// Another shard's counts added.
    pub fn add(&mut self, o: &ReturningReport) {
        self.arrived += o.arrived;
        self.nothing_saved += o.nothing_saved;
        self.restored.add(&o.restored);
        self.unauthorized_on_load.add(&o.unauthorized_on_load);
    }

    /// The summary's `returning` line.
    pub fn line(&self) -> String {
        let r = &self.restored;
        let load = &self.unauthorized_on_load;
        let at = match load.count {
            0 => String::new(),
            _ => format!(
                " (tokens {:.0}-{:.0}s old, mean {:.1}s)",
                load.min_age_s, load.max_age_s, load.mean_age_s
            ),
        };
        format!(
            "arrived {}  restored {} (ages {:.0}-{:.0}s, mean {:.1}s)  nothing saved {}  401s on load {}{at}",
            self.arrived,
            r.count,
            r.min_age_s,
            r.max_age_s,
            r.mean_age_s,
            self.nothing_saved,
            load.count,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_add_counts_and_keep_the_extremes() {
        let ages = |count, sum_us, min_us, max_us| {
            Ages::of(&AgeCounts {
                count,
                sum_us,
                min_us,
                max_us,
            })
        };
        let mut a = ReturningReport {
            share: 0.5,
            arrived: 3,
            restored: ages(2, 30_000_000, 10_000_000, 20_000_000),
            nothing_saved: 1,
            unauthorized_on_load: ages(0, 0, 0, 0),
        };
        let b = ReturningReport {
            arrived: 2,
            restored: ages(2, 10_000_000, 4_000_000, 6_000_000),
            unauthorized_on_load: ages(1, 6_000_000, 6_000_000, 6_000_000),
            ..a.clone()
        };
        a.add(&b);
        assert_eq!((a.arrived, a.nothing_saved), (5, 2));
        assert_eq!(
            (a.restored.count, a.restored.min_age_s, a.restored.max_age_s),
            (4, 4.0, 20.0)
        );
        assert_eq!(a.restored.mean_age_s, 10.0);
        assert_eq!(
            (
                a.unauthorized_on_load.count,
                a.unauthorized_on_load.min_age_s
            ),
            (1, 6.0)
        );
    }
}
