//! Client-side pacing, so that a normal sync never meets Airtable's 429 and its 30-second penalty.
//!
//! Airtable allows 5 requests per second per base and 50 per second per token. Every request asks
//! the one `RateLimiter` of the process for a slot of its base, then of the token. Pacing (one request every 210 ms per
//! base) rather than bursting keeps any one-second window at five requests even when responses
//! arrive unevenly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Spacing per base: 1/5 s plus a margin for requests that travel at different speeds.
pub const BASE_SPACING: Duration = Duration::from_millis(210);
/// Spacing per token: 1/50 s plus the same kind of margin.
pub const TOKEN_SPACING: Duration = Duration::from_millis(21);

/// Shared by every task that talks to Airtable with one token.
#[derive(Debug)]
pub struct RateLimiter {
    base_spacing: Duration,
    token_spacing: Duration,
    slots: Mutex<Slots>,
}

#[derive(Debug)]
struct Slots {
    token_next: Instant,
    base_next: HashMap<String, Instant>,
}

impl RateLimiter {
    pub fn new(base_spacing: Duration, token_spacing: Duration) -> RateLimiter {
        RateLimiter {
            base_spacing,
            token_spacing,
            slots: Mutex::new(Slots { token_next: Instant::now(), base_next: HashMap::new() }),
        }
    }

    /// Waits for a slot of the base, then of the token.
    pub async fn acquire(&self, base: &str) {
        let slot = self.book_base(base, Instant::now());
        tokio::time::sleep_until(slot).await;
        let slot = self.book_token(Instant::now());
        tokio::time::sleep_until(slot).await;
        // A wait for the token must not shorten the gap to the base's next request.
        self.book_base_after(base, slot);
    }

    /// The base's next free slot, booked. Waiting for the base first and the token second keeps
    /// a base held by a 429 from booking the token far ahead and stalling every other base.
    fn book_base(&self, base: &str, now: Instant) -> Instant {
        let mut slots = self.slots.lock().expect("no panic while holding the limiter");
        let next = slots.base_next.entry(base.to_string()).or_insert(now);
        let slot = now.max(*next);
        *next = slot + self.base_spacing;
        slot
    }

    fn book_base_after(&self, base: &str, sent: Instant) {
        let mut slots = self.slots.lock().expect("no panic while holding the limiter");
        let next = slots.base_next.entry(base.to_string()).or_insert(sent);
        *next = (*next).max(sent + self.base_spacing);
    }

    fn book_token(&self, now: Instant) -> Instant {
        let mut slots = self.slots.lock().expect("no panic while holding the limiter");
        let slot = now.max(slots.token_next);
        slots.token_next = slot + self.token_spacing;
        slot
    }

    /// After a 429, nobody asks that base again before `until`: requests during the penalty only
    /// extend it.
    pub fn hold(&self, base: &str, until: Instant) {
        let mut slots = self.slots.lock().expect("no panic while holding the limiter");
        let next = slots.base_next.entry(base.to_string()).or_insert(until);
        *next = (*next).max(until);
    }
}

impl Default for RateLimiter {
    fn default() -> RateLimiter {
        RateLimiter::new(BASE_SPACING, TOKEN_SPACING)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_of_one_base_are_spaced_and_other_bases_are_free() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        let a: Vec<Instant> = (0..6).map(|_| limiter.book_base("appA", t0)).collect();
        for pair in a.windows(2) {
            assert_eq!(pair[1] - pair[0], BASE_SPACING);
        }
        // Six requests to one base span more than a second: never six in one window.
        assert!(a[5] - a[0] > Duration::from_secs(1));
        assert_eq!(limiter.book_base("appB", t0), t0);
    }

    #[test]
    fn the_token_limit_binds_across_bases() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        let slots: Vec<Instant> = (0..51).map(|_| limiter.book_token(t0)).collect();
        assert!(slots[50] - slots[0] >= Duration::from_secs(1));
    }

    #[test]
    fn a_late_send_pushes_the_next_slot_of_its_base() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        assert_eq!(limiter.book_base("appA", t0), t0);
        limiter.book_base_after("appA", t0 + Duration::from_millis(50));
        assert_eq!(limiter.book_base("appA", t0), t0 + Duration::from_millis(50) + BASE_SPACING);
    }

    #[test]
    fn a_hold_pushes_every_later_slot_of_the_base_only() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        limiter.hold("appA", t0 + Duration::from_secs(30));
        assert!(limiter.book_base("appA", t0) >= t0 + Duration::from_secs(30));
        assert_eq!(limiter.book_base("appB", t0), t0);
        assert_eq!(limiter.book_token(t0), t0);
    }
}
