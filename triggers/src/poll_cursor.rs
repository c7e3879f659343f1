//! A polling trigger's cursor: which items of a feed already started their run. Pure (no
//! I/O, no clock): the runner hands it the items of one poll and journals the cursor it gives
//! back as `TriggerCursorAdvanced`, so it survives a restart.
//!
//! Two kinds, in StackAI's shapes (seed 004's `cursor_data`):
//!
//! - by id (the default): `{"last_processed_event_id": "...", "seen": [ids]}`. `seen` holds
//!   the newest [`CURSOR_IDS_MAX`] ids, because feeds do not promise that ids grow; an item
//!   runs when its id is not in it. A cursor written before `last_processed_event_id`
//!   existed (`{"seen": [...]}`) reads the same.
//! - by time, with `timestampField`: `{"last_processed_event_timestamp": <the newest
//!   item's own value>, "seen": [ids at exactly that time]}`. An item runs when it is newer
//!   than the cursor, or exactly as new and not in `seen` (two items in the same second are
//!   not lost). Items run oldest first, so a cursor that stops before an item that could
//!   not start never passes it.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, NaiveDateTime};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Ids remembered in a polling trigger's cursor (the newest ones).
pub const CURSOR_IDS_MAX: usize = 1000;
/// Unix times above this are read as milliseconds, below it as seconds (it is 5138 AD in
/// seconds and 1973 in milliseconds).
const UNIX_MS_FROM: i64 = 100_000_000_000;

/// Where a feed's item gets its timestamp, parsed to microseconds since the epoch: RFC 3339
/// (`2025-03-02T10:30:09Z`), the seed's `2025-03-02 10:30:09` (UTC; a `T` and fractions
/// allowed), or a Unix time in seconds or milliseconds (a number or its digits).
pub fn parse_timestamp(value: &Value) -> Option<i64> {
    let from_unix = |n: i64| {
        if n.abs() >= UNIX_MS_FROM {
            n.checked_mul(1000)
        } else {
            n.checked_mul(1_000_000)
        }
    };
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(whole) => from_unix(whole),
            None => n.as_f64().filter(|f| f.is_finite()).and_then(|f| {
                let whole = f.trunc() as i64;
                let micros = if whole.abs() >= UNIX_MS_FROM {
                    f * 1000.0
                } else {
                    f * 1_000_000.0
                };
                (micros.abs() < i64::MAX as f64).then_some(micros as i64)
            }),
        },
        Value::String(text) => {
            let text = text.trim();
            if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                return text.parse::<i64>().ok().and_then(from_unix);
            }
            if let Ok(at) = DateTime::parse_from_rfc3339(text) {
                return Some(at.timestamp_micros());
            }
            ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                .iter()
                .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
                .map(|naive| naive.and_utc().timestamp_micros())
        }
        _ => None,
    }
}

/// An item's id: the field's value as text (strings as they are, numbers printed).
pub fn item_id(item: &Value, field: &str) -> Option<String> {
    match item.get(field)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A name for an item without an id, in a feed read by time: its time and a digest of its
/// content, the same on every poll.
fn content_id(item: &Value, at_us: i64) -> String {
    let digest = Sha256::digest(item.to_string().as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("at-{at_us}-{hex}")
}

/// One item of a poll that is due to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Due<'a> {
    pub id: String,
    pub item: &'a Value,
    /// The item's timestamp (µs) and its value as the feed wrote it, when read by time.
    pub at: Option<(i64, Value)>,
}

/// What one poll found.
#[derive(Debug, Default, PartialEq)]
pub struct Selection<'a> {
    /// Items to run, in the order to run them.
    pub due: Vec<Due<'a>>,
    /// Items left out for want of an id (by id) or of a readable timestamp (by time).
    pub unreadable: usize,
}

/// The cursor of a polling trigger.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cursor {
    /// By id: the newest ids started. By time: the ids at exactly `last_timestamp`.
    pub seen: VecDeque<String>,
    pub last_id: Option<String>,
    /// The newest item's timestamp (µs) and its own value.
    pub last_timestamp: Option<(i64, Value)>,
}

impl Cursor {
    /// The cursor stored as a trigger's `cursor_data` (absent: nothing seen yet).
    pub fn of(data: Option<&Value>) -> Cursor {
        let seen: VecDeque<String> = data
            .and_then(|d| d.get("seen"))
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let last_id = data
            .and_then(|d| d.get("last_processed_event_id"))
            .and_then(|v| item_id(&json!({ "id": v }), "id"))
            .or_else(|| seen.back().cloned());
        let last_timestamp = data
            .and_then(|d| d.get("last_processed_event_timestamp"))
            .and_then(|raw| Some((parse_timestamp(raw)?, raw.clone())));
        Cursor {
            seen,
            last_id,
            last_timestamp,
        }
    }

    /// As `cursor_data`: the shape of the kind in use.
    pub fn to_json(&self, by_time: bool) -> Value {
        match (&self.last_timestamp, by_time) {
            (Some((_, raw)), true) => {
                json!({ "last_processed_event_timestamp": raw, "seen": self.seen })
            }
            _ => json!({ "last_processed_event_id": self.last_id, "seen": self.seen }),
        }
    }

