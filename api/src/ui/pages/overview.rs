//! The Overview page: the last hour's runs per minute, failures per minute and latency, as
//! SVG charts drawn on the server (no script, no inline style: colours come from the
//! stylesheet's classes and SVG attributes), each with its numbers in a table for screen
//! readers and for copying.
//!
//! The runs are those the runs listing holds (the read models) that started in the hour,
//! read page by page up to [`RUNS_MAX`]; each counts in the minute it started. Latency is
//! the time from start to end of the runs that ended.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, DurationRound, Utc};
use maud::{html, Markup};
use readmodels::{RunQuery, RunSummary};

use super::layout::{self, Chrome};
use crate::routes::lists;
use crate::ui::error::UiError;
use crate::ui::guard::SignedIn;
use crate::ui::Ui;
use credentials::keys::Scope;

/// Minutes shown.
pub const MINUTES: usize = 60;
/// Most runs read for the charts; past it the page says the counts are partial.
pub const RUNS_MAX: usize = 20_000;
/// Runs read per query of the read models.
const PAGE: usize = 100;

/// One minute of the chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Minute {
    pub started: u64,
    pub failed: u64,
    /// Start-to-end times of the runs that ended, in milliseconds.
    pub latencies_ms: Vec<i64>,
}

/// The hour, minute by minute, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Hour {
    /// The start of the first minute.
    pub from: DateTime<Utc>,
    pub minutes: Vec<Minute>,
    /// More runs started in the hour than were read.
    pub partial: bool,
}

impl Hour {
    /// The hour ending with the minute `now` is in.
    pub fn empty(now: DateTime<Utc>) -> Hour {
        let minute = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
        Hour {
            from: minute - Duration::minutes(MINUTES as i64 - 1),
            minutes: vec![Minute::default(); MINUTES],
            partial: false,
        }
    }

    /// Counts `run` in the minute it started (nothing when it started outside the hour).
    pub fn add(&mut self, run: &RunSummary) {
        let Some(started) = DateTime::from_timestamp_micros(run.started_at_us) else {
            return;
        };
        // Floored, so a run a second before the hour is minute -1, not 0.
        let offset = (started - self.from).num_seconds().div_euclid(60);
        let Some(minute) = usize::try_from(offset)
            .ok()
            .and_then(|i| self.minutes.get_mut(i))
        else {
            return;
        };
        minute.started += 1;
        if run.status == engine::run::RunStatus::Failed {
            minute.failed += 1;
        }
        if let Some(ended) = run
            .completed_at_us
            .and_then(DateTime::from_timestamp_micros)
        {
            minute
                .latencies_ms
                .push((ended - started).num_milliseconds().max(0));
        }
    }

    pub fn started(&self) -> u64 {
        self.minutes.iter().map(|m| m.started).sum()
    }

    pub fn failed(&self) -> u64 {
        self.minutes.iter().map(|m| m.failed).sum()
    }

    /// Every ended run's latency in the hour.
    pub fn latencies(&self) -> Vec<i64> {
        self.minutes
            .iter()
            .flat_map(|m| m.latencies_ms.iter().copied())
            .collect()
    }
}

/// The `p`-th percentile (0-100, nearest rank) of `values`; `None` when empty.
pub fn percentile(values: &[i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1) as usize;
    sorted.get(rank - 1).copied()
}

/// A duration in milliseconds as `850 ms`, `1.2 s`, `3.5 min`.
pub fn millis(ms: i64) -> String {
    match ms {
        m if m < 1000 => format!("{m} ms"),
        m if m < 60_000 => format!("{:.1} s", m as f64 / 1000.0),
        m => format!("{:.1} min", m as f64 / 60_000.0),
    }
}

/// The runs that started in the hour, read from the listing page by page.
async fn read_hour(ui: &Ui, now: DateTime<Utc>) -> Result<Hour, UiError> {
    let mut hour = Hour::empty(now);
    lists::caught_up(&ui.app).await?;
    let mut query = RunQuery {
        from: Some(hour.from),
        limit: PAGE,
        ..RunQuery::default()
    };
    let mut read = 0;
    loop {
        let page = ui
            .app
            .read_models
            .list_runs(&query)
            .map_err(crate::error::ApiError::from)?;
        for run in &page.items {
            hour.add(run);
        }
        read += page.items.len();
        match page.next_cursor {
            Some(next) if read < RUNS_MAX => query.cursor = Some(next),
            Some(_) => {
                hour.partial = true;
                return Ok(hour);
            }
            None => return Ok(hour),
        }
    }
}

