//! Derived state (the embedded store's index, the read models): why a piece of it was rebuilt
//! from the journal when it was opened. One type, so that the server logs and counts every
//! rebuild the same way (`duro_derived_rebuilds_total` in `/metrics`).

use std::fmt;

/// Why derived state was thrown away and rebuilt from the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RebuildReason {
    /// Not there although the journal holds events (deleted, or lost before it was written).
    Missing,
    /// It cannot be opened or fails its checks: damaged, truncated, not a database.
    Unreadable,
    /// It was written in another format (by an earlier or later version of Duro).
    Format,
    /// It holds more than the journal: it belongs to another journal, or the journal was
    /// restored from an older copy.
    Ahead,
}

impl RebuildReason {
    /// Every reason, for metrics that show zero counts too.
    pub const ALL: [RebuildReason; 4] = [
        RebuildReason::Missing,
        RebuildReason::Unreadable,
        RebuildReason::Format,
        RebuildReason::Ahead,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            RebuildReason::Missing => "missing",
            RebuildReason::Unreadable => "unreadable",
            RebuildReason::Format => "format",
            RebuildReason::Ahead => "ahead",
        }
    }
}

impl fmt::Display for RebuildReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One rebuild: which derived state, why, and the details (an error message, positions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rebuild {
    /// `"index"` or `"readmodels"`: the metric label.
    pub store: &'static str,
    pub reason: RebuildReason,
    pub detail: String,
}

impl fmt::Display for Rebuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rebuilt ({}): {}",
            self.store, self.reason, self.detail
        )
    }
}

/// What `duro journal verify` finds of a piece of derived state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Soundness {
    /// It agrees with the journal through position `through`; later events are applied when
    /// the server next starts.
    Sound { through: u64 },
    /// It is not there (a new data directory, or deleted): built when the server next starts.
    #[default]
    Missing,
    /// It is damaged or disagrees with the journal: rebuilt when the server next starts.
    Unsound { reason: String },
}

impl Soundness {
    pub fn is_sound(&self) -> bool {
        matches!(self, Soundness::Sound { .. })
    }
}

impl fmt::Display for Soundness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Soundness::Sound { through } => write!(f, "sound (through position {through})"),
            Soundness::Missing => f.write_str("missing (built from the journal at the next start)"),
            Soundness::Unsound { reason } => write!(
                f,
                "unsound: {reason} (rebuilt from the journal at the next start)"
            ),
        }
    }
}
