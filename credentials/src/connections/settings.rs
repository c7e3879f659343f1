//! The settings of a connection that are not secret: its base URL and its status, and the
//! checks of what a connection may name.

use serde::{Deserialize, Serialize};

use engine::definition::Problem;

/// Longest base URL, in bytes.
pub const BASE_URL_BYTES_MAX: usize = 2048;

/// Providers a connection may name that are not in the action catalog: they are used by
/// other step types (email over SMTP, agents' models).
const NON_CATALOG_PROVIDERS: [&str; 3] = ["smtp", "openai", "anthropic"];

/// Whether steps may use a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Active,
    Disabled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
        }
    }
}

/// A base URL: absolute http(s), no query or fragment (paths are appended to it).
pub(super) fn check_base_url(url: &str, problems: &mut Vec<Problem>) -> Option<String> {
    let problem = if url.len() > BASE_URL_BYTES_MAX {
        Some(format!("must be at most {BASE_URL_BYTES_MAX} bytes"))
    } else if !(url.starts_with("https://") || url.starts_with("http://")) {
        Some("must be an absolute http:// or https:// URL".to_owned())
    } else if url.contains(['?', '#']) || url.chars().any(char::is_whitespace) {
        Some("must not hold a query, a fragment or spaces".to_owned())
    } else if url.split("://").nth(1).is_none_or(|rest| rest.is_empty()) {
        Some("must name a host".to_owned())
    } else {
        None
    };
    match problem {
        Some(message) => {
            problems.push(crate::problem(&["baseUrl"], message));
            None
        }
        None => Some(url.trim_end_matches('/').to_owned()),
    }
}

/// The provider must be one the catalog (or another step type) knows.
pub(super) fn check_known_provider(
    catalog: &engine::providers::Catalog,
    provider: &str,
    problems: &mut Vec<Problem>,
) {
    if catalog.provider(provider).is_some() || NON_CATALOG_PROVIDERS.contains(&provider) {
        return;
    }
    let mut known: Vec<&str> = catalog.providers().map(|p| p.id.as_str()).collect();
    known.extend(NON_CATALOG_PROVIDERS);
    problems.push(crate::problem(
        &["provider"],
        format!(
            "unknown provider {provider:?}; known providers: {} (add one with a provider file \
             in DURO_PROVIDERS_DIR)",
            known.join(", ")
        ),
    ));
}
