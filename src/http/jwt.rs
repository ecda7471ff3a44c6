//! The `exp` and `iat` claims of a JWT access token, read without verifying it: the one place the
//! client looks inside a token.
//!
//! Unverified on purpose: a load tester holds no key of the issuer's, and it does not decide anything
//! about trust from these claims. They say when the issuer means the token to die (RFC 7519 4.1.4, a
//! NumericDate in whole seconds), which the web-deployments dialect needs for its lifetime and the
//! report needs to tell an expiry on the issuer's clock from one on the client's.

use base64::Engine as _;
use serde::Deserialize;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The time claims of a JWT, in whole seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwtClaims {
    pub exp: u64,
    pub iat: Option<u64>,
}

impl JwtClaims {
    /// Three base64url parts whose middle one is a JSON object with a numeric `exp`; anything else
    /// (an opaque token, a malformed JWT) has no claims, which is never an error.
    pub fn read(token: &str) -> Option<JwtClaims> {
        #[derive(Deserialize)]
        struct Claims {
            exp: u64,
            iat: Option<u64>,
        }
        let mut parts = token.split('.');
        let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let claims: Claims = serde_json::from_slice(&bytes).ok()?;
        Some(JwtClaims {
            exp: claims.exp,
            iat: claims.iat,
        })
    }

    /// `exp - iat`: the lifetime the issuer gave the token, when it says both.
    pub fn lifetime(&self) -> Option<Duration> {
        self.exp.checked_sub(self.iat?).map(Duration::from_secs)
    }

    /// `exp` on the monotonic clock: `now` and `wall_now` are the same moment read from the
    /// monotonic and the wall clock (the issuer's clock is taken to be this machine's wall clock).
    /// `None` for an `exp` too far ahead for an `Instant` to hold: as good as never.
    pub fn exp_at(&self, now: Instant, wall_now: SystemTime) -> Option<Instant> {
        let exp = UNIX_EPOCH.checked_add(Duration::from_secs(self.exp))?;
        match exp.duration_since(wall_now) {
            Ok(ahead) => now.checked_add(ahead),
            // Before this machine booted is as expired as a moment ago.
            Err(past) => Some(now.checked_sub(past.duration()).unwrap_or(now)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
        format!("eyJhbGciOiJIUzI1NiJ9.{encoded}.c2ln")
    }

    #[test]
    fn claims_come_from_the_middle_part_and_anything_else_is_no_claim() {
        let c = JwtClaims::read(&jwt(r#"{"exp":1000015,"iat":1000000,"sub":"x"}"#));
        assert_eq!(
            c,
            Some(JwtClaims {
                exp: 1_000_015,
                iat: Some(1_000_000)
            })
        );
        assert_eq!(c.and_then(|c| c.lifetime()), Some(Duration::from_secs(15)));
        let no_iat = JwtClaims::read(&jwt(r#"{"exp":5}"#));
        assert_eq!(no_iat.map(|c| c.iat), Some(None));
        assert_eq!(no_iat.and_then(|c| c.lifetime()), None);
        for not_one in [
            "opaque-token".to_owned(),
            "a.b".to_owned(),
            format!("{}.extra", jwt(r#"{"exp":5}"#)),
            jwt(r#"{"exp":"5"}"#),
            jwt(r#"{"exp":-5}"#),
            jwt("not json"),
            "h.%%%.s".to_owned(),
            jwt(r#"{"iat":5}"#),
        ] {
            assert_eq!(JwtClaims::read(&not_one), None, "{not_one}");
        }
    }

    #[test]
    fn exp_lands_on_the_monotonic_clock_either_side_of_now() {
        let c = JwtClaims {
            exp: 100,
            iat: None,
        };
        let now = Instant::now();
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(
            c.exp_at(now, at(99_250)),
            Some(now + Duration::from_millis(750))
        );
        assert_eq!(
            c.exp_at(now, at(100_500))
                .and_then(|at| at.checked_add(Duration::from_millis(500))),
            Some(now)
        );
        let never = JwtClaims {
            exp: u64::MAX,
            iat: None,
        };
        assert_eq!(never.exp_at(now, at(0)), None);
    }
}
