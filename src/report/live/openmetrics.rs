//! The families as OpenMetrics text, written by prometheus-client's encoder.

use super::families::{Family, Kind, Value};
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The content type a scrape is answered with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One reading's families, handed to the encoder as a collector.
#[derive(Debug)]
struct Reading(Vec<Family>);

impl prometheus_client::collector::Collector for Reading {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.0 {
            let kind = match f.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
            };
            let mut family = encoder.encode_descriptor(f.name, f.help, None, kind)?;
            for s in &f.series {
                let mut metric = family.encode_family(&s.labels)?;
                match &s.value {
                    Value::Counter(n) => ConstCounter::new(*n).encode(metric)?,
                    Value::Gauge(v) => ConstGauge::new(*v).encode(metric)?,
                    Value::Histogram {
                        buckets,
                        sum,
                        count,
                        ..
                    } => metric.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?,
                }
            }
        }
        Ok(())
    }
}

/// The OpenMetrics text of `families`, `# EOF` last.
pub fn text(families: Vec<Family>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Reading(families)));
    let mut out = String::new();
    // Writing into a String cannot fail; an encoder error would be a bug in the mapping's names.
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        out.clear();
    }
    out
}
