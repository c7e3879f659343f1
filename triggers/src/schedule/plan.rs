//! What a scheduler does when it wakes: which ticks start, which are skipped and why, when to
//! wake next; how a tick meets runs still going; jitter; the idempotency key of a tick.

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use engine::duration::DurationMs;
use engine::retry::splitmix64;

use super::config::{CatchupPolicy, Overlap, ScheduleConfig};
use super::tick::next_tick;

/// At most this many ticks are listed by one plan (runs and skips together; a summary
/// counts as one). Ticks before the catch-up window get at most half of it; the rest are
/// summarized in one entry. Runs beyond it are left for the next call (`Plan::next`).
pub const PLAN_TICKS_MAX: usize = 10_000;

/// A tick no older than this is on time and runs even when the catch-up window is smaller
/// (or catch-up is off): a scheduler that wakes a little late must not skip it.
pub const ON_TIME_GRACE: DurationMs = DurationMs(60 * 1000);

/// Why a tick did not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// It was due longer ago than the catch-up window (or catch-up is off).
    OutsideCatchupWindow,
    /// Catch-up policy `latest`: a later missed tick runs instead.
    Superseded,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::OutsideCatchupWindow => "outside catch-up window",
            SkipReason::Superseded => "superseded",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One skipped tick, or a summary of a run of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub scheduled: DateTime<Utc>,
    /// `Some(last)`: this entry stands for every tick from `scheduled` to `last` inclusive,
    /// too many to list one by one (see `PLAN_TICKS_MAX`).
    pub through: Option<DateTime<Utc>>,
    pub reason: SkipReason,
}

impl Skipped {
    pub fn one(scheduled: DateTime<Utc>, reason: SkipReason) -> Skipped {
        Skipped {
            scheduled,
            through: None,
            reason,
        }
    }
}

/// What to do now. Carry it out, then remember `done_through` and wake at `next`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Scheduled instants to start now, oldest first.
    pub run: Vec<DateTime<Utc>>,
    /// Ticks that will never run, oldest first, each with its reason.
    pub skip: Vec<Skipped>,
    /// The last scheduled instant handled once this plan is carried out: the
    /// `last_tick_done` of the next call. Unchanged when nothing was due.
    pub done_through: Option<DateTime<Utc>>,
    /// The first tick this plan leaves: when to plan again. At or before `now` when the plan
    /// stopped at `PLAN_TICKS_MAX` (plan again at once). `None`: the schedule never ticks
    /// again.
    pub next: Option<DateTime<Utc>>,
}

/// Plans the ticks due at `now`: those in `(last_tick_done, now]`, or `(anchor, now]` before
/// any was handled (`anchor`, the trigger's creation time, is also where intervals count
/// from).
///
/// - A tick due no more than the catch-up window before `now` (never less than
///   `ON_TIME_GRACE`) runs: every one with policy `all`; with `latest` only the latest, the
///   others skipped as `Superseded`.
/// - An older tick is skipped as `OutsideCatchupWindow`.
/// - If `now` is not after `last_tick_done` (the clock moved backwards), nothing is due:
///   nothing already handled repeats, and `next` is the first tick after `last_tick_done`.
///
/// The work is bounded whatever the downtime: at most `PLAN_TICKS_MAX` entries, and runs of
/// skipped ticks beyond that are summarized (`Skipped::through`) after a binary search for
/// their end, not walked.
pub fn plan(
    schedule: &ScheduleConfig,
    last_tick_done: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    anchor: DateTime<Utc>,
) -> Plan {
    let ticks = |after: DateTime<Utc>| next_tick(schedule, after, anchor);
    let start = last_tick_done.unwrap_or(anchor);
    let mut plan = Plan {
        done_through: last_tick_done,
        ..Plan::default()
    };
    let mut next = ticks(start);

    let window_ms = schedule
        .catchup
        .map_or(0, |catchup| catchup.window.0)
        .max(ON_TIME_GRACE.0);
    let policy = schedule
        .catchup
        .map_or(CatchupPolicy::All, |catchup| catchup.policy);
    let window_start = i64::try_from(window_ms)
        .ok()
        .and_then(TimeDelta::try_milliseconds)
        .and_then(|window| now.checked_sub_signed(window))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut listed = 0usize;

    // Before the window: skipped.
    while let Some(tick) = next.filter(|tick| *tick < window_start) {
        if listed >= PLAN_TICKS_MAX / 2 {
            let limit = window_start - TimeDelta::nanoseconds(1);
            let last = last_tick_until(&ticks, tick, limit);
            plan.skip.push(Skipped {
                scheduled: tick,
                through: (last != tick).then_some(last),
                reason: SkipReason::OutsideCatchupWindow,
            });
            plan.done_through = Some(last);
            next = ticks(last);
            break;
        }
        plan.skip
            .push(Skipped::one(tick, SkipReason::OutsideCatchupWindow));
        listed += 1;
        plan.done_through = Some(tick);
        next = ticks(tick);
    }

    // Inside the window: run.
    match policy {
        CatchupPolicy::All => {
            while let Some(tick) = next.filter(|tick| *tick <= now) {
                if listed >= PLAN_TICKS_MAX {
                    break;
                }
                plan.run.push(tick);
                listed += 1;
                plan.done_through = Some(tick);
                next = ticks(tick);
            }
        }
        CatchupPolicy::Latest => {
            if let Some(first) = next.filter(|tick| *tick <= now) {
                let latest = last_tick_until(&ticks, first, now);
                let mut tick = first;
                while tick < latest {
                    if listed + 1 >= PLAN_TICKS_MAX {
                        let limit = latest - TimeDelta::nanoseconds(1);
                        let last = last_tick_until(&ticks, tick, limit);
                        plan.skip.push(Skipped {
                            scheduled: tick,
                            through: (last != tick).then_some(last),
                            reason: SkipReason::Superseded,
                        });
                        break;
                    }
                    plan.skip.push(Skipped::one(tick, SkipReason::Superseded));
                    listed += 1;
                    match ticks(tick) {
                        Some(later) => tick = later,
                        None => break,
                    }
                }
                plan.run.push(latest);
                plan.done_through = Some(latest);
                next = ticks(latest);
            }
        }
    }
    plan.next = next;
    plan
}

