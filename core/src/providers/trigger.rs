//! A provider's triggers: the events of a provider (Stripe's `customer.created`, GitHub's
//! `push`) that can start a workflow, as the provider file lists them under `triggers`. They
//! are StackAI's provider triggers (seed 004): `GET /providers/{provider_id}/triggers` serves
//! them and a project trigger names one by `provider_id` + `trigger_id`.
//!
//! An entry is data about the sender, not code: where the event type is in a delivery
//! (`eventType`), which event types the trigger takes (`events`, refined by `where`), which
//! payload field names the target that the trigger's config may pin (`target`), and which
//! signature scheme the provider signs with. The matching itself lives in the `triggers`
//! crate (`triggers::provider_events`); loading only checks that the entry is well formed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Signature schemes a provider trigger may name. Each must be a scheme the `triggers`
/// crate verifies (its tests parse every name here).
pub const SIGNATURE_SCHEMES: [&str; 6] = [
    "standard",
    "stripe",
    "github",
    "slack",
    "typeform",
    "hmac-sha256",
];
/// Duro trigger types a provider trigger may be.
pub const TRIGGER_KINDS: [&str; 3] = ["webhook", "polling", "schedule"];
/// Most triggers one provider file may list.
pub const PROVIDER_TRIGGERS_MAX: usize = 64;

/// One trigger of a provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderTrigger {
    /// `[a-z0-9_-]`, unique in the provider: StackAI's `trigger_id` (`on_customer_created`).
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// How to set the trigger up on the provider's side, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// An icon name; the provider's id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The entry's version (StackAI's default `1.0.0`).
    #[serde(default = "default_version")]
    pub version: String,
    /// The Duro trigger type an instance is: `webhook`, `polling` or `schedule`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The scheme the provider signs deliveries with (one of [`SIGNATURE_SCHEMES`]); an
    /// instance's `signing_secret` is checked with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Whether the provider checks the URL with a challenge before it sends events (Slack's
    /// `url_verification`, Microsoft Graph's `validationToken`).
    #[serde(default)]
    pub webhook_requires_verification: bool,
    /// Whether received payloads are kept as test samples.
    #[serde(default = "default_true")]
    pub can_get_test_samples: bool,
    /// Where a delivery says which event it is (webhook triggers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<Locator>,
    /// The event types the trigger takes (`customer.created`); empty = any.
    #[serde(default)]
    pub events: Vec<String>,
    /// Further conditions on the payload, all of which must hold (GitHub's `action`).
    #[serde(default, rename = "where")]
    pub conditions: Vec<Condition>,
    /// Payload fields naming the target (a Slack team, a GitHub repository, a Typeform
    /// form): when the instance's config sets `config`, the field must equal it.
    #[serde(default)]
    pub target: Vec<Target>,
    /// A JSON Schema of the instance's `trigger_config`.
    #[serde(default = "open_object")]
    pub config_schema: Value,
}

/// A value in a delivery: a JSON pointer into the body, or a header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Locator {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// The payload value at `pointer` must be `equals`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    pub pointer: String,
    pub equals: Value,
}

/// The payload value at `pointer` must equal the instance config's `config` field, when the
/// config sets it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    pub pointer: String,
    pub config: String,
}

fn default_version() -> String {
    "1.0.0".to_owned()
}

fn default_true() -> bool {
    true
}

fn open_object() -> Value {
    serde_json::json!({ "type": "object" })
}

fn pointer_ok(pointer: &str) -> bool {
    pointer.is_empty() || pointer.starts_with('/')
}

/// Every problem of a provider's trigger entries, each named by its place
/// (`triggers[0].signature`).
pub fn check_triggers(triggers: &[ProviderTrigger]) -> Vec<String> {
    let mut problems = Vec::new();
    if triggers.len() > PROVIDER_TRIGGERS_MAX {
        problems.push(format!(
            "triggers: at most {PROVIDER_TRIGGERS_MAX} per provider"
        ));
    }
    let mut ids = std::collections::BTreeSet::new();
    for (index, trigger) in triggers.iter().enumerate() {
        let at = format!("triggers[{index}]");
        if !super::well_formed_id(&trigger.id) {
            problems.push(format!(
                "{at}.id {:?} must be 1 to 100 letters, digits, '_' or '-'",
                trigger.id
            ));
        }
        if !ids.insert(trigger.id.as_str()) {
            problems.push(format!("{at}.id: duplicate trigger id {:?}", trigger.id));
        }
        if !TRIGGER_KINDS.contains(&trigger.kind.as_str()) {
            problems.push(format!(
                "{at}.type {:?} must be one of {}",
                trigger.kind,
                TRIGGER_KINDS.join(", ")
            ));
        }
        if let Some(scheme) = &trigger.signature {
            if !SIGNATURE_SCHEMES.contains(&scheme.as_str()) {
                problems.push(format!(
                    "{at}.signature {scheme:?} must be one of {}",
                    SIGNATURE_SCHEMES.join(", ")
                ));
            }
        }
        if let Some(locator) = &trigger.event_type {
            let pointer = locator.pointer.as_deref();
            if pointer.is_some() == locator.header.is_some() {
                problems.push(format!(
                    "{at}.eventType: give exactly one of pointer and header"
                ));
            }
            if pointer.is_some_and(|p| !pointer_ok(p)) {
                problems.push(format!(
                    "{at}.eventType.pointer must be a JSON pointer (\"/type\")"
                ));
            }
        }
        if !trigger.events.is_empty() && trigger.event_type.is_none() {
            problems.push(format!(
                "{at}.events: name where the event type is with eventType"
            ));
        }
        for (n, condition) in trigger.conditions.iter().enumerate() {
            if !pointer_ok(&condition.pointer) {
                problems.push(format!("{at}.where[{n}].pointer must be a JSON pointer"));
            }
        }
        for (n, target) in trigger.target.iter().enumerate() {
            if !pointer_ok(&target.pointer) {
                problems.push(format!("{at}.target[{n}].pointer must be a JSON pointer"));
            }
            if target.config.is_empty() {
                problems.push(format!("{at}.target[{n}].config must name a config field"));
            }
        }
        if let Err(e) = jsonschema::validator_for(&trigger.config_schema) {
            problems.push(format!("{at}.configSchema: not a valid JSON Schema: {e}"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(value: Value) -> ProviderTrigger {
        serde_json::from_value(value).expect("an entry")
    }

    #[test]
    fn entries_are_checked_with_their_place() {
        let good = entry(json!({"id": "on_push", "name": "Push", "type": "webhook",
            "signature": "github", "eventType": {"header": "X-GitHub-Event"}, "events": ["push"]}));
        assert!(check_triggers(std::slice::from_ref(&good)).is_empty());
        assert_eq!(good.version, "1.0.0");
        assert!(good.can_get_test_samples);
        let bad = entry(
            json!({"id": "x", "name": "X", "type": "carrier", "signature": "md5",
            "eventType": {"pointer": "type", "header": "h"}, "events": ["a"]}),
        );
        let problems = check_triggers(&[good.clone(), bad, good]).join("\n");
        for expected in [
            "triggers[1].type",
            "triggers[1].signature",
            "triggers[1].eventType: give exactly one",
            "triggers[1].eventType.pointer",
            "triggers[2].id: duplicate",
        ] {
            assert!(problems.contains(expected), "{expected} in {problems}");
        }
        let no_locator = entry(json!({"id": "y", "name": "Y", "type": "webhook", "events": ["a"]}));
        assert!(check_triggers(&[no_locator])[0].contains("eventType"));
    }
}
