//! A definition laid out for `decide`: each step's place, found by its id, and the step that
//! comes after it. With it the next step of a sequence is a lookup from the step that
//! completed last, not a walk from the first step. Built once per run's driver (O(steps));
//! `decide` without one builds its own.

use std::collections::HashMap;

use crate::definition::{Step, StepKind};
use crate::foreach::ItemStepId;

/// Which list of its parent a step is in.
#[derive(Clone, Copy, Debug)]
enum List {
    /// The workflow's steps, or a foreach's sub-steps (the list of the sequence's root).
    Root,
    Then,
    Else,
    /// A foreach's sub-steps.
    Subs,
}

/// The steps of one sequence (the workflow's, or a foreach's for each of its items), branches
/// included, by id.
#[derive(Debug, Default)]
struct Sequence {
    first: Option<usize>,
    /// The first step with each id in definition order, as `find_step` finds it.
    ids: HashMap<String, usize>,
}

#[derive(Debug)]
struct Node {
    /// From the workflow's steps down to this step: the list and the index in it.
    path: Box<[(List, u32)]>,
    /// The next step in the same list.
    sibling: Option<usize>,
    /// The condition whose branch holds this step.
    parent: Option<usize>,
    /// For a condition: the first step of each branch.
    then_first: Option<usize>,
    else_first: Option<usize>,
    condition: bool,
    /// For a foreach: the sequence of its sub-steps.
    subs: Option<usize>,
}

/// A definition laid out: see the module doc.
#[derive(Debug)]
pub struct Plan {
    nodes: Vec<Node>,
    /// The workflow's sequence first, then one per foreach.
    sequences: Vec<Sequence>,
}

/// The workflow's own sequence.
pub const WORKFLOW: usize = 0;

impl Plan {
    pub fn new(steps: &[Step]) -> Plan {
        let mut plan = Plan {
            nodes: Vec::new(),
            sequences: vec![Sequence::default()],
        };
        let first = plan.lay_out(steps, &mut Vec::new(), List::Root, WORKFLOW, None);
        plan.sequences[WORKFLOW].first = first;
        plan
    }

    fn lay_out(
        &mut self,
        list: &[Step],
        path: &mut Vec<(List, u32)>,
        which: List,
        sequence: usize,
        parent: Option<usize>,
    ) -> Option<usize> {
        let mut first = None;
        let mut previous: Option<usize> = None;
        for (index, step) in list.iter().enumerate() {
            path.push((which, index as u32));
            let node = self.nodes.len();
            self.nodes.push(Node {
                path: path.clone().into_boxed_slice(),
                sibling: None,
                parent,
                then_first: None,
                else_first: None,
                condition: false,
                subs: None,
            });
            // Before the branches: the first in definition order wins, as in `find_step`.
            self.sequences[sequence]
                .ids
                .entry(step.id.clone())
                .or_insert(node);
            match previous {
                Some(previous) => self.nodes[previous].sibling = Some(node),
                None => first = Some(node),
            }
            previous = Some(node);
            match &step.kind {
                StepKind::Condition {
                    then_steps,
                    else_steps,
                    ..
                } => {
                    let then_first =
                        self.lay_out(then_steps, path, List::Then, sequence, Some(node));
                    let else_first =
                        self.lay_out(else_steps, path, List::Else, sequence, Some(node));
                    let node = &mut self.nodes[node];
                    node.condition = true;
                    node.then_first = then_first;
                    node.else_first = else_first;
                }
                StepKind::Foreach { steps: subs, .. } => {
                    let inner = self.sequences.len();
                    self.sequences.push(Sequence::default());
                    let first = self.lay_out(subs, path, List::Subs, inner, None);
                    self.sequences[inner].first = first;
                    self.nodes[node].subs = Some(inner);
                }
                _ => {}
            }
            path.pop();
        }
        first
    }

    /// The first step of `sequence`.
    pub fn first(&self, sequence: usize) -> Option<usize> {
        self.sequences.get(sequence)?.first
    }

    /// The step with id `id` in `sequence` (its own id, not an item's composite one).
    pub fn lookup(&self, sequence: usize, id: &str) -> Option<usize> {
        self.sequences.get(sequence)?.ids.get(id).copied()
    }

    /// The sequence of a foreach's sub-steps.
    pub fn subs(&self, node: usize) -> Option<usize> {
        self.nodes.get(node)?.subs
    }

    pub fn is_condition(&self, node: usize) -> bool {
        self.nodes.get(node).is_some_and(|n| n.condition)
    }

    /// The step that runs after `node` completed (for a condition, having chosen `then` or
    /// not); None when its sequence is finished.
    pub fn next_after(&self, node: usize, then: bool) -> Option<usize> {
        let n = self.nodes.get(node)?;
        if n.condition {
            let branch = if then { n.then_first } else { n.else_first };
            if branch.is_some() {
                return branch;
            }
        }
        self.successor(node)
    }

    /// The next step in `node`'s list, or after the condition whose branch ends here.
    fn successor(&self, node: usize) -> Option<usize> {
        let mut node = node;
        loop {
            let n = self.nodes.get(node)?;
            if n.sibling.is_some() {
                return n.sibling;
            }
            node = n.parent?;
        }
    }

    /// The step `node` stands for in `steps` (the definition the plan was made from).
    pub fn step<'s>(&self, steps: &'s [Step], node: usize) -> Option<&'s Step> {
        let mut list = steps;
        let mut found: Option<&'s Step> = None;
        for &(which, index) in self.nodes.get(node)?.path.iter() {
            if let Some(parent) = found {
                list = match (which, &parent.kind) {
                    (List::Then, StepKind::Condition { then_steps, .. }) => then_steps,
                    (List::Else, StepKind::Condition { else_steps, .. }) => else_steps,
                    (List::Subs, StepKind::Foreach { steps, .. }) => steps,
                    _ => return None,
                };
            }
            found = Some(list.get(index as usize)?);
        }
        found
    }

    /// `definition::find_step` in a lookup: the step with `id`, a composite id finding the
    /// sub-step of its foreach.
    pub fn find<'s>(&self, steps: &'s [Step], id: &str) -> Option<&'s Step> {
        let node = match ItemStepId::parse(id) {
            Some(item) => {
                let foreach = self.lookup(WORKFLOW, item.foreach_id)?;
                self.lookup(self.subs(foreach)?, item.sub_id)?
            }
            None => self.lookup(WORKFLOW, id)?,
        };
        self.step(steps, node)
    }
}
