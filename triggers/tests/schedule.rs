//! Schedule triggers: config, cron, daylight saving, catch-up, overlap, jitter, keys, bounds,
//! and a simulated scheduler driven by a fake clock over 400 days.

use std::collections::{BTreeSet, HashSet};

use chrono::{
    DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use engine::duration::DurationMs;
use proptest::prelude::*;
use serde_json::{json, Value};
use triggers::schedule::{
    idempotency_key, jitter_offset, next_tick, overlap_decision, plan, start_at, Catchup,
    CatchupPolicy, Cron, Overlap, OverlapDecision, Plan, ScheduleConfig, SkipReason, Skipped,
    Timing, PLAN_TICKS_MAX,
};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test time")
        .with_timezone(&Utc)
}

fn schedule(config: Value) -> ScheduleConfig {
    ScheduleConfig::parse(&config).unwrap_or_else(|problems| panic!("{config}: {problems:?}"))
}

/// The first `n` ticks strictly after `after`.
fn ticks(schedule: &ScheduleConfig, after: &str, n: usize) -> Vec<String> {
    let mut at = utc(after);
    let mut out = Vec::new();
    for _ in 0..n {
        at = next_tick(schedule, at, utc(after)).expect("a next tick");
        out.push(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Config

#[test]
fn configs_parse_with_defaults() {
    let full = schedule(json!({
        "cron": "30 9 * * MON-FRI", "timezone": "Europe/London", "overlap": "buffer_one",
        "catchup": {"window": "2h", "policy": "latest"}, "jitter": "30s"
    }));
    assert!(matches!(&full.timing, Timing::Cron(cron) if cron.as_str() == "30 9 * * MON-FRI"));
    assert_eq!(full.timezone, chrono_tz::Europe::London);
    assert_eq!(full.overlap, Overlap::BufferOne);
    assert_eq!(
        full.catchup,
        Some(Catchup {
            window: DurationMs(7_200_000),
            policy: CatchupPolicy::Latest
        })
    );
    assert_eq!(full.jitter, Some(DurationMs(30_000)));

    let interval = schedule(json!({"interval": "15m"}));
    assert_eq!(interval.timing, Timing::Interval(DurationMs(900_000)));
    assert_eq!(interval.timezone, chrono_tz::UTC);
    assert_eq!(interval.overlap, Overlap::Skip);
    assert_eq!(interval.catchup, Some(Catchup::default()));
    assert_eq!(
        Catchup::default(),
        Catchup {
            window: DurationMs(3_600_000),
            policy: CatchupPolicy::All
        }
    );
    assert_eq!(interval.jitter, None);

    let catchup = |value: Value| schedule(json!({"cron": "@daily", "catchup": value})).catchup;
    assert_eq!(
        catchup(json!("latest")),
        Some(Catchup {
            window: DurationMs(3_600_000),
            policy: CatchupPolicy::Latest
        })
    );
    assert_eq!(catchup(json!(false)), None);
    assert_eq!(catchup(json!(true)), Some(Catchup::default()));
    assert_eq!(
        catchup(json!({"window": "30m"})),
        Some(Catchup {
            window: DurationMs(1_800_000),
            policy: CatchupPolicy::All
        })
    );
    let no_jitter = schedule(json!({"cron": "@daily", "jitter": "0s", "overlap": "allow_all"}));
    assert_eq!(no_jitter.jitter, None);
    assert_eq!(no_jitter.overlap, Overlap::AllowAll);

    // serde: the canonical JSON, and back.
    let text = serde_json::to_value(&full).expect("serialize");
    assert_eq!(
        text,
        json!({"cron": "30 9 * * MON-FRI", "timezone": "Europe/London", "overlap": "buffer_one",
               "catchup": {"window": "2h", "policy": "latest"}, "jitter": "30s"})
    );
    let back: ScheduleConfig = serde_json::from_value(text).expect("deserialize");
    assert_eq!(back, full);
    let off = schedule(json!({"interval": "1h30m", "catchup": false}));
    assert_eq!(
        off.to_json(),
        json!({"interval": "1h30m", "timezone": "UTC", "overlap": "skip", "catchup": false})
    );
    let error =
        serde_json::from_value::<ScheduleConfig>(json!({"cron": "* * * *"})).expect_err("bad cron");
    assert!(error
        .to_string()
        .contains("config.cron: cron must have 5 or 6 fields"));
}

/// A problem's path and a part of its message.
type Expected = (&'static [&'static str], &'static str);

#[test]
fn config_problems_name_their_paths() {
    let cases: Vec<(Value, Vec<Expected>)> = vec![
        (
            json!({"cron": "* * * *"}),
            vec![(&["config", "cron"], "cron must have 5 or 6 fields (minute hour day-of-month month day-of-week, optionally with seconds first), got 4")],
        ),
        (
            json!({"cron": "0 9 * * *", "timezone": "Europe/Londn"}),
            vec![(&["config", "timezone"], "unknown time zone \"Europe/Londn\"; use an IANA name")],
        ),
        (
            json!({"cron": "0 9 * * *", "timezone": "europe/london"}),
            vec![(&["config", "timezone"], "did you mean \"Europe/London\"?")],
        ),
        (
            json!({"interval": "15x"}),
            vec![(&["config", "interval"], "bad duration \"15x\": unknown unit")],
        ),
        (
            json!({"interval": "1500ms"}),
            vec![(&["config", "interval"], "whole number of seconds, at least 1s, not 1s500ms")],
        ),
        (
            json!({"interval": "0s"}),
            vec![(&["config", "interval"], "at least 1s, not 0s")],
        ),
        (
            json!({"interval": 15}),
            vec![(&["config", "interval"], "must be a duration string")],
        ),
        (
            json!({"cron": 5}),
            vec![(&["config", "cron"], "must be a string, not a number")],
        ),
        (
            json!({"cron": "@daily", "overlap": "queue"}),
            vec![(&["config", "overlap"], "must be \"skip\", \"buffer_one\" or \"allow_all\", not \"queue\"")],
        ),
        (
            json!({"cron": "@daily", "catchup": {"window": "1 hour", "policy": "some", "x": 1}}),
            vec![
                (&["config", "catchup", "x"], "unknown field \"x\""),
                (&["config", "catchup", "window"], "bad duration \"1 hour\""),
                (&["config", "catchup", "policy"], "must be \"all\" or \"latest\", not \"some\""),
            ],
        ),
        (
            json!({"cron": "@daily", "catchup": "sometimes"}),
            vec![(&["config", "catchup"], "policy must be \"all\" or \"latest\"")],
        ),
        (
            json!({"cron": "@daily", "catchup": 3}),
            vec![(&["config", "catchup"], "must be {\"window\"")],
        ),
        (
            json!({"cron": "@daily", "jitter": "soon"}),
            vec![(&["config", "jitter"], "bad duration \"soon\"")],
        ),
        (
            json!({"cron": "@daily", "interval": "1h"}),
            vec![(&["config"], "either \"cron\" or \"interval\", not both")],
        ),
        (
            json!({"timezone": "UTC"}),
            vec![(&["config"], "needs \"cron\"")],
        ),
        (json!([1]), vec![(&["config"], "must be an object")]),
        (
            json!({"cron": "61 * * * *", "timezone": "Mars/Olympus", "every": "1h"}),
            vec![
                (&["config", "every"], "unknown field \"every\"; expected one of cron, interval"),
                (&["config", "cron"], "minute field \"61\": 61 is out of range 0-59"),
                (&["config", "timezone"], "unknown time zone \"Mars/Olympus\""),
            ],
        ),
    ];
    for (config, expected) in cases {
        let problems = ScheduleConfig::parse(&config).expect_err(&config.to_string());
        assert_eq!(problems.len(), expected.len(), "{config}: {problems:?}");
        for (problem, (path, message)) in problems.iter().zip(expected) {
            assert_eq!(problem.path, path, "{config}: {problems:?}");
            assert!(
                problem.message.contains(message),
                "{config}: {:?} lacks {message:?}",
                problem.message
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Cron forms and daylight saving

#[test]
fn cron_forms_tick_where_expected() {
    let cases: [(Value, &str, &[&str]); 8] = [
        (
            json!({"cron": "*/20 * * * * *"}),
            "2026-01-01T00:00:50Z",
            &[
                "2026-01-01T00:01:00Z",
                "2026-01-01T00:01:20Z",
                "2026-01-01T00:01:40Z",
            ],
        ),
        (
            json!({"cron": "@hourly"}),
            "2026-01-01T00:00:00Z",
            &["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"],
        ),
        (
            json!({"cron": "@daily", "timezone": "Europe/London"}),
            "2026-06-01T12:00:00Z",
            &["2026-06-01T23:00:00Z", "2026-06-02T23:00:00Z"],
        ),
        (
            json!({"cron": "@weekly", "timezone": "America/New_York"}),
            "2026-01-01T00:00:00Z",
            &["2026-01-04T05:00:00Z", "2026-01-11T05:00:00Z"],
        ),
        (
            json!({"cron": "@monthly"}),
            "2026-01-15T00:00:00Z",
            &["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"],
        ),
        (
            json!({"cron": "@yearly"}),
            "2026-01-15T00:00:00Z",
            &["2027-01-01T00:00:00Z"],
        ),
        (
            json!({"cron": "0 9 * * MON-FRI", "timezone": "Asia/Kolkata"}),
            "2026-01-02T04:00:00Z",
            &["2026-01-05T03:30:00Z", "2026-01-06T03:30:00Z"],
        ),
        (
            json!({"interval": "90m", "timezone": "America/New_York"}),
            "2026-03-08T05:00:00Z",
            &[
                "2026-03-08T06:30:00Z",
                "2026-03-08T08:00:00Z",
                "2026-03-08T09:30:00Z",
            ],
        ),
    ];
    for (config, after, expected) in cases {
        let schedule = schedule(config.clone());
        assert_eq!(
            ticks(&schedule, after, expected.len()),
            expected,
            "{config}"
        );
    }
    let never = Cron::parse("0 0 31 2 *").expect_err("31 February");
    assert!(never.to_string().contains("never fires"), "{never}");
}

#[test]
fn daylight_saving_rules() {
    let ny = |cron: &str| schedule(json!({"cron": cron, "timezone": "America/New_York"}));
    // Spring forward, 2026-03-08: 02:00-02:59 EST do not exist; 03:00 EDT is 07:00Z.
    assert_eq!(
        ticks(&ny("30 2 * * *"), "2026-03-07T12:00:00Z", 2),
        ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"],
        "02:30 fires at the end of the gap"
    );
    assert_eq!(
        ticks(&ny("*/15 2,3 * * *"), "2026-03-08T06:00:00Z", 4),
        [
            "2026-03-08T07:00:00Z",
            "2026-03-08T07:15:00Z",
            "2026-03-08T07:30:00Z",
            "2026-03-08T07:45:00Z"
        ],
        "02:00, 02:15, 02:30, 02:45 and 03:00 fire once together"
    );
    assert_eq!(
        ticks(&ny("0 * * * *"), "2026-03-08T05:00:00Z", 3),
        [
            "2026-03-08T06:00:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-08T08:00:00Z"
        ]
    );
    // Fall back, 2026-11-01: 01:00-01:59 occur twice (EDT 05:xxZ, then EST 06:xxZ).
    assert_eq!(
        ticks(&ny("30 1 * * *"), "2026-10-31T12:00:00Z", 2),
        ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
        "01:30 fires once, at its first occurrence"
    );
    assert_eq!(
        ticks(&ny("0 * * * *"), "2026-11-01T03:30:00Z", 4),
        [
            "2026-11-01T04:00:00Z",
            "2026-11-01T05:00:00Z",
            "2026-11-01T07:00:00Z",
            "2026-11-01T08:00:00Z"
        ]
    );
    // Asked from inside the second pass, the repeated times are already past.
    assert_eq!(
        ticks(&ny("*/20 * * * *"), "2026-11-01T06:10:00Z", 2),
        ["2026-11-01T07:00:00Z", "2026-11-01T07:20:00Z"]
    );
    // Europe/London: the gap is 01:00-01:59 GMT on 2026-03-29.
    let london = schedule(json!({"cron": "30 1 * * *", "timezone": "Europe/London"}));
    assert_eq!(
        ticks(&london, "2026-03-28T12:00:00Z", 3),
        [
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z",
            "2026-03-31T00:30:00Z"
        ]
    );
    // Lord Howe moves its clocks by 30 minutes: 02:00-02:29 do not exist.
    let lord_howe =
        schedule(json!({"cron": "10,20,40 2 * * *", "timezone": "Australia/Lord_Howe"}));
    assert_eq!(
        ticks(&lord_howe, "2026-10-03T15:00:00Z", 2),
        ["2026-10-03T15:30:00Z", "2026-10-03T15:40:00Z"]
    );
    // Intervals are elapsed time: exactly an hour apart through both changes.
    let hourly = schedule(json!({"interval": "1h", "timezone": "America/New_York"}));
    let anchor = utc("2026-03-08T04:30:00Z");
    let mut at = anchor;
    for _ in 0..6 {
        let next = next_tick(&hourly, at, anchor).expect("tick");
        assert_eq!(next - at, Duration::hours(1));
        at = next;
    }
}

// ---------------------------------------------------------------------------------------
// Catch-up, clock going backwards, bounds

fn skipped(at: &str, reason: SkipReason) -> Skipped {
    Skipped::one(utc(at), reason)
}

#[test]
fn catch_up_after_three_hours_down() {
    // Hourly; the last tick handled was 10:00; the scheduler was down until 13:30.
    let last = Some(utc("2026-05-04T10:00:00Z"));
    let now = utc("2026-05-04T13:30:00Z");
    let anchor = utc("2026-01-01T00:00:00Z");
    let planned = |catchup: Value| {
        plan(
            &schedule(json!({"cron": "0 * * * *", "catchup": catchup})),
            last,
            now,
            anchor,
        )
    };
    let outside = SkipReason::OutsideCatchupWindow;
    let superseded = SkipReason::Superseded;

    // Default window 1h, policy all: 13:00 runs, 11:00 and 12:00 are too old.
    let default = planned(Value::Null);
    assert_eq!(
        default,
        Plan {
            run: vec![utc("2026-05-04T13:00:00Z")],
            skip: vec![
                skipped("2026-05-04T11:00:00Z", outside),
                skipped("2026-05-04T12:00:00Z", outside)
            ],
            done_through: Some(utc("2026-05-04T13:00:00Z")),
            next: Some(utc("2026-05-04T14:00:00Z")),
        }
    );
    assert_eq!(outside.to_string(), "outside catch-up window");
    assert_eq!(superseded.to_string(), "superseded");

    let all = planned(json!({"window": "3h", "policy": "all"}));
    assert_eq!(
        all.run,
        [
            utc("2026-05-04T11:00:00Z"),
            utc("2026-05-04T12:00:00Z"),
            utc("2026-05-04T13:00:00Z")
        ]
    );
    assert!(all.skip.is_empty());

    let latest = planned(json!({"window": "3h", "policy": "latest"}));
    assert_eq!(latest.run, [utc("2026-05-04T13:00:00Z")]);
    assert_eq!(
        latest.skip,
        [
            skipped("2026-05-04T11:00:00Z", superseded),
            skipped("2026-05-04T12:00:00Z", superseded)
        ]
    );
    assert_eq!(latest.done_through, Some(utc("2026-05-04T13:00:00Z")));

    let mixed = planned(json!({"window": "2h", "policy": "latest"}));
    assert_eq!(mixed.run, [utc("2026-05-04T13:00:00Z")]);
    assert_eq!(
        mixed.skip,
        [
            skipped("2026-05-04T11:00:00Z", outside),
            skipped("2026-05-04T12:00:00Z", superseded)
        ]
    );

    // No catch-up: only a tick within the on-time grace (a minute) runs.
    let off = planned(json!(false));
    assert!(off.run.is_empty());
    assert_eq!(off.skip.len(), 3);
    let on_time = plan(
        &schedule(json!({"cron": "0 * * * *", "catchup": false})),
        last,
        utc("2026-05-04T11:00:40Z"),
        anchor,
    );
    assert_eq!(on_time.run, [utc("2026-05-04T11:00:00Z")]);

    // Carrying the plan out and planning again at the same time does nothing more.
    let again = plan(
        &schedule(json!({"cron": "0 * * * *"})),
        default.done_through,
        now,
        anchor,
    );
    assert_eq!(
        again,
        Plan {
            done_through: default.done_through,
            next: default.next,
            ..Plan::default()
        }
    );
}

#[test]
fn a_clock_that_moves_backwards_repeats_nothing() {
    let hourly = schedule(json!({"cron": "0 * * * *"}));
    let anchor = utc("2026-01-01T00:00:00Z");
    let last = Some(utc("2026-05-04T10:00:00Z"));
    let back = plan(&hourly, last, utc("2026-05-04T08:20:00Z"), anchor);
    assert_eq!(
        back,
        Plan {
            done_through: last,
            next: Some(utc("2026-05-04T11:00:00Z")),
            ..Plan::default()
        }
    );
    // A new trigger: ticks count from its creation (the anchor), not from the past.
    let fresh = plan(
        &hourly,
        None,
        utc("2026-05-04T10:30:00Z"),
        utc("2026-05-04T10:10:00Z"),
    );
    assert_eq!(fresh.run, Vec::<DateTime<Utc>>::new());
    assert_eq!(fresh.next, Some(utc("2026-05-04T11:00:00Z")));
}

#[test]
fn a_month_down_with_a_tick_every_second_is_bounded() {
    let anchor = utc("2026-01-01T00:00:00Z");
    let last = Some(utc("2026-04-01T00:00:00Z"));
    let now = utc("2026-05-01T00:00:00Z");
    let every_second = schedule(json!({"cron": "* * * * * *"}));
    let started = std::time::Instant::now();
    let planned = plan(&every_second, last, now, anchor);
    let window_start = utc("2026-04-30T23:00:00Z");
    assert_eq!(planned.skip.len(), PLAN_TICKS_MAX / 2 + 1);
    let summary = planned.skip.last().expect("a summary");
    assert_eq!(
        summary,
        &Skipped {
            scheduled: utc("2026-04-01T00:00:00Z") + Duration::seconds(5001),
            through: Some(window_start - Duration::seconds(1)),
            reason: SkipReason::OutsideCatchupWindow,
        }
    );
    assert_eq!(planned.run.len(), 3601, "the last hour, both ends included");
    assert_eq!(planned.run.first(), Some(&window_start));
    assert_eq!(planned.done_through, Some(now));
    assert_eq!(planned.next, Some(now + Duration::seconds(1)));

    // A window as long as the downtime: runs come PLAN_TICKS_MAX at a time, and `next`
    // (already due) says to plan again at once.
    let long = schedule(json!({"cron": "* * * * * *", "catchup": {"window": "40d"}}));
    let first = plan(&long, last, now, anchor);
    assert_eq!(first.run.len(), PLAN_TICKS_MAX);
    assert!(first.skip.is_empty());
    assert_eq!(
        first.done_through,
        Some(utc("2026-04-01T00:00:00Z") + Duration::seconds(10_000))
    );
    assert!(first.next.is_some_and(|next| next <= now));
    let second = plan(&long, first.done_through, now, anchor);
    assert_eq!(
        second.run.first(),
        Some(&(utc("2026-04-01T00:00:00Z") + Duration::seconds(10_001)))
    );

    // Latest over the same window: one run, the superseded ones listed then summarized.
    let latest =
        schedule(json!({"cron": "* * * * * *", "catchup": {"window": "40d", "policy": "latest"}}));
    let planned = plan(&latest, last, now, anchor);
    assert_eq!(planned.run, [now]);
    assert_eq!(planned.skip.len(), PLAN_TICKS_MAX);
    assert_eq!(
        planned.skip.last().and_then(|skip| skip.through),
        Some(now - Duration::seconds(1))
    );
    assert!(planned
        .skip
        .iter()
        .all(|skip| skip.reason == SkipReason::Superseded));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "bounded work took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Overlap, jitter, keys

#[test]
fn overlap_decisions() {
    use OverlapDecision::{Buffer, Skip, Start};
    let cases = [
        (Overlap::Skip, 0, 0, Start),
        (Overlap::Skip, 1, 0, Skip),
        (Overlap::Skip, 3, 0, Skip),
        (Overlap::BufferOne, 0, 0, Start),
        (Overlap::BufferOne, 1, 0, Buffer),
        (Overlap::BufferOne, 1, 1, Skip),
        (Overlap::BufferOne, 0, 1, Skip),
        (Overlap::AllowAll, 0, 0, Start),
        (Overlap::AllowAll, 5, 0, Start),
        (Overlap::AllowAll, 5, 2, Start),
    ];
    for (policy, running, buffered, expected) in cases {
        assert_eq!(
            overlap_decision(policy, running, buffered),
            expected,
            "{policy:?} running {running} buffered {buffered}"
        );
    }
}

#[test]
fn jitter_is_deterministic_and_bounded() {
    let jitter = Some(DurationMs(30_000));
    let base = utc("2026-03-08T07:00:00Z");
    let mut sum = 0i64;
    let mut distinct = HashSet::new();
    for i in 0..2000 {
        let at = base + Duration::minutes(i);
        let offset = jitter_offset("nightly", at, jitter);
        assert_eq!(
            offset,
            jitter_offset("nightly", at, jitter),
            "deterministic"
        );
        assert!(
            offset >= Duration::zero() && offset < Duration::seconds(30),
            "{offset}"
        );
        sum += offset.num_milliseconds();
        distinct.insert(offset);
    }
    let mean = sum / 2000;
    assert!((12_000..18_000).contains(&mean), "mean {mean} ms");
    assert!(distinct.len() > 1500, "spread over the range");
    assert_ne!(
        jitter_offset("nightly", base, jitter),
        jitter_offset("hourly", base, jitter),
        "the trigger matters"
    );
    assert_eq!(jitter_offset("nightly", base, None), Duration::zero());
    let with_jitter = schedule(json!({"cron": "@daily", "jitter": "30s"}));
    assert_eq!(
        start_at(&with_jitter, "nightly", base),
        base + jitter_offset("nightly", base, jitter)
    );
    assert_eq!(
        start_at(&schedule(json!({"cron": "@daily"})), "nightly", base),
        base
    );
}

#[test]
fn idempotency_keys_name_the_trigger_and_the_instant() {
    assert_eq!(
        idempotency_key("daily-report", utc("2026-03-08T07:00:00Z")),
        "daily-report:2026-03-08T07:00:00Z"
    );
    assert_eq!(
        idempotency_key("t1", utc("2026-03-08T02:00:00-05:00")),
        "t1:2026-03-08T07:00:00Z"
    );
    assert_eq!(
        idempotency_key("t1", utc("2026-03-08T07:00:05.250Z")),
        "t1:2026-03-08T07:00:05Z"
    );
}

// ---------------------------------------------------------------------------------------
// The simulated scheduler

/// SplitMix64: deterministic steps for the fake clock.
struct Steps(u64);

impl Steps {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % bound
    }
}

/// The instants a wall-clock time of day fires at, computed by walking local days: the
/// single occurrence, the first of two, or for a time that does not exist the first local
/// minute after it that does (its earliest occurrence).
fn expected_instants(
    tz: Tz,
    times: &[NaiveTime],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BTreeSet<DateTime<Utc>> {
    let mut out = BTreeSet::new();
    let mut day = from.with_timezone(&tz).date_naive() - Duration::days(1);
    let last_day = to.with_timezone(&tz).date_naive() + Duration::days(1);
    while day <= last_day {
        for time in times {
            let local = day.and_time(*time);
            let instant = match tz.from_local_datetime(&local) {
                LocalResult::Single(at) => at,
                LocalResult::Ambiguous(first, second) => {
                    assert!(first < second);
                    first
                }
                LocalResult::None => {
                    let mut later = local;
                    loop {
                        later += Duration::minutes(1);
                        if let Some(at) = tz.from_local_datetime(&later).earliest() {
                            break at;
                        }
                    }
                }
            };
            let instant = instant.with_timezone(&Utc);
            if from < instant && instant <= to {
                out.insert(instant);
            }
        }
        day = day.succ_opt().expect("a next day");
    }
    out
}

/// The instants at which the zone's offset changes between `from` and `to`.
fn transitions(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let offset = |at: DateTime<Utc>| at.with_timezone(&tz).naive_local() - at.naive_utc();
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let next = at + Duration::hours(1);
        if offset(at) != offset(next) {
            let mut minute = at;
            while offset(minute) == offset(at) {
                minute += Duration::minutes(1);
            }
            out.push(minute);
        }
        at = next;
    }
    out
}

/// Drives `plan` the way a scheduler would, from a fake clock that steps 1-7 minutes at a
/// time, sometimes jumps back up to 2 h, and always jumps back 2 h shortly after each
/// daylight-saving change. Returns each schedule's runs, in the order started, and the last
/// `now`.
fn simulate(
    schedules: &[ScheduleConfig],
    start: DateTime<Utc>,
    days: i64,
    jump_back_after: &[DateTime<Utc>],
    seed: u64,
) -> (Vec<Vec<DateTime<Utc>>>, DateTime<Utc>) {
    let mut steps = Steps(seed);
    let anchor = start;
    let end = start + Duration::days(days);
    let mut now = start;
    let mut latest_now = start;
    let mut last_done = vec![None; schedules.len()];
    let mut runs = vec![Vec::new(); schedules.len()];
    let mut forced = jump_back_after.iter().peekable();
    let mut backward_jumps = 0;
    let mut step = |now: DateTime<Utc>, last_done: &mut Vec<Option<DateTime<Utc>>>| {
        for (i, schedule) in schedules.iter().enumerate() {
            let planned = plan(schedule, last_done[i], now, anchor);
            assert!(planned.skip.is_empty(), "nothing missed: {planned:?}");
            assert!(planned.next.is_some_and(|next| next > now));
            runs[i].extend(planned.run);
            last_done[i] = planned.done_through;
        }
    };
    while latest_now < end {
        if forced
            .peek()
            .is_some_and(|at| now >= **at + Duration::minutes(20))
        {
            forced.next();
            now -= Duration::hours(2);
            backward_jumps += 1;
        } else if steps.next(150) == 0 {
            now -= Duration::minutes(1 + steps.next(120) as i64);
            backward_jumps += 1;
        } else {
            now += Duration::seconds(60 + steps.next(6 * 60 + 1) as i64);
        }
        latest_now = latest_now.max(now);
        step(now, &mut last_done);
    }
    let now = latest_now + Duration::seconds(1);
    step(now, &mut last_done);
    assert!(backward_jumps > jump_back_after.len());
    (runs, now)
}

#[test]
fn four_hundred_simulated_days_run_every_tick_exactly_once() {
    let start = utc("2025-12-01T00:00:00Z");
    let days = 400;
    let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("time");
    for (zone, seed) in [("America/New_York", 1), ("Europe/London", 2), ("UTC", 3)] {
        let tz: Tz = zone.parse().expect("zone");
        let schedules: Vec<ScheduleConfig> = ["0 * * * *", "30 1 * * *", "30 2 * * *"]
            .iter()
            .map(|cron| schedule(json!({"cron": cron, "timezone": zone})))
            .collect();
        let changes = transitions(tz, start, start + Duration::days(days));
        assert_eq!(changes.len(), if zone == "UTC" { 0 } else { 2 }, "{zone}");
        let (runs, end) = simulate(&schedules, start, days, &changes, seed);

        let hours: Vec<NaiveTime> = (0..24).map(|h| hm(h, 0)).collect();
        let times: [&[NaiveTime]; 3] = [&hours, &[hm(1, 30)], &[hm(2, 30)]];
        for ((ran, times), schedule) in runs.iter().zip(times).zip(&schedules) {
            let label = format!("{zone} {:?}", schedule.timing);
            assert!(
                ran.windows(2).all(|pair| pair[0] < pair[1]),
                "{label}: started in order, none twice"
            );
            let keys: HashSet<String> = ran.iter().map(|at| idempotency_key("t", *at)).collect();
            assert_eq!(keys.len(), ran.len(), "{label}: one key per run");
            let ran_set: BTreeSet<DateTime<Utc>> = ran.iter().copied().collect();
            let expected = expected_instants(tz, times, start, end);
            let missing: Vec<_> = expected.difference(&ran_set).collect();
            let extra: Vec<_> = ran_set.difference(&expected).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{label}: missing {missing:?}, extra {extra:?}"
            );
            let per_day = if times.len() == 24 { 24 } else { 1 };
            assert!(ran.len() > 399 * per_day, "{label}: {} runs", ran.len());
        }

        let local_runs = |i: usize, date: NaiveDate| -> Vec<NaiveDateTime> {
            runs[i]
                .iter()
                .map(|at| at.with_timezone(&tz).naive_local())
                .filter(|local| local.date() == date)
                .collect()
        };
        match zone {
            "America/New_York" => {
                let spring = NaiveDate::from_ymd_opt(2026, 3, 8).expect("date");
                let fall = NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
                // Spring forward: 23 hourly runs, none in the missing hour; 02:30 at 03:00.
                let hourly = local_runs(0, spring);
                assert_eq!(hourly.len(), 23);
                assert!(hourly.iter().all(|local| local.hour() != 2));
                assert!(!runs[2].contains(&utc("2026-03-08T07:30:00Z")));
                assert!(!runs[2].contains(&utc("2026-03-08T06:30:00Z")));
                assert!(runs[2].contains(&utc("2026-03-08T07:00:00Z")));
                // Fall back: 24 hourly runs (01:00 once), and 01:30 once, in EDT.
                assert_eq!(local_runs(0, fall).len(), 24);
                assert_eq!(local_runs(1, fall), [fall.and_time(hm(1, 30))]);
                assert!(runs[1].contains(&utc("2026-11-01T05:30:00Z")));
                assert!(!runs[1].contains(&utc("2026-11-01T06:30:00Z")));
            }
            "Europe/London" => {
                let spring = NaiveDate::from_ymd_opt(2026, 3, 29).expect("date");
                let fall = NaiveDate::from_ymd_opt(2026, 10, 25).expect("date");
                assert_eq!(local_runs(0, spring).len(), 23);
                assert!(runs[1].contains(&utc("2026-03-29T01:00:00Z")));
                assert_eq!(local_runs(1, fall), [fall.and_time(hm(1, 30))]);
                assert!(runs[1].contains(&utc("2026-10-25T00:30:00Z")));
            }
            _ => assert_eq!(runs[0].len() as i64, (end - start).num_hours()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Property: next_tick only moves forward and lands on a matching local time or a gap's end

const ZONES: [&str; 10] = [
    "America/New_York",
    "Europe/London",
    "UTC",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "America/St_Johns",
    "Pacific/Apia",
    "Europe/Moscow",
];

fn cron_strategy() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "0 ", "30 ", "*/20 ", "0,45 "]),
        prop::sample::select(vec!["0", "30", "*/15", "0,30", "5-10", "*", "59"]),
        prop::sample::select(vec!["*", "1", "2", "0-3", "*/3", "1,2,3", "23"]),
        prop::sample::select(vec!["*", "1", "15", "*/10", "31", "?"]),
        prop::sample::select(vec!["*", "3", "10,11", "*/2", "MAR-NOV", "JAN"]),
        prop::sample::select(vec!["*", "SUN", "1-5", "0,6", "?"]),
    )
        .prop_map(|(s, m, h, dom, mon, dow)| format!("{s}{m} {h} {dom} {mon} {dow}"))
}

fn start_strategy() -> impl Strategy<Value = DateTime<Utc>> {
    let anywhere = (946_684_800i64..2_051_222_400)
        .prop_map(|s| DateTime::from_timestamp(s, 0).expect("in range"));
    // Near the usual changes: March, April, September, October, November.
    let near_changes = (
        2000i32..2035,
        prop::sample::select(vec![3u32, 4, 9, 10, 11]),
        1u32..29,
        0i64..86_400,
    )
        .prop_map(|(year, month, day, second)| {
            NaiveDate::from_ymd_opt(year, month, day)
                .expect("date")
                .and_hms_opt(0, 0, 0)
                .expect("time")
                .and_utc()
                + Duration::seconds(second)
        });
    prop_oneof![anywhere, near_changes]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn next_tick_moves_forward_onto_existing_matching_times(
        cron in cron_strategy(),
        zone in prop::sample::select(ZONES.to_vec()),
        start in start_strategy(),
    ) {
        let tz: Tz = zone.parse().expect("zone");
        let parsed = Cron::parse(&cron).expect("generated crons are valid");
        let config = schedule(json!({"cron": cron, "timezone": zone}));
        let mut at = start;
        for _ in 0..25 {
            let Some(next) = next_tick(&config, at, start) else { break };
            prop_assert!(next > at, "{} after {}", next, at);
            prop_assert_eq!(next.timestamp_subsec_nanos(), 0);
            let local = next.with_timezone(&tz).naive_local();
            match tz.from_local_datetime(&local) {
                LocalResult::Single(_) => {}
                LocalResult::Ambiguous(first, second) => {
                    prop_assert_eq!(next, first.min(second).with_timezone(&Utc), "first occurrence");
                }
                LocalResult::None => prop_assert!(false, "{} is not a local time", local),
            }
            if !parsed.matches(local) {
                // Only the end of a gap: the local clock jumped over a matching time.
                let before = (next - Duration::seconds(1)).with_timezone(&tz).naive_local();
                prop_assert!(local - before > Duration::seconds(1), "{} is no gap end", next);
                let skipped = parsed.next_match(before + Duration::seconds(1));
                prop_assert!(
                    skipped.is_some_and(|m| m < local && tz.from_local_datetime(&m).earliest().is_none()),
                    "{} at {}: no matching time in the gap before it", cron, next
                );
            }
            // Nothing in between: no matching local time whose instant falls between.
            let from = at.with_timezone(&tz).naive_local() + Duration::seconds(1);
            if let Some(m) = parsed.next_match(from) {
                if m < local {
                    let instant = tz.from_local_datetime(&m).earliest().map(|t| t.with_timezone(&Utc));
                    prop_assert!(
                        instant.is_none_or(|t| t <= at),
                        "{} matches at {:?}, between {} and {}", cron, instant, at, next
                    );
                }
            }
            at = next;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Phinite's scheduler (seed 003): a start time and a recurrence

/// Drives `plan` from a fake clock that starts at `created` and steps 1-7 minutes at a time
/// until `until`, as the runner would; returns the ticks run, in order. Nothing is ever
/// skipped: the clock never falls behind.
fn run_from(schedule: &ScheduleConfig, created: &str, until: &str, seed: u64) -> Vec<String> {
    let mut steps = Steps(seed);
    let anchor = utc(created);
    let mut now = anchor;
    let mut last_done = None;
    let mut runs = Vec::new();
    while now < utc(until) {
        now += Duration::seconds(60 + steps.next(6 * 60 + 1) as i64);
        let planned = plan(schedule, last_done, now, anchor);
        assert!(planned.skip.is_empty(), "nothing missed: {planned:?}");
        assert!(planned.next.is_some_and(|next| next > now), "{planned:?}");
        runs.extend(
            planned
                .run
                .iter()
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
        last_done = planned.done_through;
    }
    runs
}

#[test]
fn an_hourly_scheduler_fires_at_its_start_time_then_every_hour_from_it() {
    // 09:17 in London in winter is 09:17 UTC; in summer 08:17 UTC. Created at 06:00 local.
    let winter = schedule(json!({
        "startTime": "2026-12-07T09:17:00", "recurrence": "hourly", "timezone": "Europe/London"
    }));
    let runs = run_from(&winter, "2026-12-07T06:00:00Z", "2026-12-07T12:30:00Z", 7);
    assert_eq!(
        runs,
        [
            "2026-12-07T09:17:00Z",
            "2026-12-07T10:17:00Z",
            "2026-12-07T11:17:00Z",
            "2026-12-07T12:17:00Z"
        ],
        "nothing before the start, the first at it, then hourly from it"
    );
    let summer = schedule(json!({
        "startTime": "2026-07-01T09:17", "recurrence": "Hourly", "timezone": "Europe/London"
    }));
    let runs = run_from(&summer, "2026-07-01T05:00:00Z", "2026-07-01T10:20:00Z", 8);
    assert_eq!(
        runs,
        [
            "2026-07-01T08:17:00Z",
            "2026-07-01T09:17:00Z",
            "2026-07-01T10:17:00Z"
        ]
    );
    // Hourly is elapsed time: across the night the clocks fall back (25 October 2026, 02:00
    // BST becomes 01:00 GMT) it fires 01:17 BST and 01:17 GMT, an hour apart.
    let autumn = schedule(json!({
        "startTime": "2026-10-25T00:17:00", "recurrence": "hourly", "timezone": "Europe/London"
    }));
    let runs = run_from(&autumn, "2026-10-24T20:00:00Z", "2026-10-25T03:00:00Z", 9);
    assert_eq!(
        runs,
        [
            "2026-10-24T23:17:00Z",
            "2026-10-25T00:17:00Z",
            "2026-10-25T01:17:00Z",
            "2026-10-25T02:17:00Z"
        ]
    );
}

#[test]
fn daily_and_weekly_keep_the_start_times_wall_clock() {
    // Daily at 09:00 London from Friday 23 October 2026: BST (08:00 UTC) until the clocks
    // fall back on Sunday 25th, then GMT (09:00 UTC).
    let daily = schedule(json!({
        "startTime": "2026-10-23T09:00:00", "recurrence": "daily", "timezone": "Europe/London"
    }));
    assert_eq!(
        ticks(&daily, "2026-10-20T00:00:00Z", 4),
        [
            "2026-10-23T08:00:00Z",
            "2026-10-24T08:00:00Z",
            "2026-10-25T09:00:00Z",
            "2026-10-26T09:00:00Z"
        ]
    );
    // Weekly: every Friday at 09:00 local.
    let weekly = schedule(json!({
        "startTime": "2026-10-23T09:00:00", "recurrence": "weekly", "timezone": "Europe/London"
    }));
    assert_eq!(
        ticks(&weekly, "2026-10-01T00:00:00Z", 3),
        [
            "2026-10-23T08:00:00Z",
            "2026-10-30T09:00:00Z",
            "2026-11-06T09:00:00Z"
        ]
    );
    // A custom cron keeps its own times, none before the start (the start itself only if the
    // cron names it): weekdays at 09:00 from Wednesday 2 December, 10:00.
    let cron = schedule(json!({
        "startTime": "2026-12-02T10:00:00", "recurrence": {"cron": "0 9 * * MON-FRI"},
        "timezone": "Europe/London"
    }));
    assert_eq!(
        ticks(&cron, "2026-11-01T00:00:00Z", 3),
        [
            "2026-12-03T09:00:00Z",
            "2026-12-04T09:00:00Z",
            "2026-12-07T09:00:00Z"
        ]
    );
    // The existing schedule config takes a start time too: an interval counts from it.
    let interval = schedule(json!({"interval": "90m", "startTime": "2026-12-02T10:00:00Z"}));
    assert_eq!(
        ticks(&interval, "2026-11-01T00:00:00Z", 3),
        [
            "2026-12-02T10:00:00Z",
            "2026-12-02T11:30:00Z",
            "2026-12-02T13:00:00Z"
        ]
    );
    // Canonical JSON, and back.
    let json = daily.to_json();
    assert_eq!(json["recurrence"], "daily");
    assert_eq!(json["startTime"], "2026-10-23T09:00:00");
    assert_eq!(schedule(json), daily);
}

#[test]
fn scheduler_config_problems_name_their_fields() {
    let cases: Vec<(Value, Vec<Expected>)> = vec![
        (
            json!({"recurrence": "hourly"}),
            vec![(
                &["config", "startTime"],
                "Required: a \"hourly\" recurrence",
            )],
        ),
        (
            json!({"recurrence": "fortnightly", "startTime": "2026-12-07T09:00:00"}),
            vec![(
                &["config", "recurrence"],
                "must be \"hourly\", \"daily\", \"weekly\" or {\"cron\"",
            )],
        ),
        (
            json!({"recurrence": {"cron": "0 25 * * *"}}),
            vec![(&["config", "recurrence", "cron"], "hour field \"25\"")],
        ),
        (
            json!({"recurrence": {"every": "1h"}}),
            vec![(&["config", "recurrence"], "unknown field \"every\"")],
        ),
        (
            json!({"recurrence": "daily", "startTime": "next monday"}),
            vec![(&["config", "startTime"], "is not a date and time")],
        ),
        (
            json!({"recurrence": "daily", "startTime": 1_765_000_000}),
            vec![(&["config", "startTime"], "must be a date and time string")],
        ),
        (
            json!({"recurrence": "daily", "cron": "0 9 * * *", "startTime": "2026-12-07T09:00"}),
            vec![(&["config"], "either \"cron\" or \"recurrence\", not both")],
        ),
        (
            json!({"recurrence": "daily", "startTime": "2026-12-07T09:00", "timezone": "Mars/Base"}),
            vec![(&["config", "timezone"], "unknown time zone")],
        ),
    ];
    for (config, expected) in cases {
        let problems = ScheduleConfig::parse(&config).expect_err(&config.to_string());
        assert_eq!(problems.len(), expected.len(), "{config}: {problems:?}");
        for (problem, (path, message)) in problems.iter().zip(expected) {
            assert_eq!(problem.path, path, "{config}: {problems:?}");
            assert!(
                problem.message.contains(message),
                "{config}: {:?} lacks {message:?}",
                problem.message
            );
        }
    }
}
