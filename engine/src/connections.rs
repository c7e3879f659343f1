//! Which connection (connected account) a step uses, and how the engine reaches connections
//! without owning them: the API layer keeps them, encrypted, and implements
//! [`ConnectionSource`]; the engine sees a connection's id, provider, status and base URL,
//! and its secret only as the headers a request carries ([`Presented`]), never stored or
//! logged.

use std::fmt;

use serde_json::Value;

use crate::events::StepError;

/// A connection as the engine sees it: no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionRef {
    pub id: String,
    pub provider: String,
    /// `active` or `disabled`: a disabled connection is never used.
    pub active: bool,
    /// Overrides the provider's base URL (a sandbox, a proxy, GitHub Enterprise, a test).
    pub base_url: Option<String>,
}

/// The headers that present a connection's credentials. Its `Debug` shows only their names.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Presented {
    pub headers: Vec<(String, String)>,
}

impl fmt::Debug for Presented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        write!(f, "Presented {{ headers: {names:?} (values redacted) }}")
    }
}

/// Where connections come from. Errors are messages without secrets.
#[async_trait::async_trait]
pub trait ConnectionSource: Send + Sync {
    /// The connection `id`, or None when there is none (never created, or deleted).
    async fn get(&self, id: &str) -> Result<Option<ConnectionRef>, String>;
    /// Every connection of `provider`.
    async fn of_provider(&self, provider: &str) -> Result<Vec<ConnectionRef>, String>;
    /// The headers presenting `id`'s credentials (for the request about to be sent).
    async fn present(&self, id: &str) -> Result<Presented, String>;
    /// The SMTP server settings of `id`, a connection of kind `smtp` (for an email step).
    async fn smtp(&self, id: &str) -> Result<mail::SmtpSettings, String> {
        Err(format!("connection {id} is not an smtp connection"))
    }
}

/// No connections at all (an engine without an API layer: tests, `duro debug`).
pub struct NoConnections;

#[async_trait::async_trait]
impl ConnectionSource for NoConnections {
    async fn get(&self, _id: &str) -> Result<Option<ConnectionRef>, String> {
        Ok(None)
    }

    async fn of_provider(&self, _provider: &str) -> Result<Vec<ConnectionRef>, String> {
        Ok(Vec::new())
    }

    async fn present(&self, id: &str) -> Result<Presented, String> {
        Err(format!("connection {id} not found"))
    }
}

/// What a step asks for, from most to least specific.
pub struct Wanted<'a> {
    /// The provider whose action the step calls (`http` takes any connection).
    pub provider: &'a str,
    /// The step's own `connection`, rendered.
    pub step: Option<&'a str>,
    /// The `connectionId` the run was started with.
    pub run: Option<&'a str>,
    /// The workflow's `connections` (`{"stripe": "conn_..."}`).
    pub workflow: Option<&'a Value>,
    /// Whether having none fails the step (CONNECTION_REQUIRED).
    pub required: bool,
}

fn fail(code: &str, message: String, retryable: bool) -> StepError {
    StepError {
        code: Some(code.to_owned()),
        message,
        retryable,
    }
}

/// The connection a step uses: the step's own; else the run's when its provider matches;
/// else the workflow's `connections[provider]`; else the provider's only connection. A
/// connection named explicitly (by the step or the workflow) must exist, be active and be of
/// the provider.
pub async fn resolve(
    source: &dyn ConnectionSource,
    wanted: Wanted<'_>,
) -> Result<Option<ConnectionRef>, StepError> {
    let lookup_failed = |e: String| fail("CONNECTION_LOOKUP", e, true);
    let provider = wanted.provider;
    let named = |id: &str, by: &str| format!("connection {id:?} ({by})");
    let explicit = match (wanted.step, wanted.workflow) {
        (Some(id), _) if !id.is_empty() => Some((id.to_owned(), "the step's connection")),
        _ => None,
    };
    if let Some((id, by)) = explicit {
        let found = source.get(&id).await.map_err(lookup_failed)?;
        return usable(found, &named(&id, by), provider).map(Some);
    }
    if let Some(id) = wanted.run {
        if let Some(found) = source.get(id).await.map_err(lookup_failed)? {
            if provider == "http" || found.provider == provider {
                return usable(Some(found), &named(id, "the run's connectionId"), provider)
                    .map(Some);
            }
        }
    }
    if let Some(id) = wanted
        .workflow
        .and_then(|connections| connections.get(provider))
        .and_then(Value::as_str)
    {
        let found = source.get(id).await.map_err(lookup_failed)?;
        let by = format!("the workflow's connections.{provider}");
        return usable(found, &named(id, &by), provider).map(Some);
    }
    if provider != "http" {
        let all = source.of_provider(provider).await.map_err(lookup_failed)?;
        if let [only] = all.as_slice() {
            return usable(
                Some(only.clone()),
                &named(&only.id, "the provider's only one"),
                provider,
            )
            .map(Some);
        }
        if all.len() > 1 && wanted.required {
            return Err(fail(
                "CONNECTION_REQUIRED",
                format!(
                    "{} connections of provider {provider} exist; name one with the step's \
                     connection, the run's connectionId or the workflow's connections.{provider}",
                    all.len()
                ),
                false,
            ));
        }
    }
    if wanted.required {
        return Err(fail(
            "CONNECTION_REQUIRED",
            format!(
                "no connection of provider {provider}: create one (POST /api/v1/connections) \
                 or name one with the step's connection or the run's connectionId"
            ),
            false,
        ));
    }
    Ok(None)
}

