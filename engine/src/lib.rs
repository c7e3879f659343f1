//! Duro's engine: the executor and the services around the pure core (`duro_core`).
//!
//! - `executor`: starts runs, drives them with `decide`, recovers them after a restart.
//! - `workflows`: definitions and their versions in `workflow-{id}` streams.
//! - `providers`: the core's provider catalog, loaded with the files of `DURO_PROVIDERS_DIR`.
//! - `connections`: where the executor finds connected accounts.
//! - `export`: which events an archive holds.
//!
//! The pure modules (definitions, templates, events and their wire format, the run state
//! machine, replay inspection) live in `duro_core` and are re-exported here under their
//! names, so `engine::definition` and `duro_core::definition` are the same module.
//!
//! Architecture invariant: the engine reaches storage only through `journal::EventStore`.

pub mod connections;
pub mod executor;
pub mod export;
pub mod providers;
pub mod workflows;

pub use duro_core::{
    agent, decide, definition, duration, enum_variants, evaluate, events, foreach, ids, input,
    inspect, retry, run, template, wire,
};

use std::sync::Arc;

use journal::{EventStore, Position};

/// The engine's handle: cheap to clone, shared by the HTTP layer and background tasks.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn EventStore>,
}

impl Engine {
    pub fn new(store: Arc<dyn EventStore>) -> Engine {
        Engine { store }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The journal position the engine has seen committed.
    pub fn committed_position(&self) -> Position {
        *self.store.subscribe().borrow()
    }
}

#[cfg(test)]
mod tests {
    /// The core restates the journal's bound on one event's data (it does not depend on the
    /// journal); the two must agree, or the fold would record outputs the store refuses.
    #[test]
    fn the_core_knows_the_journals_event_size_bound() {
        assert_eq!(
            duro_core::EVENT_DATA_BYTES_MAX,
            journal::limits::EVENT_DATA_BYTES_MAX
        );
    }
}
