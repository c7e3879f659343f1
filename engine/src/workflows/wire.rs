//! The bytes of workflow events (`workflow-{id}` streams, tags 200-299): one frozen shape per
//! tag and version, the table [`WORKFLOW_EVENTS`], and the encoding of the domain
//! [`WorkflowEvent`] as its latest versions. The rules: `crate::wire`.
//!
//! Version 1 of every event is what Duro wrote when `WorkflowEvent` itself was
//! postcard-encoded: the index of its variant in that enum, then its fields; the status is
//! the index of its variant in the `WorkflowStatus` of that time.

use serde::{Deserialize, Serialize};

use super::WorkflowEvent;
use crate::definition::WorkflowStatus;
use crate::wire::{decode_variant, encode_variant, EnumVariant, Stream, WireType};

/// The variants of the enum workflow events were first written as, in its order.
pub const V1_VARIANTS: [&str; 4] = [
    "WorkflowCreated",
    "WorkflowUpdated",
    "WorkflowStatusChanged",
    "WorkflowDeleted",
];

/// Every tag workflow events have been written with; entries are never changed or removed.
#[rustfmt::skip]
pub static WORKFLOW_EVENTS: Stream<WorkflowEvent> = Stream {
    kind: "workflow",
    wire_types: &[
        WireType { tag: 200, name: "WorkflowCreated", version: 1, decode: |data| read_v1::<v1::WorkflowCreated>(data) },
        WireType { tag: 201, name: "WorkflowUpdated", version: 1, decode: |data| read_v1::<v1::WorkflowUpdated>(data) },
        WireType { tag: 202, name: "WorkflowStatusChanged", version: 1, decode: |data| read_v1::<v1::WorkflowStatusChanged>(data) },
        WireType { tag: 203, name: "WorkflowDeleted", version: 1, decode: |data| read_v1::<v1::WorkflowDeleted>(data) },
    ],
};

/// Decodes a v1 payload; every v1 shape is today's latest.
fn read_v1<'a, T>(data: &'a [u8]) -> Result<WorkflowEvent, String>
where
    T: EnumVariant + Deserialize<'a> + Into<WorkflowEvent>,
{
    decode_variant::<T>(data, &V1_VARIANTS).map(Into::into)
}

/// The payload of `event`: its latest version's shape.
pub fn encode(event: &WorkflowEvent) -> Vec<u8> {
    match event {
        WorkflowEvent::WorkflowCreated {
            workflow_id,
            spec_json,
        } => encode_variant(&v1::WorkflowCreated {
            workflow_id,
            spec_json,
        }),
        WorkflowEvent::WorkflowUpdated {
            spec_json,
            new_version,
        } => encode_variant(&v1::WorkflowUpdated {
            spec_json,
            new_version: *new_version,
        }),
        WorkflowEvent::WorkflowStatusChanged { status } => {
            encode_variant(&v1::WorkflowStatusChanged {
                status: (*status).into(),
            })
        }
        WorkflowEvent::WorkflowDeleted => encode_variant(&v1::WorkflowDeleted),
    }
}

/// Version 1 of every workflow event. Frozen: a change is a new version under a new tag.
pub mod v1 {
    use super::*;

    crate::enum_variants! {
        WorkflowCreated<'_> = 0,
        WorkflowUpdated<'_> = 1,
        WorkflowStatusChanged = 2,
        WorkflowDeleted = 3,
    }

    /// A status as the index of its variant in this frozen order.
    #[derive(Clone, Copy, Serialize, Deserialize)]
    pub enum WorkflowStatus {
        Draft,
        Active,
        Inactive,
    }

    #[derive(Serialize, Deserialize)]
    pub struct WorkflowCreated<'a> {
        pub workflow_id: &'a str,
        pub spec_json: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct WorkflowUpdated<'a> {
        pub spec_json: &'a str,
        pub new_version: bool,
    }

    #[derive(Serialize, Deserialize)]
    pub struct WorkflowStatusChanged {
        pub status: WorkflowStatus,
    }

    #[derive(Serialize, Deserialize)]
    pub struct WorkflowDeleted;
}

// Domain ⇄ v1.

impl From<WorkflowStatus> for v1::WorkflowStatus {
    fn from(status: WorkflowStatus) -> Self {
        match status {
            WorkflowStatus::Draft => v1::WorkflowStatus::Draft,
            WorkflowStatus::Active => v1::WorkflowStatus::Active,
            WorkflowStatus::Inactive => v1::WorkflowStatus::Inactive,
        }
    }
}

impl From<v1::WorkflowStatus> for WorkflowStatus {
    fn from(status: v1::WorkflowStatus) -> Self {
        match status {
            v1::WorkflowStatus::Draft => WorkflowStatus::Draft,
            v1::WorkflowStatus::Active => WorkflowStatus::Active,
            v1::WorkflowStatus::Inactive => WorkflowStatus::Inactive,
        }
    }
}

impl From<v1::WorkflowCreated<'_>> for WorkflowEvent {
    fn from(shape: v1::WorkflowCreated<'_>) -> Self {
        WorkflowEvent::WorkflowCreated {
            workflow_id: shape.workflow_id.to_owned(),
            spec_json: shape.spec_json.to_owned(),
        }
    }
}

impl From<v1::WorkflowUpdated<'_>> for WorkflowEvent {
    fn from(shape: v1::WorkflowUpdated<'_>) -> Self {
        WorkflowEvent::WorkflowUpdated {
            spec_json: shape.spec_json.to_owned(),
            new_version: shape.new_version,
        }
    }
}

impl From<v1::WorkflowStatusChanged> for WorkflowEvent {
    fn from(shape: v1::WorkflowStatusChanged) -> Self {
        WorkflowEvent::WorkflowStatusChanged {
            status: shape.status.into(),
        }
    }
}

impl From<v1::WorkflowDeleted> for WorkflowEvent {
    fn from(_: v1::WorkflowDeleted) -> Self {
        WorkflowEvent::WorkflowDeleted
    }
}

#[cfg(test)]
mod tests;