/// The last tick at or before `limit`, given `known`, a tick at or before it. Ticks lie on
/// whole seconds, at least a second apart, so a binary search over `after` to one second
/// finds it in about log2(span in seconds) calls of `ticks`.
fn last_tick_until(
    ticks: &impl Fn(DateTime<Utc>) -> Option<DateTime<Utc>>,
    known: DateTime<Utc>,
    limit: DateTime<Utc>,
) -> DateTime<Utc> {
    let second = TimeDelta::seconds(1);
    // ticks(low) <= limit < ticks(high) throughout.
    let mut low = known - second;
    let mut high = limit;
    while high - low > second {
        let middle = low + (high - low) / 2;
        if ticks(middle).is_some_and(|tick| tick <= limit) {
            low = middle;
        } else {
            high = middle;
        }
    }
    ticks(low).filter(|tick| *tick <= limit).unwrap_or(known)
}

/// What happens to a tick that is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverlapDecision {
    /// Start its run now.
    Start,
    /// Keep it waiting; start it when the running one ends.
    Buffer,
    /// Skip it (record it as skipped for overlap).
    Skip,
}

/// Applies the overlap policy to a due tick, given how many runs of the trigger are going
/// and how many ticks already wait.
///
/// - `skip`: start if nothing runs, else skip.
/// - `buffer_one`: start if nothing runs and nothing waits; wait if nothing waits yet;
///   otherwise skip (at most one waits, and it goes first).
/// - `allow_all`: always start.
pub fn overlap_decision(policy: Overlap, running: usize, buffered: usize) -> OverlapDecision {
    match policy {
        Overlap::Skip if running == 0 => OverlapDecision::Start,
        Overlap::Skip => OverlapDecision::Skip,
        Overlap::BufferOne if running == 0 && buffered == 0 => OverlapDecision::Start,
        Overlap::BufferOne if buffered == 0 => OverlapDecision::Buffer,
        Overlap::BufferOne => OverlapDecision::Skip,
        Overlap::AllowAll => OverlapDecision::Start,
    }
}

/// How long after its tick a run starts: fixed by (trigger, scheduled instant), evenly
/// spread over `[0, jitter)` in milliseconds; zero without jitter. No randomness: the same
/// tick waits the same on every node and after every restart.
pub fn jitter_offset(
    trigger_id: &str,
    scheduled: DateTime<Utc>,
    jitter: Option<DurationMs>,
) -> TimeDelta {
    let Some(DurationMs(span)) = jitter.filter(|jitter| jitter.0 > 0) else {
        return TimeDelta::zero();
    };
    // FNV-1a over the trigger id, then the instant, well mixed by SplitMix64.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in trigger_id.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let instant = scheduled.timestamp().to_le_bytes();
    for byte in instant
        .iter()
        .chain(scheduled.timestamp_subsec_nanos().to_le_bytes().iter())
    {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let offset = splitmix64(hash) % span;
    // `span` is at most DURATION_MS_MAX, well inside i64.
    TimeDelta::try_milliseconds(i64::try_from(offset).unwrap_or(0)).unwrap_or_default()
}

/// When the run of the tick at `scheduled` starts: the tick plus its jitter.
pub fn start_at(
    schedule: &ScheduleConfig,
    trigger_id: &str,
    scheduled: DateTime<Utc>,
) -> DateTime<Utc> {
    scheduled + jitter_offset(trigger_id, scheduled, schedule.jitter)
}

/// The idempotency key a tick starts its run with: `{trigger_id}:{scheduled}`, the instant
/// in RFC 3339 UTC to the second (`daily-report:2026-03-08T07:00:00Z`). The same tick gives
/// the same key on every node and after every restart, so it starts one run.
pub fn idempotency_key(trigger_id: &str, scheduled: DateTime<Utc>) -> String {
    format!(
        "{trigger_id}:{}",
        scheduled.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}
