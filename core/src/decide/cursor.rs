//! `decide` from where each sequence stands (`run::Progress`): a sequence is picked up after
//! the step that completed last in it, and a foreach looks only at its items under way and at
//! the next ones to start. It says exactly what walking every step says on the journals the
//! engine writes, where a sequence's steps complete in order (a property test checks it on
//! every prefix of generated journals); anything it does not expect (a step it cannot place,
//! a last completion that is no longer completed) answers None, and `decide` walks instead.

use super::plan::{Plan, WORKFLOW};
use super::{decide_step, took_then, Command, Walk};
use crate::definition::{Step, StepKind};
use crate::foreach::item_prefix;
use crate::run::{Completion, RunState, StepState};

/// The workflow's sequence.
pub(super) fn walk_workflow<'s>(
    plan: &Plan,
    steps: &[Step],
    state: &'s RunState,
) -> Option<Walk<'s>> {
    walk(plan, steps, state, WORKFLOW, "", state.progress.last())
}

/// Walks `sequence` (journal ids `prefix` + step id) from the step after `last`.
fn walk<'s>(
    plan: &Plan,
    steps: &[Step],
    state: &'s RunState,
    sequence: usize,
    prefix: &str,
    last: Option<&Completion>,
) -> Option<Walk<'s>> {
    let mut step_id = String::with_capacity(prefix.len() + 32);
    let mut output = None;
    let mut next = match last {
        None => plan.first(sequence),
        Some(last) => {
            let node = plan.lookup(sequence, &last.step_id)?;
            step_id.push_str(prefix);
            step_id.push_str(&last.step_id);
            let Some(StepState::Completed { output_json, .. }) = state.step(&step_id) else {
                return None;
            };
            output = Some(output_json.as_str());
            plan.next_after(node, last.then)
        }
    };
    // Steps after `last` that completed too (not recorded in progress, say) are passed over
    // as the full walk passes over them.
    while let Some(node) = next {
        let step = plan.step(steps, node)?;
        step_id.clear();
        step_id.push_str(prefix);
        step_id.push_str(&step.id);
        match state.step(&step_id) {
            Some(StepState::Completed { output_json, .. }) => {
                output = Some(output_json.as_str());
                let then = plan.is_condition(node) && took_then(output_json);
                next = plan.next_after(node, then);
            }
            Some(StepState::Iterating { items }) => {
                let StepKind::Foreach { concurrency, .. } = &step.kind else {
                    return None;
                };
                let foreach = Foreach {
                    sequence: plan.subs(node)?,
                    step_id: &step_id,
                    items: *items,
                    concurrency: *concurrency,
                };
                return iterate(plan, steps, state, &foreach).map(Walk::Pending);
            }
            current => {
                return Some(Walk::Pending(decide_step(
                    step,
                    step_id.clone(),
                    current,
                    state,
                )))
            }
        }
    }
    Some(Walk::Done(output))
}

/// A foreach under way.
struct Foreach<'a> {
    sequence: usize,
    step_id: &'a str,
    items: u32,
    concurrency: u32,
}

/// `super::iterate`, looking only at the started items that have not finished (a few: at most
/// `concurrency` on the engine's journals) and the items to start next. Items are taken in
/// index order, as the full walk takes them, so the commands come in the same order.
fn iterate(
    plan: &Plan,
    steps: &[Step],
    state: &RunState,
    each: &Foreach<'_>,
) -> Option<Vec<Command>> {
    let progress = state.progress.items(each.step_id);
    let mut open = Vec::new();
    for (place, members) in progress.iter().flat_map(|p| p.by_place()) {
        let finished = match place {
            None => false,
            Some(last) => {
                let node = plan.lookup(each.sequence, &last.step_id)?;
                plan.next_after(node, last.then).is_none()
            }
        };
        if !finished {
            open.extend(members.iter().copied().filter(|i| *i < each.items));
        }
    }
    open.sort_unstable();
    let started = |index: u32| progress.is_some_and(|p| p.started(index));
    let mut open = open.into_iter().peekable();
    let mut unstarted = progress.map_or(0, |p| p.first_unstarted());
    let mut commands = Vec::new();
    let mut in_flight = 0u32;
    let mut pending = 0usize;
    // Every item not visited below is in a finished place, unless the walk stopped early.
    let mut stopped = false;
    loop {
        while unstarted < each.items && started(unstarted) {
            unstarted += 1;
        }
        let next_new = (unstarted < each.items).then_some(unstarted);
        let (index, is_started) = match (open.peek().copied(), next_new) {
            (Some(old), Some(new)) if old < new => (old, true),
            (Some(old), None) => (old, true),
            (_, Some(new)) => (new, false),
            (None, None) => break,
        };
        if is_started {
            open.next();
        } else {
            unstarted += 1;
        }
        let last = progress.and_then(|p| p.place(index)).flatten();
        let prefix = item_prefix(each.step_id, index as usize);
        let Walk::Pending(item_commands) = walk(plan, steps, state, each.sequence, &prefix, last)?
        else {
            continue;
        };
        if !is_started && in_flight >= each.concurrency {
            stopped = true;
            break;
        }
        pending += 1;
        in_flight += 1;
        if let Some(fail) = item_commands
            .iter()
            .find(|c| matches!(c, Command::FailRun { .. }))
        {
            return Some(vec![fail.clone()]);
        }
        commands.extend(item_commands);
    }
    if !commands.is_empty() || pending > 0 || stopped {
        return Some(commands);
    }
    // Every item finished: the foreach's output, each item's last output in index order.
    let mut outputs = Vec::with_capacity(each.items as usize);
    for index in 0..each.items {
        let last = progress.and_then(|p| p.place(index)).flatten();
        let prefix = item_prefix(each.step_id, index as usize);
        match walk(plan, steps, state, each.sequence, &prefix, last)? {
            Walk::Done(output) => outputs.push(output.unwrap_or("null")),
            Walk::Pending(_) => return None,
        }
    }
    Some(vec![Command::CompleteStep {
        step_id: each.step_id.to_owned(),
        output_json: format!("[{}]", outputs.join(",")),
    }])
}
