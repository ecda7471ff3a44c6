//! Live telemetry for `run` and `search`: the scrape endpoint (`--metrics-addr`), remote write
//! (`--out prometheus-rw=URL`) and OTLP (`--out otlp=URL`) started before the first variant and
//! ended after the last, so the final numbers are scraped or pushed before the process exits.

use super::AppError;
use crate::report::live::families::Labels;
use crate::report::live::otlp::RunResource;
use crate::report::live::push::{unix_nanos, Auth, Format, PushConfig, Pusher};
use crate::report::live::{scrape, Hub};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct TelemetryOptions {
    /// Serve `GET /metrics` here while the run goes.
    pub metrics_addr: Option<SocketAddr>,
    /// After the run, keep serving until one scrape has read the final numbers, at most this long.
    pub linger: Duration,
    /// Push by Prometheus remote write to this URL every second.
    pub remote_write: Option<String>,
    /// Remote write also sends the latency histograms as native histograms.
    pub native_histograms: bool,
    /// Push OTLP/HTTP metrics (protobuf) to this URL every second.
    pub otlp: Option<String>,
    /// Set by [`Export::start`]: where each variant registers its recorder.
    pub hub: Option<HubHandle>,
}

/// The hub, carried in the run's options, with the labels every recorder registered through it
/// gets besides its variant and shard (a search step's `search_step`).
#[derive(Clone)]
pub struct HubHandle {
    pub hub: Arc<Hub>,
    pub labels: Labels,
}

impl HubHandle {
    /// The same hub, its recorders also labelled `key=value`.
    pub fn labelled(&self, key: &'static str, value: String) -> HubHandle {
        let mut labels = self.labels.clone();
        labels.push((key, value));
        HubHandle {
            hub: self.hub.clone(),
            labels,
        }
    }
}

impl fmt::Debug for HubHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HubHandle")
    }
}

/// The running export; [`Export::finish`] ends it.
pub struct Export {
    hub: Arc<Hub>,
    linger: Duration,
    server: Option<(
        oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    )>,
    pushers: Vec<(&'static str, Pusher)>,
}

impl Export {
    /// Starts what `options` ask for (nothing when none is set) for the run named `run`; a
    /// metrics address that cannot be bound is a usage error, found before any load is sent.
    pub async fn start(options: &TelemetryOptions, run: &str) -> Result<Option<Export>, AppError> {
        if options.metrics_addr.is_none()
            && options.remote_write.is_none()
            && options.otlp.is_none()
        {
            return Ok(None);
        }
        let hub = Hub::new();
        let mut server = None;
        if let Some(addr) = options.metrics_addr {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| AppError::Usage(format!("--metrics-addr {addr}: {e}")))?;
            let (stop, stopped) = oneshot::channel();
            let shutdown = async move {
                let _ = stopped.await;
            };
            server = Some((
                stop,
                tokio::spawn(scrape::serve(listener, hub.clone(), shutdown)),
            ));
        }
        let env = |var: &str| std::env::var(var).ok();
        let mut pushers = Vec::new();
        if let Some(url) = options.remote_write.clone() {
            let config = PushConfig::new(
                url,
                Auth::from_env(&env),
                Format::RemoteWrite {
                    native_histograms: options.native_histograms,
                },
            );
            pushers.push((config.format.name(), Pusher::start(hub.clone(), config)));
        }
        if let Some(url) = options.otlp.clone() {
            let resource = RunResource {
                run: run.to_owned(),
                start_unix_nano: unix_nanos(),
            };
            let config = PushConfig::new(url, Auth::otlp_from_env(&env), Format::Otlp(resource));
            pushers.push((config.format.name(), Pusher::start(hub.clone(), config)));
        }
        Ok(Some(Export {
            hub,
            linger: options.linger,
            server,
            pushers,
        }))
    }

    pub fn handle(&self) -> HubHandle {
        HubHandle {
            hub: self.hub.clone(),
            labels: Vec::new(),
        }
    }

    /// Ends the export after the last variant: the final scrape (bounded by the linger) and the
    /// final push (bounded by the flush); returns the report's notes on what the export did.
    pub async fn finish(self) -> Vec<String> {
        self.hub.finish();
        let mut notes = Vec::new();
        if let Some((stop, task)) = self.server {
            let scraped = tokio::time::timeout(self.linger, self.hub.final_scrape()).await;
            if scraped.is_err() {
                notes.push(format!(
                    "metrics endpoint: no scrape read the final numbers within {:.0}s (--metrics-linger)",
                    self.linger.as_secs_f64()
                ));
            }
            let _ = stop.send(());
            let _ = task.await;
        }
        // Each pusher flushes within its own bound; together, so two outputs cost one bound.
        let pushed: Vec<_> = self
            .pushers
            .into_iter()
            .map(|(name, pusher)| (name, tokio::spawn(pusher.finish())))
            .collect();
        for (name, finishing) in pushed {
            let Ok(stats) = finishing.await else {
                notes.push(format!("{name}: the export ended before its final push"));
                continue;
            };
            let why = stats
                .last_failure
                .map(|w| format!(" (last failure: {w})"))
                .unwrap_or_default();
            notes.push(format!(
                "{name}: {} of {} export batches lost{why}",
                stats.lost, stats.batches
            ));
        }
        notes
    }
}
