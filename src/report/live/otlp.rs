//! The families as an OTLP/HTTP metrics request: an `ExportMetricsServiceRequest` protobuf (the
//! messages of the `opentelemetry-proto` crate). One resource per variant (and shard), the other
//! labels as point attributes; counters are cumulative monotonic sums, histograms keep the classic
//! bounds, gauges stay gauges.

use super::families::{Family, Kind, Labels, Series, Value};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

pub const CONTENT_TYPE: &str = "application/x-protobuf";

/// Series labels that name the source (variant, shard): they become resource attributes, under
/// the same names as the Prometheus export's labels, so a collector that copies resource
/// attributes to labels gives the dashboard the labels it filters on.
const RESOURCE_LABELS: [&str; 2] = ["variant", "shard"];

/// What every resource of a run carries besides its variant and shard.
#[derive(Debug, Clone)]
pub struct RunResource {
    /// The profile's `name`, as `tokenstorm.run`.
    pub run: String,
    /// When the export began (Unix nanoseconds): the start of every cumulative point.
    pub start_unix_nano: u64,
}

/// The request body (uncompressed protobuf) for one reading taken at `now_unix_nano`.
pub fn body(families: &[Family], run: &RunResource, now_unix_nano: u64) -> Vec<u8> {
    prost::Message::encode_to_vec(&request(families, run, now_unix_nano))
}

