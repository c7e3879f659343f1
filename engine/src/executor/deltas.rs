//! Model text deltas: what an agent's model is writing while it writes, for people watching a
//! run (`GET /api/v1/runs/{id}/stream`). Never journaled: the journal holds the model's whole
//! reply once it is complete, and replay never needs the pieces.
//!
//! One broadcast channel for the process, bounded: a watcher that falls more than
//! [`DELTAS_BUFFERED`] deltas behind loses the oldest ones (it still gets every journal event,
//! the final message included), and nothing is kept when nobody watches.

use std::sync::Arc;

use tokio::sync::broadcast;

/// Deltas held for the slowest watcher before the oldest are dropped.
pub const DELTAS_BUFFERED: usize = 1024;

/// A piece of a model's answer, as the provider streamed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelDelta {
    pub run_id: String,
    /// The model call's sub-step (`{agent}.m{n}`).
    pub step_id: String,
    pub text: String,
}

/// Where model calls publish deltas and run streams subscribe to them. Cheap to clone.
#[derive(Clone)]
pub struct ModelDeltas {
    sender: broadcast::Sender<Arc<ModelDelta>>,
}

impl Default for ModelDeltas {
    fn default() -> Self {
        ModelDeltas {
            sender: broadcast::channel(DELTAS_BUFFERED).0,
        }
    }
}

impl ModelDeltas {
    /// Whether anyone watches: a delta nobody would see is not built.
    pub fn watched(&self) -> bool {
        self.sender.receiver_count() > 0
    }

    pub fn publish(&self, delta: ModelDelta) {
        // No watcher is not an error: the delta is simply not seen.
        let _ = self.sender.send(Arc::new(delta));
    }

    /// Every delta published from now on (of every run: the watcher filters).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ModelDelta>> {
        self.sender.subscribe()
    }
}
