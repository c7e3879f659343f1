//! The state machine's promises, checked on generated workflows and outcomes:
//! folding a journal twice gives the same state; a run interrupted after any prefix of its
//! journal and continued from that prefix writes exactly the journal the uninterrupted run
//! writes (so it ends in the same state with the same output); no step completes twice.
//!
//! Everything a run computes is the real thing: `decide`, `evolve` and the executor's own
//! in-memory fold (`duro_core::fold::Fold`: transforms, conditions evaluated on the run's
//! input, foreach items rendered from `{{input.items}}`, retries, timers, pauses, the run's
//! end). Only the outside world is scripted: each HTTP attempt's outcome, the passing of time
//! (a function of the journal's length; a timer fires when waited for), and whether a wait
//! step is resumed or times out. Like the real driver, it announces an HTTP attempt with
//! `StepStarted` and records its outcome later, and when `decide` asks for several things at
//! once (a foreach's items) it carries out the one the script picks, so attempts of different
//! items interleave.

use std::collections::HashMap;

use duro_core::decide::{decide, decide_by_walking, decide_from_progress, Command, Plan};
use duro_core::definition::{find_step, ConditionTest, DelaySpec, OnTimeout, Step, StepKind};
use duro_core::events::{RunError, RunEvent, StepError};
use duro_core::fold::Fold;
use duro_core::foreach::{item_step_id, ItemStepId};
use duro_core::inspect::{replay_run, JournalEvent};
use duro_core::retry::RetryPolicy;
use duro_core::run::{replay, RunState, RunStatus, StepState};
use duro_core::scope::{Items, RunContext};
use duro_core::snapshot::{self, Mark};
use duro_core::view::Loaded;
use proptest::prelude::*;

/// What happens to attempt `a` of step `s` (missing: success), and whether wait steps time out.
#[derive(Clone, Debug)]
struct Script {
    failures: HashMap<(usize, u32), bool>,
    wait_times_out: bool,
    /// Which branch every condition takes.
    take_then: bool,
    /// How many items every foreach renders (None: its items are not an array).
    items: Option<u32>,
    /// What happens to attempt `a` of every sub-step of item `i`, keyed `(i, a)`.
    item_failures: HashMap<(usize, u32), bool>,
    /// Which of several commands to carry out, by the journal's length.
    picks: Vec<usize>,
}

impl Script {
    fn new(failures: HashMap<(usize, u32), bool>) -> Script {
        Script {
            failures,
            wait_times_out: false,
            take_then: false,
            items: Some(0),
            item_failures: HashMap::new(),
            picks: vec![0],
        }
    }

    /// The run's input: what conditions (`{{input.take_then}}`) and foreach steps
    /// (`{{input.items}}`) read. Items that are not an array fail the foreach.
    fn input(&self) -> serde_json::Value {
        let items = match self.items {
            Some(n) => serde_json::Value::from((0..n).collect::<Vec<u32>>()),
            None => serde_json::Value::from("not an array"),
        };
        serde_json::json!({ "items": items, "take_then": self.take_then })
    }

    /// The scripted outcome of `attempt` of HTTP step `step_id`: None for success, else
    /// whether the failure is retryable.
    fn failure(&self, steps: &[Step], step_id: &str, attempt: u32) -> Option<bool> {
        match ItemStepId::parse(step_id) {
            Some(item) => self.item_failures.get(&(item.index, attempt)).copied(),
            // Failures are scripted for top-level steps; steps inside branches always succeed.
            None => {
                let index = steps.iter().position(|s| s.id == step_id)?;
                self.failures.get(&(index, attempt)).copied()
            }
        }
    }
}

fn now_ms(journal: &[RunEvent]) -> i64 {
    1_000 * journal.len() as i64
}

