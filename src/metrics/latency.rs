//! Latency histograms per endpoint and outcome, sharded by thread so recording never waits on another worker.

use crate::vocabulary::Phase;
use crate::vocabulary::{Endpoint, Outcome};
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Histograms count microseconds with 3 significant figures; they grow on demand, so memory follows
/// the range of latencies seen, not the length of the run.
pub const SIGFIG: u8 = 3;

pub fn new_histogram() -> Histogram<u64> {
    // 3 significant figures is a valid setting, so this cannot fail.
    Histogram::new(SIGFIG).unwrap_or_else(|_| unreachable!("sigfig 3 is within 0..=5"))
}

pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// One shard's histograms. Only the owning threads lock it while recording; the snapshot locks each briefly.
#[derive(Default)]
pub struct Shard {
    pub(super) by_endpoint: [[Option<Histogram<u64>>; Outcome::COUNT]; Endpoint::COUNT],
    /// Contacts calls by their token's phase.
    by_phase: [[Option<Histogram<u64>>; Outcome::COUNT]; Phase::COUNT],
    /// Contacts calls by tenant slot: the busiest orgs one each, then one for all others.
    by_tenant: Vec<Option<Histogram<u64>>>,
    /// User-level latency: from the intended send time to the final answer, refresh waits included.
    requests: Option<Histogram<u64>>,
    /// Time callers spent waiting for a refresh somebody else was making.
    pub(super) refresh_wait: Option<Histogram<u64>>,
    /// How late the pacer released each request after its intended time.
    lateness: Option<Histogram<u64>>,
    /// User-level latency from the actual send: what a tool with coordinated omission reports.
    service: Option<Histogram<u64>>,
    /// Per request, time spent getting tokens (cache, own refreshes, waits on others').
    token_time: Option<Histogram<u64>>,
    /// User-level latency per time-series bucket (by when the request ended), for the latency-over-time
    /// chart. Coarser and narrower counters than the run-wide histograms: there are hundreds of these.
    per_bucket: Vec<Option<Histogram<u32>>>,
    /// Buckets below this index were handed to [`Latencies::past`].
    handed_over: usize,
    /// Calls by the profile's stage they were sent in (none without stages).
    pub(super) by_stage: Vec<ByEndpoint>,
    /// API calls by the journey's step (none for the single-call journey).
    by_step: Vec<ByOutcome>,
}

/// Histograms per outcome.
pub type ByOutcome = [Option<Histogram<u64>>; Outcome::COUNT];

/// Histograms per endpoint and outcome.
pub type ByEndpoint = [[Option<Histogram<u64>>; Outcome::COUNT]; Endpoint::COUNT];

fn record(slot: &mut Option<Histogram<u64>>, d: Duration) {
    // Auto-resizing histograms accept any u64, so recording cannot fail.
    let _ = slot.get_or_insert_with(new_histogram).record(micros(d));
}

fn merge(into: &mut Option<Histogram<u64>>, from: &Option<Histogram<u64>>) {
    if let Some(from) = from {
        let _ = into.get_or_insert_with(new_histogram).add(from);
    }
}

fn bucket_histogram<T: hdrhistogram::Counter>() -> Histogram<T> {
    // 2 significant figures is a valid setting, so this cannot fail.
    Histogram::new(BUCKET_SIGFIG).unwrap_or_else(|_| unreachable!("sigfig 2 is within 0..=5"))
}

/// Adds a shard's narrow counters into the snapshot's wide ones (same precision, so the same buckets).
fn widen(into: &mut Histogram<u64>, from: &Histogram<u32>) {
    for v in from.iter_recorded() {
        let _ = into.record_n(v.value_iterated_to(), u64::from(v.count_at_value()));
    }
}

pub struct Latencies {
    shards: Box<[Mutex<Shard>]>,
    /// Per-bucket histograms of buckets the clock has left behind, one per bucket for all shards:
    /// kept per shard, they were most of a long run's memory growth (7 KiB each, per shard, per bucket).
    past: Mutex<Vec<Option<Past>>>,
}

