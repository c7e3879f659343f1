//! When a schedule ticks: cron expressions in a time zone with the daylight-saving rules, and
//! intervals from an anchor.
//!
//! # Daylight-saving rules
//!
//! A cron expression names local wall-clock times. Each matching local time `L` becomes one
//! instant:
//!
//! - `L` occurs once: that instant.
//! - `L` occurs twice (the clocks fall back and repeat an hour): the FIRST occurrence, only.
//!   `30 1 * * *` in America/New_York on the fall-back day fires at 01:30 EDT (05:30 UTC)
//!   and not at 01:30 EST; `* * * * *` fires each minute of the first pass through the
//!   repeated hour and is silent during the second.
//! - `L` does not occur (the clocks spring forward over it): the end of the gap, that is the
//!   first instant after it. `30 2 * * *` in America/New_York on the spring-forward day
//!   fires at 03:00 EDT (07:00 UTC). Several matching times in one gap (`*/15 2 * * *`, or
//!   02:30 and 03:00 together) all map to that one instant, which fires once.
//!
//! The mapping keeps the order of local times, so the ticks are the distinct instants it
//! gives, in order, and `next_tick` is the smallest of them strictly after its argument.
//!
//! Intervals tick at `anchor + k * interval` for k = 1, 2, ... (the anchor is usually the
//! trigger's creation time, truncated to the second): plain elapsed time, untouched by
//! daylight saving and by the time zone.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::{GapInfo, Tz};
use engine::duration::DurationMs;

use super::config::{ScheduleConfig, Timing};
use super::cron::Cron;

/// How a matching local time became an instant (see the module's daylight-saving rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The local time occurs once.
    Exact,
    /// The local time occurs twice; this is the first occurrence.
    FirstOfTwo,
    /// The local time does not occur; this is the first instant after the gap.
    GapEnd,
}

/// The instant a local wall-clock time fires at in `tz`, by the daylight-saving rules.
/// `None` only at the edges of what chrono can represent.
pub fn instant_of_local(tz: Tz, local: NaiveDateTime) -> Option<(DateTime<Utc>, Resolution)> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some((at.with_timezone(&Utc), Resolution::Exact)),
        LocalResult::Ambiguous(first, second) => Some((
            first.min(second).with_timezone(&Utc),
            Resolution::FirstOfTwo,
        )),
        LocalResult::None => gap_end(tz, local).map(|end| (end, Resolution::GapEnd)),
    }
}

/// The first instant after the gap that `local` falls in.
fn gap_end(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    if let Some(end) = GapInfo::new(&local, &tz).and_then(|gap| gap.end) {
        return Some(end.with_timezone(&Utc));
    }
    // Fallback: search for the instant at which the local clock jumps past `local`. Offsets
    // lie within ±26 h, so the local time 26 h before (after) `local` read as UTC is before
    // (after) `local`; every place in between where the clock passes `local` is a jump over
    // it (it never reads `local`), that is the end of a gap containing it.
    let as_utc = local.and_utc().with_nanosecond(0)?;
    let local_of = |at: DateTime<Utc>| at.with_timezone(&tz).naive_local();
    let mut before = as_utc.checked_sub_signed(TimeDelta::hours(26))?;
    let mut after = as_utc.checked_add_signed(TimeDelta::hours(26))?;
    while after - before > TimeDelta::seconds(1) {
        let middle_s = before.timestamp() + (after - before).num_seconds() / 2;
        let middle = DateTime::from_timestamp(middle_s, 0)?;
        if local_of(middle) > local {
            after = middle;
        } else {
            before = middle;
        }
    }
    Some(after)
}

/// The schedule's first tick strictly after `after`. `anchor` is where interval schedules
/// without a start time count from (cron schedules ignore it). `None`: the schedule never
/// ticks again.
///
/// With a start time nothing ticks before it: a cron ticks at its own times from the start
/// on (the start itself only if the cron names it); an interval or a recurrence ticks AT the
/// start, then counts from it.
pub fn next_tick(
    schedule: &ScheduleConfig,
    after: DateTime<Utc>,
    anchor: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let tz = schedule.timezone;
    let Some(start) = schedule.start else {
        return match &schedule.timing {
            Timing::Cron(cron) | Timing::Daily(cron) | Timing::Weekly(cron) => {
                next_cron_tick(cron, tz, after)
            }
            Timing::Interval(_) | Timing::Hourly => {
                next_interval_tick(schedule.timing.period()?, after, anchor)
            }
        };
    };
    match &schedule.timing {
        // Ticks lie on whole seconds, as the start does: "after one second before the start"
        // is "at or after the start".
        Timing::Cron(cron) => {
            let from = start.instant.checked_sub_signed(TimeDelta::seconds(1))?;
            next_cron_tick(cron, tz, after.max(from))
        }
        _ if after < start.instant => Some(start.instant),
        Timing::Daily(cron) | Timing::Weekly(cron) => next_cron_tick(cron, tz, after),
        Timing::Interval(_) | Timing::Hourly => {
            next_interval_tick(schedule.timing.period()?, after, start.instant)
        }
    }
}