/// Carries out one command, appending what the real executor would record: the executor's
/// fold for everything that needs nothing outside the journal, the script for the rest.
fn carry_out(
    steps: &[Step],
    script: &Script,
    state: &RunState,
    command: &Command,
    journal: &mut Vec<RunEvent>,
) {
    let now = now_ms(journal);
    let plan = Plan::new(steps);
    let (mut items, mut context) = (Items::default(), RunContext::default());
    let input = script.input();
    let mut fold = Fold::new(
        steps,
        &plan,
        &mut items,
        &mut context,
        &state.run_id,
        &input,
        now,
    );
    if let Some(events) = fold.journal_only(state, command) {
        journal.extend(events);
        return;
    }
    match command {
        Command::ExecuteStep { step_id, attempt } => {
            // Only an HTTP step reaches outside: it is announced first and ends in a later
            // step of the simulation, as the driver does it.
            let kind = find_step(steps, step_id).map(|s| &s.kind);
            assert!(
                matches!(kind, Some(StepKind::Http { .. })),
                "the fold carries out every other step: {step_id}"
            );
            if state.step(step_id) != Some(&StepState::Running { attempt: *attempt }) {
                journal.push(RunEvent::StepStarted {
                    step_id: step_id.clone(),
                    attempt: *attempt,
                });
                return;
            }
            match script.failure(steps, step_id, *attempt) {
                None => journal.push(RunEvent::StepCompleted {
                    step_id: step_id.clone(),
                    attempt: *attempt,
                    output_json: format!("\"{step_id} attempt {attempt}\""),
                }),
                Some(retryable) => journal.push(RunEvent::StepFailed {
                    step_id: step_id.clone(),
                    attempt: *attempt,
                    error: StepError {
                        code: None,
                        message: "scripted".into(),
                        retryable,
                    },
                }),
            }
        }
        // Time passes until the timer is due.
        Command::AwaitTimer { step_id, .. } => journal.push(RunEvent::TimerFired {
            step_id: step_id.clone(),
        }),
        Command::AwaitResume { step_id } => {
            let has_timeout = matches!(
                state.step(step_id),
                Some(StepState::Paused {
                    timeout_at_ms: Some(_)
                })
            );
            if !(script.wait_times_out && has_timeout) {
                journal.push(RunEvent::RunResumed {
                    step_id: step_id.clone(),
                    payload_json: "{\"approved\":true}".into(),
                });
            }
        }
        other => panic!("the fold carries out {other:?}"),
    }
}

/// Runs from `journal` until the run ends, one command at a time (the first that records
/// something), as the executor would after a restart.
fn run_to_end(steps: &[Step], script: &Script, mut journal: Vec<RunEvent>) -> Vec<RunEvent> {
    for _ in 0..10_000 {
        let state = replay(&journal);
        if state.status().is_terminal() {
            return journal;
        }
        let before = journal.len();
        let commands = decide(steps, &state);
        let first = script.picks[journal.len() % script.picks.len()] % commands.len().max(1);
        for command in commands[first..].iter().chain(&commands[..first]) {
            carry_out(steps, script, &state, command, &mut journal);
            if journal.len() > before {
                break;
            }
        }
        assert!(
            journal.len() > before,
            "the run is stuck in {:?}",
            state.status()
        );
    }
    panic!("the run did not end");
}

/// A simulated journal as replay reads it: seqs from 1, a second per event.
fn journal_events(events: &[RunEvent]) -> Vec<JournalEvent> {
    events
        .iter()
        .enumerate()
        .map(|(i, event)| JournalEvent {
            seq: i as u64 + 1,
            recorded_at_us: 1_000_000 * i as i64,
            event: event.clone(),
        })
        .collect()
}

fn started(script: &Script) -> RunEvent {
    RunEvent::RunStarted {
        run_id: "run_test".into(),
        workflow_id: "wf_test".into(),
        workflow_version: 1,
        input_json: script.input().to_string(),
        idempotency_key: None,
        connection_id: None,
    }
}