fn usable(
    found: Option<ConnectionRef>,
    named: &str,
    provider: &str,
) -> Result<ConnectionRef, StepError> {
    let Some(connection) = found else {
        return Err(fail(
            "CONNECTION_NOT_FOUND",
            format!("{named} does not exist"),
            false,
        ));
    };
    if !connection.active {
        return Err(fail(
            "CONNECTION_DISABLED",
            format!("{named} is disabled"),
            false,
        ));
    }
    if provider != "http" && connection.provider != provider {
        return Err(fail(
            "CONNECTION_MISMATCH",
            format!(
                "{named} is a connection of provider {}, not {provider}",
                connection.provider
            ),
            false,
        ));
    }
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    struct Fixed(HashMap<String, ConnectionRef>);

    #[async_trait::async_trait]
    impl ConnectionSource for Fixed {
        async fn get(&self, id: &str) -> Result<Option<ConnectionRef>, String> {
            Ok(self.0.get(id).cloned())
        }
        async fn of_provider(&self, provider: &str) -> Result<Vec<ConnectionRef>, String> {
            let mut found: Vec<ConnectionRef> = self
                .0
                .values()
                .filter(|c| c.provider == provider)
                .cloned()
                .collect();
            found.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(found)
        }
        async fn present(&self, _id: &str) -> Result<Presented, String> {
            Ok(Presented::default())
        }
    }

    fn source(list: &[(&str, &str, bool)]) -> Fixed {
        Fixed(
            list.iter()
                .map(|(id, provider, active)| {
                    (
                        id.to_string(),
                        ConnectionRef {
                            id: id.to_string(),
                            provider: provider.to_string(),
                            active: *active,
                            base_url: None,
                        },
                    )
                })
                .collect(),
        )
    }

    fn wanted<'a>(
        step: Option<&'a str>,
        run: Option<&'a str>,
        workflow: Option<&'a Value>,
    ) -> Wanted<'a> {
        Wanted {
            provider: "stripe",
            step,
            run,
            workflow,
            required: true,
        }
    }

    async fn chosen(source: &Fixed, wanted: Wanted<'_>) -> Result<String, String> {
        resolve(source, wanted)
            .await
            .map(|c| c.map(|c| c.id).unwrap_or_default())
            .map_err(|e| format!("{}: {}", e.code.unwrap_or_default(), e.message))
    }

    #[tokio::test]
    async fn the_order_is_step_then_run_then_workflow_then_the_only_one() {
        let all = source(&[
            ("s1", "stripe", true),
            ("s2", "stripe", true),
            ("s3", "stripe", true),
            ("g1", "github", true),
        ]);
        let workflow = json!({"stripe": "s3"});
        assert_eq!(
            chosen(&all, wanted(Some("s1"), Some("s2"), Some(&workflow))).await,
            Ok("s1".into())
        );
        assert_eq!(
            chosen(&all, wanted(None, Some("s2"), Some(&workflow))).await,
            Ok("s2".into())
        );
        // The run's connection is of another provider: the workflow's is next.
        assert_eq!(
            chosen(&all, wanted(None, Some("g1"), Some(&workflow))).await,
            Ok("s3".into())
        );
        let several = chosen(&all, wanted(None, None, None)).await;
        assert!(
            several
                .as_ref()
                .is_err_and(|e| e.starts_with("CONNECTION_REQUIRED")),
            "{several:?}"
        );
        let one = source(&[("only", "stripe", true), ("g1", "github", true)]);
        assert_eq!(
            chosen(&one, wanted(None, None, None)).await,
            Ok("only".into())
        );
        let none = source(&[("g1", "github", true)]);
        let missing = chosen(&none, wanted(None, None, None)).await;
        assert!(missing.is_err_and(|e| e.starts_with("CONNECTION_REQUIRED")));
    }

    #[tokio::test]
    async fn named_connections_must_exist_be_active_and_match() {
        let all = source(&[("off", "stripe", false), ("g1", "github", true)]);
        let disabled = chosen(&all, wanted(Some("off"), None, None)).await;
        assert!(disabled.is_err_and(|e| e.starts_with("CONNECTION_DISABLED")));
        let absent = chosen(&all, wanted(Some("nope"), None, None)).await;
        assert!(absent.is_err_and(|e| e.starts_with("CONNECTION_NOT_FOUND")));
        let other = chosen(&all, wanted(Some("g1"), None, None)).await;
        assert!(other.is_err_and(|e| e.starts_with("CONNECTION_MISMATCH")));
        let workflow = json!({"stripe": "off"});
        let by_workflow = chosen(&all, wanted(None, None, Some(&workflow))).await;
        assert!(by_workflow.is_err_and(|e| e.contains("workflow's connections.stripe")));
    }

    #[test]
    fn presented_headers_never_show_their_values() {
        let presented = Presented {
            headers: vec![("Authorization".into(), "Bearer sk_live_secret".into())],
        };
        let shown = format!("{presented:?}");
        assert!(shown.contains("Authorization"));
        assert!(!shown.contains("sk_live_secret"));
    }
}
