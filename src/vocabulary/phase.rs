//! Where a contacts call sat in its token's life when it was sent: the phase its latency and outcome
//! are counted under, so a storm at expiry is not averaged away by the calls made with fresh tokens.

/// A token's phase at the moment a call using it is sent: by the client's own clock, except that a
/// token past its own `exp` claim is never counted as good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Neither new nor near its end.
    Fresh,
    /// The first call made with a token that replaced another (the call right after a refresh).
    FirstAfterRefresh,
    /// Inside the client's refresh window: past its advisory or refresh time, before expiry.
    Expiring,
    /// At or past the expiry the client believes in: only a reactive client sends these.
    Expired,
    /// Past the token's `exp` claim (the issuer's clock) but before the expiry the client computed
    /// from `expires_in`: a whole-second `exp`, a server clock ahead of the client's, or no leeway
    /// make a token die up to a second (or the offset) before the client expects.
    ExpiredByClaim,
}

impl Phase {
    pub const COUNT: usize = 5;
    pub const ALL: [Phase; Phase::COUNT] = [
        Phase::Fresh,
        Phase::FirstAfterRefresh,
        Phase::Expiring,
        Phase::Expired,
        Phase::ExpiredByClaim,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in reports and in gate metrics (`contacts[expiring].p99_ms`).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Fresh => "fresh",
            Phase::FirstAfterRefresh => "first_after_refresh",
            Phase::Expiring => "expiring",
            Phase::Expired => "expired",
            Phase::ExpiredByClaim => "expired_by_claim",
        }
    }

    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }
}