pub fn request(families: &[Family], run: &RunResource, now: u64) -> ExportMetricsServiceRequest {
    let mut sources: Vec<Labels> = Vec::new();
    for s in families.iter().flat_map(|f| &f.series) {
        let (source, _) = split(&s.labels);
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    let resource_metrics = sources
        .into_iter()
        .map(|source| {
            let metrics = families
                .iter()
                .filter_map(|f| metric(f, &source, run.start_unix_nano, now))
                .collect();
            let mut attributes = vec![
                attribute("service.name", "tokenstorm"),
                attribute("tokenstorm.run", &run.run),
            ];
            attributes.extend(source.iter().map(|(k, v)| attribute(k, v)));
            ResourceMetrics {
                resource: Some(Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "tokenstorm".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

/// `(resource labels, point labels)` of a series.
fn split(labels: &Labels) -> (Labels, Labels) {
    labels
        .iter()
        .cloned()
        .partition(|(k, _)| RESOURCE_LABELS.contains(k))
}

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn attributes(labels: &Labels) -> Vec<KeyValue> {
    labels.iter().map(|(k, v)| attribute(k, v)).collect()
}

/// The family's series of one source as an OTLP metric; `None` when it has none.
fn metric(f: &Family, source: &Labels, start: u64, now: u64) -> Option<Metric> {
    let mine: Vec<(Labels, &Series)> = f
        .series
        .iter()
        .filter_map(|s| {
            let (of, point) = split(&s.labels);
            (&of == source).then_some((point, s))
        })
        .collect();
    if mine.is_empty() {
        return None;
    }
    let cumulative = AggregationTemporality::Cumulative as i32;
    let data = match f.kind {
        Kind::Counter => metric::Data::Sum(Sum {
            data_points: numbers(&mine, start, now),
            aggregation_temporality: cumulative,
            is_monotonic: true,
        }),
        Kind::Gauge => metric::Data::Gauge(Gauge {
            data_points: numbers(&mine, start, now),
        }),
        Kind::Histogram => metric::Data::Histogram(Histogram {
            data_points: mine
                .iter()
                .filter_map(|(l, s)| histogram_point(l, &s.value, start, now))
                .collect(),
            aggregation_temporality: cumulative,
        }),
    };
    Some(Metric {
        name: f.name.to_owned(),
        description: f.help.to_owned(),
        unit: if f.name.ends_with("_seconds") {
            "s".into()
        } else {
            String::new()
        },
        data: Some(data),
        ..Default::default()
    })
}

fn numbers(series: &[(Labels, &Series)], start: u64, now: u64) -> Vec<NumberDataPoint> {
    series
        .iter()
        .filter_map(|(labels, s)| {
            let value = match s.value {
                Value::Counter(n) => {
                    number_data_point::Value::AsInt(i64::try_from(n).unwrap_or(i64::MAX))
                }
                Value::Gauge(v) => number_data_point::Value::AsDouble(v),
                Value::Histogram { .. } => return None,
            };
            Some(NumberDataPoint {
                attributes: attributes(labels),
                start_time_unix_nano: start,
                time_unix_nano: now,
                value: Some(value),
                ..Default::default()
            })
        })
        .collect()
}

/// The classic buckets as explicit bounds: the families' per-bucket counts are already what OTLP
/// wants (one count per bucket, the last past the highest bound), so only +Inf is left out.
fn histogram_point(labels: &Labels, v: &Value, start: u64, now: u64) -> Option<HistogramDataPoint> {
    let Value::Histogram {
        buckets,
        sum,
        count,
        ..
    } = v
    else {
        return None;
    };
    Some(HistogramDataPoint {
        attributes: attributes(labels),
        start_time_unix_nano: start,
        time_unix_nano: now,
        count: *count,
        sum: Some(*sum),
        bucket_counts: buckets.iter().map(|(_, n)| *n).collect(),
        explicit_bounds: buckets
            .iter()
            .map(|(b, _)| *b)
            .filter(|b| b.is_finite())
            .collect(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::live::families::Series;

    fn two_variants() -> Vec<Family> {
        let series = |variant: &str, n| Series {
            labels: vec![("variant", variant.into()), ("endpoint", "contacts".into())],
            value: Value::Counter(n),
        };
        vec![
            Family {
                name: "tokenstorm_http_requests",
                help: "calls",
                kind: Kind::Counter,
                series: vec![series("a", 3), series("b", 5)],
            },
            Family {
                name: "tokenstorm_x_seconds",
                help: "x",
                kind: Kind::Histogram,
                series: vec![Series {
                    labels: vec![("variant", "a".into())],
                    value: Value::Histogram {
                        buckets: vec![(0.1, 2), (1.0, 3), (f64::INFINITY, 1)],
                        sum: 2.5,
                        count: 6,
                        native: None,
                    },
                }],
            },
        ]
    }

    #[test]
    fn each_variant_is_a_resource_with_cumulative_monotonic_sums_and_explicit_bounds() {
        let run = RunResource {
            run: "telemetry".into(),
            start_unix_nano: 10,
        };
        let bytes = body(&two_variants(), &run, 20);
        let request: ExportMetricsServiceRequest =
            prost::Message::decode(bytes.as_slice()).unwrap();
        assert_eq!(request.resource_metrics.len(), 2);
        let a = &request.resource_metrics[0];
        let keys: Vec<(String, String)> = a
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .iter()
            .map(
                |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => (kv.key.clone(), s.clone()),
                    _ => (kv.key.clone(), String::new()),
                },
            )
            .collect();
        let want = [
            ("service.name", "tokenstorm"),
            ("tokenstorm.run", "telemetry"),
            ("variant", "a"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        assert_eq!(keys, want);
        let metrics = &a.scope_metrics[0].metrics;
        assert_eq!(metrics.len(), 2);
        let Some(metric::Data::Sum(sum)) = &metrics[0].data else {
            panic!("a sum: {:?}", metrics[0]);
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let p = &sum.data_points[0];
        assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (10, 20));
        assert_eq!(p.value, Some(number_data_point::Value::AsInt(3)));
        assert_eq!(
            p.attributes.len(),
            1,
            "variant is the resource's, not the point's"
        );
        let Some(metric::Data::Histogram(h)) = &metrics[1].data else {
            panic!("a histogram: {:?}", metrics[1]);
        };
        assert_eq!(metrics[1].unit, "s");
        let p = &h.data_points[0];
        assert_eq!(p.explicit_bounds, vec![0.1, 1.0]);
        assert_eq!(p.bucket_counts, vec![2, 3, 1]);
        assert_eq!((p.count, p.sum), (6, Some(2.5)));
        // Variant b has the counter only.
        assert_eq!(
            request.resource_metrics[1].scope_metrics[0].metrics.len(),
            1
        );
    }

    #[test]
    fn a_variant_makes_the_points_the_docs_state() {
        use crate::metrics::Recorder;
        use std::time::{Duration, Instant};
        let start = Instant::now();
        let r = Recorder::new(2, start, Duration::from_secs(5));
        let labels = vec![("variant", "naive".to_owned())];
        let families = crate::report::live::families::families([(&labels, r.telemetry(start))]);
        let run = RunResource {
            run: "x".into(),
            start_unix_nano: 0,
        };
        let request = request(&families, &run, 1);
        let points: usize = request.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| match &m.data {
                Some(metric::Data::Sum(s)) => s.data_points.len(),
                Some(metric::Data::Gauge(g)) => g.data_points.len(),
                Some(metric::Data::Histogram(h)) => h.data_points.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(points, 111);
    }
}
