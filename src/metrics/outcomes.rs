//! Outcome counts, one per outcome; in the report a JSON object with every outcome's name, always all of them.

use crate::vocabulary::Outcome;
use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Index, IndexMut};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes(pub [u64; Outcome::COUNT]);

impl Outcomes {
    /// The outcomes the tables and charts show in columns of their own; [`Outcomes::other`] is the rest.
    pub const NAMED: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Unauthorized,
        Outcome::RateLimited,
        Outcome::InvalidGrant,
    ];

    /// Everything not in [`Outcomes::NAMED`]: server errors, resets, timeouts and the like.
    pub fn other(&self) -> u64 {
        self.total() - Self::NAMED.iter().map(|&o| self[o]).sum::<u64>()
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Everything but `ok`.
    pub fn failures(&self) -> u64 {
        self.total() - self[Outcome::Ok]
    }

    pub fn add(&mut self, other: &Outcomes) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// Share of `outcome` among all, 0 when there is nothing.
    pub fn rate(&self, outcome: Outcome) -> f64 {
        match self.total() {
            0 => 0.0,
            total => self[outcome] as f64 / total as f64,
        }
    }
}

impl Index<Outcome> for Outcomes {
    type Output = u64;
    fn index(&self, o: Outcome) -> &u64 {
        &self.0[o.index()]
    }
}

impl IndexMut<Outcome> for Outcomes {
    fn index_mut(&mut self, o: Outcome) -> &mut u64 {
        &mut self.0[o.index()]
    }
}

impl Serialize for Outcomes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(Outcome::COUNT))?;
        for o in Outcome::ALL {
            map.serialize_entry(o.name(), &self[o])?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Outcomes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Outcomes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of outcome counts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outcomes, A::Error> {
                let mut out = Outcomes::default();
                while let Some(key) = map.next_key::<String>()? {
                    let outcome = Outcome::from_name(&key)
                        .ok_or_else(|| A::Error::custom(format!("unknown outcome `{key}`")))?;
                    out[outcome] = map.next_value()?;
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_every_outcome_and_reads_back() {
        let mut o = Outcomes::default();
        o[Outcome::Unauthorized] = 3;
        o[Outcome::Ok] = 7;
        let json = serde_json::to_string(&o).unwrap();
        assert!(
            json.starts_with(r#"{"ok":7,"unauthorized":3,"forbidden":0"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Outcomes>(&json).unwrap(), o);
        assert!(serde_json::from_str::<Outcomes>(r#"{"okay":1}"#).is_err());
        assert_eq!(o.rate(Outcome::Unauthorized), 0.3);
        assert_eq!(o.failures(), 3);
    }
}
