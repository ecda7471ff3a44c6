//! The families as a Prometheus remote-write 1.0 request: a `prometheus.WriteRequest` protobuf
//! (prost), snappy block-compressed, with the series names and labels a scrape of the same
//! reading would store (`_total`, `_bucket{le}`, `_sum`, `_count`); and, when asked, each latency
//! histogram also as a native histogram under its base name.

use super::families::{Family, Native, Value, NATIVE_SCHEMA};

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
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

/// prompb's native `Histogram` with integer counts. `count` and `zero_count` are oneofs in the
/// .proto; an optional field of the same tag is the same on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    #[prost(uint64, optional, tag = "1")]
    pub count_int: Option<u64>,
    #[prost(double, tag = "3")]
    pub sum: f64,
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    #[prost(uint64, optional, tag = "6")]
    pub zero_count_int: Option<u64>,
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// The first bucket's count, then each bucket's difference from the one before.
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// 0 unknown, 1 yes, 2 no, 3 gauge: a cumulative export that restarts only with a new run.
    #[prost(int32, tag = "14")]
    pub reset_hint: i32,
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
}

/// A run of consecutive buckets: `offset` from the end of the previous span (from 0 for the first).
#[derive(Clone, PartialEq, prost::Message)]
pub struct BucketSpan {
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    #[prost(uint32, tag = "2")]
    pub length: u32,
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

/// The request body for one reading taken at `timestamp_ms` (Unix milliseconds); with `native`,
/// the latency histograms are also sent as native histograms.
pub fn body(families: &[Family], timestamp_ms: i64, native: bool) -> Vec<u8> {
    let mut timeseries = series(families, timestamp_ms);
    if native {
        timeseries.extend(natives(families, timestamp_ms));
    }
    let request = WriteRequest { timeseries };
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
                    histograms: Vec::new(),
                }
            };
            match &s.value {
                Value::Counter(n) => out.push(one(format!("{}_total", f.name), None, *n as f64)),
                Value::Gauge(v) => out.push(one(f.name.into(), None, *v)),
                Value::Histogram {
                    buckets,
                    sum,
                    count,
                    ..
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

/// The series of every histogram that has native buckets, under the family's base name.
fn natives(families: &[Family], at: i64) -> Vec<TimeSeries> {
    let mut out = Vec::new();
    for f in families {
        for s in &f.series {
            let Value::Histogram {
                sum,
                count,
                native: Some(native),
                ..
            } = &s.value
            else {
                continue;
            };
            let mut labels = vec![Label {
                name: "__name__".into(),
                value: f.name.into(),
            }];
            labels.extend(s.labels.iter().map(|(k, v)| Label {
                name: (*k).into(),
                value: v.clone(),
            }));
            labels.sort_by(|a, b| a.name.cmp(&b.name));
            out.push(TimeSeries {
                labels,
                samples: Vec::new(),
                histograms: vec![native_histogram(native, *sum, *count, at)],
            });
        }
    }
    out
}

fn native_histogram(native: &Native, sum: f64, count: u64, at: i64) -> Histogram {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut deltas = Vec::with_capacity(native.buckets.len());
    let (mut next, mut previous) = (None::<i32>, 0i64);
    for (index, n) in &native.buckets {
        match next {
            Some(expected) if expected == *index => {
                if let Some(last) = spans.last_mut() {
                    last.length += 1;
                }
            }
            _ => spans.push(BucketSpan {
                offset: next.map_or(*index, |end| index - end),
                length: 1,
            }),
        }
        next = Some(index + 1);
        let n = i64::try_from(*n).unwrap_or(i64::MAX);
        deltas.push(n - previous);
        previous = n;
    }
    Histogram {
        count_int: Some(count),
        sum,
        schema: NATIVE_SCHEMA,
        zero_threshold: 0.0,
        zero_count_int: Some(native.zero_count),
        positive_spans: spans,
        positive_deltas: deltas,
        reset_hint: 2,
        timestamp: at,
    }
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
                    native: None,
                },
            }],
        }];
        let body = body(&families, 1_000, true);
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
        assert_eq!(
            request.timeseries.len(),
            5,
            "no native buckets, no native series"
        );
    }

    #[test]
    fn native_buckets_become_spans_and_deltas() {
        let native = Native {
            zero_count: 1,
            buckets: vec![(-3, 2), (-2, 5), (4, 1), (5, 1), (6, 4)],
        };
        let h = native_histogram(&native, 9.0, 14, 7);
        let spans: Vec<(i32, u32)> = h
            .positive_spans
            .iter()
            .map(|s| (s.offset, s.length))
            .collect();
        // From index -3, two buckets; then 4 is 5 past the end (-1) of the first span.
        assert_eq!(spans, [(-3, 2), (5, 3)]);
        assert_eq!(h.positive_deltas, [2, 3, -4, 0, 3]);
        assert_eq!(
            (h.count_int, h.zero_count_int, h.schema),
            (Some(14), Some(1), 3)
        );
        let bytes = prost::Message::encode_to_vec(&h);
        let back: Histogram = prost::Message::decode(bytes.as_slice()).unwrap();
        assert_eq!(back, h);
    }
}
