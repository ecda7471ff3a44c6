//! Verifying the server's own HS256 access tokens on the contacts hot path.
//!
//! `jsonwebtoken::decode` parses the header as JSON, base64-decodes and parses the claims twice (once for
//! its own checks, once for ours) and allocates every string: about 2.5 us a call, a tenth of the served
//! request. Every token this server issues has the same header, so a token is ours exactly when its
//! header segment is that one, byte for byte, and its HMAC-SHA256 over `header.payload` verifies (ring,
//! constant time); only then is the payload decoded, once, into borrowed fields. That is stricter than a
//! generic decoder (no other `alg` or key order can even be considered) and does the same cryptography.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::hmac;
use serde::Deserialize;
use std::borrow::Cow;

/// Length of an HS256 signature.
const SIGNATURE_LEN: usize = 32;

/// The claims the resource server needs from a verified token; the record holds the rest.
#[derive(Debug, Deserialize)]
pub(crate) struct Verified<'a> {
    pub exp: u64,
    #[serde(borrow)]
    pub sub: Cow<'a, str>,
    #[serde(borrow)]
    pub jti: Cow<'a, str>,
}

pub(crate) struct Verifier {
    key: hmac::Key,
    /// The base64url header segment of every token [`Verifier::issuer`] signs.
    header: String,
}

impl Verifier {
    pub fn new(secret: &[u8]) -> Verifier {
        // jsonwebtoken serialises the header; taking the segment from a real token keeps the two in step.
        let header = jsonwebtoken::encode(
            &Self::issuer(),
            &serde_json::json!({}),
            &EncodingKey::from_secret(secret),
        )
        .ok()
        .and_then(|t| t.split('.').next().map(str::to_owned))
        .unwrap_or_default();
        Verifier {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            header,
        }
    }

    /// The header tokens are issued with.
    pub fn issuer() -> Header {
        Header::new(Algorithm::HS256)
    }

    /// The token, when it carries our header and our signature.
    pub fn verify<'t>(&self, token: &'t str) -> Option<Signed<'t>> {
        let (signed, signature) = token.rsplit_once('.')?;
        let (header, payload) = signed.split_once('.')?;
        if header != self.header || self.header.is_empty() {
            return None;
        }
        let mut mac = [0u8; SIGNATURE_LEN + 3];
        let n = URL_SAFE_NO_PAD.decode_slice(signature, &mut mac).ok()?;
        hmac::verify(&self.key, signed.as_bytes(), &mac[..n]).ok()?;
        Some(Signed { payload })
    }
}

/// A token whose header and signature are ours: its payload, still encoded, is what this server wrote.
pub(crate) struct Signed<'t> {
    payload: &'t str,
}

/// How every payload this server writes begins (`Claims` puts `jti` first).
const JTI_FIRST: &[u8] = br#"{"jti":""#;
/// Base64 characters that decode to `JTI_FIRST`, the longest `u64` and its closing quote.
const JTI_PREFIX_CHARS: usize = 40;

