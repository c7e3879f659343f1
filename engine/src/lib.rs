//! Duro's engine: workflow definitions, the pure run state machine and the executor.
//!
//! For now it holds the event store the rest of the engine will be built on, so that the
//! binary is wired end to end (`duro serve` opens the journal through the engine). The run
//! state machine, steps, templates and the executor are the next piece of work.
//!
//! Architecture invariant: the engine reaches storage only through `journal::EventStore`.

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
