//! What every page shares: the HTML shell with the navigation and sign-out form, and small
//! pieces (times, durations, status badges, collapsible JSON, URL encoding). maud escapes
//! every value interpolated here; nothing is ever inserted with `PreEscaped`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};
use serde_json::Value;

use super::super::assets;

/// Who is signed in, for the navigation bar and its sign-out form.
pub struct Chrome<'a> {
    pub key_name: &'a str,
    pub key_id: &'a str,
    pub csrf: &'a str,
}

/// A whole page.
pub fn page(title: &str, chrome: Option<&Chrome<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Duro" }
                link rel="stylesheet" href=(assets::url("duro.css"));
                script src=(assets::url("duro.js")) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.bar {
                    a.brand href="/ui/runs" { "Duro" }
                    @if let Some(chrome) = chrome {
                        nav aria-label="Main" {
                            a href="/ui/overview" { "Overview" }
                            a href="/ui/runs" { "Runs" }
                            a href="/ui/workflows" { "Workflows" }
                            a href="/ui/triggers" { "Triggers" }
                        }
                        form.signout method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(chrome.csrf);
                            span.who title=(chrome.key_id) { (chrome.key_name) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

/// A page with one heading and one sentence (errors, missing scopes).
pub fn message(title: &str, sentence: &str) -> Markup {
    page(
        title,
        None,
        html! {
            h1 { (title) }
            p.message { (sentence) }
            p {
                // The script turns this into the browser's Back (to the form, as filled in).
                a href="/ui/runs" data-back { "Go back" } " · "
                a href="/ui/runs" { "Runs" } " · "
                a href="/ui/login" { "Sign in with another key" }
            }
        },
    )
}

/// `markup` as an HTML response with `status`.
pub fn html(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        markup.into_string(),
    )
        .into_response()
}

fn parse_time(iso: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(iso)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A time as `<time datetime="ISO">… UTC</time>`; the script shows it in the browser's zone
/// and keeps the UTC text as its title.
pub fn time(iso: Option<&str>) -> Markup {
    match iso.and_then(|text| parse_time(text).map(|t| (text, t))) {
        Some((text, t)) => html! {
            time datetime=(text) { (t.format("%Y-%m-%d %H:%M:%S UTC")) }
        },
        None => html! { span.none { "—" } },
    }
}

/// How long from `start` to `end` (both RFC 3339), as `1.234 s`, `3 min 4 s` or `2 h 5 min`;
/// empty when either is missing.
pub fn duration(start: Option<&str>, end: Option<&str>) -> String {
    let (Some(start), Some(end)) = (start.and_then(parse_time), end.and_then(parse_time)) else {
        return String::new();
    };
    let millis = (end - start).num_milliseconds().max(0);
    match millis {
        m if m < 60_000 => format!("{:.3} s", m as f64 / 1000.0),
        m if m < 3_600_000 => format!("{} min {} s", m / 60_000, (m % 60_000) / 1000),
        m => format!("{} h {} min", m / 3_600_000, (m % 3_600_000) / 60_000),
    }
}

/// A status as a badge (the class picks its colour; the word is always shown).
pub fn status(status: &str) -> Markup {
    let class = match status {
        "completed" => "ok",
        "failed" | "corrupt" => "bad",
        "cancelled" => "off",
        "running" | "pending" => "busy",
        _ => "wait",
    };
    html! { span class={ "status " (class) } { (status) } }
}

/// A JSON value as a collapsible, pretty-printed block; nothing for null.
pub fn json(summary: &str, value: &Value) -> Markup {
    if value.is_null() {
        return html! {};
    }
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! {
        details.json {
            summary { (summary) }
            pre { code { (text) } }
        }
    }
}

/// As `json`, shown open (errors: the reader came for them).
pub fn json_open(summary: &str, value: &Value) -> Markup {
    if value.is_null() {
        return html! {};
    }
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! {
        details.json open {
            summary { (summary) }
            pre { code { (text) } }
        }
    }
}

/// `text` percent-encoded for a URL's path segment or query value.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `name=value&…` of the pairs whose value is not empty.
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The link to a run's page.
pub fn run_href(run_id: &str) -> String {
    format!("/ui/runs/{}", encode(run_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_urls() {
        let start = Some("2026-01-01T00:00:00.000Z");
        assert_eq!(duration(start, Some("2026-01-01T00:00:01.500Z")), "1.500 s");
        assert_eq!(
            duration(start, Some("2026-01-01T00:03:04.000Z")),
            "3 min 4 s"
        );
        assert_eq!(
            duration(start, Some("2026-01-01T02:05:00.000Z")),
            "2 h 5 min"
        );
        assert_eq!(duration(start, None), "");
        assert_eq!(query([("a", "x y&z"), ("b", "")]), "a=x%20y%26z");
        assert_eq!(run_href("run_1/../x"), "/ui/runs/run_1%2F..%2Fx");
    }

    #[test]
    fn values_are_escaped() {
        let page = json(
            "Output",
            &serde_json::json!({"html": "<script>alert(1)</script>"}),
        );
        let text = page.into_string();
        assert!(text.contains("&lt;script&gt;"), "{text}");
        assert!(!text.contains("<script>"), "{text}");
    }
}
