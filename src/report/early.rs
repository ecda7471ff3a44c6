//! 401s that came before the expiry the client believed in: how many, and what most likely caused
//! them, said once for the terminal summary and the HTML page.

use super::model::{ExpiryLens, VariantReport};
use crate::vocabulary::{Outcome, Phase};
use std::fmt;

/// The 401s sent before the client's own expiry (`expiry_lens` below 0), split by whether the
/// token's `exp` claim had already passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Early401s {
    pub before_expiry: u64,
    /// Of those, sent after their token's `exp` claim (phase `expired_by_claim`).
    pub past_claim: u64,
}

impl Early401s {
    /// `None` when every 401 came at or after the client's expiry (or there were none).
    pub fn of(v: &VariantReport) -> Option<Early401s> {
        let before_expiry = before_zero(&v.expiry_lens);
        let past_claim = v
            .phases
            .get(Phase::ExpiredByClaim.name())
            .map_or(0, |e| e.outcomes[Outcome::Unauthorized]);
        (before_expiry > 0).then_some(Early401s {
            before_expiry,
            // A call past its claim is before the client's expiry by definition of the phase.
            past_claim: past_claim.min(before_expiry),
        })
    }

    /// Early 401s that no `exp` claim explains: opaque tokens, or calls sent before `exp`.
    pub fn unexplained(&self) -> u64 {
        self.before_expiry - self.past_claim
    }
}

/// 401s in bins below offset 0, and before the first bin.
pub fn before_zero(lens: &ExpiryLens) -> u64 {
    let bins: u64 = lens
        .bins
        .iter()
        .filter(|b| b.offset_s < 0)
        .map(|b| b.outcomes[Outcome::Unauthorized])
        .sum();
    bins + lens.before[Outcome::Unauthorized]
}

impl fmt::Display for Early401s {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} 401s came before the client's own expiry (expires_in), not on fresh tokens:",
            self.before_expiry
        )?;
        if self.past_claim > 0 {
            write!(
                f,
                " {} after their token's exp claim (expired on the issuer's clock, not yet on the \
                 client's): the issuer writes exp in whole seconds (up to 1 s early), its clock runs \
                 ahead of the client's, or its validator has no leeway;",
                self.past_claim
            )?;
        }
        let other = self.unexplained();
        if other > 0 {
            write!(
                f,
                " {other} with no exp claim passed (opaque tokens, or sent before exp): a whole-second \
                 expiry behind an opaque token, a server clock ahead of the client's, revocation or \
                 an idle timeout, or a refreshed token not yet known everywhere;"
            )?;
        }
        write!(
            f,
            " see docs/report.md, \"When 401s come before the client's expiry\"."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_explanation_names_what_the_claims_explain_and_what_they_do_not() {
        let both = Early401s {
            before_expiry: 57,
            past_claim: 50,
        };
        let text = both.to_string();
        assert!(
            text.starts_with("57 401s came before the client's own expiry"),
            "{text}"
        );
        assert!(text.contains("50 after their token's exp claim"), "{text}");
        assert!(text.contains("whole seconds"), "{text}");
        assert!(text.contains("7 with no exp claim passed"), "{text}");
        let claims_only = Early401s {
            before_expiry: 9,
            past_claim: 9,
        }
        .to_string();
        assert!(!claims_only.contains("no exp claim"), "{claims_only}");
        assert_eq!(both.unexplained(), 7);
    }
}
