//! Pushing every second (Prometheus remote write, OTLP/HTTP), off the run's back: readings go into
//! a bounded queue that a sender drains with a timeout per request. A full queue, a slow or failing
//! receiver only lose batches (counted); they never hold up the engine or the end of the run beyond
//! the flush bound.

use super::otlp::{self, RunResource};
use super::remote_write;
use super::Hub;
use crate::secret::Secret;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The environment variables remote write reads its credentials from (never the profile).
pub const USERNAME_ENV: &str = "TOKENSTORM_PROMETHEUS_RW_USERNAME";
pub const PASSWORD_ENV: &str = "TOKENSTORM_PROMETHEUS_RW_PASSWORD";
pub const BEARER_ENV: &str = "TOKENSTORM_PROMETHEUS_RW_BEARER_TOKEN";
/// `true` (or `1`): also send native histograms, for receivers that take them (k6's
/// `K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM`).
pub const NATIVE_HISTOGRAMS_ENV: &str = "TOKENSTORM_PROMETHEUS_RW_NATIVE_HISTOGRAMS";
/// OTLP's headers, `key=value,key2=value2` as `OTEL_EXPORTER_OTLP_HEADERS` takes them.
pub const OTLP_HEADERS_ENV: &str = "TOKENSTORM_OTLP_HEADERS";

#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Basic {
        username: String,
        password: Secret,
    },
    Bearer(Secret),
    /// Headers sent as given (OTLP: an `Authorization`, a tenant or API-key header).
    Headers(Vec<(String, Secret)>),
}

impl Auth {
    /// From the environment: a bearer token wins over a username and password.
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Auth {
        if let Some(token) = var(BEARER_ENV).filter(|t| !t.is_empty()) {
            return Auth::Bearer(Secret::new(token));
        }
        match var(USERNAME_ENV).filter(|u| !u.is_empty()) {
            Some(username) => Auth::Basic {
                username,
                password: Secret::new(var(PASSWORD_ENV).unwrap_or_default()),
            },
            None => Auth::None,
        }
    }

    /// OTLP's headers from the environment. As the OpenTelemetry SDKs read
    /// `OTEL_EXPORTER_OTLP_HEADERS`: comma-separated `key=value` pairs, values percent-decoded,
    /// surrounding spaces trimmed; an entry without `=` is skipped.
    pub fn otlp_from_env(var: &dyn Fn(&str) -> Option<String>) -> Auth {
        let raw = var(OTLP_HEADERS_ENV).unwrap_or_default();
        let headers: Vec<(String, Secret)> = raw
            .split(',')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                let k = k.trim();
                let v = percent_encoding::percent_decode_str(v.trim()).decode_utf8_lossy();
                (!k.is_empty()).then(|| (k.to_owned(), Secret::new(v.into_owned())))
            })
            .collect();
        if headers.is_empty() {
            Auth::None
        } else {
            Auth::Headers(headers)
        }
    }
}

/// What a push sends: the body's encoding and the headers that say it.
#[derive(Debug, Clone)]
pub enum Format {
    /// Prometheus remote write 1.0, snappy-compressed; `native_histograms` also sends the latency
    /// histograms as native histograms.
    RemoteWrite { native_histograms: bool },
    /// OTLP/HTTP metrics, binary protobuf.
    Otlp(RunResource),
}

impl Format {
    /// The report's name for this export.
    pub fn name(&self) -> &'static str {
        match self {
            Format::RemoteWrite { .. } => "prometheus remote write",
            Format::Otlp(_) => "otlp",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PushConfig {
    pub url: String,
    pub auth: Auth,
    pub format: Format,
    pub interval: Duration,
    /// Per request; a receiver slower than this loses the batch.
    pub timeout: Duration,
    /// Batches waiting to be sent; a reading that finds the queue full is lost.
    pub queue: usize,
    /// How long the end of the run waits for the queued batches and the final one.
    pub flush: Duration,
}

impl PushConfig {
    pub fn new(url: String, auth: Auth, format: Format) -> PushConfig {
        PushConfig {
            url,
            auth,
            format,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            queue: 16,
            flush: Duration::from_secs(10),
        }
    }
}

/// What the export did, for the report's notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushStats {
    pub batches: u64,
    pub lost: u64,
    /// The last failure, as a status code or a kind of error (never a URL or a credential).
    pub last_failure: Option<String>,
}

/// Readings taken and batches a receiver accepted; every other batch was lost (queue full,
/// refused, timed out, or still queued when the flush bound ran out).
#[derive(Default)]
struct Counts {
    batches: AtomicU64,
    delivered: AtomicU64,
    last_failure: Mutex<Option<String>>,
}

impl Counts {
    fn failed(&self, why: String) {
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }
}

/// A running remote-write export.
pub struct Pusher {
    stop: watch::Sender<bool>,
    reader: tokio::task::JoinHandle<()>,
    sender: tokio::task::JoinHandle<()>,
    counts: Arc<Counts>,
    flush: Duration,
}

impl Pusher {
    pub fn start(hub: Arc<Hub>, config: PushConfig) -> Pusher {
        let counts = Arc::new(Counts::default());
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let (stop, stopped) = watch::channel(false);
        let reader = tokio::spawn(read_each_interval(
            hub,
            (config.interval, config.format.clone()),
            tx,
            stopped,
            counts.clone(),
        ));
        let flush = config.flush;
        let sender = tokio::spawn(send_all(rx, config, counts.clone()));
        Pusher {
            stop,
            reader,
            sender,
            counts,
            flush,
        }
    }

