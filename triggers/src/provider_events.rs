//! Provider triggers at work: which project triggers a provider's delivery is for, and how a
//! provider trigger's `trigger_config` becomes a webhook config. The entries are data in the
//! provider files (`engine::providers::trigger`); this module reads deliveries against them.
//!
//! Pure: no I/O, no clock. A delivery is its headers (names case-insensitive) and its body
//! parsed as JSON (`Value::Null` when it is not JSON).

use engine::definition::Problem;
use engine::providers::trigger::ProviderTrigger;
use serde_json::{json, Value};

/// The `trigger_config` field holding the secret a provider signs with.
pub const SIGNING_SECRET_FIELD: &str = "signing_secret";

/// Why a delivery is not for a trigger.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("event {got:?} is not one of the trigger's ({wanted})")]
    Event { got: String, wanted: String },
    #[error("the delivery names no event type (looked at {0})")]
    NoEventType(String),
    #[error("{pointer} is not {expected}")]
    Condition { pointer: String, expected: String },
    #[error("{pointer} does not name the trigger's {field}")]
    Target { pointer: String, field: String },
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// A payload value as text, for comparing with config fields (numbers printed).
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The event type a delivery names, read where the entry says.
pub fn event_type(
    entry: &ProviderTrigger,
    headers: &[(String, String)],
    body: &Value,
) -> Option<String> {
    let locator = entry.event_type.as_ref()?;
    match (&locator.header, &locator.pointer) {
        (Some(name), _) => header(headers, name).map(str::to_owned),
        (None, Some(pointer)) => body.pointer(pointer).and_then(as_text),
        (None, None) => None,
    }
}

/// Whether the delivery is for a trigger of `entry` whose config is `config`: its event type
/// is one of the entry's, every `where` condition holds, and every target field the config
/// pins names the same thing in the payload.
pub fn matches(
    entry: &ProviderTrigger,
    config: &Value,
    headers: &[(String, String)],
    body: &Value,
) -> Result<(), Mismatch> {
    if !entry.events.is_empty() {
        let Some(got) = event_type(entry, headers, body) else {
            let place = entry
                .event_type
                .as_ref()
                .and_then(|l| l.header.clone().or(l.pointer.clone()))
                .unwrap_or_default();
            return Err(Mismatch::NoEventType(place));
        };
        if !entry.events.contains(&got) {
            return Err(Mismatch::Event {
                got,
                wanted: entry.events.join(", "),
            });
        }
    }
    for condition in &entry.conditions {
        if body.pointer(&condition.pointer) != Some(&condition.equals) {
            return Err(Mismatch::Condition {
                pointer: condition.pointer.clone(),
                expected: condition.equals.to_string(),
            });
        }
    }
    for target in &entry.target {
        let Some(wanted) = config.get(&target.config).and_then(as_text) else {
            continue;
        };
        if body.pointer(&target.pointer).and_then(as_text).as_deref() != Some(wanted.as_str()) {
            return Err(Mismatch::Target {
                pointer: target.pointer.clone(),
                field: target.config.clone(),
            });
        }
    }
    Ok(())
}

