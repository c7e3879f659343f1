//! Checking workflow definitions: every problem, with its path, in one answer.

use duro_core::definition::{DelaySpec, OnTimeout, StepKind, WorkflowSpec};
use serde_json::json;

fn spec(value: serde_json::Value) -> WorkflowSpec {
    serde_json::from_value(value).expect("the JSON has the workflow shape")
}

/// The problems of a definition as (dotted path, message) pairs.
fn problems(value: serde_json::Value) -> Vec<(String, String)> {
    spec(value)
        .check()
        .expect_err("the definition has problems")
        .into_iter()
        .map(|p| (p.path.join("."), p.message))
        .collect()
}

#[test]
fn the_seed_order_workflow_checks_step_by_step() {
    let seed = json!({
        "name": "Process Customer Order",
        "description": "Create invoice and send confirmation for customer order",
        "trigger": { "type": "api" },
        "inputSchema": { "type": "object", "required": ["customerId", "items"] },
        "steps": [
            {
                "id": "calculate-total",
                "type": "transform",
                "name": "Calculate Order Total",
                "config": { "mapping": {
                    "subtotal": "{{input.items | map: 'quantity * price' | sum}}",
                    "tax": "{{input.items | map: 'quantity * price' | sum | times: 0.08}}",
                    "total": "{{input.items | map: 'quantity * price' | sum | times: 1.08}}"
                }}
            },
            {
                "id": "create-invoice",
                "type": "action",
                "name": "Create Invoice",
                "action": "stripe.createInvoice",
                "config": { "customerId": "{{input.customerId}}", "amount": "{{steps.calculate-total.output.total}}" }
            }
        ]
    });
    let steps = spec(seed.clone()).check().expect("the seed's steps check");
    let StepKind::Action(action) = &steps[1].kind else {
        panic!("an action step: {:?}", steps[1].kind);
    };
    assert_eq!(action.action, "stripe.createInvoice");
    assert_eq!(action.provider, "stripe");

    // An unknown action, and a static param of the wrong type, are named by their paths.
    let mut wrong = seed;
    wrong["steps"][1]["action"] = json!("stripe.refund");
    let found = problems(wrong.clone());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "steps.1.action");
    assert!(found[0].1.contains("createInvoice"), "{}", found[0].1);
    wrong["steps"][1]["action"] = json!("stripe.createInvoice");
    wrong["steps"][1]["config"]["customerId"] = json!(7);
    let found = problems(wrong);
    assert_eq!(found[0].0, "steps.1.config.customerId", "{found:?}");
}

#[test]
fn a_valid_workflow_becomes_checked_steps() {
    let steps = spec(json!({
        "name": "Onboarding",
        "steps": [
            { "id": "greet", "type": "transform", "config": { "mapping": { "hello": "{{input.name}}" } } },
            { "id": "pause", "type": "delay", "config": { "duration": "2h30m" } },
            { "id": "approve", "type": "wait", "config": { "timeout": "1d", "onTimeout": "continue" } },
            { "id": "notify", "type": "http", "config": { "method": "POST", "url": "https://example.com/{{steps.greet.output.hello}}" },
              "retry": { "maxAttempts": 5, "initialInterval": "500ms" }, "timeout": "10s" }
        ]
    }))
    .check()
    .expect("valid");
    assert_eq!(steps.len(), 4);
    assert_eq!(
        steps[1].kind,
        StepKind::Delay(DelaySpec::For {
            duration_ms: 9_000_000
        })
    );
    assert_eq!(
        steps[2].kind,
        StepKind::Wait {
            timeout_ms: Some(86_400_000),
            on_timeout: OnTimeout::Continue
        }
    );
    assert_eq!(steps[3].retry.max_attempts, 5);
    assert_eq!(steps[3].retry.initial_interval_ms, 500);
    assert_eq!(steps[3].timeout_ms, Some(10_000));
}

