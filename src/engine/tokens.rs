//! The client's token cache: one slot per org or per session, the current token's generation, and the
//! single-flight rounds that let concurrent callers share one refresh.

use crate::secret::Secret;
use crate::vocabulary::Outcome;
use crate::vocabulary::Phase;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::watch;

/// A token as the client holds it.
#[derive(Debug)]
pub struct Token {
    pub access: Secret,
    pub refresh: Option<Secret>,
    /// When the client believes the token expires: the moment it asked for it plus `expires_in`, as its
    /// (possibly skewed) clock sees it. The expiry lens measures against this, so a skewed clock shows
    /// as 401s before offset 0.
    pub expires_at: Option<Instant>,
    /// The token's `exp` claim on this process's clock, when it is a JWT: when the issuer means it to
    /// die. Kept beside `expires_at` for the report only; the client model decides by `expires_at`.
    pub claim_expires_at: Option<Instant>,
    /// From here on the client will not send the token: it gets a new one first (its margin, its
    /// early-expiry rule and its clock skew all move this).
    pub refresh_at: Option<Instant>,
    /// From here on one caller refreshes in the background while the others keep sending (two-window).
    pub advisory_at: Option<Instant>,
    /// 1 for the first token of a slot, then one more than the token it replaced.
    pub generation: u64,
    /// Set once the first call with this token has been sent.
    pub used: AtomicBool,
    /// When the client got it: a 401 soon after a refresh is measured from here.
    pub received_at: Instant,
}

impl Token {
    pub fn must_refresh(&self, now: Instant) -> bool {
        self.refresh_at.is_some_and(|at| now >= at)
    }

    pub fn in_advisory_window(&self, now: Instant) -> bool {
        self.advisory_at.is_some_and(|at| now >= at)
    }

    /// The phase of a call sent with this token at `now`. Marks the token used, so exactly one call
    /// per token is its first.
    pub fn phase(&self, now: Instant) -> Phase {
        let first = !self.used.swap(true, Ordering::Relaxed);
        if self.expires_at.is_some_and(|at| now >= at) {
            Phase::Expired
        } else if self.claim_expires_at.is_some_and(|at| now >= at) {
            Phase::ExpiredByClaim
        } else if self.must_refresh(now) || self.in_advisory_window(now) {
            Phase::Expiring
        } else if first && self.generation > 1 {
            Phase::FirstAfterRefresh
        } else {
            Phase::Fresh
        }
    }
}

/// The result a single-flight round hands to its waiters.
pub type RoundResult = Result<Arc<Token>, Outcome>;
pub type Round = watch::Receiver<Option<RoundResult>>;

#[derive(Default)]
pub struct SlotState {
    pub token: Option<Arc<Token>>,
    /// A single-flight refresh in progress.
    pub pending: Option<Round>,
    /// Highest generation ever installed; survives the token being dropped after `invalid_grant`.
    pub last_generation: u64,
    /// `lock` coalescing: held until this instant by the caller with `lock_id`.
    pub lock_until: Option<Instant>,
    pub lock_id: u64,
    /// The generation a background (advisory) refresh was started for, so it starts once.
    pub background_for: u64,
    /// The API said `Retry-After` for this token: no call before this instant.
    pub api_retry_until: Option<Instant>,
    /// The token endpoint said `Retry-After`.
    pub token_retry_until: Option<Instant>,
    /// Counts the sessions that held this slot (sessions with a life reuse slots): a renewal started
    /// for an earlier holder does not install its token for the next.
    pub epoch: u64,
    /// Refreshes counted against the generation they set out to replace, until that generation is
    /// old enough that no late caller can still add to it.
    herd: BTreeMap<u64, u64>,
}

impl SlotState {
    /// Counts one refresh against the generation it replaces (0: the first token).
    pub fn count_refresh(&mut self, replaces: u64) {
        *self.herd.entry(replaces).or_default() += 1;
    }

    /// Installs a new token and hands back the herd sizes of generations that can no longer grow.
    pub fn install(&mut self, token: Arc<Token>) -> Vec<u64> {
        let generation = token.generation;
        let keep = self.herd.split_off(&generation.saturating_sub(1));
        let done = std::mem::replace(&mut self.herd, keep);
        self.last_generation = self.last_generation.max(generation);
        // Last writer wins: a naive client that refreshed twice keeps whichever answer came last.
        self.token = Some(token);
        done.into_values().collect()
    }

