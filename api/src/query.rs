//! Query parameters of the canonical routes, read strictly: a parameter given twice, or given
//! with an empty value, is a 400 VALIDATION_ERROR naming it, where a lenient reader would
//! keep one of the values, or read the empty one as "no filter", without saying so. The
//! comma-separated list parameters of a listing may be repeated: their values are joined.
//! `q` may be empty (a search for everything).
//!
//! The compatibility routes (Flowra, StackAI, Phinite) and the dashboard keep reading their
//! queries as they did (`axum::extract::Query`).

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;

/// Parameters whose value is a comma-separated list; a repeat adds values.
const LIST_PARAMS: &[&str] = &[
    "connectedAccountIds",
    "connectionIds",
    "triggerNames",
    "trigger_names",
    "triggerIds",
    "trigger_ids",
];

/// Parameters whose value may be empty.
const MAY_BE_EMPTY: &[&str] = &["q"];

/// The query parameters of a canonical route, each name once (`LIST_PARAMS` joined).
#[derive(Debug, Default)]
pub struct QueryParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse(parts.uri.query().unwrap_or_default()).map(QueryParams)
    }
}

/// Reads a query string (without its `?`).
pub fn parse(query: &str) -> Result<HashMap<String, String>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|error| {
        ApiError::invalid_field(&[], format!("the query string is malformed: {error}"))
    })?;
    let mut params: HashMap<String, String> = HashMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        if value.trim().is_empty() && !MAY_BE_EMPTY.contains(&name.as_str()) {
            return Err(ApiError::invalid_field(
                &[name.as_str()],
                "must not be empty: leave the parameter out instead",
            ));
        }
        match params.get_mut(&name) {
            None => {
                params.insert(name, value);
            }
            Some(values) if LIST_PARAMS.contains(&name.as_str()) => {
                values.push(',');
                values.push_str(&value);
            }
            Some(_) => {
                return Err(ApiError::invalid_field(
                    &[name.as_str()],
                    "is given more than once: give it once",
                ))
            }
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(query: &str) -> Vec<String> {
        match parse(query) {
            Err(ApiError::Validation { details, .. }) => details[0].path.clone(),
            other => panic!("{query:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn a_repeated_or_empty_parameter_is_refused_by_name() {
        assert_eq!(refused("limit=5&limit=6"), ["limit"]);
        assert_eq!(refused("from=2024-01-01T00:00:00Z&to="), ["to"]);
        assert_eq!(refused("status=%20"), ["status"]);
    }

    #[test]
    fn lists_add_up_and_q_may_be_empty() {
        let params = parse("triggerIds=a&triggerIds=b,c&q=&limit=5").expect("valid");
        assert_eq!(params["triggerIds"], "a,b,c");
        assert_eq!(params["q"], "");
        assert_eq!(params["limit"], "5");
        assert!(parse("").expect("empty").is_empty());
    }
}