    /// Pushes the final reading (call after [`Hub::finish`]), waits up to the flush bound for the
    /// queue, and says what was lost; batches still queued then count as lost.
    pub async fn finish(self) -> PushStats {
        let _ = self.stop.send(true);
        let _ = self.reader.await;
        let sender = self.sender;
        let abort = sender.abort_handle();
        if tokio::time::timeout(self.flush, sender).await.is_err() {
            abort.abort();
        }
        let c = &self.counts;
        let batches = c.batches.load(Ordering::Relaxed);
        PushStats {
            batches,
            lost: batches.saturating_sub(c.delivered.load(Ordering::Relaxed)),
            last_failure: c
                .last_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// Takes a reading each interval, and a last one when told to stop; a full queue loses it.
async fn read_each_interval(
    hub: Arc<Hub>,
    (interval, format): (Duration, Format),
    queue: mpsc::Sender<Vec<u8>>,
    mut stop: watch::Receiver<bool>,
    counts: Arc<Counts>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        let families = hub.families();
        let body = match &format {
            Format::RemoteWrite { native_histograms } => {
                remote_write::body(&families, unix_ms(), *native_histograms)
            }
            Format::Otlp(run) => otlp::body(&families, run, unix_nanos()),
        };
        counts.batches.fetch_add(1, Ordering::Relaxed);
        if queue.try_send(body).is_err() {
            counts.failed("export queue full".into());
        }
        if last {
            return;
        }
    }
}

/// Sends queued batches one at a time until the queue closes.
async fn send_all(mut queue: mpsc::Receiver<Vec<u8>>, config: PushConfig, counts: Arc<Counts>) {
    let client = match reqwest::Client::builder().timeout(config.timeout).build() {
        Ok(c) => c,
        Err(_) => {
            counts.failed("no HTTP client".into());
            return;
        }
    };
    while let Some(body) = queue.recv().await {
        match send(&client, &config, body).await {
            Ok(()) => {
                counts.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(why) => counts.failed(why),
        }
    }
}

async fn send(client: &reqwest::Client, config: &PushConfig, body: Vec<u8>) -> Result<(), String> {
    let mut request = client.post(&config.url).body(body);
    request = match config.format {
        Format::RemoteWrite { .. } => request
            .header(reqwest::header::CONTENT_TYPE, remote_write::CONTENT_TYPE)
            .header(reqwest::header::CONTENT_ENCODING, "snappy")
            .header(remote_write::VERSION_HEADER, remote_write::VERSION),
        Format::Otlp(_) => request.header(reqwest::header::CONTENT_TYPE, otlp::CONTENT_TYPE),
    };
    request = match &config.auth {
        Auth::None => request,
        Auth::Basic { username, password } => request.basic_auth(username, Some(password.expose())),
        Auth::Bearer(token) => request.bearer_auth(token.expose()),
        Auth::Headers(headers) => headers
            .iter()
            .fold(request, |r, (k, v)| r.header(k.as_str(), v.expose())),
    };
    // Only the kind of failure is kept: reqwest's messages carry the URL, which may hold credentials.
    let response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            "timeout".to_owned()
        } else if e.is_connect() {
            "connection refused or unreachable".to_owned()
        } else {
            "request failed".to_owned()
        }
    })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

fn unix_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now in Unix nanoseconds, as OTLP's points carry time.
pub fn unix_nanos() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(vars: &[(&str, &str)]) -> Auth {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Auth::from_env(&|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn credentials_come_from_the_environment_bearer_first() {
        assert!(matches!(auth(&[]), Auth::None));
        assert!(matches!(auth(&[(USERNAME_ENV, "")]), Auth::None));
        let basic = auth(&[(USERNAME_ENV, "u"), (PASSWORD_ENV, "p")]);
        assert!(
            matches!(&basic, Auth::Basic { username, password } if username == "u" && password.expose() == "p")
        );
        // The password never shows in a debug print.
        assert!(!format!("{basic:?}").contains("\"p\""), "{basic:?}");
        let both = auth(&[(USERNAME_ENV, "u"), (BEARER_ENV, "t")]);
        assert!(matches!(&both, Auth::Bearer(t) if t.expose() == "t"));
    }

    #[test]
    fn otlp_headers_are_parsed_as_the_opentelemetry_sdks_do() {
        let otlp = |raw: &str| {
            let raw = raw.to_owned();
            Auth::otlp_from_env(&move |name| (name == OTLP_HEADERS_ENV).then(|| raw.clone()))
        };
        assert!(matches!(otlp(""), Auth::None));
        assert!(matches!(otlp("nokey"), Auth::None));
        let Auth::Headers(h) = otlp(" Authorization = Basic%20dTpw ,x-scope-orgid=t1,broken")
        else {
            panic!("headers");
        };
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
        assert_eq!(
            h,
            [("Authorization", "Basic dTpw"), ("x-scope-orgid", "t1")]
        );
        let shown = format!("{:?}", otlp("api-key=k3y-s3cr3t"));
        assert!(!shown.contains("k3y-s3cr3t"), "{shown}");
    }
}