/// The first tick of `cron` in `tz` strictly after `after`, by the daylight-saving rules.
pub fn next_cron_tick(cron: &Cron, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // Every local time up to `after`'s own maps to an instant at or before `after` (its
    // first occurrence is no later than `after`), and the mapping keeps order: start just
    // past it and skip what still maps back (the second pass of a repeated hour).
    let local_after = after.with_timezone(&tz).naive_local().with_nanosecond(0)?;
    let mut from = local_after.checked_add_signed(TimeDelta::seconds(1))?;
    loop {
        let local = cron.next_match(from)?;
        let (instant, resolution) = instant_of_local(tz, local)?;
        if instant > after {
            return Some(instant);
        }
        from = local.checked_add_signed(TimeDelta::seconds(1))?;
        if resolution == Resolution::GapEnd {
            // Every other time in this gap maps to the same past instant too.
            let past_gap = instant.with_timezone(&tz).naive_local();
            from = from.max(past_gap.checked_add_signed(TimeDelta::seconds(1))?);
        }
    }
}

/// The first tick `anchor + k * every` (k >= 1, anchor truncated to the second) strictly
/// after `after`.
pub fn next_interval_tick(
    every: DurationMs,
    after: DateTime<Utc>,
    anchor: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let step_ms = i64::try_from(every.0).ok().filter(|ms| *ms > 0)?;
    let anchor = DateTime::from_timestamp(anchor.timestamp(), 0)?;
    // Milliseconds truncate toward zero, and ticks lie on whole seconds, so `k` is right
    // whatever fraction `after` has.
    let elapsed_ms = (after - anchor).num_milliseconds();
    let k = if elapsed_ms < 0 {
        1
    } else {
        elapsed_ms / step_ms + 1
    };
    anchor.checked_add_signed(TimeDelta::try_milliseconds(k.checked_mul(step_ms)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test time")
            .with_timezone(&Utc)
    }

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("test time")
    }

    #[test]
    fn local_times_resolve_by_the_rules() {
        let ny = chrono_tz::America::New_York;
        assert_eq!(
            instant_of_local(ny, local("2026-03-08 02:30:00")),
            Some((utc("2026-03-08T07:00:00Z"), Resolution::GapEnd))
        );
        assert_eq!(
            instant_of_local(ny, local("2026-11-01 01:30:00")),
            Some((utc("2026-11-01T05:30:00Z"), Resolution::FirstOfTwo))
        );
        assert_eq!(
            instant_of_local(ny, local("2026-07-01 12:00:00")),
            Some((utc("2026-07-01T16:00:00Z"), Resolution::Exact))
        );
        // Lord Howe moves by 30 minutes: 02:00-02:30 does not exist.
        let lord_howe = chrono_tz::Australia::Lord_Howe;
        assert_eq!(
            instant_of_local(lord_howe, local("2026-10-04 02:15:00")),
            Some((utc("2026-10-03T15:30:00Z"), Resolution::GapEnd))
        );
    }

    #[test]
    fn the_fallback_search_finds_gap_ends() {
        let ny = chrono_tz::America::New_York;
        for minute in [0, 1, 30, 59] {
            let time = local("2026-03-08 02:00:00") + TimeDelta::minutes(minute);
            assert_eq!(gap_end(ny, time), Some(utc("2026-03-08T07:00:00Z")));
        }
    }

    #[test]
    fn intervals_count_from_the_anchor() {
        let every = DurationMs(15 * 60 * 1000);
        let anchor = utc("2026-03-08T06:07:08.900Z");
        let cases = [
            ("2020-01-01T00:00:00Z", "2026-03-08T06:22:08Z"),
            ("2026-03-08T06:07:08Z", "2026-03-08T06:22:08Z"),
            ("2026-03-08T06:22:07.999Z", "2026-03-08T06:22:08Z"),
            ("2026-03-08T06:22:08Z", "2026-03-08T06:37:08Z"),
            ("2026-03-08T06:22:08.001Z", "2026-03-08T06:37:08Z"),
            ("2026-03-09T00:00:00Z", "2026-03-09T00:07:08Z"),
        ];
        for (after, expected) in cases {
            assert_eq!(
                next_interval_tick(every, utc(after), anchor),
                Some(utc(expected)),
                "{after}"
            );
        }
    }
}
