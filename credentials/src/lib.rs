//! Who may call Duro and what Duro calls with: API keys (hashed, scoped, each a journal
//! stream) and connected accounts (their secrets sealed with the data key). Services below
//! the HTTP layer: `api` maps requests to them and their errors to statuses; the trigger
//! runner and the engine's steps read credentials through the traits they define.

pub mod connections;
pub mod keys;

use engine::definition::Problem;

/// A problem with a request's field at `path`, as `VALIDATION_ERROR` details show it.
pub(crate) fn problem(path: &[&str], message: impl Into<String>) -> Problem {
    Problem {
        path: path.iter().map(|p| (*p).to_owned()).collect(),
        message: message.into(),
    }
}

/// A problem's path as one name (`body` for the whole request).
pub(crate) fn field_name(path: &[String]) -> String {
    if path.is_empty() {
        "body".to_owned()
    } else {
        path.join(".")
    }
}