/// A past bucket's histogram, packed: its live counts array is ~7 KiB, the V2 encoding of a 2 s
/// bucket's few hundred distinct values some hundreds of bytes, and a long run keeps hundreds of
/// buckets. Packing it at hand-over kept a 10-minute soak's memory from growing with its length.
enum Past {
    Packed(Vec<u8>),
    /// Only if packing failed, which a `Vec` writer and in-range counts do not make happen.
    Live(Histogram<u32>),
}

impl Past {
    fn pack(h: Histogram<u32>) -> Past {
        let mut bytes = Vec::new();
        match V2Serializer::new().serialize(&h, &mut bytes) {
            Ok(_) => Past::Packed(bytes),
            Err(_) => Past::Live(h),
        }
    }

    /// Adds the counts into a snapshot's wide histogram, decoded straight into its counter type.
    fn add_to(&self, into: &mut Histogram<u64>) {
        match self {
            Past::Packed(bytes) => {
                let decoded: Option<Histogram<u64>> =
                    Deserializer::new().deserialize(&mut bytes.as_slice()).ok();
                if let Some(h) = decoded {
                    // Same precision, and `into` resizes itself: adding cannot fail.
                    let _ = into.add(&h);
                }
            }
            Past::Live(h) => widen(into, h),
        }
    }

    fn unpack(self) -> Option<Histogram<u32>> {
        match self {
            Past::Packed(bytes) => {
                let mut h: Histogram<u32> = Deserializer::new()
                    .deserialize(&mut bytes.as_slice())
                    .ok()?;
                // Decoded with the range it had; another shard's counts for the bucket may lie beyond.
                h.auto(true);
                Some(h)
            }
            Past::Live(h) => Some(h),
        }
    }
}

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// Significant figures of the per-bucket histograms: 1 % is plenty for a p50/p99 line over time.
pub const BUCKET_SIGFIG: u8 = 2;

/// Merged view of all shards.
#[derive(Default, Clone)]
pub struct LatencySnapshot {
    pub by_endpoint: [[Option<Histogram<u64>>; Outcome::COUNT]; Endpoint::COUNT],
    pub by_phase: [[Option<Histogram<u64>>; Outcome::COUNT]; Phase::COUNT],
    pub by_tenant: Vec<Option<Histogram<u64>>>,
    pub requests: Option<Histogram<u64>>,
    pub refresh_wait: Option<Histogram<u64>>,
    pub lateness: Option<Histogram<u64>>,
    pub service: Option<Histogram<u64>>,
    pub token_time: Option<Histogram<u64>>,
    /// Request latency per time-series bucket index.
    pub per_bucket: Vec<Option<Histogram<u64>>>,
    /// Calls per stage of the profile, by endpoint and outcome.
    pub by_stage: Vec<ByEndpoint>,
    /// API calls per step of the journey, by outcome.
    pub by_step: Vec<ByOutcome>,
}

impl Latencies {
    pub fn new() -> Latencies {
        let n = std::thread::available_parallelism().map_or(4, |n| n.get()) * 2;
        Latencies {
            shards: (0..n).map(|_| Mutex::new(Shard::default())).collect(),
            past: Mutex::new(Vec::new()),
        }
    }

