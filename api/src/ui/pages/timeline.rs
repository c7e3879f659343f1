//! A run's timeline in words: every event of its journal as a row (when, how long after the
//! start, which step, what happened), so retries (the failed attempt, when the next one is
//! due), timers (until when), waits (paused, resumed with what), foreach items (their
//! composite step ids) and the links to parents, reruns and children read as a story. The
//! match over `RunEvent` is exhaustive: a new event does not compile until it is described.

use chrono::{TimeZone, Utc};
use engine::events::RunEvent;
use engine::inspect::JournalEvent;
use maud::{html, Markup};

use super::layout;

/// A payload shown in a sentence is cut to this many characters.
const PAYLOAD_SHOWN: usize = 200;

fn iso_ms(ms: i64) -> Option<String> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn iso_us(us: i64) -> Option<String> {
    Utc.timestamp_micros(us)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// `+1.234 s` from the run's first event.
fn offset(start_us: i64, at_us: i64) -> String {
    let ms = (at_us - start_us).max(0) / 1000;
    match ms {
        m if m < 60_000 => format!("+{:.3} s", m as f64 / 1000.0),
        m if m < 3_600_000 => format!("+{} min {} s", m / 60_000, (m % 60_000) / 1000),
        m => format!("+{} h {} min", m / 3_600_000, (m % 3_600_000) / 60_000),
    }
}

/// How long from the event to `fire_at_ms`, in words (`in 2.000 s`).
fn due_in(at_us: i64, fire_at_ms: i64) -> String {
    let ms = (fire_at_ms - at_us / 1000).max(0);
    match ms {
        m if m < 60_000 => format!("in {:.3} s", m as f64 / 1000.0),
        m if m < 3_600_000 => format!("in {} min {} s", m / 60_000, (m % 60_000) / 1000),
        m => format!("in {} h {} min", m / 3_600_000, (m % 3_600_000) / 60_000),
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() <= PAYLOAD_SHOWN {
        text.to_owned()
    } else {
        let head: String = text.chars().take(PAYLOAD_SHOWN).collect();
        format!("{head}…")
    }
}

/// The event's step, its kind (a class for the row: `retry`, `timer`, `wait`, `foreach`,
/// `ok`, `bad`, `link` or `step`) and what happened, in words.
fn describe(event: &RunEvent, at_us: i64) -> (Option<&str>, &'static str, Markup) {
    match event {
        RunEvent::RunStarted {
            workflow_version,
            idempotency_key,
            ..
        } => (
            None,
            "step",
            html! {
                "Run started on version " (workflow_version)
                @if let Some(key) = idempotency_key { " (idempotency key " code { (key) } ")" }
            },
        ),
        RunEvent::StepStarted { step_id, attempt } => (
            Some(step_id),
            "step",
            html! { "Attempt " (attempt) " started" },
        ),
        RunEvent::StepCompleted {
            step_id, attempt, ..
        } => (
            Some(step_id),
            "ok",
            html! { "Completed (attempt " (attempt) ")" },
        ),
        RunEvent::StepFailed {
            step_id,
            attempt,
            error,
        } => (
            Some(step_id),
            "bad",
            html! {
                "Attempt " (attempt) " failed"
                @if let Some(code) = &error.code { ": " strong { (code) } }
                " " (cut(&error.message))
                @if error.retryable { " (worth retrying)" }
            },
        ),
        RunEvent::StepRetryScheduled {
            step_id,
            next_attempt,
            fire_at_ms,
        } => (
            Some(step_id),
            "retry",
            html! {
                "Retry: attempt " (next_attempt) " " (due_in(at_us, *fire_at_ms)) ", at "
                (layout::time(iso_ms(*fire_at_ms).as_deref()))
            },
        ),
        RunEvent::TimerScheduled {
            step_id,
            fire_at_ms,
        } => (
            Some(step_id),
            "timer",
            html! {
                "Timer set: fires " (due_in(at_us, *fire_at_ms)) ", at "
                (layout::time(iso_ms(*fire_at_ms).as_deref()))
            },
        ),
        RunEvent::TimerFired { step_id } => (Some(step_id), "timer", html! { "Timer fired" }),
        RunEvent::RunPaused {
            step_id,
            timeout_at_ms,
        } => (
            Some(step_id),
            "wait",
            html! {
                "Paused: waiting to be resumed"
                @if let Some(at) = timeout_at_ms {
                    ", until " (layout::time(iso_ms(*at).as_deref())) " at the latest"
                }
            },
        ),
        RunEvent::RunResumed {
            step_id,
            payload_json,
        } => (
            Some(step_id),
            "wait",
            html! { "Resumed with " code { (cut(payload_json)) } },
        ),
        RunEvent::RunCancelled { reason } => (None, "bad", html! { "Cancelled: " (reason) }),
        RunEvent::RunCompleted { .. } => (None, "ok", html! { "Run completed" }),
        RunEvent::RunFailed { error } => (
            error.step_id.as_deref(),
            "bad",
            html! {
                "Run failed"
                @if let Some(code) = &error.code { ": " strong { (code) } }
                " " (cut(&error.message))
            },
        ),
        RunEvent::ForeachStarted { step_id, items } => (
            Some(step_id),
            "foreach",
            html! { "Foreach over " (items) " items (each item's steps are " code { (step_id) "[i].…" } ")" },
        ),
        RunEvent::RunForked {
            parent_run_id,
            from_step,
        } => (
            None,
            "link",
            html! {
                "A rerun of " a href=(layout::run_href(parent_run_id)) { code { (parent_run_id) } }
                " from step " code { (from_step) }
            },
        ),
        RunEvent::StepReused {
            step_id, attempts, ..
        } => (
            Some(step_id),
            "ok",
            html! { "Reused from the parent run (" (attempts) " attempts there), not carried out again" },
        ),
        RunEvent::RunRerun {
            child_run_id,
            from_step,
        } => (
            None,
            "link",
            html! {
                "Rerun as " a href=(layout::run_href(child_run_id)) { code { (child_run_id) } }
                " from step " code { (from_step) }
            },
        ),
        RunEvent::StepRequestCompleted {
            step_id,
            attempt,
            request,
            ..
        } => (
            Some(step_id),
            "step",
            html! { "Request " (request) " answered (attempt " (attempt) ")" },
        ),
        RunEvent::ChildRunStarted {
            step_id,
            attempt,
            child_run_id,
        } => (
            Some(step_id),
            "link",
            html! {
                "Started child run " a href=(layout::run_href(child_run_id)) { code { (child_run_id) } }
                " (attempt " (attempt) ")"
            },
        ),
        RunEvent::RunCalledBy {
            parent_run_id,
            step_id,
        } => (
            None,
            "link",
            html! {
                "Called by run " a href=(layout::run_href(parent_run_id)) { code { (parent_run_id) } }
                " from its step " code { (step_id) }
            },
        ),
    }
}

/// The timeline section of the Run page.
pub fn section(events: &[JournalEvent]) -> Markup {
    let start = events.first().map_or(0, |e| e.recorded_at_us);
    html! {
        h2 id="timeline" { "Timeline" }
        div.scroll {
            table.timeline {
                thead { tr { th { "When" } th { "After" } th { "Step" } th { "What happened" } } }
                tbody {
                    @if events.is_empty() { tr { td colspan="4" .none { "Nothing recorded yet." } } }
                    @for event in events {
                        @let (step, kind, what) = describe(&event.event, event.recorded_at_us);
                        tr data-kind=(kind) data-seq=(event.seq) {
                            td { (layout::time(iso_us(event.recorded_at_us).as_deref())) }
                            td.num { (offset(start, event.recorded_at_us)) }
                            td { @if let Some(step) = step { code { (step) } } }
                            td { (what) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::events::StepError;

    #[test]
    fn retries_timers_and_waits_read_as_sentences() {
        let at = 1_700_000_000_000_000;
        let text = |event: RunEvent| describe(&event, at).2.into_string();
        let failed = text(RunEvent::StepFailed {
            step_id: "call".into(),
            attempt: 1,
            error: StepError {
                code: Some("503".into()),
                message: "<b>down</b>".into(),
                retryable: true,
            },
        });
        assert!(failed.contains("Attempt 1 failed"), "{failed}");
        assert!(failed.contains("&lt;b&gt;down"), "escaped: {failed}");
        let retry = text(RunEvent::StepRetryScheduled {
            step_id: "call".into(),
            next_attempt: 2,
            fire_at_ms: at / 1000 + 2500,
        });
        assert!(retry.contains("attempt 2 in 2.500 s"), "{retry}");
        let timer = text(RunEvent::TimerScheduled {
            step_id: "nap".into(),
            fire_at_ms: at / 1000 + 3_600_000,
        });
        assert!(timer.contains("in 1 h 0 min"), "{timer}");
        let paused = text(RunEvent::RunPaused {
            step_id: "approve".into(),
            timeout_at_ms: None,
        });
        assert!(paused.contains("waiting to be resumed"), "{paused}");
        assert_eq!(offset(at, at + 1_234_000), "+1.234 s");
        assert_eq!(cut(&"x".repeat(300)).chars().count(), PAYLOAD_SHOWN + 1);
    }
}