#[test]
fn every_problem_is_listed_with_its_path() {
    let found = problems(json!({
        "name": "Broken",
        "steps": [
            { "id": "a", "type": "transform", "config": { "mapping": { "x": "{{steps.b.output.y}}" } } },
            { "id": "b", "type": "teleport" },
            { "id": "a", "type": "delay", "config": { "duration": "soon" } },
            { "id": "c", "type": "http", "config": { "url": "https://x/{{ input.y | nosuchfilter }}" },
              "retry": { "maxAttempts": 0 } }
        ]
    }));
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "steps.0.config.mapping.x",
            "steps.1.type",
            "steps.2.id",
            "steps.2.config.duration",
            "steps.3.config.url",
            "steps.3.retry.maxAttempts",
        ],
        "{found:?}"
    );
    assert!(found[0].1.contains("steps.b"), "{}", found[0].1);
    assert!(
        found[1].1.contains("unknown step type \"teleport\""),
        "{}",
        found[1].1
    );
    assert!(found[2].1.contains("duplicate step id"), "{}", found[2].1);
    assert!(
        found[3].1.contains("bad duration \"soon\""),
        "{}",
        found[3].1
    );
    assert!(found[4].1.contains("nosuchfilter"), "{}", found[4].1);
}

#[test]
fn a_workflow_needs_a_name_and_steps() {
    let found = problems(json!({ "name": " ", "steps": [] }));
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(paths, vec!["name", "steps"]);
}

#[test]
fn branches_are_checked_as_steps_with_paths_into_them() {
    let found = problems(json!({
        "name": "Branchy",
        "steps": [
            { "id": "a", "type": "transform", "config": { "mapping": {} } },
            { "id": "check", "type": "condition", "config": {
                "if": "{{input.ok}}",
                "then": [
                    { "id": "a", "type": "transform", "config": { "mapping": {} } },
                    { "id": "later-ref", "type": "transform", "config": { "mapping": { "x": "{{steps.after.output}}" } } }
                ],
                "else": [{ "id": "bad", "type": "delay", "config": {} }]
            } },
            { "id": "after", "type": "condition", "config": { "operator": "bigger", "left": 1, "right": 2 } }
        ]
    }));
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "steps.1.config.then.0.id",
            "steps.1.config.then.1.config.mapping.x",
            "steps.1.config.else.0.config",
            "steps.2.config.operator",
        ],
        "{found:?}"
    );
}

#[test]
fn a_foreach_checks_into_its_items_concurrency_and_sub_steps() {
    let steps = spec(json!({
        "name": "Per item",
        "steps": [
            { "id": "rate", "type": "transform", "config": { "mapping": { "pct": 10 } } },
            { "id": "each", "type": "foreach", "config": {
                "items": "{{input.items}}",
                "steps": [
                    { "id": "price", "type": "transform", "config": { "mapping": {
                        "v": "{{item.price | times: steps.rate.output.pct}}", "at": "{{index}}"
                    } } },
                    { "id": "check", "type": "condition", "config": {
                        "if": "{{steps.price.output.v}}",
                        "then": [{ "id": "send", "type": "http", "config": { "url": "https://x/{{steps.price.output.v}}" } }]
                    } },
                    { "id": "pause", "type": "delay", "config": { "duration": "1s" } }
                ]
            } },
            { "id": "each-fast", "type": "foreach", "config": {
                "items": "{{steps.each.output}}", "concurrency": 4,
                "steps": [{ "id": "echo", "type": "transform", "config": { "mapping": { "x": "{{item}}" } } }]
            } }
        ]
    }))
    .check()
    .expect("valid");
    let StepKind::Foreach {
        items,
        concurrency,
        steps: subs,
    } = &steps[1].kind
    else {
        panic!("a foreach: {:?}", steps[1].kind)
    };
    assert_eq!(items.source(), "{{input.items}}");
    assert_eq!(*concurrency, 1, "one item at a time unless asked");
    let sub_ids: Vec<&str> = subs.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(sub_ids, ["price", "check", "pause"]);
    assert!(matches!(
        steps[2].kind,
        StepKind::Foreach { concurrency: 4, .. }
    ));
    // An item's sub-step is found by its journal id.
    let found = duro_core::definition::find_step(&steps, "each[7].send").expect("found");
    assert_eq!(found.id, "send");
    assert!(duro_core::definition::find_step(&steps, "each[7].echo").is_none());
}

