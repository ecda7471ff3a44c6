//! The request counters: one struct from the recorder's snapshot to report.json's `requests`.

use super::outcomes::Outcomes;
use serde::{Deserialize, Serialize};

/// User-level requests: one per scheduled arrival, whatever number of HTTP calls it took.
/// report.json's `requests` holds these fields, beside the latencies the report adds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    pub scheduled: u64,
    pub sent: u64,
    pub dropped: u64,
    /// API calls repeated after a 401.
    pub retries: u64,
    /// Requests that ended without reaching the API because no token could be had.
    pub no_token: u64,
    /// Sent but not finished when the run ended (cut off by the drain limit or a second Ctrl-C).
    pub unfinished: u64,
    /// API calls made with a token the client knew was inside its refresh window (two-window clients
    /// keep using the token while one caller refreshes in the background).
    pub inside_refresh_window: u64,
    /// Calls that followed a 429 with `Retry-After` from the same cache slot, and whether they waited it out.
    pub retry_after_respected: u64,
    pub retry_after_violated: u64,
    /// Final outcome of each finished request.
    pub outcomes: Outcomes,
    /// Outcome of each request's first API call, before any refresh and retry: the load a storm
    /// makes, where `outcomes` is what users saw.
    #[serde(default)]
    pub first_attempt: Outcomes,
    /// Requests whose first call failed (a 401 or 429) and a retry then succeeded.
    #[serde(default)]
    pub recovered_by_retry: u64,
}

impl RequestCounts {
    /// Adds `other`'s counts to these (shards of one run).
    pub fn add(&mut self, other: &RequestCounts) {
        self.scheduled += other.scheduled;
        self.sent += other.sent;
        self.dropped += other.dropped;
        self.retries += other.retries;
        self.no_token += other.no_token;
        self.unfinished += other.unfinished;
        self.inside_refresh_window += other.inside_refresh_window;
        self.retry_after_respected += other.retry_after_respected;
        self.retry_after_violated += other.retry_after_violated;
        self.outcomes.add(&other.outcomes);
        self.first_attempt.add(&other.first_attempt);
        self.recovered_by_retry += other.recovered_by_retry;
    }
}
