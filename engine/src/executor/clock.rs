//! The executor's clock. The state machine never reads it; the executor stamps timer
//! deadlines with it, and tests replace it.
//!
//! One clock drives "now" and the waits alike: the executor and the trigger runner read the
//! wall time only from a `Clock` and wait only through tokio's time (`tokio::time::sleep`),
//! never the thread's. A test that pauses tokio's time (`start_paused`) and gives them a
//! `TokioClock` moves both at once, instantly; one that gives them a clock of its own moves
//! the wall time by hand (a process that was down, a clock that jumped).

use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The machine's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A wall clock that moves with tokio's time: `start_ms` plus the tokio time elapsed since it
/// was made. Under tokio's paused time (tests) it stands still until tokio's time moves, and
/// then the timers due fire at the wall times they were set for.
pub struct TokioClock {
    start_ms: i64,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// Starts at `start_ms` (milliseconds since the Unix epoch), now.
    pub fn starting_at(start_ms: i64) -> TokioClock {
        TokioClock {
            start_ms,
            start: tokio::time::Instant::now(),
        }
    }

    /// Starts at the machine's wall time, now.
    pub fn starting_now() -> TokioClock {
        TokioClock::starting_at(SystemClock.now_ms())
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        let elapsed_ms = self.start.elapsed().as_millis();
        self.start_ms
            .saturating_add(i64::try_from(elapsed_ms).unwrap_or(i64::MAX))
    }
}
