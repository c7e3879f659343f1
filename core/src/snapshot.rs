//! A run's folded state at one event of its stream, kept as a derived record so a run with a
//! long history is loaded from it and the events after it, not from its first event.
//!
//! A snapshot is never the only copy of anything: it is the fold of events that stay in the
//! journal. Whoever loads one checks that the stream still holds, at the snapshot's seq, the
//! event it was taken at (its global position and stamp, `Mark`), and otherwise folds from
//! the start. A snapshot that does not decode (damaged, or of another format) is ignored the
//! same way.
//!
//! The bytes are JSON, so a change of shape in any type of the state (a field added, renamed
//! or retyped) fails to decode rather than decoding into another meaning; `SNAPSHOT_FORMAT`
//! is raised when a meaning changes without its shape, and the golden test in
//! `core/tests/snapshot.rs` fails when the shape changes, so that neither goes unnoticed.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::run::{Progress, RunState};
use crate::view::{Loaded, StepTimes};

/// The format of the snapshot bytes. Raise it whenever the meaning of a field of the state
/// changes; old snapshots are then ignored (folded afresh).
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Which event a snapshot was taken at: the stream's seq, and the event's global position and
/// stamp, which identify it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub seq: u64,
    pub position: u64,
    pub recorded_at_us: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    format: u32,
    mark: Mark,
    state: RunState,
    /// `RunState::progress` is not part of its serialized form (the API shows the state).
    progress: Progress,
    input: Value,
    started_at_us: Option<i64>,
    ended_at_us: Option<i64>,
    step_times: BTreeMap<String, StepTimes>,
}

/// The snapshot of `loaded`, taken at `mark` (its last folded event). None for a run that
/// could not be read whole: a corrupt run is never snapshotted.
pub fn encode(loaded: &Loaded, mark: Mark) -> Option<Vec<u8>> {
    if loaded.corrupt.is_some() || mark.seq != loaded.version {
        return None;
    }
    let body = Body {
        format: SNAPSHOT_FORMAT,
        mark,
        state: loaded.state.clone(),
        progress: loaded.state.progress.clone(),
        input: loaded.input.clone(),
        started_at_us: loaded.started_at_us,
        ended_at_us: loaded.ended_at_us,
        step_times: loaded
            .step_times
            .iter()
            .map(|(id, times)| (id.clone(), *times))
            .collect(),
    };
    serde_json::to_vec(&body).ok()
}

/// The run as the snapshot holds it, and where it was taken; None when the bytes are not a
/// snapshot of this format.
pub fn decode(bytes: &[u8]) -> Option<(Loaded, Mark)> {
    let body: Body = serde_json::from_slice(bytes).ok()?;
    if body.format != SNAPSHOT_FORMAT || body.state.events != body.mark.seq {
        return None;
    }
    let mut state = body.state;
    state.progress = body.progress;
    let loaded = Loaded {
        state,
        version: body.mark.seq,
        input: body.input,
        started_at_us: body.started_at_us,
        ended_at_us: body.ended_at_us,
        step_times: body.step_times.into_iter().collect::<HashMap<_, _>>(),
        corrupt: None,
    };
    Some((loaded, body.mark))
}
