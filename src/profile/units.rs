//! Values with units as they are written in a profile: durations ("15s", "250ms") and rates ("2000/s").

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration written as `"15s"`, `"250ms"`, `"2m"`, `"1h"`, `"1m30s"` or a bare number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Span(pub Duration);

impl Span {
    pub fn secs_f64(self) -> f64 {
        self.0.as_secs_f64()
    }
}

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Ok(secs) = t.parse::<f64>() {
            return secs_to_span(secs).ok_or_else(|| expected_duration(s));
        }
        humantime::parse_duration(t)
            .map(Span)
            .map_err(|_| expected_duration(s))
    }
}

fn secs_to_span(secs: f64) -> Option<Span> {
    (0.0..1e12)
        .contains(&secs)
        .then(|| Span(Duration::from_secs_f64(secs)))
}

fn expected_duration(got: &str) -> String {
    format!(
        "`{got}` is not a duration; write e.g. \"15s\", \"250ms\", \"2m\" or a number of seconds"
    )
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"15s\", \"250ms\" or a number of seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Span, E> {
                secs_to_span(v as f64).ok_or_else(|| E::custom(expected_duration(&v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Span, E> {
                secs_to_span(v).ok_or_else(|| E::custom(expected_duration(&v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A rate of events per second, written as `"2000/s"`, `"300/min"`, `"5/ms"` or a bare number per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate {
    pub per_second: f64,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("`{s}` is not a rate; write e.g. \"2000/s\", \"300/min\", \"50/ms\" or a number per second")
        };
        let t = s.trim();
        let (count, unit) = match t.split_once('/') {
            Some((c, u)) => (c.trim(), u.trim()),
            None => (t, "s"),
        };
        let count: f64 = count.parse().map_err(|_| bad())?;
        let per = match unit {
            "ms" => 0.001,
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            _ => return Err(bad()),
        };
        let per_second = count / per;
        if !per_second.is_finite() || per_second < 0.0 {
            return Err(bad());
        }
        Ok(Rate { per_second })
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate such as \"2000/s\" or \"300/min\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Rate, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Rate, E> {
                v.to_string().parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A signed duration for clock skew: `"-3s"` (client clock behind the server), `"+2s"` or `"2s"` (ahead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignedSpan {
    pub negative: bool,
    pub magnitude: Duration,
}

impl SignedSpan {
    /// Milliseconds, negative when behind.
    pub fn millis(self) -> i64 {
        let ms = i64::try_from(self.magnitude.as_millis()).unwrap_or(i64::MAX);
        if self.negative {
            -ms
        } else {
            ms
        }
    }
}

impl FromStr for SignedSpan {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let (negative, rest) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let span: Span = rest.parse().map_err(|_| {
            format!("`{s}` is not a signed duration; write e.g. \"-3s\", \"+2s\" or \"500ms\"")
        })?;
        Ok(SignedSpan {
            negative: negative && !span.0.is_zero(),
            magnitude: span.0,
        })
    }
}

impl<'de> Deserialize<'de> for SignedSpan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SignedSpan;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a signed duration such as \"-3s\" or \"+2s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SignedSpan, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SignedSpan, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<SignedSpan, E> {
                v.to_string().parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

fn value_schema(name: &'static str, description: &str, pattern: &str) -> schemars::Schema {
    schemars::json_schema!({
        "title": name,
        "description": description,
        "anyOf": [
            { "type": "string", "pattern": pattern },
            { "type": "number", "minimum": 0 }
        ]
    })
}

impl schemars::JsonSchema for Span {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        value_schema(
            "Duration",
            "A duration: \"15s\", \"250ms\", \"2m\", \"1m30s\" or a number of seconds",
            r"^\s*[0-9]",
        )
    }
}

impl schemars::JsonSchema for Rate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        value_schema(
            "Rate",
            "Events per second: \"2000/s\", \"300/min\", \"5/ms\" or a number per second",
            r"^\s*[0-9.]+\s*(/\s*(ms|s|sec|second|m|min|minute|h|hour))?\s*$",
        )
    }
}

impl schemars::JsonSchema for SignedSpan {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SignedDuration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "title": "SignedDuration",
            "description": "A duration that may be negative: \"-3s\" (behind), \"+2s\" (ahead), or a number of seconds",
            "anyOf": [{ "type": "string", "pattern": r"^\s*[-+]?[0-9]" }, { "type": "number" }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_written_form() {
        let cases = [
            ("15s", 15_000),
            ("250ms", 250),
            ("2m", 120_000),
            ("1m30s", 90_000),
            ("1.5", 1_500),
            ("0", 0),
        ];
        for (text, ms) in cases {
            let span: Span = text.parse().unwrap();
            assert_eq!(span.0, Duration::from_millis(ms), "{text}");
        }
        for bad in ["", "fast", "-1", "10 parsecs", "inf", "NaN"] {
            let err = bad.parse::<Span>().unwrap_err();
            assert!(err.contains("not a duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn rates_parse_with_units() {
        let cases = [
            ("2000/s", 2000.0),
            ("300/min", 5.0),
            ("5/ms", 5000.0),
            ("7", 7.0),
            ("3600/h", 1.0),
        ];
        for (text, per_second) in cases {
            assert_eq!(
                text.parse::<Rate>().unwrap().per_second,
                per_second,
                "{text}"
            );
        }
        for bad in ["", "/s", "10/fortnight", "-5/s", "x/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod signed_tests {
    use super::*;

    #[test]
    fn signed_spans_keep_their_sign() {
        assert_eq!("-3s".parse::<SignedSpan>().unwrap().millis(), -3000);
        assert_eq!("+250ms".parse::<SignedSpan>().unwrap().millis(), 250);
        assert_eq!("2".parse::<SignedSpan>().unwrap().millis(), 2000);
        assert_eq!("-0s".parse::<SignedSpan>().unwrap().millis(), 0);
        assert!("--3s".parse::<SignedSpan>().is_err());
    }
}
