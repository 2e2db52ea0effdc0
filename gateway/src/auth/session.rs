//! Login sessions, kept in memory: a restart logs everyone out, and several
//! edge replicas behind one address need sticky sessions (or a login per
//! replica). The cookie holds a 256-bit random id; the map is keyed by its
//! SHA-256, so not even a memory dump yields a usable cookie. Each session
//! has a fixed lifetime from login (`auth.session_ttl`) and its own CSRF token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Sessions kept at most; at the cap the oldest is ended to make room.
pub const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    pub expires: Instant,
    /// The key of the session in the map, and of its API rate bucket.
    pub key: String,
}

pub struct Sessions {
    ttl: Duration,
    max: usize,
    map: Mutex<HashMap<String, Session>>,
}

fn key_of(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // The map holds only whole entries between statements: still usable.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session for `user`: → (cookie id, the session).
    pub fn create(&self, user: &str, now: Instant) -> (String, Session) {
        let id = random_hex();
        let session = Session {
            user: user.to_owned(),
            csrf: random_hex(),
            expires: now + self.ttl,
            key: key_of(&id),
        };
        let mut map = self.lock();
        if map.len() >= self.max {
            map.retain(|_, s| s.expires > now);
        }
        if map.len() >= self.max {
            if let Some(oldest) = map
                .values()
                .min_by_key(|s| s.expires)
                .map(|s| s.key.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(session.key.clone(), session.clone());
        (id, session)
    }

    /// The live session of cookie `id`; an expired one is removed.
    pub fn get(&self, id: &str, now: Instant) -> Option<Session> {
        let key = key_of(id);
        let mut map = self.lock();
        match map.get(&key) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session of cookie `id`, if any.
    pub fn remove(&self, id: &str) -> Option<Session> {
        self.lock().remove(&key_of(id))
    }

    /// Ends every session of `user` (removed from the users file).
    pub fn remove_user(&self, user: &str) {
        self.lock().retain(|_, s| s.user != user);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime() {
        let t0 = Instant::now();
        let s = Sessions::new(Duration::from_secs(60), 10);
        let (id, a) = s.create("alice", t0);
        assert_eq!(id.len(), 64);
        assert_ne!(a.csrf, id);
        assert_ne!(a.key, id, "the map never holds the cookie value");
        assert_eq!(
            s.get(&id, t0 + Duration::from_secs(59)).map(|x| x.user),
            Some("alice".into())
        );
        assert!(s.get("not-a-session", t0).is_none());
        assert!(
            s.get(&id, t0 + Duration::from_secs(60)).is_none(),
            "expired"
        );
        assert!(s.is_empty(), "an expired session is dropped when seen");

        let (id, _) = s.create("alice", t0);
        assert!(s.remove(&id).is_some());
        assert!(s.get(&id, t0).is_none(), "logged out");
    }

    #[test]
    fn the_cap_ends_the_oldest() {
        let t0 = Instant::now();
        let s = Sessions::new(Duration::from_secs(60), 2);
        let (first, _) = s.create("a", t0);
        let (second, _) = s.create("b", t0 + Duration::from_secs(1));
        let (third, _) = s.create("c", t0 + Duration::from_secs(2));
        assert_eq!(s.len(), 2);
        assert!(s.get(&first, t0).is_none());
        assert!(s.get(&second, t0).is_some() && s.get(&third, t0).is_some());
        s.remove_user("b");
        assert!(s.get(&second, t0).is_none());
    }
}
