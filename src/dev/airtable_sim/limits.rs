//! Rate limits (airtable-api.md §9.1): a sliding one-second window per base and per token. The
//! request that would exceed a window gets 429 and starts a penalty during which every request
//! counted against that base or token gets 429 too; the window starts empty after the penalty.
//! Refused requests do not count.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);

/// What a window counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Base(String),
    Token(String),
}

#[derive(Default)]
pub(crate) struct RateLimits {
    windows: HashMap<Key, VecDeque<Instant>>,
    penalties: HashMap<Key, Instant>,
}

impl RateLimits {
    /// Counts a request against each key (with its limit per second), or refuses it.
    pub(crate) fn admit(&mut self, keys: &[(Key, u32)], now: Instant, penalty: Duration) -> bool {
        if keys.iter().any(|(key, _)| self.penalties.get(key).is_some_and(|until| now < *until)) {
            return false;
        }
        for (key, limit) in keys {
            let window = self.windows.entry(key.clone()).or_default();
            while window.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                window.pop_front();
            }
            if window.len() >= *limit as usize {
                self.trip(key.clone(), now, penalty);
                return false;
            }
        }
        for (key, _) in keys {
            self.windows.entry(key.clone()).or_default().push_back(now);
        }
        true
    }

    /// Starts the penalty of a key.
    pub(crate) fn trip(&mut self, key: Key, now: Instant, penalty: Duration) {
        self.windows.remove(&key);
        self.penalties.insert(key, now + penalty);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_over_the_rate_trips_a_penalty_then_the_window_starts_afresh() {
        let mut limits = RateLimits::default();
        let keys = [(Key::Base("appA".into()), 2), (Key::Token("t".into()), 50)];
        let t0 = Instant::now();
        let penalty = Duration::from_millis(300);
        assert!(limits.admit(&keys, t0, penalty));
        assert!(limits.admit(&keys, t0 + Duration::from_millis(10), penalty));
        assert!(!limits.admit(&keys, t0 + Duration::from_millis(20), penalty));
        assert!(!limits.admit(&keys, t0 + Duration::from_millis(310), penalty));
        assert!(limits.admit(&keys, t0 + Duration::from_millis(330), penalty));
        // Another base of the same token is not penalized.
        assert!(limits.admit(&[(Key::Base("appB".into()), 2), (Key::Token("t".into()), 50)], t0, penalty));
    }

    #[test]
    fn the_window_slides() {
        let mut limits = RateLimits::default();
        let keys = [(Key::Token("t".into()), 2)];
        let t0 = Instant::now();
        let penalty = Duration::from_secs(30);
        assert!(limits.admit(&keys, t0, penalty));
        assert!(limits.admit(&keys, t0 + Duration::from_millis(600), penalty));
        assert!(limits.admit(&keys, t0 + Duration::from_millis(1000), penalty));
        assert!(!limits.admit(&keys, t0 + Duration::from_millis(1500), penalty));
    }
}
