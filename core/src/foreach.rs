//! `foreach` steps: their bounds, and the journal identity of one item's sub-step.
//!
//! A sub-step runs once per item, so its id alone does not name an execution. In events,
//! state and commands it is named `"{foreachId}[{index}].{subId}"` (for example
//! `each[3].charge`). Step ids are letters, digits, `-` and `_` only, so the brackets and
//! the dot can never be part of a user's id and the composite id parses back unambiguously.

/// Most items one foreach step may run over; more fails the step. Deciding costs the same
/// for the last item as for the first (`run::Progress`), so the bound is what one run holds:
/// a pure item of one sub-step is one event, and 50,000 of them fit the 100,000 events of a
/// run's journal (`executor::RUN_EVENTS_MAX`) with room to spare; items of more sub-steps, or
/// of steps that call out (two events each), fill it sooner, and a run that would outgrow it
/// fails with RUN_TOO_LONG. The foreach's output, every item's last output in one array, must
/// also fit one event (4 MiB): past that the foreach fails with OUTPUT_TOO_LARGE.
pub const FOREACH_ITEMS_MAX: usize = 50_000;
/// Largest `concurrency` a foreach step may ask for.
pub const FOREACH_CONCURRENCY_MAX: u32 = 100;
/// Items in flight at once when a foreach does not say: one, so side effects happen in item
/// order unless the workflow asks for parallelism.
pub const FOREACH_CONCURRENCY_DEFAULT: u32 = 1;

/// The journal id of sub-step `sub_id` of item `index` of foreach `foreach_id`.
pub fn item_step_id(foreach_id: &str, index: usize, sub_id: &str) -> String {
    format!("{}{sub_id}", item_prefix(foreach_id, index))
}

/// What every journal id of item `index`'s sub-steps starts with: `"{foreachId}[{index}]."`.
pub fn item_prefix(foreach_id: &str, index: usize) -> String {
    format!("{foreach_id}[{index}].")
}

/// A composite step id taken apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemStepId<'a> {
    pub foreach_id: &'a str,
    pub index: usize,
    pub sub_id: &'a str,
}

impl<'a> ItemStepId<'a> {
    /// Parses `"{foreachId}[{index}].{subId}"`; None for a plain step id or anything else.
    pub fn parse(step_id: &'a str) -> Option<ItemStepId<'a>> {
        let (foreach_id, rest) = step_id.split_once('[')?;
        let (index, sub_id) = rest.split_once("].")?;
        let canonical = !index.is_empty()
            && index.bytes().all(|b| b.is_ascii_digit())
            && (index == "0" || !index.starts_with('0'));
        if foreach_id.is_empty() || sub_id.is_empty() || !canonical {
            return None;
        }
        Some(ItemStepId {
            foreach_id,
            index: index.parse().ok()?,
            sub_id,
        })
    }
}

/// Whether `step_id` names one item's sub-step rather than a step of the workflow.
pub fn is_item_step(step_id: &str) -> bool {
    ItemStepId::parse(step_id).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_ids_round_trip() {
        let id = item_step_id("each", 42, "charge-card");
        assert_eq!(id, "each[42].charge-card");
        assert_eq!(
            ItemStepId::parse(&id),
            Some(ItemStepId {
                foreach_id: "each",
                index: 42,
                sub_id: "charge-card"
            })
        );
    }

    #[test]
    fn plain_and_malformed_ids_are_not_item_steps() {
        for id in [
            "each",
            "each[].x",
            "each[1]x",
            "[1].x",
            "each[1].",
            "each[01].x",
            "each[-1].x",
            "each[99999999999999999999999].x",
        ] {
            assert!(!is_item_step(id), "{id}");
        }
    }
}
