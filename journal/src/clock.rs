//! The wall clock the stores stamp `recorded_at` with. Stamps never go backwards within a
//! store, so global order and time order agree even when the system clock steps back.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::ids::Timestamp;

/// Hands out non-decreasing timestamps.
#[derive(Debug, Default)]
pub struct StampClock {
    last: i64,
}

impl StampClock {
    pub fn starting_after(last: Timestamp) -> StampClock {
        StampClock { last: last.0 }
    }

    pub fn stamp(&mut self) -> Timestamp {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        self.last = self.last.max(now);
        Timestamp(self.last)
    }

    /// The stamp for an imported event that was recorded at `at`: `at` itself, or the last
    /// stamp handed out if `at` is earlier, so stamps never go backwards. Later stamps
    /// follow it.
    pub fn observe(&mut self, at: Timestamp) -> Timestamp {
        self.last = self.last.max(at.0);
        Timestamp(self.last)
    }

    /// The last stamp handed out (or the one it started after).
    pub fn last(&self) -> Timestamp {
        Timestamp(self.last)
    }
}
