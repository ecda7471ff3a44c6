//! Where a contacts call sat in its token's life when it was sent: the phase its latency and outcome
//! are counted under, so a storm at expiry is not averaged away by the calls made with fresh tokens.

/// A token's phase at the moment a call using it is sent, by the client's own clock.
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
}

impl Phase {
    pub const COUNT: usize = 4;
    pub const ALL: [Phase; Phase::COUNT] = [
        Phase::Fresh,
        Phase::FirstAfterRefresh,
        Phase::Expiring,
        Phase::Expired,
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
        }
    }

    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }
}