fn step_strategy(index: usize) -> impl Strategy<Value = Step> {
    let kind = prop_oneof![
        Just(StepKind::Transform {
            mapping: serde_json::json!({}).into()
        }),
        Just(StepKind::Http {
            config: serde_json::json!({"url": "http://localhost/"}).into(),
            connection: None,
        }),
        (0u64..5_000).prop_map(|duration_ms| StepKind::Delay(DelaySpec::For { duration_ms })),
        (proptest::option::of(1u64..10_000), any::<bool>()).prop_map(|(timeout_ms, go_on)| {
            StepKind::Wait {
                timeout_ms,
                on_timeout: if go_on {
                    OnTimeout::Continue
                } else {
                    OnTimeout::Fail
                },
            }
        }),
    ];
    (kind, 1u32..5, 0.0f64..1.0).prop_map(move |(kind, max_attempts, jitter)| Step {
        id: format!("step-{index}"),
        kind,
        retry: RetryPolicy {
            max_attempts,
            jitter,
            ..RetryPolicy::default()
        },
        timeout_ms: None,
    })
}

/// A condition at `index` whose branches hold up to two simple steps each.
fn condition_strategy(index: usize) -> impl Strategy<Value = Step> {
    let branch = move |name: &'static str| {
        proptest::collection::vec(step_strategy(0), 0..3).prop_map(move |steps| {
            steps
                .into_iter()
                .enumerate()
                .map(|(j, step)| Step {
                    id: format!("step-{index}-{name}-{j}"),
                    ..step
                })
                .collect::<Vec<_>>()
        })
    };
    (branch("then"), branch("else")).prop_map(move |(then_steps, else_steps)| Step {
        id: format!("step-{index}"),
        kind: StepKind::Condition {
            test: ConditionTest::Truthy {
                value: serde_json::json!("{{input.take_then}}").into(),
            },
            then_steps,
            else_steps,
        },
        retry: RetryPolicy::default(),
        timeout_ms: None,
    })
}

/// A foreach at `index` over up to three sub-steps (transforms, HTTP calls, delays: wait
/// steps are not allowed inside a foreach).
fn foreach_strategy(index: usize) -> impl Strategy<Value = Step> {
    let sub_steps = proptest::collection::vec(step_strategy(0), 1..4).prop_map(move |steps| {
        steps
            .into_iter()
            .filter(|step| !matches!(step.kind, StepKind::Wait { .. }))
            .enumerate()
            .map(|(j, step)| Step {
                id: format!("step-{index}-sub-{j}"),
                ..step
            })
            .collect::<Vec<_>>()
    });
    (sub_steps, 1u32..4).prop_map(move |(steps, concurrency)| Step {
        id: format!("step-{index}"),
        kind: StepKind::Foreach {
            items: "{{input.items}}".into(),
            concurrency,
            steps,
        },
        retry: RetryPolicy::default(),
        timeout_ms: None,
    })
}

/// `step` renamed `id`, the steps of its branches after it, and wait steps (not allowed in a
/// foreach) made transforms.
fn for_item(step: Step, id: String) -> Step {
    let kind = match step.kind {
        StepKind::Wait { .. } => StepKind::Transform {
            mapping: serde_json::json!({}).into(),
        },
        StepKind::Condition {
            test,
            then_steps,
            else_steps,
        } => {
            let rename = |steps: Vec<Step>, branch: &str| {
                steps
                    .into_iter()
                    .enumerate()
                    .map(|(k, inner)| for_item(inner, format!("{id}-{branch}-{k}")))
                    .collect()
            };
            StepKind::Condition {
                test,
                then_steps: rename(then_steps, "then"),
                else_steps: rename(else_steps, "else"),
            }
        }
        other => other,
    };
    Step { id, kind, ..step }
}

/// A foreach whose sub-steps may be conditions with branches (the condition decides from the
/// script, as at the top).
fn foreach_with_branches_strategy(index: usize) -> impl Strategy<Value = Step> {
    let sub = prop_oneof![3 => step_strategy(0), 1 => condition_strategy(0)];
    let sub_steps = proptest::collection::vec(sub, 1..4).prop_map(move |steps| {
        steps
            .into_iter()
            .enumerate()
            .map(|(j, step)| for_item(step, format!("step-{index}-sub-{j}")))
            .collect::<Vec<_>>()
    });
    (sub_steps, 1u32..4).prop_map(move |(steps, concurrency)| Step {
        id: format!("step-{index}"),
        kind: StepKind::Foreach {
            items: "{{input.items}}".into(),
            concurrency,
            steps,
        },
        retry: RetryPolicy::default(),
        timeout_ms: None,
    })
}

