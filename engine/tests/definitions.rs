//! Checking workflow definitions: every problem, with its path, in one answer.

use engine::definition::{DelaySpec, OnTimeout, StepKind, WorkflowSpec};
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
    let found = problems(seed);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "steps.1.type");
    assert!(found[0].1.contains("not supported yet"), "{}", found[0].1);
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