    /// The items of `items` due to run: by id when `timestamp_field` is None, else by time.
    pub fn select<'a>(
        &self,
        items: &'a [Value],
        id_field: &str,
        timestamp_field: Option<&str>,
    ) -> Selection<'a> {
        let known: HashSet<&str> = self.seen.iter().map(String::as_str).collect();
        let mut selection = Selection::default();
        let Some(timestamp_field) = timestamp_field else {
            for item in items {
                match item_id(item, id_field) {
                    Some(id) if !known.contains(id.as_str()) => {
                        selection.due.push(Due { id, item, at: None })
                    }
                    Some(_) => {}
                    None => selection.unreadable += 1,
                }
            }
            return selection;
        };
        for item in items {
            let Some(raw) = item.get(timestamp_field) else {
                selection.unreadable += 1;
                continue;
            };
            let Some(at_us) = parse_timestamp(raw) else {
                selection.unreadable += 1;
                continue;
            };
            let id = item_id(item, id_field).unwrap_or_else(|| content_id(item, at_us));
            let due = match &self.last_timestamp {
                None => true,
                Some((last_us, _)) => {
                    at_us > *last_us || (at_us == *last_us && !known.contains(id.as_str()))
                }
            };
            if due {
                selection.due.push(Due {
                    id,
                    item,
                    at: Some((at_us, raw.clone())),
                });
            }
        }
        // Oldest first (stable: the feed's order within the same instant).
        selection
            .due
            .sort_by_key(|due| due.at.as_ref().map(|(at, _)| *at));
        selection
    }

    /// Notes that `due`'s run started.
    pub fn advance(&mut self, due: &Due<'_>) {
        match &due.at {
            None => {
                self.seen.push_back(due.id.clone());
                self.last_id = Some(due.id.clone());
            }
            Some((at_us, raw)) => {
                let newer = self
                    .last_timestamp
                    .as_ref()
                    .is_none_or(|(last, _)| *at_us > *last);
                if newer {
                    self.last_timestamp = Some((*at_us, raw.clone()));
                    self.seen.clear();
                }
                self.seen.push_back(due.id.clone());
                self.last_id = Some(due.id.clone());
            }
        }
        while self.seen.len() > CURSOR_IDS_MAX {
            self.seen.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_the_seeds_and_common_forms() {
        let at = parse_timestamp(&json!("2025-03-02 10:30:09")).expect("seed form");
        assert_eq!(parse_timestamp(&json!("2025-03-02T10:30:09Z")), Some(at));
        assert_eq!(
            parse_timestamp(&json!("2025-03-02T12:30:09+02:00")),
            Some(at)
        );
        assert_eq!(parse_timestamp(&json!(at / 1_000_000)), Some(at));
        assert_eq!(parse_timestamp(&json!(at / 1000)), Some(at), "milliseconds");
        assert_eq!(
            parse_timestamp(&json!((at / 1_000_000).to_string())),
            Some(at)
        );
        assert_eq!(
            parse_timestamp(&json!("2025-03-02 10:30:09.5")),
            Some(at + 500_000)
        );
        assert_eq!(parse_timestamp(&json!("yesterday")), None);
        assert_eq!(parse_timestamp(&json!(null)), None);
    }

    #[test]
    fn by_time_only_newer_items_run_and_ties_are_not_lost() {
        let items = vec![
            json!({"id": "b", "at": "2025-03-02 10:30:10"}),
            json!({"id": "a", "at": "2025-03-02 10:30:09"}),
            json!({"id": "x"}),
        ];
        let mut cursor = Cursor::default();
        let selection = cursor.select(&items, "id", Some("at"));
        assert_eq!(selection.unreadable, 1);
        let ids: Vec<&str> = selection.due.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "oldest first");
        for due in &selection.due {
            cursor.advance(due);
        }
        assert_eq!(
            cursor.to_json(true),
            json!({"last_processed_event_timestamp": "2025-03-02 10:30:10", "seen": ["b"]})
        );
        // Read back as stored: an older item, the same one again, and one at the same second.
        let cursor = Cursor::of(Some(&cursor.to_json(true)));
        let later = vec![
            json!({"id": "old", "at": "2025-03-02 10:00:00"}),
            json!({"id": "b", "at": "2025-03-02 10:30:10"}),
            json!({"id": "tie", "at": "2025-03-02 10:30:10"}),
            json!({"id": "c", "at": "2025-03-02 10:31:00"}),
        ];
        let ids: Vec<String> = cursor
            .select(&later, "id", Some("at"))
            .due
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(ids, ["tie", "c"]);
    }

    #[test]
    fn by_id_old_cursors_read_the_same() {
        let old = json!({"seen": ["a", "b"]});
        let cursor = Cursor::of(Some(&old));
        assert_eq!(cursor.last_id.as_deref(), Some("b"));
        let items = vec![
            json!({"id": "a"}),
            json!({"id": 3}),
            json!({"name": "no id"}),
        ];
        let selection = cursor.select(&items, "id", None);
        assert_eq!(selection.unreadable, 1);
        let mut cursor = cursor;
        cursor.advance(&selection.due[0]);
        assert_eq!(
            cursor.to_json(false),
            json!({"last_processed_event_id": "3", "seen": ["a", "b", "3"]})
        );
    }
}
