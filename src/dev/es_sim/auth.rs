//! Authentication (elasticsearch-bulk.md §3): basic users on both flavours, `ApiKey` headers on
//! Elasticsearch only. A refusal is a 401 with `WWW-Authenticate`: Elasticsearch's JSON
//! `security_exception`, or OpenSearch's plain-text `Unauthorized`. The base64 is hand-written
//! because the crate has no base64 dependency and needs only these few lines of it.

use serde_json::json;

use super::api::Reply;
use super::errors::EsError;
use super::{Flavour, State};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64, padding optional; `None` for anything else.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u32> = text
        .trim_end_matches('=')
        .bytes()
        .map(|c| ALPHABET.iter().position(|a| *a == c).map(|p| p as u32))
        .collect::<Option<_>>()?;
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, d)| n | d << (18 - 6 * i));
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// Checks the `Authorization` header of a request to `path`; `Err` is the 401 to answer.
pub(crate) fn check(state: &State, header: Option<&str>, path: &str) -> Result<(), Reply> {
    if state.users.is_empty() && state.api_keys.is_empty() {
        return Ok(());
    }
    let Some((scheme, value)) = header.and_then(|h| h.trim().split_once(' ')) else {
        return Err(refusal(state.flavour(), format!("missing authentication credentials for REST request [{path}]")));
    };
    let pair = decode(value.trim()).and_then(|b| String::from_utf8(b).ok());
    let pair = pair.as_deref().and_then(|p| p.split_once(':'));
    match (scheme.to_ascii_lowercase().as_str(), pair) {
        ("basic", Some((user, password))) if state.users.get(user).is_some_and(|p| p == password) => Ok(()),
        ("basic", Some((user, _))) => {
            Err(refusal(state.flavour(), format!("unable to authenticate user [{user}] for REST request [{path}]")))
        }
        ("apikey", Some((id, key)))
            if state.flavour() == Flavour::Elasticsearch && state.api_keys.get(id).is_some_and(|k| k == key) =>
        {
            Ok(())
        }
        _ => Err(refusal(
            state.flavour(),
            format!(
                "unable to authenticate with provided credentials and anonymous access is not allowed for this \
                 request [{path}]"
            ),
        )),
    }
}

fn refusal(flavour: Flavour, reason: String) -> Reply {
    match flavour {
        Flavour::Elasticsearch => {
            let challenges = json!(["Basic realm=\"security\" charset=\"UTF-8\"", "ApiKey"]);
            let error = EsError::new(401, "security_exception", reason)
                .with("header", json!({ "WWW-Authenticate": challenges }));
            Reply::json(401, error.body())
                .header("www-authenticate", "Basic realm=\"security\" charset=\"UTF-8\"")
                .header("www-authenticate", "ApiKey")
        }
        Flavour::OpenSearch => {
            Reply::text(401, "Unauthorized").header("www-authenticate", "Basic realm=\"OpenSearch Security\"")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_padding() {
        for text in ["", "a", "ab", "abc", "elastic:secret", "VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw"] {
            let encoded = encode(text.as_bytes());
            assert_eq!(decode(&encoded).unwrap(), text.as_bytes(), "{encoded}");
        }
        assert_eq!(encode(b"elastic:secret"), "ZWxhc3RpYzpzZWNyZXQ=");
        assert_eq!(decode("not base64!"), None);
    }
}
