//! Where each sequence of a run's steps stands, folded from the events alone (no definition is
//! needed), so `decide` starts from the step that completed last instead of walking every
//! step from the first, and finds a foreach's items under way without looking at the finished
//! ones. With it a step costs the same in the run's 2,000th step as in its 2nd, and a
//! foreach's 10,000th item the same as its 1st (issue 16).
//!
//! It is part of `RunState` and, like the rest of it, a pure fold: the same events give the
//! same progress. `decide` trusts it only as far as journals the engine writes go (steps of a
//! sequence complete in order); an event that changes a step which had completed marks it
//! `irregular`, and `decide` then walks every step as it always did.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::foreach::ItemStepId;

use crate::run::StepState;

/// A step that completed: its id (within its sequence: a sub-step's own id inside an item) and
/// whether its output chose a condition's `then` branch.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Completion {
    pub step_id: String,
    pub then: bool,
}

/// The progress of a run's step sequences.
/// Serialized only in snapshots (`crate::snapshot`), never in the journal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// The workflow-level step whose completion was folded last.
    last: Option<Completion>,
    /// The items of each foreach, by the foreach's id.
    foreach: BTreeMap<String, ItemsProgress>,
    /// The ids of the completed steps that are not an item's (agents' sub-steps included), in
    /// the order they completed: the run's template context grows by these.
    completed: Vec<String>,
    /// A step that had completed changed again (a foreign writer, or a bug).
    irregular: bool,
}

/// The items of one foreach that have started.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "ItemsWire", into = "ItemsWire")]
pub struct ItemsProgress {
    /// Each started item's last completed sub-step (None: none yet), by index.
    places: BTreeMap<u32, Option<Completion>>,
    /// The started items, by their last completed sub-step.
    by_place: BTreeMap<Option<Completion>, BTreeSet<u32>>,
    /// The lowest index that has not started.
    first_unstarted: u32,
}

/// `ItemsProgress` in a snapshot: the started items' places; `by_place`, their inverse, is
/// rebuilt (its keys are not strings, and it says nothing `places` does not).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemsWire {
    places: Vec<(u32, Option<Completion>)>,
    first_unstarted: u32,
}

impl From<ItemsProgress> for ItemsWire {
    fn from(items: ItemsProgress) -> ItemsWire {
        ItemsWire {
            places: items.places.into_iter().collect(),
            first_unstarted: items.first_unstarted,
        }
    }
}

impl From<ItemsWire> for ItemsProgress {
    fn from(wire: ItemsWire) -> ItemsProgress {
        let mut by_place: BTreeMap<Option<Completion>, BTreeSet<u32>> = BTreeMap::new();
        for (index, place) in &wire.places {
            by_place.entry(place.clone()).or_default().insert(*index);
        }
        ItemsProgress {
            places: wire.places.into_iter().collect(),
            by_place,
            first_unstarted: wire.first_unstarted,
        }
    }
}

/// What a step id names, for progress.
enum Sequence<'a> {
    /// A step of the workflow (at the top, or in a condition's branch).
    Workflow,
    /// A sub-step of a foreach's item.
    Item {
        foreach_id: &'a str,
        index: u32,
        sub_id: &'a str,
    },
    /// Anything else (an agent's model or tool call): not part of a sequence.
    Other,
}

impl Progress {
    /// The workflow-level step that completed last.
    pub fn last(&self) -> Option<&Completion> {
        self.last.as_ref()
    }

    /// The started items of foreach `foreach_id`.
    pub fn items(&self, foreach_id: &str) -> Option<&ItemsProgress> {
        self.foreach.get(foreach_id)
    }

    /// Completed steps that are not an item's, in the order they completed (a step may be
    /// listed twice in an irregular journal).
    pub fn completed(&self) -> &[String] {
        &self.completed
    }

    /// Whether a completed step changed again: progress cannot be trusted to say where a
    /// sequence stands.
    pub fn irregular(&self) -> bool {
        self.irregular
    }

    /// Notes that `step_id` goes from `before` to a new state, which is a completion with
    /// this output when `completed` is Some.
    pub(crate) fn record(
        &mut self,
        step_id: &str,
        before: Option<&StepState>,
        completed: Option<&str>,
    ) {
        if matches!(before, Some(StepState::Completed { .. })) {
            self.irregular = true;
        }
        let completion = |id: &str| {
            completed.map(|output| Completion {
                step_id: id.to_owned(),
                then: chooses_then(output),
            })
        };
        match sequence_of(step_id) {
            Sequence::Workflow => {
                if let Some(done) = completion(step_id) {
                    self.last = Some(done);
                }
            }
            Sequence::Item {
                foreach_id,
                index,
                sub_id,
            } => {
                let items = match self.foreach.get_mut(foreach_id) {
                    Some(items) => items,
                    None => self.foreach.entry(foreach_id.to_owned()).or_default(),
                };
                items.record(index, completion(sub_id));
            }
            Sequence::Other => {}
        }
        if completed.is_some() && ItemStepId::parse(step_id).is_none() {
            self.completed.push(step_id.to_owned());
        }
    }
}

