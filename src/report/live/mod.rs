//! Live export: while a run goes, the recorders' numbers as Prometheus metrics, served for scraping
//! (OpenMetrics text) and pushed by remote write or OTLP/HTTP. report.json stays the source of truth
//! for gates; these are the same counters, read while they grow.

pub mod buckets;
pub mod families;
pub mod openmetrics;
pub mod otlp;
pub mod push;
pub mod remote_write;
pub mod scrape;

use crate::metrics::Recorder;
use families::{Family, Labels};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// The recorders a run has made so far, each with its labels (variant, shard). A finished variant's
/// recorder stays, so its final numbers go on being served and pushed until the export ends.
#[derive(Default)]
pub struct Hub {
    sources: Mutex<Vec<(Labels, Arc<Recorder>)>>,
    /// Set when the last variant has ended: a reading taken after it holds the final numbers.
    finished: AtomicBool,
    /// Woken by each scrape answered with the final numbers.
    final_scrape: Notify,
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    /// Adds a variant's recorder under `labels` (its variant, and its shard when sharded).
    pub fn add(&self, labels: Labels, recorder: Arc<Recorder>) {
        self.sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((labels, recorder));
    }

    /// Every source's reading now, as metric families.
    pub fn families(&self) -> Vec<Family> {
        let sources = self
            .sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let now = Instant::now();
        families::families(sources.iter().map(|(l, r)| (l, r.telemetry(now))))
    }

    /// The run is over: every reading from now on holds the final numbers.
    pub fn finish(&self) {
        self.finished.store(true, Ordering::SeqCst);
    }

    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }

    /// Waits for a scrape answered after [`Hub::finish`].
    pub async fn final_scrape(&self) {
        self.final_scrape.notified().await;
    }

    /// The scrape endpoint's answer; marks a final scrape when the run is over.
    pub fn scrape(&self) -> String {
        let finished = self.is_finished();
        let text = openmetrics::text(self.families());
        if finished {
            self.final_scrape.notify_waiters();
        }
        text
    }
}

/// The labels of a variant's series: its name, and its shard as `INDEX/COUNT` when sharded.
pub fn variant_labels(variant: &str, shard: Option<(u32, u32)>) -> Labels {
    let mut labels = vec![("variant", variant.to_owned())];
    if let Some((index, count)) = shard {
        labels.push(("shard", format!("{index}/{count}")));
    }
    labels
}
