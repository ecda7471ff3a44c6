//! The domain's shared words: what a call came to ([`Outcome`]), which kind of call it was
//! ([`Endpoint`]) and where its token was in its life ([`Phase`]). Every layer uses them; this module
//! imports nothing else of the crate, so no layer has to reach sideways or up for them.

mod endpoint;
mod outcome;
mod phase;
mod search;

pub use endpoint::Endpoint;
pub use outcome::Outcome;
pub use phase::Phase;
pub use search::{SearchVerdict, StepKind};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indices_are_dense() {
        for (i, o) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(o.index(), i);
            assert_eq!(Outcome::from_name(o.name()), Some(o));
        }
        for (i, e) in Endpoint::ALL.into_iter().enumerate() {
            assert_eq!(e.index(), i);
        }
    }
}
