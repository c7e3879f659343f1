//! What a run's journal says, for tests that check exactly-once outcomes.

use std::collections::HashMap;

use engine::events::RunEvent;
use journal::RecordedEvent;

/// How many times each step completed in these events of one run, and how many
/// `RunCompleted` they hold.
pub fn completions(events: &[RecordedEvent]) -> (HashMap<String, usize>, usize) {
    let mut steps: HashMap<String, usize> = HashMap::new();
    let mut completed = 0;
    for recorded in events {
        match RunEvent::decode(recorded.event_type, &recorded.data).expect("decode") {
            RunEvent::StepCompleted { step_id, .. } => *steps.entry(step_id).or_default() += 1,
            RunEvent::RunCompleted { .. } => completed += 1,
            _ => {}
        }
    }
    (steps, completed)
}
