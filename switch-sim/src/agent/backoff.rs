//! Reconnection delays for an active controller connection: exponential from a minimum to a
//! maximum (1 s and 8 s by default, Open vSwitch's `max_backoff`), each delay shortened by a
//! random part of up to a quarter so that many switches that lost the same controller do not
//! reconnect in lockstep.
//!
//! Guarantees: every delay lies in `[3/4 · d, d]` where `d` is the nominal delay, and `d`
//! never exceeds the maximum.

use std::time::Duration;

/// Exponential backoff with jitter.
#[derive(Clone, Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    rng: u64,
}

impl Backoff {
    /// Delays from `min` doubling up to `max` (`max` is taken as at least `min`).
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15)
            ^ u64::from(std::process::id()).rotate_left(32);
        Backoff::with_seed(min, max, seed)
    }

    /// The same with a chosen random seed (tests).
    pub fn with_seed(min: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            next: min,
            rng: seed | 1,
        }
    }

    /// The delay before the next attempt; the nominal delay doubles for the one after.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.next;
        self.next = (self.next * 2).min(self.max);
        // xorshift64: plenty for jitter.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let frac = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        nominal.mul_f64(1.0 - 0.25 * frac)
    }

    /// Back to the minimum (after a connection that worked).
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// The nominal delay the next attempt will wait.
    pub fn nominal(&self) -> Duration {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_with_bounded_jitter() {
        let s = Duration::from_secs;
        let mut b = Backoff::with_seed(s(1), s(8), 42);
        let nominal = [1, 2, 4, 8, 8, 8];
        for n in nominal {
            let d = b.next_delay();
            assert!(d <= s(n) && d >= s(n).mul_f64(0.75), "{d:?} for {n} s");
        }
        b.reset();
        assert_eq!(b.nominal(), s(1));
    }

    #[test]
    fn jitter_varies() {
        let mut b = Backoff::with_seed(Duration::from_secs(8), Duration::from_secs(8), 7);
        let a: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(a.iter().any(|d| *d != a[0]));
    }
}