impl ItemsProgress {
    /// Whether item `index` has started (one of its sub-steps has a state).
    pub fn started(&self, index: u32) -> bool {
        self.places.contains_key(&index)
    }

    /// Item `index`'s last completed sub-step: None if it has not started, Some(None) if it
    /// has but nothing of it completed yet.
    pub fn place(&self, index: u32) -> Option<Option<&Completion>> {
        self.places.get(&index).map(Option::as_ref)
    }

    /// The started items, grouped by their last completed sub-step.
    pub fn by_place(&self) -> impl Iterator<Item = (Option<&Completion>, &BTreeSet<u32>)> {
        self.by_place
            .iter()
            .map(|(place, items)| (place.as_ref(), items))
    }

    /// The lowest index that has not started: every item before it has.
    pub fn first_unstarted(&self) -> u32 {
        self.first_unstarted
    }

    fn record(&mut self, index: u32, completion: Option<Completion>) {
        match self.places.get_mut(&index) {
            None => {
                self.by_place
                    .entry(completion.clone())
                    .or_default()
                    .insert(index);
                self.places.insert(index, completion);
                while self.places.contains_key(&self.first_unstarted) {
                    self.first_unstarted += 1;
                }
            }
            Some(place) => {
                // Only a completion moves an item; its other events leave it where it is.
                let Some(completion) = completion else { return };
                let old = place.replace(completion.clone());
                if let Some(group) = self.by_place.get_mut(&old) {
                    group.remove(&index);
                    if group.is_empty() {
                        self.by_place.remove(&old);
                    }
                }
                self.by_place
                    .entry(Some(completion))
                    .or_default()
                    .insert(index);
            }
        }
    }
}

/// Step ids a definition can hold: letters, digits, `-` and `_`.
fn is_plain(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn sequence_of(step_id: &str) -> Sequence<'_> {
    match ItemStepId::parse(step_id) {
        Some(item) if is_plain(item.sub_id) && is_plain(item.foreach_id) => {
            match u32::try_from(item.index) {
                Ok(index) => Sequence::Item {
                    foreach_id: item.foreach_id,
                    index,
                    sub_id: item.sub_id,
                },
                Err(_) => Sequence::Other,
            }
        }
        Some(_) => Sequence::Other,
        None if is_plain(step_id) => Sequence::Workflow,
        None => Sequence::Other,
    }
}

/// `decide::took_then`, without parsing outputs that cannot hold a `branch` key: the key is
/// spelled out in the text or escaped (`\u0062ranch`), so an output with neither does not
/// choose `then`. Exactly `took_then` on every text.
pub(crate) fn chooses_then(output_json: &str) -> bool {
    if !output_json.contains("branch") && !output_json.contains("\\u") {
        return false;
    }
    crate::decide::took_then(output_json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_then_agrees_with_took_then() {
        for text in [
            "{\"branch\":\"then\",\"result\":true}",
            "{\"branch\":\"else\",\"result\":false}",
            "{ \"branch\" : \"then\" }",
            "{\"\\u0062ranch\":\"then\"}",
            "{\"branch\":\"then\",\"branch\":\"else\"}",
            "{\"branch\":\"then\"",
            "[\"branch\",\"then\"]",
            "\"branch then\"",
            "null",
            "{\"x\":{\"branch\":\"then\"}}",
        ] {
            assert_eq!(chooses_then(text), crate::decide::took_then(text), "{text}");
        }
    }

    #[test]
    fn items_move_between_places_and_the_first_unstarted_advances() {
        let mut items = ItemsProgress::default();
        let done = |id: &str| {
            Some(Completion {
                step_id: id.into(),
                then: false,
            })
        };
        items.record(1, None);
        assert_eq!(items.first_unstarted(), 0);
        items.record(0, done("a"));
        assert_eq!(items.first_unstarted(), 2);
        items.record(1, done("a"));
        items.record(1, None);
        items.record(1, done("b"));
        let groups: Vec<_> = items
            .by_place()
            .map(|(place, members)| {
                (
                    place.map(|c| c.step_id.clone()),
                    members.iter().copied().collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            groups,
            vec![(Some("a".into()), vec![0]), (Some("b".into()), vec![1])]
        );
        assert_eq!(items.place(1), Some(done("b").as_ref()));
        assert_eq!(items.place(2), None);
    }
}