    /// Herd sizes still open, at the end of a run.
    pub fn drain_herds(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.herd).into_values().collect()
    }
}

/// One cached token and the org it belongs to.
pub struct Slot {
    /// Fixed for org slots and the fixed pool's sessions; set anew when a session with a life takes it.
    org: AtomicUsize,
    state: Mutex<SlotState>,
}

impl Slot {
    pub fn org(&self) -> usize {
        self.org.load(Ordering::Relaxed)
    }

    /// Hands the slot to a new session of `org`, empty, and returns the herd sizes its last holder
    /// left open.
    pub fn reassign(&self, org: usize) -> Vec<u64> {
        let mut state = self.lock();
        let herds = state.drain_herds();
        let epoch = state.epoch + 1;
        *state = SlotState {
            epoch,
            ..SlotState::default()
        };
        self.org.store(org, Ordering::Relaxed);
        herds
    }

    pub fn lock(&self) -> MutexGuard<'_, SlotState> {
        // The state stays consistent across a panic elsewhere: every update is a single assignment.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct TokenCache {
    slots: Box<[Slot]>,
}

impl TokenCache {
    /// `slot_orgs[i]` is the org of slot i (one slot per org, or one per session).
    pub fn new(slot_orgs: impl IntoIterator<Item = usize>) -> TokenCache {
        TokenCache {
            slots: slot_orgs
                .into_iter()
                .map(|org| Slot {
                    org: AtomicUsize::new(org),
                    state: Mutex::new(SlotState::default()),
                })
                .collect(),
        }
    }

    pub fn slot(&self, index: usize) -> &Slot {
        &self.slots[index]
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(generation: u64) -> Arc<Token> {
        Arc::new(Token {
            access: Secret::new("a"),
            refresh: None,
            expires_at: None,
            claim_expires_at: None,
            refresh_at: None,
            advisory_at: None,
            generation,
            used: Default::default(),
            received_at: Instant::now(),
        })
    }

    #[test]
    fn phases_follow_the_clients_clock_and_the_first_call_after_a_refresh() {
        let now = Instant::now();
        let at = |ms: u64| now + std::time::Duration::from_millis(ms);
        let token = |generation: u64| Token {
            access: Secret::new("a"),
            refresh: None,
            expires_at: Some(at(1000)),
            claim_expires_at: None,
            refresh_at: Some(at(800)),
            advisory_at: None,
            generation,
            used: Default::default(),
            received_at: now,
        };
        let first = token(1);
        assert_eq!(
            first.phase(now),
            Phase::Fresh,
            "a slot's first token replaced nothing"
        );
        let second = token(2);
        assert_eq!(second.phase(now), Phase::FirstAfterRefresh);
        assert_eq!(
            second.phase(now),
            Phase::Fresh,
            "only one call is the first"
        );
        assert_eq!(second.phase(at(900)), Phase::Expiring);
        assert_eq!(second.phase(at(1000)), Phase::Expired);
    }

    #[test]
    fn a_call_past_the_exp_claim_is_never_fresh() {
        let now = Instant::now();
        let at = |ms: u64| now + std::time::Duration::from_millis(ms);
        let token = Token {
            access: Secret::new("a"),
            refresh: None,
            expires_at: Some(at(1000)),
            claim_expires_at: Some(at(400)),
            refresh_at: Some(at(800)),
            advisory_at: None,
            generation: 2,
            used: Default::default(),
            received_at: now,
        };
        assert_eq!(token.phase(at(399)), Phase::FirstAfterRefresh);
        assert_eq!(token.phase(at(400)), Phase::ExpiredByClaim);
        assert_eq!(
            token.phase(at(900)),
            Phase::ExpiredByClaim,
            "inside the refresh window, but already dead on the issuer's clock"
        );
        assert_eq!(
            token.phase(at(1000)),
            Phase::Expired,
            "the client's own clock says so too"
        );
    }

    #[test]
    fn herds_close_one_generation_late() {
        let mut s = SlotState::default();
        s.count_refresh(0);
        assert!(s.install(token(1)).is_empty());
        // Three callers saw generation 1 expire; the herd for it stays open while generation 2 is current,
        // because a caller still holding generation 1 may yet fail and refresh.
        s.count_refresh(1);
        s.count_refresh(1);
        assert_eq!(s.install(token(2)), vec![1]);
        s.count_refresh(1);
        s.count_refresh(2);
        assert_eq!(s.install(token(3)), vec![3]);
        assert_eq!(s.drain_herds(), vec![1]);
    }
}