/// A provider trigger's `trigger_config` as the config of its Duro trigger: checked against
/// the entry's `configSchema` (defaults applied), then `signing_secret` becomes the webhook's
/// `signature` with the entry's scheme. A `signature` given directly must use that scheme.
/// Problem paths start at the config's root (`["form_id"]`).
pub fn provider_config(
    entry: &ProviderTrigger,
    trigger_config: Value,
) -> Result<Value, Vec<Problem>> {
    let problem = |path: &[&str], message: String| Problem {
        path: path.iter().map(|p| (*p).to_owned()).collect(),
        message,
    };
    let mut config = engine::input::prepare(Some(&entry.config_schema), trigger_config)?;
    let Some(map) = config.as_object_mut() else {
        return Err(vec![problem(&[], "must be a JSON object".to_owned())]);
    };
    let secret = map.remove(SIGNING_SECRET_FIELD);
    match (&entry.signature, secret) {
        (_, None) => {}
        (None, Some(_)) => {
            return Err(vec![problem(
                &[SIGNING_SECRET_FIELD],
                format!("the trigger {} is not signed by its provider", entry.id),
            )])
        }
        (Some(scheme), Some(Value::String(secret))) => {
            if map.contains_key("signature") {
                return Err(vec![problem(
                    &["signature"],
                    format!("give {SIGNING_SECRET_FIELD} or signature, not both"),
                )]);
            }
            map.insert(
                "signature".to_owned(),
                json!({ "scheme": scheme, "secret": secret }),
            );
        }
        (Some(_), Some(_)) => {
            return Err(vec![problem(
                &[SIGNING_SECRET_FIELD],
                "must be a string".to_owned(),
            )])
        }
    }
    if let (Some(scheme), Some(given)) = (
        &entry.signature,
        map.get("signature").and_then(|s| s.get("scheme")),
    ) {
        if given.as_str() != Some(scheme.as_str()) {
            return Err(vec![problem(
                &["signature", "scheme"],
                format!("{} signs with the {scheme} scheme", entry.id),
            )]);
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use engine::providers::Catalog;

    use super::*;
    use crate::signature::Scheme;

    fn entry(provider: &str, trigger: &str) -> ProviderTrigger {
        let catalog = Catalog::builtin().expect("catalog");
        catalog
            .provider(provider)
            .and_then(|p| p.triggers.iter().find(|t| t.id == trigger))
            .cloned()
            .expect("the entry exists")
    }

    #[test]
    fn every_scheme_a_provider_file_may_name_is_verified_here() {
        for name in engine::providers::trigger::SIGNATURE_SCHEMES {
            let scheme: Scheme = serde_json::from_value(json!(name)).expect(name);
            assert_eq!(scheme.as_str(), name);
        }
    }

    #[test]
    fn stripe_events_match_by_type() {
        let on_created = entry("stripe", "on_customer_created");
        let created = json!({"id": "evt_1", "type": "customer.created"});
        assert_eq!(matches(&on_created, &json!({}), &[], &created), Ok(()));
        let paid = json!({"id": "evt_2", "type": "invoice.paid"});
        assert!(matches!(
            matches(&on_created, &json!({}), &[], &paid),
            Err(Mismatch::Event { .. })
        ));
        // A pinned account must be the event's.
        let pinned = json!({"account": "acct_1"});
        assert!(matches(&on_created, &pinned, &[], &created).is_err());
        let of_account = json!({"type": "customer.created", "account": "acct_1"});
        assert_eq!(matches(&on_created, &pinned, &[], &of_account), Ok(()));
    }

    #[test]
    fn github_events_match_by_header_action_and_repository() {
        let opened = entry("github", "on_pull_request_opened");
        let headers = vec![("x-github-event".to_owned(), "pull_request".to_owned())];
        let body = json!({"action": "opened", "repository": {"full_name": "o/r"}});
        assert_eq!(matches(&opened, &json!({}), &headers, &body), Ok(()));
        let closed = json!({"action": "closed", "repository": {"full_name": "o/r"}});
        assert!(matches(&opened, &json!({}), &headers, &closed).is_err());
        assert!(
            matches(&opened, &json!({}), &[], &body).is_err(),
            "no header"
        );
        let other_repo = json!({"repository": "x/y"});
        assert!(matches(&opened, &other_repo, &headers, &body).is_err());
    }

    #[test]
    fn slack_events_match_by_event_type_and_team() {
        let on_message = entry("slack", "on_message");
        let body = json!({"type": "event_callback", "team_id": "T1",
                          "event": {"type": "message", "channel": "C1"}});
        assert_eq!(
            matches(&on_message, &json!({"team_id": "T1"}), &[], &body),
            Ok(())
        );
        assert!(matches(&on_message, &json!({"team_id": "T2"}), &[], &body).is_err());
        assert!(matches(&entry("slack", "on_app_mention"), &json!({}), &[], &body).is_err());
    }

    #[test]
    fn a_signing_secret_becomes_the_entrys_signature() {
        let on_created = entry("stripe", "on_customer_created");
        let config =
            provider_config(&on_created, json!({"signing_secret": "whsec_x"})).expect("valid");
        assert_eq!(
            config,
            json!({"signature": {"scheme": "stripe", "secret": "whsec_x"}})
        );
        let wrong = provider_config(
            &on_created,
            json!({"signature": {"scheme": "github", "secret": "s"}}),
        )
        .expect_err("another scheme");
        assert_eq!(wrong[0].path, ["signature", "scheme"]);
        let typed = provider_config(&on_created, json!({"signing_secret": 5})).expect_err("type");
        assert_eq!(typed[0].path, [SIGNING_SECRET_FIELD]);
    }
}
