//! Returning visitors: sessions that leave with their token save it (with its issue time) for their
//! org, as a widget keeps it in the browser's storage; a returning visitor of the org takes the saved
//! token whose age is closest to the age it drew. Ages are measured, not made up, so this works
//! against real targets too.

use super::tokens::Token;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tokens kept per org at least, however many orgs share the sessions.
const MIN_PER_ORG: usize = 16;

pub struct SavedTokens {
    per_org: Box<[Mutex<VecDeque<Arc<Token>>>]>,
    /// Beyond this many an org forgets its oldest saved token (a browser's storage is overwritten by
    /// the next visit), so memory follows the sessions alive, not the sessions over the run.
    cap: usize,
}

impl SavedTokens {
    /// A store for `orgs` orgs holding about as many tokens as `alive` sessions, in all.
    pub fn new(orgs: usize, alive: usize) -> SavedTokens {
        SavedTokens {
            per_org: (0..orgs).map(|_| Mutex::new(VecDeque::new())).collect(),
            cap: (alive / orgs.max(1)).max(MIN_PER_ORG),
        }
    }

    fn org(&self, org: usize) -> Option<std::sync::MutexGuard<'_, VecDeque<Arc<Token>>>> {
        let saved = self.per_org.get(org)?;
        Some(saved.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A leaving session of `org` saves its token.
    pub fn save(&self, org: usize, token: Arc<Token>) {
        if let Some(mut saved) = self.org(org) {
            if saved.len() >= self.cap {
                saved.pop_front();
            }
            saved.push_back(token);
        }
    }

    /// The saved token of `org` whose age at `now` is closest to `age`, taken out (one browser's
    /// storage serves one visitor); `None` when the org has none saved.
    pub fn restore(&self, org: usize, age: Duration, now: Instant) -> Option<Arc<Token>> {
        let mut saved = self.org(org)?;
        let off = |t: &Arc<Token>| {
            let has = now.saturating_duration_since(t.received_at);
            has.abs_diff(age)
        };
        let closest = (0..saved.len()).min_by_key(|&i| off(&saved[i]))?;
        saved.remove(closest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn token(received_at: Instant) -> Arc<Token> {
        Arc::new(Token {
            access: Secret::new("a"),
            refresh: None,
            expires_at: None,
            claim_expires_at: None,
            refresh_at: None,
            advisory_at: None,
            generation: 1,
            used: Default::default(),
            received_at,
        })
    }

    #[test]
    fn the_closest_age_is_restored_once() {
        let now = Instant::now() + Duration::from_secs(100);
        let saved = SavedTokens::new(2, 0);
        for age in [10, 40, 70] {
            saved.save(0, token(now - Duration::from_secs(age)));
        }
        let age = |t: Option<Arc<Token>>| t.map(|t| (now - t.received_at).as_secs());
        let s = Duration::from_secs;
        assert_eq!(age(saved.restore(0, s(50), now)), Some(40));
        assert_eq!(age(saved.restore(0, s(50), now)), Some(70));
        assert_eq!(age(saved.restore(0, s(50), now)), Some(10));
        assert_eq!(
            age(saved.restore(0, s(50), now)),
            None,
            "each is restored once"
        );
        assert_eq!(
            age(saved.restore(1, s(5), now)),
            None,
            "orgs keep their own"
        );
        // Sessions save as they leave, the oldest token first; past 16 the oldest are forgotten.
        for age in (0..20).rev() {
            saved.save(1, token(now - Duration::from_secs(age)));
        }
        assert_eq!(age(saved.restore(1, s(100), now)), Some(15));
    }
}
