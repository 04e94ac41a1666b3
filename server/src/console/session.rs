//! Console sessions, in memory: a random 32-byte secret in the `shuyu_console` cookie
//! (hex), kept server-side only as its SHA-256, with an absolute expiry and the principal
//! that signed in. The CSRF token of a session is derived from its secret, never stored.
//!
//! A session is only a shortcut to the principal: every request still goes through
//! governance, which re-verifies the person and the unit ([`super::extract`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};
use shuyu_governance::Principal;

/// Name of the session cookie.
pub const COOKIE: &str = "shuyu_console";

/// Domain-separation prefix of the CSRF derivation.
const CSRF_CONTEXT: &[u8] = b"shuyu-console-csrf-v1";

/// Bytes of a session secret.
const SECRET_BYTES: usize = 32;

/// A signed-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who signed in.
    pub principal: Principal,
    /// The CSRF token of the session's forms.
    pub csrf: String,
    /// SHA-256 of the cookie secret: the session's key.
    pub key: [u8; 32],
    /// When the session ends, whatever happens.
    pub expires_at: Instant,
}

/// What looking up a cookie found.
#[derive(Debug)]
pub enum Lookup {
    /// A live session.
    Live(Session),
    /// No cookie, a malformed one, or an unknown or expired session.
    Expired,
}

/// The sessions of one console.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    live: Mutex<HashMap<[u8; 32], Session>>,
}

/// The CSRF token of a session secret: hex(SHA-256("shuyu-console-csrf-v1" || secret)).
pub fn csrf_token(secret: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(CSRF_CONTEXT);
    h.update(secret);
    hex::encode(h.finalize())
}

fn key_of(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Sessions {
    /// Sessions that last `ttl` from sign-in.
    pub fn new(ttl: Duration) -> Sessions {
        Sessions { ttl, live: Mutex::new(HashMap::new()) }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A panic while holding the lock cannot leave the map half-written (one insert or
        // remove), so a poisoned lock is still usable.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a session for `principal`; returns the cookie value (hex of the secret).
    pub fn start(&self, principal: Principal) -> String {
        let mut secret = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        let key = key_of(&secret);
        let session = Session { principal, csrf: csrf_token(&secret), key, expires_at: Instant::now() + self.ttl };
        let now = Instant::now();
        let mut map = self.map();
        map.retain(|_, s| s.expires_at > now);
        map.insert(key, session);
        hex::encode(secret)
    }

    /// The live session of a cookie value; an expired one is dropped.
    pub fn find(&self, cookie: Option<&str>) -> Lookup {
        let Some(secret) = cookie.and_then(|c| hex::decode(c).ok()).filter(|s| s.len() == SECRET_BYTES) else {
            return Lookup::Expired;
        };
        let key = key_of(&secret);
        let mut map = self.map();
        match map.get(&key) {
            Some(s) if s.expires_at > Instant::now() => Lookup::Live(s.clone()),
            Some(_) => {
                map.remove(&key);
                Lookup::Expired
            }
            None => Lookup::Expired,
        }
    }

    /// Ends the session with this key (sign-out, or governance no longer accepts its person).
    pub fn end(&self, key: &[u8; 32]) {
        self.map().remove(key);
    }

    /// How many sessions are held (live or not yet pruned).
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The value of the session cookie in a `Cookie` header, if any.
pub fn cookie_value(header: &str) -> Option<&str> {
    header.split(';').map(str::trim).find_map(|pair| pair.strip_prefix(COOKIE).and_then(|rest| rest.strip_prefix('=')))
}

#[cfg(test)]
mod tests {
    use shuyu_governance::{PersonId, Role};

    use super::*;

    fn principal() -> Principal {
        Principal { person_id: PersonId(1), unit_id: None, role: Role::BureauAdmin }
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_its_csrf_is_derived_from_the_secret() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let cookie = sessions.start(principal());
        let Lookup::Live(s) = sessions.find(Some(&cookie)) else { panic!("the session is live") };
        assert_eq!(s.csrf, csrf_token(&hex::decode(&cookie).expect("hex")));
        assert!(matches!(sessions.find(Some("00ff")), Lookup::Expired));
        assert!(matches!(sessions.find(None), Lookup::Expired));
        sessions.end(&s.key);
        assert!(matches!(sessions.find(Some(&cookie)), Lookup::Expired));
    }

    #[test]
    fn cookies_are_read_among_others_and_comparisons_check_length() {
        assert_eq!(cookie_value("a=1; shuyu_console=abc; b=2"), Some("abc"));
        assert_eq!(cookie_value("shuyu_consolex=abc"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
