//! Carrying out an attempt of an `email` step: the SMTP server is the step's `smtp`
//! connection (or the run's, the workflow's, the only one) or else the server's default
//! settings; its host is resolved through the outbound guard and the message is sent to a
//! vetted address. The Message-ID is derived from the run and the step, so a send repeated
//! after a crash (sent, but not yet recorded) carries the same Message-ID and a receiving
//! system can tell it is the same message.

use std::time::Duration;

use serde_json::{json, Value};

use super::steps::failure;
use super::Runs;
use crate::connections::{self, Wanted};
use crate::definition::EmailStep;
use crate::events::StepError;
use crate::template::{TemplateText, TemplateValue};

/// Timeout of one SMTP conversation when the step sets none.
pub const EMAIL_TIMEOUT_MS_DEFAULT: u64 = 60_000;

/// An email step's fields, rendered against the run.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedEmail {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub from: Option<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub html: Option<String>,
    pub text: Option<String>,
}

/// An attempt of an email step, ready to carry out.
pub struct EmailCall {
    pub run_id: String,
    pub step_id: String,
    pub email: Result<RenderedEmail, StepError>,
    pub connection: Result<Option<String>, StepError>,
    pub run_connection: Option<String>,
    pub workflow_id: String,
    pub workflow_version: u64,
    pub timeout_ms: Option<u64>,
}

/// Renders every field of `step` against `context` (`body.html` as HTML: inserted values
/// escaped unless `| raw`).
pub fn render(step: &EmailStep, context: &Value) -> Result<RenderedEmail, StepError> {
    let value = |field: &str, source: &TemplateValue| {
        source
            .render(context)
            .map_err(|e| failure("TEMPLATE_ERROR", format!("config.{field}: {e}"), false))
    };
    let text = |field: &str, source: &TemplateText| -> Result<String, StepError> {
        let rendered = source
            .render(context)
            .map_err(|e| failure("TEMPLATE_ERROR", format!("config.{field}: {e}"), false))?;
        Ok(match rendered {
            Value::String(text) => text,
            Value::Null => String::new(),
            other => other.to_string(),
        })
    };
    let list = |field: &str, source: Option<&TemplateValue>| -> Result<Vec<String>, StepError> {
        let Some(source) = source else {
            return Ok(Vec::new());
        };
        addresses(field, value(field, source)?)
    };
    let optional =
        |field: &str, source: &Option<TemplateText>| -> Result<Option<String>, StepError> {
            match source {
                None => Ok(None),
                Some(source) => Ok(Some(text(field, source)?).filter(|t| !t.trim().is_empty())),
            }
        };
    let html = match &step.html {
        None => None,
        Some(source) => Some(
            source
                .render_html(context)
                .map_err(|e| failure("TEMPLATE_ERROR", format!("config.body.html: {e}"), false))?,
        ),
    };
    Ok(RenderedEmail {
        to: list("to", Some(&step.to))?,
        cc: list("cc", step.cc.as_ref())?,
        bcc: list("bcc", step.bcc.as_ref())?,
        from: optional("from", &step.from)?,
        reply_to: optional("replyTo", &step.reply_to)?,
        subject: text("subject", &step.subject)?,
        html,
        text: optional("body.text", &step.text)?,
    })
}

/// A rendered address field: a string (comma-separated) or an array of strings.
fn addresses(field: &str, rendered: Value) -> Result<Vec<String>, StepError> {
    let split = |text: &str| -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match rendered {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => Ok(split(&text)),
        Value::Array(items) => {
            let mut all = Vec::new();
            for item in items {
                match item {
                    Value::String(text) => all.extend(split(&text)),
                    Value::Null => {}
                    other => {
                        return Err(failure(
                            "VALIDATION_ERROR",
                            format!("config.{field}: {other} is not an address"),
                            false,
                        ))
                    }
                }
            }
            Ok(all)
        }
        other => Err(failure(
            "VALIDATION_ERROR",
            format!("config.{field}: {other} is not an address or a list of them"),
            false,
        )),
    }
}

