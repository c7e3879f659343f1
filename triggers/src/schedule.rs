//! Schedule triggers: when a `schedule` trigger ticks, and what a scheduler does about it.
//!
//! Everything here is pure: no clock, no I/O, no randomness. Each function takes the time it
//! reasons about, so the scheduler reads an injected clock and tests move time at will
//! (backwards, across daylight-saving changes) without sleeping. The user-facing rules are
//! in `docs/triggers.md`, "Schedules".
//!
//! - [`ScheduleConfig::parse`]: the trigger's `config` JSON (`{"cron": "0 9 * * *",
//!   "timezone": "Europe/London"}` or `{"interval": "15m"}`, with `overlap`, `catchup`,
//!   `jitter`), every problem with its path.
//! - [`Cron`]: 5- or 6-field cron expressions and macros, matched on local wall-clock times.
//! - [`next_tick`]: the first tick strictly after an instant. A cron expression's local times
//!   become instants by these daylight-saving rules:
//!   - a local time that occurs twice (clocks fall back) fires once, at its FIRST occurrence;
//!   - a local time that does not occur (clocks spring forward) fires at the end of the gap,
//!     the first instant after it (02:30 in America/New_York on the spring-forward day fires
//!     at 03:00 EDT), and several matching times in one gap fire once together.
//!
//!   Intervals tick at `anchor + k * interval`, k >= 1, in elapsed time, untouched by
//!   daylight saving.
//!
//!   With a `startTime` (Phinite, seed 003) nothing ticks before it, and intervals and the
//!   `hourly`, `daily`, `weekly` recurrences tick AT it first and then count from it (hourly
//!   in elapsed time, daily and weekly at its local wall time); see [`StartTime`].
//! - [`plan`]: after the scheduler wakes (or restarts after downtime), which ticks since the
//!   last one handled run, which are skipped and why (catch-up window and policy), and when
//!   to wake next; bounded work whatever the downtime; a clock that moved backwards repeats
//!   nothing.
//! - [`overlap_decision`]: `skip`, `buffer_one`, `allow_all` against the runs still going.
//! - [`jitter_offset`], [`start_at`]: a delay fixed by (trigger, tick), within `[0, jitter)`.
//! - [`idempotency_key`]: `{trigger}:{scheduled time}`, so a tick starts one run across
//!   restarts and nodes.

mod config;
mod cron;
mod plan;
mod start;
mod tick;

pub use config::{
    format_duration, Catchup, CatchupPolicy, Overlap, ScheduleConfig, Timing,
    CATCHUP_WINDOW_DEFAULT,
};
pub use cron::{Cron, CronError};
pub use engine::definition::Problem;
pub use plan::{
    idempotency_key, jitter_offset, overlap_decision, plan, start_at, OverlapDecision, Plan,
    SkipReason, Skipped, ON_TIME_GRACE, PLAN_TICKS_MAX,
};
pub use start::{Recurrence, StartTime};
pub use tick::{instant_of_local, next_cron_tick, next_interval_tick, next_tick, Resolution};
