//! Duro's pure core: everything about a run that can be computed from its journal and its
//! workflow's definition alone. The executor (`engine`) consumes it and does the I/O.
//!
//! - `definition`: workflows as users write them, checked into typed steps.
//! - `foreach`: the bounds of foreach steps and the journal ids of their items' sub-steps.
//! - `events`: the facts of a run, as stored in its journal stream.
//! - `wire`: events as journal bytes: frozen shapes per type tag and version, decoded by tag
//!   and upcast to the domain types (each stream's own shapes sit beside it, `events::wire`).
//! - `run`: the run's state and `evolve`, the fold of its events.
//! - `decide`: what should happen next, as commands.
//! - `fold`: the events that carry out a command needing nothing outside the journal.
//! - `evaluate`, `scope`, `model_call`: what a step computes or would send, rendered against
//!   its template context (the run's, or an item's within a foreach).
//! - `ids`: the ids of runs, workflows, steps, triggers, connections and keys as types.
//! - `snapshot`: a run's folded state kept as a derived record, for long histories.
//! - `view`: a run as readers see it (`Loaded`, `RunView`).
//! - `inspect`: replay debugging: a run's timeline, and where another definition diverges.
//! - `input`: run input against the workflow's inputSchema (defaults, violations).
//! - `template`: `{{ ... }}` templates over a run's input and step outputs.
//! - `providers`: the provider catalog as data, and pure request building.
//! - `agent`: agent steps' config and their pure decisions.
//! - `duration`, `retry`: durations and retry policies.
//!
//! Architecture invariant (decision 0011): nothing here does I/O, reads a clock or uses
//! randomness. Timestamps and ids come from events, "now" is a parameter, jitter is a hash of
//! the run and step ids. Replaying a journal therefore always gives the same state and the same
//! commands. `clippy.toml` beside this crate's manifest forbids clocks, randomness, files,
//! sockets and environment reads in its code, and its dependencies are pure (no tokio,
//! reqwest, journal or filesystem crate).

pub mod agent;
pub mod decide;
pub mod definition;
pub mod duration;
pub mod evaluate;
pub mod events;
pub mod fold;
pub mod foreach;
pub mod ids;
pub mod input;
pub mod inspect;
pub mod model_call;
pub mod providers;
pub mod retry;
pub mod run;
pub mod scope;
pub mod snapshot;
pub mod template;
pub mod view;
pub mod wire;

/// Largest data of one journal event, in bytes: the journal's own bound
/// (`journal::limits::EVENT_DATA_BYTES_MAX`, checked equal by engine's tests), restated here
/// because this crate does not depend on the journal.
pub const EVENT_DATA_BYTES_MAX: usize = 4 * 1024 * 1024;
