//! The byte layout of sort keys, for cursors and [`crate::ReadModels::dump`].
//!
//! Keys sort in byte order exactly as their components sort: an `i64` is stored
//! big-endian with its sign bit flipped, and a string is stored with every 0x00 byte escaped
//! as 0x00 0xFF and a 0x00 0x01 terminator, so `"ab" < "ab\0" < "abc"` holds for keys too and
//! no string can run into the component after it.
//!
//! A cursor is the sort key of the last item of a page (its key without the index prefix),
//! behind a version byte and a kind byte that say which listing it belongs to, in lowercase
//! hex. It names a place in the order, not an item, so it stays valid when that item changes
//! or new items are inserted.

use crate::error::ReadModelError;
use crate::rows::WorkflowRow;

// The first byte of each kind of entry in a dump; the workflow ones name the sort of a
// workflow cursor (uppercase: descending). Part of the cursor format.
pub(crate) const META: u8 = b'm';
pub(crate) const RUN_ROW: u8 = b'r';
pub(crate) const RUNS_BY_TIME: u8 = b't';
pub(crate) const RUNS_BY_WORKFLOW: u8 = b'w';
pub(crate) const RUNS_BY_STATUS: u8 = b's';
pub(crate) const RUNS_BY_WORKFLOW_STATUS: u8 = b'x';
pub(crate) const RUNS_UNFINISHED: u8 = b'o';
pub(crate) const WORKFLOW_ROW: u8 = b'f';
pub(crate) const WORKFLOWS_BY_CREATED: u8 = b'c';
pub(crate) const WORKFLOWS_BY_UPDATED: u8 = b'u';
pub(crate) const WORKFLOWS_BY_NAME: u8 = b'n';
pub(crate) const SKIPPED: u8 = b'k';
pub(crate) const TRIGGER_ROW: u8 = b'g';
/// Also the kind of every trigger cursor (every trigger listing is in creation order).
pub(crate) const TRIGGERS_BY_CREATED: u8 = b'p';
pub(crate) const TRIGGERS_BY_WORKFLOW: u8 = b'q';
pub(crate) const TRIGGERS_BY_KIND: u8 = b'y';

/// The sort key of a run in every run listing: (startedAt, runId).
pub(crate) fn run_sort_key(started_at: i64, run_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(12 + run_id.len());
    push_i64(&mut key, started_at);
    push_str(&mut key, run_id);
    key
}

/// The sort value of a workflow in the listing sorted by `index` (without the id).
pub(crate) fn workflow_sort_value(index: u8, row: &WorkflowRow) -> Vec<u8> {
    let mut key = Vec::new();
    match index {
        WORKFLOWS_BY_CREATED => push_i64(&mut key, row.created_at),
        WORKFLOWS_BY_UPDATED => push_i64(&mut key, row.updated_at),
        _ => push_str(&mut key, &row.name.to_lowercase()),
    }
    key
}

/// The version byte of every cursor; a cursor of another version is refused.
const CURSOR_VERSION: u8 = 1;

pub fn push_i64(key: &mut Vec<u8>, value: i64) {
    key.extend_from_slice(&((value as u64) ^ (1 << 63)).to_be_bytes());
}

pub fn push_str(key: &mut Vec<u8>, value: &str) {
    for &byte in value.as_bytes() {
        key.push(byte);
        if byte == 0 {
            key.push(0xFF);
        }
    }
    key.extend_from_slice(&[0, 1]);
}

/// Reads an `i64` written by [`push_i64`] from the front of `bytes`.
pub fn take_i64(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<8>()?;
    Some(((u64::from_be_bytes(*head) ^ (1 << 63)) as i64, rest))
}

/// Reads a string written by [`push_str`] from the front of `bytes`.
pub fn take_str(bytes: &[u8]) -> Option<(String, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let byte = *bytes.get(i)?;
        if byte != 0 {
            out.push(byte);
            i += 1;
            continue;
        }
        match *bytes.get(i + 1)? {
            0xFF => out.push(0),
            1 => return Some((String::from_utf8(out).ok()?, &bytes[i + 2..])),
            _ => return None,
        }
        i += 2;
    }
}

pub fn encode_cursor(kind: u8, sort_key: &[u8]) -> String {
    let mut out = String::with_capacity(4 + sort_key.len() * 2);
    for byte in [CURSOR_VERSION, kind].iter().chain(sort_key) {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0F)]));
    }
    out
}

/// The sort key inside a cursor of `kind`; `InvalidCursor` for anything else.
pub fn decode_cursor(kind: u8, cursor: &str) -> Result<Vec<u8>, ReadModelError> {
    let bytes = cursor.as_bytes();
    if !bytes.len().is_multiple_of(2) || bytes.len() > 2 * CURSOR_BYTES_MAX {
        return Err(ReadModelError::InvalidCursor);
    }
    let mut raw = Vec::with_capacity(bytes.len() / 2);
    for pair in bytes.chunks_exact(2) {
        let high = hex_value(pair[0]).ok_or(ReadModelError::InvalidCursor)?;
        let low = hex_value(pair[1]).ok_or(ReadModelError::InvalidCursor)?;
        raw.push(high << 4 | low);
    }
    match raw.as_slice() {
        [CURSOR_VERSION, k, rest @ ..] if *k == kind => Ok(rest.to_vec()),
        _ => Err(ReadModelError::InvalidCursor),
    }
}

/// Longest cursor accepted, in bytes before hex: two strings of a few hundred bytes.
const CURSOR_BYTES_MAX: usize = 4096;

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn str_key(s: &str) -> Vec<u8> {
        let mut key = Vec::new();
        push_str(&mut key, s);
        key
    }

    #[test]
    fn keys_sort_as_their_components() {
        let mut values = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        values.reverse();
        let mut keys: Vec<Vec<u8>> = values
            .iter()
            .map(|v| {
                let mut key = Vec::new();
                push_i64(&mut key, *v);
                key
            })
            .collect();
        keys.sort();
        let back: Vec<i64> = keys
            .iter()
            .map(|k| take_i64(k).map(|(v, _)| v))
            .collect::<Option<_>>()
            .unwrap_or_default();
        assert_eq!(back, vec![i64::MIN, -5, -1, 0, 1, 7, i64::MAX]);

        let strings = ["", "a", "a\0", "a\0b", "ab", "abc", "b"];
        for pair in strings.windows(2) {
            assert!(str_key(pair[0]) < str_key(pair[1]), "{pair:?}");
        }
        for s in strings {
            let mut key = str_key(s);
            key.extend_from_slice(b"tail");
            assert_eq!(take_str(&key), Some((s.to_owned(), &b"tail"[..])));
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_other_kinds() {
        let cursor = encode_cursor(b'r', b"\x00\xffabc");
        assert_eq!(
            decode_cursor(b'r', &cursor).ok(),
            Some(b"\x00\xffabc".to_vec())
        );
        assert!(decode_cursor(b'c', &cursor).is_err());
        assert!(decode_cursor(b'r', "zz").is_err());
        assert!(decode_cursor(b'r', "0").is_err());
        assert!(decode_cursor(b'r', "").is_err());
    }
}