/// The Message-ID of step `step_id` of run `run_id`: the same for every attempt and every
/// retry after a crash. An item's composite id (`each[3].send`) becomes `each.3.send`, which
/// no plain step id (letters, digits, `-`, `_`) can be.
pub fn message_id(run_id: &str, step_id: &str) -> String {
    let step: String = step_id.replace('[', ".").replace(']', "");
    format!("{run_id}.{step}@duro")
}

pub async fn perform(runs: Runs, call: EmailCall) -> Result<Value, StepError> {
    let integrations = &runs.inner().integrations;
    let email = call.email?;
    let step_connection = call.connection?;
    let workflow_connections = runs
        .workflow_connections(&call.workflow_id, call.workflow_version)
        .await?;
    let connection = connections::resolve(
        integrations.connections.as_ref(),
        Wanted {
            provider: "smtp",
            step: step_connection.as_deref(),
            run: call.run_connection.as_deref(),
            workflow: workflow_connections.as_ref(),
            required: false,
        },
    )
    .await?;
    let settings = match connection {
        Some(connection) => integrations
            .connections
            .smtp(&connection.id)
            .await
            .map_err(|e| failure("CONNECTION_LOOKUP", e, true))?,
        None => integrations.smtp.clone().ok_or_else(|| {
            failure(
                "SMTP_NOT_CONFIGURED",
                "no smtp connection, and no default SMTP server (smtp_url in duro.toml, \
                 DURO_SMTP_URL)",
                false,
            )
        })?,
    };
    let addresses = integrations
        .outbound
        .resolve(&settings.host, settings.port)
        .await
        .map_err(|e| failure(e.code(), e.to_string(), e.retryable()))?;
    let message = mail::Email {
        to: email.to,
        cc: email.cc,
        bcc: email.bcc,
        from: email.from,
        reply_to: email.reply_to,
        subject: email.subject,
        html: email.html,
        text: email.text,
        message_id: message_id(&call.run_id, &call.step_id),
    };
    let timeout = Duration::from_millis(call.timeout_ms.unwrap_or(EMAIL_TIMEOUT_MS_DEFAULT));
    let sent = mail::send(&settings, &addresses, &message, timeout)
        .await
        .map_err(|e| failure(&e.code(), e.to_string(), e.retryable()))?;
    Ok(json!({ "messageId": sent.message_id, "accepted": sent.accepted }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn step(config: Value) -> EmailStep {
        let spec: crate::definition::WorkflowSpec = serde_json::from_value(json!({
            "name": "w",
            "steps": [{"id": "send", "type": "email", "config": config}]
        }))
        .expect("a spec");
        match spec.check().expect("valid").remove(0).kind {
            crate::definition::StepKind::Email(email) => *email,
            other => panic!("not an email step: {other:?}"),
        }
    }

    #[test]
    fn fields_render_with_lists_and_escaped_html() {
        let email = step(json!({
            "action": "send",
            "to": "{{input.to}}",
            "cc": ["a@x.example", "{{input.cc}}"],
            "subject": "Order Confirmed - Invoice #{{input.number}}",
            "body": {"html": "<p>Hi {{input.name}}</p>", "text": "Hi {{input.name}}"}
        }));
        let context = json!({"input": {"to": "b@x.example, c@x.example", "cc": "d@x.example",
                                        "number": "INV-7", "name": "<Ann>"}});
        let rendered = render(&email, &context).expect("renders");
        assert_eq!(rendered.to, ["b@x.example", "c@x.example"]);
        assert_eq!(rendered.cc, ["a@x.example", "d@x.example"]);
        assert_eq!(rendered.subject, "Order Confirmed - Invoice #INV-7");
        assert_eq!(rendered.html.as_deref(), Some("<p>Hi &lt;Ann&gt;</p>"));
        assert_eq!(rendered.text.as_deref(), Some("Hi <Ann>"));
    }

    #[test]
    fn message_ids_are_per_run_and_step_and_items_cannot_collide() {
        assert_eq!(message_id("run_1", "send"), "run_1.send@duro");
        assert_eq!(
            message_id("run_1", "each[3].send"),
            "run_1.each.3.send@duro"
        );
    }
}
