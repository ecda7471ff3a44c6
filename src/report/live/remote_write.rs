//! The families as a Prometheus remote-write 1.0 request: a `prometheus.WriteRequest` protobuf
//! (prost), snappy block-compressed, with the series names and labels a scrape of the same
//! reading would store (`_total`, `_bucket{le}`, `_sum`, `_count`).

use super::families::{Family, Value};

pub const CONTENT_TYPE: &str = "application/x-protobuf";
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
pub const VERSION: &str = "0.1.0";

/// The messages of prometheus/prompb `remote.proto` and `types.proto` that a 1.0 write uses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The request body for one reading taken at `timestamp_ms` (Unix milliseconds).
pub fn body(families: &[Family], timestamp_ms: i64) -> Vec<u8> {
    let request = WriteRequest {
        timeseries: series(families, timestamp_ms),
    };
    let raw = prost::Message::encode_to_vec(&request);
    // Compressing a byte slice in memory fails only past snap's maximum input (4 GiB).
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

#[allow(clippy::cast_precision_loss)] // counts stay far below 2^53
fn series(families: &[Family], at: i64) -> Vec<TimeSeries> {
    let mut out = Vec::new();
    for f in families {
        for s in &f.series {
            let one = |name: String, extra: Option<String>, value: f64| {
                let mut labels = vec![Label {
                    name: "__name__".into(),
                    value: name,
                }];
                labels.extend(s.labels.iter().map(|(k, v)| Label {
                    name: (*k).into(),
                    value: v.clone(),
                }));
                if let Some(le) = extra {
                    labels.push(Label {
                        name: "le".into(),
                        value: le,
                    });
                }
                // Receivers want labels sorted by name.
                labels.sort_by(|a, b| a.name.cmp(&b.name));
                TimeSeries {
                    labels,
                    samples: vec![Sample {
                        value,
                        timestamp: at,
                    }],
                }
            };
            match &s.value {
                Value::Counter(n) => out.push(one(format!("{}_total", f.name), None, *n as f64)),
                Value::Gauge(v) => out.push(one(f.name.into(), None, *v)),
                Value::Histogram {
                    buckets,
                    sum,
                    count,
                } => {
                    let mut running = 0;
                    for (bound, n) in buckets {
                        running += n;
                        let le = if bound.is_infinite() {
                            "+Inf".to_owned()
                        } else {
                            bound.to_string()
                        };
                        out.push(one(format!("{}_bucket", f.name), Some(le), running as f64));
                    }
                    out.push(one(format!("{}_sum", f.name), None, *sum));
                    out.push(one(format!("{}_count", f.name), None, *count as f64));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::live::families::{Kind, Series};

    #[test]
    fn a_histogram_becomes_cumulative_buckets_sum_and_count_and_decodes_back() {
        let families = vec![Family {
            name: "tokenstorm_x_seconds",
            help: "x",
            kind: Kind::Histogram,
            series: vec![Series {
                labels: vec![("variant", "a".into())],
                value: Value::Histogram {
                    buckets: vec![(0.1, 2), (1.0, 3), (f64::INFINITY, 1)],
                    sum: 2.5,
                    count: 6,
                },
            }],
        }];
        let body = body(&families, 1_000);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let request: WriteRequest = prost::Message::decode(raw.as_slice()).unwrap();
        let values: Vec<(String, f64)> = request
            .timeseries
            .iter()
            .map(|t| {
                let le = t
                    .labels
                    .iter()
                    .find(|l| l.name == "le")
                    .map(|l| l.value.clone());
                (
                    le.unwrap_or_else(|| t.labels[0].value.clone()),
                    t.samples[0].value,
                )
            })
            .collect();
        let want = [("0.1", 2.0), ("1", 5.0), ("+Inf", 6.0)];
        for (i, (le, v)) in want.iter().enumerate() {
            assert_eq!(values[i], ((*le).to_owned(), *v));
        }
        assert_eq!(values[3], ("tokenstorm_x_seconds_sum".to_owned(), 2.5));
        assert_eq!(values[4], ("tokenstorm_x_seconds_count".to_owned(), 6.0));
        assert!(request
            .timeseries
            .iter()
            .all(|t| t.samples[0].timestamp == 1_000));
    }
}
