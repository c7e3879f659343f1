//! Duro's engine: workflow definitions, the pure run state machine and (next) the executor.
//!
//! - `definition`: workflows as users write them, checked into steps.
//! - `foreach`: the bounds of foreach steps and the journal ids of their items' sub-steps.
//! - `events`: the facts of a run, as stored in its journal stream.
//! - `run`: the run's state and `evolve`, the fold of its events.
//! - `decide`: what should happen next, as commands.
//! - `input`: run input against the workflow's inputSchema (defaults, violations).
//! - `template`: `{{ ... }}` templates over a run's input and step outputs.
//! - `duration`, `retry`: durations and retry policies.
//! - `workflows`: definitions and their versions in `workflow-{id}` streams.
//! - `wire`: events as journal bytes: frozen shapes per type tag and version, decoded by tag
//!   and upcast to the domain types (each stream's own shapes sit beside it, `events::wire`).
//! - `inspect`: replay debugging: a run's timeline, and where another definition diverges.
//! - `executor`: starts runs, drives them with `decide`, recovers them after a restart.
//!
//! Architecture invariant: `run`, `decide`, `definition`, `template`, `duration` and `retry`
//! do no I/O, never read the clock and use no randomness: timestamps and ids come from
//! events, jitter from a hash of the run and step ids. Replaying a journal therefore always
//! gives the same state and the same commands.
//!
//! Architecture invariant: the engine reaches storage only through `journal::EventStore`.

pub mod agent;
pub mod connections;
pub mod decide;
pub mod definition;
pub mod duration;
pub mod events;
pub mod executor;
pub mod export;
pub mod foreach;
pub mod input;
pub mod inspect;
pub mod providers;
pub mod retry;
pub mod run;
pub mod template;
pub mod wire;
pub mod workflows;

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