impl Signed<'_> {
    /// The token's id. The contacts hot path needs only this, so it is read from the payload's first
    /// 30 bytes rather than by decoding and parsing all of it (a third of the verification's cost);
    /// a payload laid out otherwise (another version of this server, same secret) is parsed in full.
    pub fn jti(&self) -> Option<u64> {
        self.quick_jti()
            .or_else(|| self.claims(&mut Vec::new())?.jti.parse().ok())
    }

    fn quick_jti(&self) -> Option<u64> {
        let chars = self.payload.len().min(JTI_PREFIX_CHARS);
        let mut head = [0u8; JTI_PREFIX_CHARS / 4 * 3];
        let n = URL_SAFE_NO_PAD
            .decode_slice(&self.payload.as_bytes()[..chars], &mut head)
            .ok()?;
        let rest = head[..n].strip_prefix(JTI_FIRST)?;
        let end = rest.iter().position(|&b| b == b'"')?;
        std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
    }

    /// All the claims the resource server reads; `payload` is scratch space they borrow from.
    pub fn claims<'p>(&self, payload: &'p mut Vec<u8>) -> Option<Verified<'p>> {
        payload.clear();
        URL_SAFE_NO_PAD.decode_vec(self.payload, payload).ok()?;
        serde_json::from_slice(payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    fn token(secret: &[u8], header: &Header, claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({"exp": 7, "iat": 1, "sub": "c\"1", "org": "o", "scope": "s", "jti": "42"})
    }

    #[test]
    fn accepts_what_jsonwebtoken_accepts_and_reads_the_same_claims() {
        let verifier = Verifier::new(b"k");
        let t = token(b"k", &Verifier::issuer(), &claims());
        let mut buf = Vec::new();
        let signed = verifier.verify(&t).expect("our own token verifies");
        let v = signed.claims(&mut buf).expect("our own claims parse");
        assert_eq!((v.exp, &*v.sub, &*v.jti), (7, "c\"1", "42"));
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let theirs = jsonwebtoken::decode::<serde_json::Value>(
            &t,
            &DecodingKey::from_secret(b"k"),
            &validation,
        )
        .unwrap();
        assert_eq!(theirs.claims["sub"], "c\"1");
    }

    #[test]
    fn the_id_reads_the_same_from_the_first_bytes_or_from_the_whole_payload() {
        let verifier = Verifier::new(b"k");
        let jti_of = |claims: serde_json::Value| {
            let t = token(b"k", &Verifier::issuer(), &claims);
            verifier.verify(&t).expect("ours").jti()
        };
        // As issued (`Claims` puts `jti` first): the quick read answers, for the longest id too.
        for id in [0, 42, u64::MAX] {
            let claims = crate::simulator::tokens::Claims {
                jti: id.to_string(),
                exp: 7,
                iat: 1,
                sub: "c".into(),
                org: "o".into(),
                scope: "s".into(),
            };
            let t = jsonwebtoken::encode(
                &Verifier::issuer(),
                &claims,
                &EncodingKey::from_secret(b"k"),
            )
            .unwrap();
            let signed = verifier.verify(&t).expect("ours");
            assert_eq!(signed.quick_jti(), Some(id));
            assert_eq!(signed.jti(), Some(id));
        }
        // Laid out otherwise (serde_json's map keeps keys sorted): the whole payload is parsed.
        assert_eq!(jti_of(claims()), Some(42));
        let tiny = serde_json::json!({"jti": "7"});
        assert_eq!(jti_of(tiny), Some(7));
        for bad in ["", "x1", "18446744073709551616", "-1"] {
            let claims = serde_json::json!({"jti": bad, "exp": 7, "sub": "c"});
            assert_eq!(jti_of(claims), None, "{bad:?}");
        }
        assert_eq!(jti_of(serde_json::json!({"exp": 7, "sub": "c"})), None);
    }

    #[test]
    fn refuses_other_keys_headers_tampering_and_garbage() {
        let verifier = Verifier::new(b"k");
        let other_key = token(b"other", &Verifier::issuer(), &claims());
        assert!(verifier.verify(&other_key).is_none());
        let hs384 = token(b"k", &Header::new(Algorithm::HS384), &claims());
        assert!(verifier.verify(&hs384).is_none());
        let good = token(b"k", &Verifier::issuer(), &claims());
        let (signed, sig) = good.rsplit_once('.').unwrap();
        let (header, _) = signed.split_once('.').unwrap();
        let forged_body = URL_SAFE_NO_PAD.encode(br#"{"exp":9,"sub":"x","jti":"1"}"#);
        assert!(verifier
            .verify(&format!("{header}.{forged_body}.{sig}"))
            .is_none());
        let unsigned = format!("{header}.{forged_body}.");
        assert!(verifier.verify(&unsigned).is_none());
        for garbage in ["", ".", "..", "a.b.c", "a.b.c.d", "\u{0}.\u{ff}.x"] {
            assert!(verifier.verify(garbage).is_none(), "{garbage:?}");
        }
        let long_sig = format!("{signed}.{sig}{sig}");
        assert!(verifier.verify(&long_sig).is_none());
    }
}
