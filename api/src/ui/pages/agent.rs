//! An agent step on the Run page: its conversation (the system prompt and the user's
//! messages the first model call was sent, each model turn's text and tool calls, each
//! tool's result), rebuilt from the step's sub-steps as the run view lists them
//! (`{agent}.m{n}`: a model call, its output the model's answer; `{agent}.t{n}.{callId}`: a
//! tool call of turn n), and what a paused agent waits for, with Approve / Deny buttons for
//! an approval and a field for a question's answer (both posted to the resume action).

use std::collections::BTreeMap;

use engine::agent::{parse_sub_step, SubStep};
use maud::{html, Markup};
use serde_json::Value;

use super::layout;

fn str_of<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value.get(name).and_then(Value::as_str)
}

/// One agent's turns: turn number → (the model call's step, the tool calls' steps).
type Turns<'a> = BTreeMap<u32, (Option<&'a Value>, Vec<&'a Value>)>;

/// The agents among `steps` (by id, in order of first appearance) and their turns; ids are
/// read by the engine's own `parse_sub_step`.
fn agents(steps: &[Value]) -> Vec<(String, Turns<'_>)> {
    let mut found: Vec<(String, Turns<'_>)> = Vec::new();
    for step in steps {
        let Some(sub) = str_of(step, "id").and_then(parse_sub_step) else {
            continue;
        };
        let (agent, turn, tool) = match sub {
            SubStep::Model { agent, turn } => (agent, turn, false),
            SubStep::Tool { agent, turn, .. } => (agent, turn, true),
        };
        let index = match found.iter().position(|(name, _)| name == agent) {
            Some(index) => index,
            None => {
                found.push((agent.to_owned(), BTreeMap::new()));
                found.len() - 1
            }
        };
        let entry = found[index].1.entry(turn).or_default();
        if tool {
            entry.1.push(step);
        } else {
            entry.0 = Some(step);
        }
    }
    found
}

fn tool_result(step: &Value) -> Markup {
    let id = str_of(step, "id").unwrap_or_default();
    let call = id.rsplit('.').next().unwrap_or_default();
    html! {
        li.turn.tool data-call=(call) {
            span.who { "Tool result " code { (call) } }
            " " (layout::status(str_of(step, "status").unwrap_or("unknown")))
            (layout::json("Result", &step["output"]))
            (layout::json_open("Error", &step["error"]))
        }
    }
}

/// The conversation of every agent step of the run; nothing when it has none.
pub fn conversation(steps: &[Value]) -> Markup {
    let agents = agents(steps);
    html! {
        @for (agent, turns) in &agents {
            section.conversation data-agent=(agent) {
                h2 { "Conversation of " code { (agent) } }
                ol.turns {
                    // The opening of the conversation: what the first model call was sent
                    // (its input is the request) before any answer.
                    @if let Some((_, (Some(first), _))) = turns.iter().next() {
                        @let request = &first["input"];
                        @if let Some(system) = str_of(request, "system") {
                            li.turn.system { span.who { "System prompt" } p.said { (system) } }
                        }
                        @for message in request["messages"].as_array().map(Vec::as_slice).unwrap_or_default() {
                            @if str_of(message, "role") == Some("user") {
                                li.turn.user { span.who { "User" } p.said { (str_of(message, "content").unwrap_or_default()) } }
                            }
                        }
                    }
                    @for (turn, (model, tools)) in turns {
                        @if let Some(model) = model {
                            @let answer = &model["output"];
                            li.turn.model data-turn=(turn) {
                                span.who { "Model, turn " (turn) }
                                " " (layout::status(str_of(model, "status").unwrap_or("unknown")))
                                @if let Some(text) = str_of(answer, "content") {
                                    p.said { (text) }
                                }
                                @let calls = answer["toolCalls"].as_array().map(Vec::as_slice).unwrap_or_default();
                                @if !calls.is_empty() {
                                    ul.calls {
                                        @for call in calls {
                                            li { "Calls " strong { (str_of(call, "name").unwrap_or_default()) }
                                                 " with " code { (str_of(call, "arguments").unwrap_or_default()) } }
                                        }
                                    }
                                }
                                (layout::json_open("Error", &model["error"]))
                            }
                        }
                        @for tool in tools { (tool_result(tool)) }
                    }
                }
            }
        }
    }
}

/// What a paused agent waits for (`RunView::waiting_for`), with the forms that answer it
/// when `can_answer` (the key holds `runs:write`).
pub fn waiting(waiting_for: &Value, resume_action: &str, csrf: &str, can_answer: bool) -> Markup {
    let kind = str_of(waiting_for, "type").unwrap_or_default();
    html! {
        @if kind == "approval" {
            section.waiting.approval aria-labelledby="waiting-title" {
                h2 id="waiting-title" { "Waiting for your approval" }
                p {
                    "The agent in step " code { (str_of(waiting_for, "stepId").unwrap_or_default()) }
                    " wants to call " strong { (str_of(waiting_for, "tool").unwrap_or_default()) } " with:"
                }
                pre { code { (serde_json::to_string_pretty(&waiting_for["arguments"]).unwrap_or_default()) } }
                @if can_answer {
                    div.answers {
                        form.approve method="post" action=(resume_action) {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="approved" value="true";
                            button.primary type="submit" { "Approve" }
                        }
                        form.deny method="post" action=(resume_action) {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="approved" value="false";
                            button.danger type="submit" { "Deny" }
                        }
                    }
                }
            }
        }
        @if kind == "input" {
            section.waiting.question aria-labelledby="waiting-title" {
                h2 id="waiting-title" { "The agent asks" }
                p.said { (str_of(waiting_for, "question").unwrap_or_default()) }
                @if can_answer {
                    form.answer method="post" action=(resume_action) {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="answer" { "Your answer" }
                        input id="answer" name="message" type="text" required;
                        button.primary type="submit" { "Send" }
                    }
                }
            }
        }
    }
}
