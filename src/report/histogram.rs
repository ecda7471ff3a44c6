//! Histograms in the report: percentiles for people, and the HdrHistogram V2 encoding (base64) so that
//! reports can be merged and re-rendered without losing precision.

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Milliseconds for people: seconds from 1 s up, whole ms from 10 ms, two decimals below;
/// `sep` goes between number and unit (the terminal packs them, the HTML page spaces them).
pub fn format_ms(v: f64, sep: &str) -> String {
    if v >= 1000.0 {
        format!("{:.2}{sep}s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}{sep}ms")
    } else {
        format!("{v:.2}{sep}ms")
    }
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// From a histogram of microseconds.
    pub fn of(h: Option<&Histogram<u64>>) -> Percentiles {
        let Some(h) = h.filter(|h| !h.is_empty()) else {
            return Percentiles::default();
        };
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("histogram data is corrupt: {0:?}")]
    Decode(hdrhistogram::serialization::DeserializeError),
}

pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail for I/O reasons; an empty string marks the impossible case.
    if V2Serializer::new().serialize(h, &mut bytes).is_err() {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn decode(text: &str) -> Result<Histogram<u64>, HistogramError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(HistogramError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_exactly() {
        let mut h = crate::metrics::latency::new_histogram();
        for v in [120, 950, 1_000, 15_000, 2_500_000] {
            h.record(v).unwrap();
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back, h);
        let p = Percentiles::of(Some(&back));
        assert_eq!(p.count, 5);
        assert!((p.max - 2500.0).abs() / 2500.0 < 0.001);
        assert!(decode("not base64!").is_err());
        assert!(decode("AAAA").is_err());
    }
}
