//! Who may use the dashboard, and which POSTs are really from its own pages.
//!
//! With `[serve] token`, a request carries the token as `Authorization: Bearer …`, or a session
//! cookie the login form set. The cookie is a random session id and its HMAC under a key made at
//! start-up, never the token, and HttpOnly + SameSite=Strict. Every state-changing request is a
//! POST that must carry the session's CSRF token (an HMAC of the session id) and, when the
//! browser sends one, an Origin naming this server; without a token too, because any web page
//! can POST to localhost. Tokens are compared in constant time (HMACs of equal length).

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

use crate::config::Secret;

/// The session cookie's name.
pub const COOKIE: &str = "catsync_session";

/// The dashboard's secrets: the configured token and this process's signing key.
pub struct Guard {
    token: Option<Secret>,
    key: Vec<u8>,
}

/// A browser session, known by its random id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    id: String,
}

impl Guard {
    pub fn new(token: Option<Secret>) -> Guard {
        Guard { token, key: random_bytes(32) }
    }

    /// Whether requests must prove they know the token.
    pub fn requires_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `given` is the configured token (never true without one).
    pub fn token_matches(&self, given: &str) -> bool {
        self.token.as_ref().is_some_and(|t| same(&self.mac("token", t.expose()), &self.mac("token", given)))
    }

    pub fn new_session(&self) -> Session {
        Session { id: hex(&random_bytes(16)) }
    }

    /// The session a `Cookie` header carries, if its signature is ours.
    pub fn session_from_cookies(&self, header: &str) -> Option<Session> {
        let value = header.split(';').filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('=')).next()?;
        let (id, mac) = value.split_once('.')?;
        same(mac, &self.mac("session", id)).then(|| Session { id: id.to_string() })
    }

    /// The `Set-Cookie` value of a session.
    pub fn set_cookie(&self, s: &Session) -> String {
        format!("{COOKIE}={}.{}; Path=/; HttpOnly; SameSite=Strict", s.id, self.mac("session", &s.id))
    }

    /// The CSRF token the session's forms carry.
    pub fn csrf(&self, s: &Session) -> String {
        self.mac("csrf", &s.id)
    }

    pub fn csrf_matches(&self, s: &Session, given: &str) -> bool {
        same(&self.csrf(s), given)
    }

    fn mac(&self, purpose: &str, data: &str) -> String {
        let key = PKey::hmac(&self.key).expect("an HMAC key of 32 bytes is valid");
        let mut signer = Signer::new(MessageDigest::sha256(), &key).expect("HMAC-SHA256 is available");
        signer.update(purpose.as_bytes()).expect("HMAC update");
        signer.update(b"\0").expect("HMAC update");
        signer.update(data.as_bytes()).expect("HMAC update");
        hex(&signer.sign_to_vec().expect("HMAC sign"))
    }
}

/// Constant-time equality of two values of public length.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    openssl::rand::rand_bytes(&mut bytes).expect("the system random source works");
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_cookie_is_signed_and_not_the_token() {
        let guard = Guard::new(Some(Secret::new("s3cret-token")));
        let s = guard.new_session();
        let cookie = guard.set_cookie(&s);
        assert!(!cookie.contains("s3cret-token"));
        let value = cookie.split(';').next().unwrap();
        assert_eq!(guard.session_from_cookies(&format!("a=b; {value}")), Some(s.clone()));
        let forged = format!("{COOKIE}={}.{}", s.id, "0".repeat(64));
        assert_eq!(guard.session_from_cookies(&forged), None);
        let other = Guard::new(Some(Secret::new("s3cret-token")));
        assert_eq!(other.session_from_cookies(value), None, "another process's key signs differently");
    }

    #[test]
    fn tokens_and_csrf_tokens_compare_exactly() {
        let guard = Guard::new(Some(Secret::new("s3cret-token")));
        assert!(guard.token_matches("s3cret-token"));
        assert!(!guard.token_matches("s3cret-tokeN"));
        assert!(!guard.token_matches(""));
        assert!(!Guard::new(None).token_matches(""));
        let s = guard.new_session();
        assert!(guard.csrf_matches(&s, &guard.csrf(&s)));
        assert!(!guard.csrf_matches(&guard.new_session(), &guard.csrf(&s)));
        assert!(!guard.csrf_matches(&s, "short"));
    }
}
