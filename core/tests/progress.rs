//! `RunState::progress` is kept as events are folded (places moved between groups, a cursor
//! advanced); for any sequence of events, well-formed or not, it equals what a plain
//! recomputation from the whole event list says.

use std::collections::{BTreeMap, BTreeSet};

use duro_core::decide::took_then;
use duro_core::events::{RunEvent, StepError};
use duro_core::foreach::ItemStepId;
use duro_core::run::{replay, Completion};
use proptest::prelude::*;

/// Ids of every kind: workflow steps, items' sub-steps (of two foreach steps), agents' calls,
/// and ids that only look like items'.
const IDS: [&str; 12] = [
    "a",
    "b",
    "f",
    "f[0].x",
    "f[1].x",
    "f[1].y",
    "f[2].y",
    "f[7].x",
    "g[0].x",
    "a.m1",
    "f[01].x",
    "f[0].a.m1",
];

const OUTPUTS: [&str; 5] = [
    "1",
    "{\"branch\":\"then\",\"result\":true}",
    "{\"branch\":\"else\",\"result\":false}",
    "\"branch\"",
    "{\"\\u0062ranch\":\"then\"}",
];

fn event() -> impl Strategy<Value = RunEvent> {
    let id = (0..IDS.len()).prop_map(|i| IDS[i].to_string());
    let output = (0..OUTPUTS.len()).prop_map(|i| OUTPUTS[i].to_string());
    prop_oneof![
        3 => (id.clone(), 1u32..3).prop_map(|(step_id, attempt)| RunEvent::StepStarted { step_id, attempt }),
        4 => (id.clone(), output.clone()).prop_map(|(step_id, output_json)| RunEvent::StepCompleted {
            step_id,
            attempt: 1,
            output_json,
        }),
        1 => (id.clone(), output).prop_map(|(step_id, output_json)| RunEvent::StepReused {
            step_id,
            attempts: 1,
            output_json,
        }),
        1 => id.clone().prop_map(|step_id| RunEvent::StepFailed {
            step_id,
            attempt: 1,
            error: StepError { code: None, message: "x".into(), retryable: true },
        }),
        1 => id.clone().prop_map(|step_id| RunEvent::TimerScheduled { step_id, fire_at_ms: 5 }),
        1 => id.prop_map(|step_id| RunEvent::ForeachStarted { step_id, items: 3 }),
    ]
}

/// Progress recomputed from the whole list: what each field means, with no bookkeeping.
struct Expected {
    last: Option<Completion>,
    places: BTreeMap<String, BTreeMap<u32, Option<Completion>>>,
    completed: Vec<String>,
    irregular: bool,
}

fn plain(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Every generated event sets its step's state (none of them ends the run).
fn recompute(events: &[RunEvent]) -> Expected {
    let mut expected = Expected {
        last: None,
        places: BTreeMap::new(),
        completed: Vec::new(),
        irregular: false,
    };
    let mut completed_now = BTreeSet::new();
    for event in events {
        let Some(step_id) = event.step_id() else {
            continue;
        };
        let output = match event {
            RunEvent::StepCompleted { output_json, .. }
            | RunEvent::StepReused { output_json, .. } => Some(output_json.as_str()),
            _ => None,
        };
        if completed_now.contains(step_id) {
            expected.irregular = true;
        }
        if output.is_some() {
            completed_now.insert(step_id.to_owned());
        } else {
            completed_now.remove(step_id);
        }
        let completion = |id: &str| {
            output.map(|output| Completion {
                step_id: id.to_owned(),
                then: took_then(output),
            })
        };
        match ItemStepId::parse(step_id) {
            Some(item) if plain(item.sub_id) => {
                let places = expected
                    .places
                    .entry(item.foreach_id.to_owned())
                    .or_default();
                let place = places.entry(item.index as u32).or_default();
                if let Some(done) = completion(item.sub_id) {
                    *place = Some(done);
                }
            }
            Some(_) => {}
            None => {
                if plain(step_id) {
                    if let Some(done) = completion(step_id) {
                        expected.last = Some(done);
                    }
                }
            }
        }
        if output.is_some() && ItemStepId::parse(step_id).is_none() {
            expected.completed.push(step_id.to_owned());
        }
    }
    expected
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn progress_kept_as_events_fold_equals_progress_recomputed(events in proptest::collection::vec(event(), 0..40)) {
        let state = replay(&events);
        let progress = &state.progress;
        let expected = recompute(&events);
        prop_assert_eq!(progress.last(), expected.last.as_ref());
        prop_assert_eq!(progress.completed(), expected.completed.as_slice());
        prop_assert_eq!(progress.irregular(), expected.irregular);
        for foreach_id in ["f", "g"] {
            let places = expected.places.get(foreach_id);
            let Some(items) = progress.items(foreach_id) else {
                prop_assert!(places.is_none());
                continue;
            };
            let places = places.cloned().unwrap_or_default();
            for index in 0..10u32 {
                prop_assert_eq!(items.place(index), places.get(&index).map(Option::as_ref));
                prop_assert_eq!(items.started(index), places.contains_key(&index));
            }
            let first_unstarted = (0..).find(|i| !places.contains_key(i)).unwrap_or(0);
            prop_assert_eq!(items.first_unstarted(), first_unstarted);
            let mut by_place: BTreeMap<Option<Completion>, BTreeSet<u32>> = BTreeMap::new();
            for (index, place) in &places {
                by_place.entry(place.clone()).or_default().insert(*index);
            }
            let kept: BTreeMap<Option<Completion>, BTreeSet<u32>> = items
                .by_place()
                .map(|(place, members)| (place.cloned(), members.clone()))
                .collect();
            prop_assert_eq!(kept, by_place);
        }
    }
}
