//! Virtual monotonic time: the core never reads a clock.
//!
//! A [`Time`] is a duration since an epoch the caller picks. The shell passes the time of every
//! input; tests pass virtual time. Guarantees: arithmetic saturates (never panics, never wraps).
//! Lease ends in a [`crate::snapshot::Snapshot`] are `Time`s, so a shell that restores a
//! snapshot after a restart must keep the same epoch (the UNIX epoch of a wall clock is the
//! natural choice).

use std::time::Duration;

/// A point in time: the time since the caller's epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(Duration);

impl Time {
    /// The epoch.
    pub const ZERO: Time = Time(Duration::ZERO);

    /// `d` after the epoch.
    pub const fn from_duration(d: Duration) -> Time {
        Time(d)
    }

    /// `s` seconds after the epoch.
    pub const fn from_secs(s: u64) -> Time {
        Time(Duration::from_secs(s))
    }

    /// `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Time {
        Time(Duration::from_millis(ms))
    }

    /// The time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl core::ops::Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(d))
    }
}

impl core::fmt::Display for Time {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}