    fn with_shard(&self, f: impl FnOnce(&mut Shard)) {
        let mut index = SHARD.get();
        if index == usize::MAX {
            index = NEXT_SHARD.fetch_add(1, Ordering::Relaxed);
            SHARD.set(index);
        }
        let shard = &self.shards[index % self.shards.len()];
        // A poisoned shard only means another recorder panicked mid-record; its counts are still usable.
        let mut guard = shard.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard);
    }

    /// One HTTP exchange; `stage` is the profile's stage it was sent in, if any.
    pub fn attempt(
        &self,
        endpoint: Endpoint,
        outcome: Outcome,
        latency: Duration,
        stage: Option<usize>,
    ) {
        let (e, o) = (endpoint.index(), outcome.index());
        self.with_shard(|s| {
            record(&mut s.by_endpoint[e][o], latency);
            if let Some(stage) = stage {
                if s.by_stage.len() <= stage {
                    s.by_stage.resize_with(stage + 1, ByEndpoint::default);
                }
                record(&mut s.by_stage[stage][e][o], latency);
            }
        });
    }

    /// `latency` from the intended send time, `service` from the actual one; the request ended in
    /// time-series bucket `bucket`.
    pub fn request(&self, latency: Duration, service: Duration, bucket: usize) {
        self.with_shard(|s| {
            record(&mut s.requests, latency);
            record(&mut s.service, service);
            if s.per_bucket.len() <= bucket {
                s.per_bucket.resize_with(bucket + 1, || None);
                // The clock moved on. The bucket before this one stays: a thread that read the clock
                // just before the boundary may still record into it (and one later still would only
                // start a fresh histogram there, which the snapshot adds up all the same).
                let keep = bucket.saturating_sub(1);
                if s.handed_over < keep {
                    self.hand_over(&mut s.per_bucket[s.handed_over..keep], s.handed_over);
                    s.handed_over = keep;
                }
            }
            let slot = s.per_bucket[bucket].get_or_insert_with(bucket_histogram);
            let _ = slot.record(micros(latency));
        });
    }

    /// Adds a shard's past buckets (`first` is the index of `buckets[0]`) into the shared ones.
    fn hand_over(&self, buckets: &mut [Option<Histogram<u32>>], first: usize) {
        let mut past = self.past.lock().unwrap_or_else(|p| p.into_inner());
        for (i, slot) in buckets.iter_mut().enumerate() {
            let Some(from) = slot.take() else {
                continue;
            };
            if past.len() <= first + i {
                past.resize_with(first + i + 1, || None);
            }
            let slot = &mut past[first + i];
            let merged = match slot.take().and_then(Past::unpack) {
                Some(mut into) => {
                    // Same precision, auto-resizing: adding cannot fail.
                    let _ = into.add(&from);
                    into
                }
                None => from,
            };
            *slot = Some(Past::pack(merged));
        }
    }

    /// An API call of the journey's step `step`.
    pub fn step(&self, step: usize, outcome: Outcome, latency: Duration) {
        self.with_shard(|s| {
            if s.by_step.len() <= step {
                s.by_step.resize_with(step + 1, ByOutcome::default);
            }
            record(&mut s.by_step[step][outcome.index()], latency);
        });
    }

    pub fn phase(&self, phase: Phase, outcome: Outcome, latency: Duration) {
        self.with_shard(|s| record(&mut s.by_phase[phase.index()][outcome.index()], latency));
    }

    /// A contacts call of the org in tenant slot `slot` (see `metrics::tenants`).
    pub fn tenant(&self, slot: usize, latency: Duration) {
        self.with_shard(|s| {
            if s.by_tenant.len() <= slot {
                s.by_tenant.resize_with(slot + 1, || None);
            }
            record(&mut s.by_tenant[slot], latency);
        });
    }

    pub fn token_time(&self, spent: Duration) {
        self.with_shard(|s| record(&mut s.token_time, spent));
    }

    pub fn refresh_wait(&self, wait: Duration) {
        self.with_shard(|s| record(&mut s.refresh_wait, wait));
    }

    pub fn lateness(&self, late: Duration) {
        self.with_shard(|s| record(&mut s.lateness, late));
    }

    /// Reads each shard in turn, holding its lock only for `f` (the live export's bounded cost).
    pub(super) fn each_shard(&self, mut f: impl FnMut(&Shard)) {
        for shard in self.shards.iter() {
            f(&shard.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    pub fn snapshot(&self) -> LatencySnapshot {
        let mut out = LatencySnapshot::default();
        for shard in self.shards.iter() {
            let s = shard.lock().unwrap_or_else(|p| p.into_inner());
            for (e, row) in s.by_endpoint.iter().enumerate() {
                for (o, h) in row.iter().enumerate() {
                    merge(&mut out.by_endpoint[e][o], h);
                }
            }
            if out.by_tenant.len() < s.by_tenant.len() {
                out.by_tenant.resize_with(s.by_tenant.len(), || None);
            }
            for (into, from) in out.by_tenant.iter_mut().zip(&s.by_tenant) {
                merge(into, from);
            }
            for (p, row) in s.by_phase.iter().enumerate() {
                for (o, h) in row.iter().enumerate() {
                    merge(&mut out.by_phase[p][o], h);
                }
            }
            if out.by_stage.len() < s.by_stage.len() {
                out.by_stage
                    .resize_with(s.by_stage.len(), ByEndpoint::default);
            }
            for (into, from) in out.by_stage.iter_mut().zip(&s.by_stage) {
                for (into, from) in into.iter_mut().zip(from) {
                    for (into, from) in into.iter_mut().zip(from) {
                        merge(into, from);
                    }
                }
            }
            if out.by_step.len() < s.by_step.len() {
                out.by_step.resize_with(s.by_step.len(), ByOutcome::default);
            }
            for (into, from) in out.by_step.iter_mut().zip(&s.by_step) {
                for (into, from) in into.iter_mut().zip(from) {
                    merge(into, from);
                }
            }
            merge(&mut out.requests, &s.requests);
            merge(&mut out.refresh_wait, &s.refresh_wait);
            merge(&mut out.lateness, &s.lateness);
            merge(&mut out.service, &s.service);
            merge(&mut out.token_time, &s.token_time);
            if out.per_bucket.len() < s.per_bucket.len() {
                out.per_bucket.resize_with(s.per_bucket.len(), || None);
            }
            fold_buckets(&mut out.per_bucket, &s.per_bucket);
        }
        let past = self.past.lock().unwrap_or_else(|p| p.into_inner());
        if out.per_bucket.len() < past.len() {
            out.per_bucket.resize_with(past.len(), || None);
        }
        for (into, from) in out.per_bucket.iter_mut().zip(past.iter()) {
            if let Some(from) = from {
                from.add_to(into.get_or_insert_with(bucket_histogram));
            }
        }
        out
    }
}

fn fold_buckets(out: &mut Vec<Option<Histogram<u64>>>, from: &[Option<Histogram<u32>>]) {
    if out.len() < from.len() {
        out.resize_with(from.len(), || None);
    }
    for (into, from) in out.iter_mut().zip(from) {
        if let Some(from) = from {
            widen(into.get_or_insert_with(bucket_histogram), from);
        }
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_buckets_leave_the_shard_and_still_add_up() {
        let l = Latencies::new();
        for bucket in 0..50 {
            for ms in 1..=10 {
                l.request(Duration::from_millis(ms), Duration::from_millis(ms), bucket);
            }
        }
        // A late record into a bucket already handed over starts a new histogram there.
        l.request(Duration::from_millis(500), Duration::from_millis(500), 3);
        let live: usize = l
            .shards
            .iter()
            .map(|s| s.lock().unwrap().per_bucket.iter().flatten().count())
            .sum();
        assert!(live <= 3, "{live} bucket histograms left in the shards");
        let snap = l.snapshot();
        assert_eq!(snap.per_bucket.len(), 50);
        for (i, h) in snap.per_bucket.iter().enumerate() {
            let h = h.as_ref().unwrap();
            assert_eq!(h.len(), if i == 3 { 11 } else { 10 }, "bucket {i}");
            assert!(h.max() >= 9_900, "bucket {i}");
        }
    }

    #[test]
    fn shards_handing_over_one_bucket_add_up_whatever_their_ranges() {
        let l = Latencies::new();
        // Each thread records into a shard of its own: small latencies first, then ones far beyond
        // the range the first hand-over packed.
        for ms in [1, 5_000] {
            std::thread::scope(|s| {
                s.spawn(|| {
                    for bucket in 0..10 {
                        l.request(Duration::from_millis(ms), Duration::from_millis(ms), bucket);
                    }
                });
            });
        }
        let snap = l.snapshot();
        for bucket in 0..8 {
            let h = snap.per_bucket[bucket].as_ref().unwrap();
            assert_eq!(h.len(), 2, "bucket {bucket}");
            assert!(h.max() >= 4_900_000, "bucket {bucket}: {}", h.max());
        }
    }
}
