//! The daemon's clock: the core's [`Time`] is the wall-clock time of the daemon's start (since
//! the UNIX epoch) plus the monotonic time elapsed since then.
//!
//! Guarantees: [`Clock::now`] never goes backwards (it follows tokio's monotonic `Instant`, so a
//! wall-clock step while running does not move it); a `Time` is also milliseconds since the
//! UNIX epoch as the API shows it (`expires_at`), and lease ends persisted in a snapshot stay
//! meaningful across restarts (a restarted daemon starts from the wall clock again).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::time::Time;

/// Maps tokio's monotonic clock to the core's [`Time`]. Cheap to copy.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
    wall_at_start: Duration,
}

impl Clock {
    /// A clock whose epoch is the UNIX epoch, read once now.
    pub fn new() -> Clock {
        Clock {
            start: Instant::now(),
            // A wall clock before 1970 is a broken machine; time then starts at the epoch.
            wall_at_start: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        }
    }

    /// Now, on the core's clock.
    pub fn now(&self) -> Time {
        Time::from_duration(self.wall_at_start + self.start.elapsed())
    }

    /// When `t` comes, on tokio's clock (a past `t` gives the start).
    pub fn instant(&self, t: Time) -> Instant {
        self.start + t.since_epoch().saturating_sub(self.wall_at_start)
    }

    /// `t` in milliseconds since the UNIX epoch (the API's time format).
    pub fn unix_ms(t: Time) -> u64 {
        u64::try_from(t.since_epoch().as_millis()).unwrap_or(u64::MAX)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn time_is_wall_clock_and_maps_back_to_instants() {
        let c = Clock::new();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let now = Clock::unix_ms(c.now());
        assert!(now.abs_diff(wall) < 1000, "{now} vs {wall}");
        let t = c.now() + Duration::from_millis(250);
        let i = c.instant(t);
        let d = i.saturating_duration_since(Instant::now());
        assert!(
            d <= Duration::from_millis(250) && d > Duration::from_millis(150),
            "{d:?}"
        );
        assert!(c.instant(Time::ZERO) <= Instant::now());
    }
}