/// Chart geometry: a 60-bar chart in a 480 × 170 box, scaled to the chart's width (small
/// enough that its labels stay readable on a 390 px screen).
const WIDTH: u32 = 480;
const HEIGHT: u32 = 170;
const LEFT: u32 = 46;
const BOTTOM: u32 = 24;
const TOP: u32 = 10;

/// A bar chart of one value per minute, with its axis, its largest value, labels every
/// 15 minutes, a `<title>` per bar (hover) and the figures as a table.
fn bars(
    id: &str,
    title: &str,
    hour: &Hour,
    values: &[i64],
    class: &str,
    label: &dyn Fn(i64) -> String,
) -> Markup {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let plot_w = WIDTH - LEFT - 8;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let slot = plot_w as f64 / MINUTES as f64;
    let summary = format!(
        "{title}, minute by minute over the last hour; the largest is {}.",
        label(values.iter().copied().max().unwrap_or(0))
    );
    html! {
        figure.chart id=(id) {
            figcaption { (title) }
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(summary) preserveAspectRatio="xMidYMid meet" {
                title { (summary) }
                line.axis x1=(LEFT) y1=(TOP + plot_h) x2=(WIDTH - 8) y2=(TOP + plot_h) {}
                line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(TOP + plot_h) {}
                line.grid x1=(LEFT) y1=(TOP) x2=(WIDTH - 8) y2=(TOP) {}
                text.tick x=(LEFT - 4) y=(TOP + 5) text-anchor="end" { (label(max)) }
                text.tick x=(LEFT - 4) y=(TOP + plot_h) text-anchor="end" { "0" }
                @for (i, value) in values.iter().enumerate() {
                    @let h = (*value as f64 / max as f64 * plot_h as f64).round();
                    @let x = LEFT as f64 + i as f64 * slot + 1.0;
                    @let at = hour.from + Duration::minutes(i as i64);
                    @if *value > 0 {
                        rect class=(class) x=(format!("{x:.1}")) y=(format!("{:.1}", (TOP + plot_h) as f64 - h.max(1.0))) width=(format!("{:.1}", (slot - 2.0).max(1.0))) height=(format!("{:.1}", h.max(1.0))) {
                            title { (at.format("%H:%M UTC")) ": " (label(*value)) }
                        }
                    }
                }
                @for back in [60, 45, 30, 15, 0] {
                    @let i = (MINUTES as i64 - back).clamp(0, MINUTES as i64 - 1);
                    @let x = LEFT as f64 + i as f64 * slot + slot / 2.0;
                    @if back == 0 {
                        text.tick x=(WIDTH - 8) y=(HEIGHT - 5) text-anchor="end" { "now" }
                    } @else {
                        text.tick x=(format!("{x:.1}")) y=(HEIGHT - 5) text-anchor="middle" { "−" (back) " min" }
                    }
                }
            }
            details.figures {
                summary { "Figures" }
                div.scroll {
                    table.figures {
                        thead { tr { th { "Minute (UTC)" } th { (title) } } }
                        tbody {
                            @for (i, value) in values.iter().enumerate() {
                                @if *value > 0 {
                                    tr {
                                        td { ((hour.from + Duration::minutes(i as i64)).format("%H:%M")) }
                                        td.num { (label(*value)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /ui/overview`.
pub async fn overview(State(ui): State<Ui>, signed: SignedIn) -> Result<Response, UiError> {
    signed.require(Scope::RunsRead)?;
    let now = Utc::now();
    let hour = read_hour(&ui, now).await?;
    let started: Vec<i64> = hour.minutes.iter().map(|m| m.started as i64).collect();
    let failed: Vec<i64> = hour.minutes.iter().map(|m| m.failed as i64).collect();
    let p95: Vec<i64> = hour
        .minutes
        .iter()
        .map(|m| percentile(&m.latencies_ms, 95).unwrap_or(0))
        .collect();
    let all = hour.latencies();
    let (total, failures) = (hour.started(), hour.failed());
    let rate = if total == 0 {
        0.0
    } else {
        failures as f64 * 100.0 / total as f64
    };
    let count = |n: i64| n.to_string();
    let latency = |ms: i64| millis(ms);
    let chrome = Chrome {
        key_name: &signed.key.name,
        key_id: &signed.key.id,
        csrf: &signed.session.csrf,
    };
    let failed_href = format!(
        "/ui/runs?{}",
        layout::query([
            ("status", "failed"),
            ("from", &hour.from.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        ])
    );
    let body = html! {
        h1 { "Overview" }
        p.lede { "The last hour, from " (layout::time(Some(&hour.from.to_rfc3339()))) ", each run counted in the minute it started." }
        @if hour.partial {
            p.error role="alert" { "More than " (RUNS_MAX) " runs started in the hour: the charts show the first " (RUNS_MAX) "." }
        }
        dl.stats {
            div { dt { "Runs started" } dd data-stat="started" { (total) } }
            div { dt { "Failed" } dd data-stat="failed" { a href=(failed_href) { (failures) } } }
            div { dt { "Failure rate" } dd data-stat="rate" { (format!("{rate:.1} %")) } }
            div { dt { "Latency p50" } dd data-stat="p50" { (percentile(&all, 50).map(millis).unwrap_or_else(|| "—".to_owned())) } }
            div { dt { "Latency p95" } dd data-stat="p95" { (percentile(&all, 95).map(millis).unwrap_or_else(|| "—".to_owned())) } }
        }
        div.charts {
            (bars("runs-per-minute", "Runs started per minute", &hour, &started, "bar", &count))
            (bars("failures-per-minute", "Failures per minute", &hour, &failed, "bar bad", &count))
            (bars("latency-per-minute", "Latency per minute (p95 of the runs that ended)", &hour, &p95, "bar slow", &latency))
        }
    };
    Ok(layout::html(
        StatusCode::OK,
        layout::page("Overview", Some(&chrome), body),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    fn run(started: &str, ended: Option<&str>, status: &str) -> RunSummary {
        let micros = |text: &str| parse(text).expect("a time").timestamp_micros();
        RunSummary {
            run_id: "run_1".into(),
            workflow_id: "wf_1".into(),
            workflow_version: 1,
            status: readmodels::parse_run_status(status).expect("a status"),
            started_at_us: micros(started),
            completed_at_us: ended.map(micros),
            error: None,
            idempotency_key: None,
        }
    }

    #[test]
    fn runs_count_in_the_minute_they_started() {
        let now = parse("2026-01-01T12:00:30Z").expect("time");
        let mut hour = Hour::empty(now);
        assert_eq!(hour.from, parse("2026-01-01T11:01:00Z").expect("time"));
        hour.add(&run(
            "2026-01-01T12:00:10Z",
            Some("2026-01-01T12:00:11.5Z"),
            "completed",
        ));
        hour.add(&run(
            "2026-01-01T12:00:20Z",
            Some("2026-01-01T12:00:20.2Z"),
            "failed",
        ));
        hour.add(&run("2026-01-01T11:01:00Z", None, "running"));
        hour.add(&run("2026-01-01T11:00:59Z", None, "running"));
        assert_eq!(hour.started(), 3, "the run before the hour is left out");
        assert_eq!(hour.failed(), 1);
        assert_eq!(hour.minutes[59].started, 2);
        assert_eq!(hour.minutes[59].latencies_ms, vec![1500, 200]);
        assert_eq!(hour.minutes[0].started, 1);
        assert!(hour.minutes[0].latencies_ms.is_empty(), "not ended");
    }

    #[test]
    fn percentiles_and_durations() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[5], 95), Some(5));
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), Some(50));
        assert_eq!(percentile(&values, 95), Some(95));
        assert_eq!(millis(850), "850 ms");
        assert_eq!(millis(1200), "1.2 s");
        assert_eq!(millis(210_000), "3.5 min");
    }
}
