//! The ids of Duro's resources as types, so a run id cannot be passed where a workflow id is
//! wanted. Each is the id's text (`run_0190...`, `wf_...`, `trg_...`, a step's id as its
//! definition names it); on the wire (JSON, the API) it is that string, unchanged.
//!
//! They are checked nowhere here: what a valid id is belongs to whoever makes one (the executor
//! makes run ids, the API workflow ids, users step ids). They say what a string is.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> $name {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> $name {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> $name {
                $name(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// A run's id: `run_` and 32 hex digits (a UUIDv7), or a child run's derived id.
    RunId
);
id_type!(
    /// A workflow's id: `wf_` and 32 hex digits, or the id its creator chose.
    WorkflowId
);
id_type!(
    /// A step's id as the workflow's definition names it; inside a foreach, the composite
    /// `{foreachId}[{index}].{subId}`.
    StepId
);
id_type!(
    /// A trigger's id: `trg_` and 32 hex digits.
    TriggerId
);
id_type!(
    /// A connection's id (a connected account).
    ConnectionId
);
id_type!(
    /// An API key's id (never the key itself).
    KeyId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_string_on_the_wire_and_compares_with_one() {
        let id = RunId::new("run_1");
        assert_eq!(
            serde_json::to_value(&id).ok(),
            Some(serde_json::json!("run_1"))
        );
        let back: RunId = serde_json::from_str("\"run_1\"").expect("a string is an id");
        assert_eq!(back, id);
        assert_eq!(id, "run_1");
        assert_eq!(id.to_string(), "run_1");
        assert_eq!(String::from(id), "run_1");
    }
}