#[test]
fn foreach_problems_are_listed_with_paths_into_the_sub_steps() {
    let found = problems(json!({
        "name": "Loopy",
        "steps": [
            { "id": "a", "type": "transform", "config": { "mapping": {} } },
            { "id": "each", "type": "foreach", "config": {
                "items": 5,
                "concurrency": 0,
                "steps": [
                    { "id": "a", "type": "transform", "config": { "mapping": {} } },
                    { "id": "x", "type": "transform", "config": { "mapping": { "v": "{{steps.y.output}}" } } },
                    { "id": "y", "type": "wait" },
                    { "id": "inner", "type": "foreach", "config": { "items": "{{item}}", "steps": [] } },
                    { "id": "z", "type": "transform", "config": { "mapping": { "v": "{{steps.each.output}}" } } }
                ]
            } },
            { "id": "after", "type": "transform", "config": { "mapping": { "v": "{{steps.x.output}}" } } },
            { "id": "y", "type": "transform", "config": { "mapping": {} } },
            { "id": "empty", "type": "foreach", "config": { "items": "{{input.items}}", "concurrency": 101, "steps": [] } }
        ]
    }));
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "steps.1.config.items",
            "steps.1.config.concurrency",
            "steps.1.config.steps.0.id",
            "steps.1.config.steps.1.config.mapping.v",
            "steps.1.config.steps.2.type",
            "steps.1.config.steps.3.type",
            "steps.1.config.steps.4.config.mapping.v",
            "steps.2.config.mapping.v",
            "steps.3.id",
            "steps.4.config.concurrency",
            "steps.4.config.steps",
        ],
        "{found:?}"
    );
    let message = |i: usize| found[i].1.as_str();
    assert!(
        message(0).contains("a template yielding an array"),
        "{}",
        message(0)
    );
    assert!(message(1).contains("from 1 to 100"), "{}", message(1));
    assert!(
        message(2).contains("duplicate step id \"a\""),
        "{}",
        message(2)
    );
    assert!(message(3).contains("steps.y"), "{}", message(3));
    assert!(
        message(4).contains("not supported inside foreach"),
        "{}",
        message(4)
    );
    assert!(
        message(5).contains("foreach inside a foreach is not supported"),
        "{}",
        message(5)
    );
    assert!(message(6).contains("steps.each"), "{}", message(6));
    assert!(message(7).contains("steps.x"), "{}", message(7));
    assert!(
        message(8).contains("duplicate step id \"y\""),
        "{}",
        message(8)
    );
    assert!(
        message(10).contains("at least one sub-step"),
        "{}",
        message(10)
    );
}

#[test]
fn the_trigger_type_is_one_the_seed_names() {
    let with = |trigger: serde_json::Value| {
        spec(json!({
            "name": "t",
            "trigger": trigger,
            "steps": [{"id": "a", "type": "transform", "config": {"mapping": {}}}]
        }))
    };
    for kind in ["api", "schedule", "webhook", "manual", "polling"] {
        assert!(with(json!({"type": kind})).check().is_ok(), "{kind}");
    }
    let found = with(json!({"type": "cron"}))
        .check()
        .expect_err("unknown type");
    assert_eq!(found[0].path, ["trigger", "type"]);
    assert!(
        found[0].message.contains("api, schedule"),
        "{}",
        found[0].message
    );
    let found = with(json!("api")).check().expect_err("not an object");
    assert_eq!(found[0].path, ["trigger"]);
}