/// Workflows whose foreach steps may hold conditions.
fn workflow_with_branchy_items() -> impl Strategy<Value = Vec<Step>> {
    (1usize..5).prop_flat_map(|n| {
        (0..n)
            .map(|i| {
                prop_oneof![
                    2 => step_strategy(i),
                    1 => condition_strategy(i),
                    2 => foreach_with_branches_strategy(i),
                ]
            })
            .collect::<Vec<_>>()
    })
}

fn workflow() -> impl Strategy<Value = Vec<Step>> {
    (1usize..7).prop_flat_map(|n| {
        (0..n)
            .map(|i| {
                prop_oneof![
                    4 => step_strategy(i),
                    1 => condition_strategy(i),
                    1 => foreach_strategy(i),
                ]
            })
            .collect::<Vec<_>>()
    })
}

fn script() -> impl Strategy<Value = Script> {
    (
        proptest::collection::hash_map((0usize..7, 1u32..5), any::<bool>(), 0..10),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![1 => Just(None), 6 => (0u32..6).prop_map(Some)],
        proptest::collection::hash_map((0usize..6, 1u32..5), any::<bool>(), 0..6),
        proptest::collection::vec(0usize..8, 1..8),
    )
        .prop_map(
            |(failures, wait_times_out, take_then, items, item_failures, picks)| Script {
                failures,
                wait_times_out,
                take_then,
                items,
                item_failures,
                picks,
            },
        )
}

/// The foreach steps of a workflow.
fn foreaches(steps: &[Step]) -> Vec<&Step> {
    steps
        .iter()
        .flat_map(|step| match &step.kind {
            StepKind::Condition {
                then_steps,
                else_steps,
                ..
            } => foreaches(then_steps)
                .into_iter()
                .chain(foreaches(else_steps))
                .collect(),
            StepKind::Foreach { .. } => vec![step],
            _ => Vec::new(),
        })
        .collect()
}

/// Whether item `index` of `foreach` has started, and whether it has finished (the generated
/// sub-steps have no branches, so an item is finished when its last sub-step completed).
fn item_progress(foreach: &Step, index: usize, state: &RunState) -> (bool, bool) {
    let StepKind::Foreach { steps, .. } = &foreach.kind else {
        return (false, false);
    };
    let state_of = |sub: Option<&Step>| {
        sub.and_then(|sub| state.step(&item_step_id(&foreach.id, index, &sub.id)))
    };
    let started = state_of(steps.first()).is_some();
    let finished = matches!(state_of(steps.last()), Some(StepState::Completed { .. }));
    (started, finished)
}

