//! Compact JWS tokens signed with HMAC-SHA256 (RFC 7515 / RFC 7519, `alg` HS256 only).
//!
//! The API signs and checks its own tokens with its own secret, so one algorithm is all it needs. Keeping
//! that here, on the `hmac` and `sha2` crates, means no RSA or elliptic-curve code is linked in, and a
//! token naming any other algorithm (`none` included) is refused before its signature is looked at.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header of every token issued; the order matches what earlier releases issued.
const HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

fn mac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// `header.payload.signature` for the claims, signed with the key.
pub fn encode<C: Serialize>(claims: &C, key: &[u8]) -> Result<String, serde_json::Error> {
    let mut token = URL_SAFE_NO_PAD.encode(HEADER);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?));
    let mut m = mac(key);
    m.update(token.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    token.push('.');
    token.push_str(&signature);
    Ok(token)
}

/// The payload bytes of a token whose header says HS256 and whose signature matches the key.
pub fn verify(token: &str, key: &[u8]) -> Option<Vec<u8>> {
    let (signed, signature) = token.rsplit_once('.')?;
    let (header, payload) = signed.split_once('.')?;
    if payload.contains('.') {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Header {
        alg: String,
        /// Extensions the token says must be understood: none are, so any makes it invalid (RFC 7515 §4.1.11).
        crit: Option<serde_json::Value>,
    }
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.alg != "HS256" || header.crit.is_some() {
        return None;
    }
    let mut m = mac(key);
    m.update(signed.as_bytes());
    // Constant-time comparison, so timing reveals nothing about the expected signature.
    m.verify_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?)
        .ok()?;
    URL_SAFE_NO_PAD.decode(payload).ok()
}

/// The claims of a valid token that has not expired: `exp` (seconds since the epoch) must be present and
/// no more than `leeway` seconds before `now`.
pub fn decode<C: DeserializeOwned>(token: &str, key: &[u8], now: i64, leeway: i64) -> Option<C> {
    let payload = verify(token, key)?;
    #[derive(serde::Deserialize)]
    struct Expiry {
        exp: i64,
    }
    let Expiry { exp } = serde_json::from_slice(&payload).ok()?;
    if exp.saturating_add(leeway) < now {
        return None;
    }
    serde_json::from_slice(&payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    const KEY: &[u8] = b"a secret of some length";

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "42".into(),
            exp,
        }
    }

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    /// Re-signs `header.payload` as the server would, to build tokens that differ only where a test says.
    fn signed(header: &str, payload: &str) -> String {
        let unsigned = format!("{}.{}", b64(header), b64(payload));
        let mut m = mac(KEY);
        m.update(unsigned.as_bytes());
        format!(
            "{unsigned}.{}",
            URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        )
    }

    #[test]
    fn checks_the_example_of_rfc_7515() {
        // Appendix A.1: an HS256 token with a 64-byte key given as a JWK.
        let key = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9\
            .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
            .dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let payload = verify(token, &key).expect("the RFC's signature checks");
        assert!(payload.starts_with(b"{\"iss\":\"joe\""));
        assert!(verify(token, KEY).is_none(), "another key");
    }

    #[test]
    fn round_trips_until_expiry() {
        let token = encode(&claims(1_000), KEY).unwrap();
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(decode::<Claims>(&token, KEY, 999, 0), Some(claims(1_000)));
        assert_eq!(decode::<Claims>(&token, KEY, 1_000, 0), Some(claims(1_000)));
        assert_eq!(decode::<Claims>(&token, KEY, 1_001, 0), None, "expired");
        assert_eq!(
            decode::<Claims>(&token, KEY, 1_005, 5),
            Some(claims(1_000)),
            "within the leeway"
        );
        assert_eq!(decode::<Claims>(&token, KEY, 1_006, 5), None);
        assert_eq!(decode::<Claims>(&token, b"another key", 0, 0), None);
    }

    #[test]
    fn refuses_tampered_or_malformed_tokens() {
        let token = encode(&claims(1_000), KEY).unwrap();
        let (head, sig) = token.rsplit_once('.').unwrap();
        let (header, _) = head.split_once('.').unwrap();
        let forged = format!("{header}.{}.{sig}", b64(r#"{"sub":"1","exp":1000}"#));
        assert_eq!(
            decode::<Claims>(&forged, KEY, 0, 0),
            None,
            "payload changed"
        );
        let mut flipped = sig.as_bytes().to_vec();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = format!("{head}.{}", String::from_utf8(flipped).unwrap());
        assert_eq!(
            decode::<Claims>(&flipped, KEY, 0, 0),
            None,
            "signature changed"
        );
        for bad in [
            "",
            "..",
            head,
            &format!("{token}."),
            &format!("{token}.extra"),
            &format!("{head}.{sig}="),
            &format!("{head}.!!"),
        ] {
            assert_eq!(decode::<Claims>(bad, KEY, 0, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn only_hs256_headers_are_accepted() {
        let payload = r#"{"sub":"42","exp":1000}"#;
        assert!(decode::<Claims>(&signed(HEADER, payload), KEY, 0, 0).is_some());
        assert!(decode::<Claims>(&signed(r#"{"alg":"HS256"}"#, payload), KEY, 0, 0).is_some());
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"["HS256"]"#,
            "not json",
        ] {
            assert!(
                decode::<Claims>(&signed(header, payload), KEY, 0, 0).is_none(),
                "{header}"
            );
        }
        // An unsigned token, as `alg: none` would have it.
        let unsigned = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(payload));
        assert!(decode::<Claims>(&unsigned, KEY, 0, 0).is_none());
    }

    #[test]
    fn expiry_is_required() {
        let token = signed(HEADER, r#"{"sub":"42"}"#);
        assert!(verify(&token, KEY).is_some());
        assert_eq!(decode::<Claims>(&token, KEY, 0, 0), None);
        let token = signed(HEADER, r#"{"sub":"42","exp":"1000"}"#);
        assert_eq!(decode::<Claims>(&token, KEY, 0, 0), None);
    }
}