/// Whether every step on the run's path completed: each step, and inside a condition the
/// steps of the branch it took.
fn path_completed(steps: &[Step], state: &RunState) -> bool {
    steps.iter().all(|step| {
        let Some(StepState::Completed { output_json, .. }) = state.step(&step.id) else {
            return false;
        };
        match &step.kind {
            StepKind::Condition {
                then_steps,
                else_steps,
                ..
            } => {
                let took_then = output_json.contains("\"then\"");
                path_completed(if took_then { then_steps } else { else_steps }, state)
            }
            StepKind::Foreach { steps: subs, .. } => {
                let Some(items) = serde_json::from_str::<serde_json::Value>(output_json)
                    .ok()
                    .and_then(|output| output.as_array().map(Vec::len))
                else {
                    return false;
                };
                (0..items).all(|index| {
                    subs.iter().all(|sub| {
                        let id = item_step_id(&step.id, index, &sub.id);
                        matches!(state.step(&id), Some(StepState::Completed { .. }))
                    })
                })
            }
            _ => true,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_prefix_continued_writes_the_same_journal(steps in workflow(), script in script()) {
        let full = run_to_end(&steps, &script, vec![started(&script)]);
        let final_state = replay(&full);
        prop_assert!(final_state.status().is_terminal());
        prop_assert!(final_state.anomalies.is_empty(), "{:?}", final_state.anomalies);
        prop_assert_eq!(replay(&full), final_state.clone(), "folding twice gives the same state");
        for cut in 1..full.len() {
            let continued = run_to_end(&steps, &script, full[..cut].to_vec());
            prop_assert_eq!(&continued, &full, "continued after {} events", cut);
        }
        for cut in 1..=full.len() {
            let state = replay(&full[..cut]);
            for foreach in foreaches(&steps) {
                let StepKind::Foreach { concurrency, .. } = &foreach.kind else { continue };
                let items = script.items.unwrap_or(0) as usize;
                let in_flight = (0..items)
                    .filter(|i| item_progress(foreach, *i, &state) == (true, false))
                    .count();
                prop_assert!(
                    in_flight <= *concurrency as usize,
                    "{} items of {} in flight after {} events (concurrency {})",
                    in_flight, foreach.id, cut, concurrency
                );
            }
        }
        let mut completions: HashMap<&str, usize> = HashMap::new();
        for event in &full {
            if let RunEvent::StepCompleted { step_id, .. } = event {
                *completions.entry(step_id.as_str()).or_default() += 1;
            }
        }
        prop_assert!(completions.values().all(|n| *n == 1), "{:?}", completions);
    }

    /// A snapshot taken after any prefix, plus the events after it, folds to what folding
    /// every event gives: state, progress, input and the journal's times alike.
    #[test]
    fn a_snapshot_and_the_events_after_it_fold_to_the_whole_fold(steps in workflow(), script in script()) {
        let full = run_to_end(&steps, &script, vec![started(&script)]);
        let journal = journal_events(&full);
        let fold = |loaded: &mut Loaded, events: &[JournalEvent]| {
            for event in events {
                loaded.fold_recorded(event.seq, event.recorded_at_us, &event.event);
            }
            loaded.input = serde_json::from_str(&loaded.state.input_json).unwrap_or_default();
        };
        let mut whole = Loaded::empty();
        fold(&mut whole, &journal);
        for cut in 1..=journal.len() {
            let mut prefix = Loaded::empty();
            fold(&mut prefix, &journal[..cut]);
            let at = &journal[cut - 1];
            let mark = Mark { seq: at.seq, position: at.seq + 100, recorded_at_us: at.recorded_at_us };
            let bytes = snapshot::encode(&prefix, mark).expect("a sound run is snapshotted");
            let (mut restored, read_mark) = snapshot::decode(&bytes).expect("its own snapshot decodes");
            prop_assert_eq!(read_mark, mark);
            fold(&mut restored, &journal[cut..]);
            prop_assert_eq!(&restored.state, &whole.state, "after a snapshot at {}", cut);
            prop_assert_eq!(restored.version, whole.version);
            prop_assert_eq!(&restored.step_times, &whole.step_times);
            prop_assert_eq!((restored.started_at_us, restored.ended_at_us), (whole.started_at_us, whole.ended_at_us));
            prop_assert_eq!(&restored.input, &whole.input);
        }
    }

    #[test]
    fn deciding_from_progress_says_what_walking_every_step_says(steps in workflow(), script in script()) {
        let full = run_to_end(&steps, &script, vec![started(&script)]);
        let plan = Plan::new(&steps);
        let mut state = RunState::default();
        for event in &full {
            state = duro_core::run::evolve(state, event);
            let fast = decide_from_progress(&steps, &plan, &state);
            prop_assert!(fast.is_some(), "progress places every state of the engine's journals");
            prop_assert_eq!(fast, Some(decide_by_walking(&steps, &state)));
        }
    }

    #[test]
    fn against_another_definition_progress_agrees_with_walking_up_to_the_divergence(
        steps in workflow(),
        candidate in workflow(),
        script in script(),
    ) {
        let full = run_to_end(&steps, &script, vec![started(&script)]);
        let report = replay_run(&journal_events(&full), &steps, Some(&candidate));
        let diverged = report.divergence.map_or(full.len(), |d| d.seq as usize - 1);
        for cut in 1..=diverged {
            let state = replay(&full[..cut]);
            prop_assert_eq!(
                decide(&candidate, &state),
                decide_by_walking(&candidate, &state),
                "after {} events", cut
            );
        }
    }

    #[test]
    fn a_journal_replays_against_its_own_definition_without_divergence(steps in workflow(), script in script()) {
        let full = run_to_end(&steps, &script, vec![started(&script)]);
        let journal = journal_events(&full);
        let report = replay_run(&journal, &steps, Some(&steps));
        prop_assert_eq!(&report.divergence, &None);
        prop_assert_eq!(report.state.clone(), replay(&full));
        prop_assert_eq!(report.entries.len(), full.len());
        prop_assert_eq!(report.entries.last().map(|e| e.status), Some(report.state.status()));
        prop_assert_eq!(report.stopped.status, report.state.status());
    }

    #[test]
    fn a_definition_without_the_first_step_diverges_at_its_first_event(steps in workflow(), script in script()) {
        prop_assume!(!steps.is_empty());
        let full = run_to_end(&steps, &script, vec![started(&script)]);
        let journal = journal_events(&full);
        let candidate = steps[1..].to_vec();
        let report = replay_run(&journal, &steps, Some(&candidate));
        let divergence = report.divergence.expect("the first step's events have no place");
        prop_assert_eq!(divergence.seq, 2);
        prop_assert_eq!(divergence.step_id.as_deref(), Some(steps[0].id.as_str()));
    }

    #[test]
    fn a_run_completes_exactly_when_every_step_completes(steps in workflow(), script in script()) {
        let full = run_to_end(&steps, &script, vec![started(&script)]);
        let state = replay(&full);
        let all_done = path_completed(&steps, &state);
        prop_assert_eq!(state.status() == RunStatus::Completed, all_done);
        if state.status() == RunStatus::Failed {
            let RunError { step_id, .. } = state.error.clone().expect("a failed run has an error");
            prop_assert!(step_id.is_some());
        }
    }
}

proptest! {
    // Each case continues its journal from every prefix: fewer cases keep it to seconds.
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn with_conditions_in_items_progress_agrees_with_walking(
        steps in workflow_with_branchy_items(),
        script in script(),
    ) {
        let full = run_to_end(&steps, &script, vec![started(&script)]);
        prop_assert!(replay(&full).status().is_terminal());
        let plan = Plan::new(&steps);
        let mut state = RunState::default();
        for event in &full {
            state = duro_core::run::evolve(state, event);
            let fast = decide_from_progress(&steps, &plan, &state);
            prop_assert_eq!(fast, Some(decide_by_walking(&steps, &state)));
        }
        for cut in 1..full.len() {
            let continued = run_to_end(&steps, &script, full[..cut].to_vec());
            prop_assert_eq!(&continued, &full, "continued after {} events", cut);
        }
    }
}

/// One HTTP step, "charge", with the default retry policy (three attempts).
fn charge_step() -> Step {
    Step {
        id: "charge".into(),
        kind: StepKind::Http {
            config: serde_json::json!({"url": "http://localhost/"}).into(),
            connection: None,
        },
        retry: RetryPolicy::default(),
        timeout_ms: None,
    }
}

#[test]
fn a_step_that_fails_twice_then_succeeds_completes_on_its_third_attempt() {
    let steps = vec![charge_step()];
    let script = Script::new(HashMap::from([((0, 1), true), ((0, 2), true)]));
    let journal = run_to_end(&steps, &script, vec![started(&script)]);
    let names: Vec<&str> = journal.iter().map(RunEvent::name).collect();
    assert_eq!(
        names,
        vec![
            "RunStarted",
            "StepStarted",
            "StepFailed",
            "StepRetryScheduled",
            "TimerFired",
            "StepStarted",
            "StepFailed",
            "StepRetryScheduled",
            "TimerFired",
            "StepStarted",
            "StepCompleted",
            "RunCompleted",
        ]
    );
    let state = replay(&journal);
    assert_eq!(state.output_json.as_deref(), Some("\"charge attempt 3\""));
}

#[test]
fn a_non_retryable_failure_fails_the_run_with_the_steps_error() {
    let steps = vec![charge_step()];
    let script = Script::new(HashMap::from([((0, 1), false)]));
    let state = replay(&run_to_end(&steps, &script, vec![started(&script)]));
    assert_eq!(state.status(), RunStatus::Failed);
    assert_eq!(
        state.error.and_then(|e| e.step_id).as_deref(),
        Some("charge")
    );
}

#[test]
fn events_round_trip_through_their_encoding() {
    let events = vec![
        started(&Script::new(HashMap::new())),
        RunEvent::StepFailed {
            step_id: "a".into(),
            attempt: 2,
            error: StepError {
                code: Some("503".into()),
                message: "unavailable".into(),
                retryable: true,
            },
        },
        RunEvent::RunResumed {
            step_id: "w".into(),
            payload_json: "{\"x\":[1,2]}".into(),
        },
    ];
    for event in events {
        let decoded = RunEvent::decode(event.tag(), &event.encode()).expect("decodes");
        assert_eq!(decoded, event);
    }
    let wrong_tag = RunEvent::decode(101u16, &started(&Script::new(HashMap::new())).encode());
    assert!(
        wrong_tag.is_err(),
        "a payload under another event's tag is refused"
    );
}

#[test]
fn a_foreach_interleaves_its_items_and_outputs_each_items_last_output_in_order() {
    let call = Step {
        id: "call".into(),
        ..charge_step()
    };
    let steps = vec![Step {
        id: "each".into(),
        kind: StepKind::Foreach {
            items: "{{input.items}}".into(),
            concurrency: 2,
            steps: vec![call],
        },
        retry: RetryPolicy::default(),
        timeout_ms: None,
    }];
    let script = Script {
        items: Some(3),
        item_failures: HashMap::from([((1, 1), true)]),
        // Picks that make items overlap: item 2 starts only once item 0 frees a slot.
        picks: vec![0, 1, 1],
        ..Script::new(HashMap::new())
    };
    let journal = run_to_end(&steps, &script, vec![started(&script)]);
    let lines: Vec<String> = journal
        .iter()
        .map(|event| match event {
            RunEvent::StepStarted { step_id, attempt }
            | RunEvent::StepCompleted {
                step_id, attempt, ..
            }
            | RunEvent::StepFailed {
                step_id, attempt, ..
            } => format!("{} {step_id} {attempt}", event.name()),
            RunEvent::StepRetryScheduled { step_id, .. }
            | RunEvent::TimerFired { step_id }
            | RunEvent::ForeachStarted { step_id, .. } => format!("{} {step_id}", event.name()),
            other => other.name().to_string(),
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            "RunStarted",
            "ForeachStarted each",
            "StepStarted each[1].call 1",
            "StepStarted each[0].call 1",
            "StepFailed each[1].call 1",
            "StepRetryScheduled each[1].call",
            "StepCompleted each[0].call 1",
            "StepStarted each[2].call 1",
            "StepCompleted each[2].call 1",
            "TimerFired each[1].call",
            "StepStarted each[1].call 2",
            "StepCompleted each[1].call 2",
            "StepCompleted each 1",
            "RunCompleted",
        ]
    );
    let state = replay(&journal);
    let expected =
        "[\"each[0].call attempt 1\",\"each[1].call attempt 2\",\"each[2].call attempt 1\"]";
    assert_eq!(state.output_json.as_deref(), Some(expected));
    for cut in 1..journal.len() {
        assert_eq!(
            run_to_end(&steps, &script, journal[..cut].to_vec()),
            journal,
            "continued after {cut} events"
        );
    }
}
