//! The bytes of run events (`run-{id}` streams, tags 100-199): one frozen shape per tag and
//! version, the table [`RUN_EVENTS`] that decodes each tag, and the encoding of the domain
//! [`RunEvent`] as its latest versions. The machinery and the rules: `crate::wire`.
//!
//! Version 1 of every event is what Duro wrote when `RunEvent` itself was postcard-encoded:
//! the index of its variant in that enum, then its fields. [`V1_VARIANTS`] and each v1
//! shape's [`EnumVariant::INDEX`] freeze that order; `RunEvent`'s own order means nothing to
//! the bytes. Shapes borrow their strings, so encoding copies nothing it does not write.

use serde::{Deserialize, Serialize};

use super::{RunError, RunEvent, StepError};
use crate::wire::{decode_variant, encode_variant, EnumVariant, Stream, WireType};

/// The variants of the enum run events were first written as, in its order.
pub const V1_VARIANTS: [&str; 19] = [
    "RunStarted",
    "StepStarted",
    "StepCompleted",
    "StepFailed",
    "StepRetryScheduled",
    "TimerScheduled",
    "TimerFired",
    "RunPaused",
    "RunResumed",
    "RunCancelled",
    "RunCompleted",
    "RunFailed",
    "ForeachStarted",
    "RunForked",
    "StepReused",
    "RunRerun",
    "StepRequestCompleted",
    "ChildRunStarted",
    "RunCalledBy",
];

/// Every tag run events have been written with. A new event, or a new version of one, is a
/// new entry here (and a new golden file); an entry is never changed or removed.
#[rustfmt::skip]
pub static RUN_EVENTS: Stream<RunEvent> = Stream {
    kind: "run",
    wire_types: &[
        WireType { tag: 100, name: "RunStarted", version: 1, decode: |data| read_v1::<v1::RunStarted>(data) },
        WireType { tag: 101, name: "StepStarted", version: 1, decode: |data| read_v1::<v1::StepStarted>(data) },
        WireType { tag: 102, name: "StepCompleted", version: 1, decode: |data| read_v1::<v1::StepCompleted>(data) },
        WireType { tag: 103, name: "StepFailed", version: 1, decode: |data| read_v1::<v1::StepFailed>(data) },
        WireType { tag: 104, name: "StepRetryScheduled", version: 1, decode: |data| read_v1::<v1::StepRetryScheduled>(data) },
        WireType { tag: 105, name: "TimerScheduled", version: 1, decode: |data| read_v1::<v1::TimerScheduled>(data) },
        WireType { tag: 106, name: "TimerFired", version: 1, decode: |data| read_v1::<v1::TimerFired>(data) },
        WireType { tag: 107, name: "RunPaused", version: 1, decode: |data| read_v1::<v1::RunPaused>(data) },
        WireType { tag: 108, name: "RunResumed", version: 1, decode: |data| read_v1::<v1::RunResumed>(data) },
        WireType { tag: 109, name: "RunCancelled", version: 1, decode: |data| read_v1::<v1::RunCancelled>(data) },
        WireType { tag: 110, name: "RunCompleted", version: 1, decode: |data| read_v1::<v1::RunCompleted>(data) },
        WireType { tag: 111, name: "RunFailed", version: 1, decode: |data| read_v1::<v1::RunFailed>(data) },
        WireType { tag: 112, name: "ForeachStarted", version: 1, decode: |data| read_v1::<v1::ForeachStarted>(data) },
        WireType { tag: 113, name: "RunForked", version: 1, decode: |data| read_v1::<v1::RunForked>(data) },
        WireType { tag: 114, name: "StepReused", version: 1, decode: |data| read_v1::<v1::StepReused>(data) },
        WireType { tag: 115, name: "RunRerun", version: 1, decode: |data| read_v1::<v1::RunRerun>(data) },
        WireType { tag: 116, name: "StepRequestCompleted", version: 1, decode: |data| read_v1::<v1::StepRequestCompleted>(data) },
        WireType { tag: 117, name: "ChildRunStarted", version: 1, decode: |data| read_v1::<v1::ChildRunStarted>(data) },
        WireType { tag: 118, name: "RunCalledBy", version: 1, decode: |data| read_v1::<v1::RunCalledBy>(data) },
    ],
};

/// Decodes a v1 payload; every v1 shape is today's latest, so it converts straight to the
/// domain event. (A tag holding an older version would map through its upcasters first.)
fn read_v1<'a, T>(data: &'a [u8]) -> Result<RunEvent, String>
where
    T: EnumVariant + Deserialize<'a> + Into<RunEvent>,
{
    decode_variant::<T>(data, &V1_VARIANTS).map(Into::into)
}

/// The payload of `event`: its latest version's shape.
pub fn encode(event: &RunEvent) -> Vec<u8> {
    match event {
        RunEvent::RunStarted {
            run_id,
            workflow_id,
            workflow_version,
            input_json,
            idempotency_key,
            connection_id,
        } => encode_variant(&v1::RunStarted {
            run_id,
            workflow_id,
            workflow_version: *workflow_version,
            input_json,
            idempotency_key: idempotency_key.as_deref(),
            connection_id: connection_id.as_deref(),
        }),
        RunEvent::StepStarted { step_id, attempt } => encode_variant(&v1::StepStarted {
            step_id,
            attempt: *attempt,
        }),
        RunEvent::StepCompleted {
            step_id,
            attempt,
            output_json,
        } => encode_variant(&v1::StepCompleted {
            step_id,
            attempt: *attempt,
            output_json,
        }),
        RunEvent::StepFailed {
            step_id,
            attempt,
            error,
        } => encode_variant(&v1::StepFailed {
            step_id,
            attempt: *attempt,
            error: v1::StepError::from(error),
        }),
        RunEvent::StepRetryScheduled {
            step_id,
            next_attempt,
            fire_at_ms,
        } => encode_variant(&v1::StepRetryScheduled {
            step_id,
            next_attempt: *next_attempt,
            fire_at_ms: *fire_at_ms,
        }),
        RunEvent::TimerScheduled {
            step_id,
            fire_at_ms,
        } => encode_variant(&v1::TimerScheduled {
            step_id,
            fire_at_ms: *fire_at_ms,
        }),
        RunEvent::TimerFired { step_id } => encode_variant(&v1::TimerFired { step_id }),
        RunEvent::RunPaused {
            step_id,
            timeout_at_ms,
        } => encode_variant(&v1::RunPaused {
            step_id,
            timeout_at_ms: *timeout_at_ms,
        }),
        RunEvent::RunResumed {
            step_id,
            payload_json,
        } => encode_variant(&v1::RunResumed {
            step_id,
            payload_json,
        }),
        RunEvent::RunCancelled { reason } => encode_variant(&v1::RunCancelled { reason }),
        RunEvent::RunCompleted { output_json } => encode_variant(&v1::RunCompleted { output_json }),
        RunEvent::RunFailed { error } => encode_variant(&v1::RunFailed {
            error: v1::RunError::from(error),
        }),
        RunEvent::ForeachStarted { step_id, items } => encode_variant(&v1::ForeachStarted {
            step_id,
            items: *items,
        }),
        RunEvent::RunForked {
            parent_run_id,
            from_step,
        } => encode_variant(&v1::RunForked {
            parent_run_id,
            from_step,
        }),
        RunEvent::StepReused {
            step_id,
            attempts,
            output_json,
        } => encode_variant(&v1::StepReused {
            step_id,
            attempts: *attempts,
            output_json,
        }),
        RunEvent::RunRerun {
            child_run_id,
            from_step,
        } => encode_variant(&v1::RunRerun {
            child_run_id,
            from_step,
        }),
        RunEvent::StepRequestCompleted {
            step_id,
            attempt,
            request,
            output_json,
        } => encode_variant(&v1::StepRequestCompleted {
            step_id,
            attempt: *attempt,
            request: *request,
            output_json,
        }),
        RunEvent::ChildRunStarted {
            step_id,
            attempt,
            child_run_id,
        } => encode_variant(&v1::ChildRunStarted {
            step_id,
            attempt: *attempt,
            child_run_id,
        }),
        RunEvent::RunCalledBy {
            parent_run_id,
            step_id,
        } => encode_variant(&v1::RunCalledBy {
            parent_run_id,
            step_id,
        }),
    }
}

/// Version 1 of every run event. Frozen: never change a shape, a field's type or order, or
/// an index; a change is a new version under a new tag.
pub mod v1 {
    use super::*;

    crate::enum_variants! {
        RunStarted<'_> = 0,
        StepStarted<'_> = 1,
        StepCompleted<'_> = 2,
        StepFailed<'_> = 3,
        StepRetryScheduled<'_> = 4,
        TimerScheduled<'_> = 5,
        TimerFired<'_> = 6,
        RunPaused<'_> = 7,
        RunResumed<'_> = 8,
        RunCancelled<'_> = 9,
        RunCompleted<'_> = 10,
        RunFailed<'_> = 11,
        ForeachStarted<'_> = 12,
        RunForked<'_> = 13,
        StepReused<'_> = 14,
        RunRerun<'_> = 15,
        StepRequestCompleted<'_> = 16,
        ChildRunStarted<'_> = 17,
        RunCalledBy<'_> = 18,
    }

    #[derive(Serialize, Deserialize)]
    pub struct StepError<'a> {
        #[serde(borrow)]
        pub code: Option<&'a str>,
        pub message: &'a str,
        pub retryable: bool,
    }

    #[derive(Serialize, Deserialize)]
    pub struct RunError<'a> {
        #[serde(borrow)]
        pub step_id: Option<&'a str>,
        #[serde(borrow)]
        pub code: Option<&'a str>,
        pub message: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct RunStarted<'a> {
        pub run_id: &'a str,
        pub workflow_id: &'a str,
        pub workflow_version: u64,
        pub input_json: &'a str,
        #[serde(borrow)]
        pub idempotency_key: Option<&'a str>,
        #[serde(borrow)]
        pub connection_id: Option<&'a str>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct StepStarted<'a> {
        pub step_id: &'a str,
        pub attempt: u32,
    }

    #[derive(Serialize, Deserialize)]
    pub struct StepCompleted<'a> {
        pub step_id: &'a str,
        pub attempt: u32,
        pub output_json: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct StepFailed<'a> {
        pub step_id: &'a str,
        pub attempt: u32,
        #[serde(borrow)]
        pub error: StepError<'a>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct StepRetryScheduled<'a> {
        pub step_id: &'a str,
        pub next_attempt: u32,
        pub fire_at_ms: i64,
    }

    #[derive(Serialize, Deserialize)]
    pub struct TimerScheduled<'a> {
        pub step_id: &'a str,
        pub fire_at_ms: i64,
    }

    #[derive(Serialize, Deserialize)]
    pub struct TimerFired<'a> {
        pub step_id: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct RunPaused<'a> {
        pub step_id: &'a str,
        pub timeout_at_ms: Option<i64>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct RunResumed<'a> {
        pub step_id: &'a str,
        pub payload_json: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct RunCancelled<'a> {
        pub reason: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct RunCompleted<'a> {
        pub output_json: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct RunFailed<'a> {
        #[serde(borrow)]
        pub error: RunError<'a>,
    }

    #[derive(Serialize, Deserialize)]
    pub struct ForeachStarted<'a> {
        pub step_id: &'a str,
        pub items: u32,
    }

    #[derive(Serialize, Deserialize)]
    pub struct RunForked<'a> {
        pub parent_run_id: &'a str,
        pub from_step: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct StepReused<'a> {
        pub step_id: &'a str,
        pub attempts: u32,
        pub output_json: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct RunRerun<'a> {
        pub child_run_id: &'a str,
        pub from_step: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct StepRequestCompleted<'a> {
        pub step_id: &'a str,
        pub attempt: u32,
        pub request: u32,
        pub output_json: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct ChildRunStarted<'a> {
        pub step_id: &'a str,
        pub attempt: u32,
        pub child_run_id: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct RunCalledBy<'a> {
        pub parent_run_id: &'a str,
        pub step_id: &'a str,
    }
}

// Domain ⇄ v1. Every v1 shape is the latest today, so each converts straight to the domain.

fn owned(text: &str) -> String {
    text.to_owned()
}

impl<'a> From<&'a StepError> for v1::StepError<'a> {
    fn from(error: &'a StepError) -> Self {
        v1::StepError {
            code: error.code.as_deref(),
            message: &error.message,
            retryable: error.retryable,
        }
    }
}

impl From<v1::StepError<'_>> for StepError {
    fn from(error: v1::StepError<'_>) -> Self {
        StepError {
            code: error.code.map(owned),
            message: owned(error.message),
            retryable: error.retryable,
        }
    }
}

impl<'a> From<&'a RunError> for v1::RunError<'a> {
    fn from(error: &'a RunError) -> Self {
        v1::RunError {
            step_id: error.step_id.as_deref(),
            code: error.code.as_deref(),
            message: &error.message,
        }
    }
}

impl From<v1::RunError<'_>> for RunError {
    fn from(error: v1::RunError<'_>) -> Self {
        RunError {
            step_id: error.step_id.map(owned),
            code: error.code.map(owned),
            message: owned(error.message),
        }
    }
}

impl From<v1::RunStarted<'_>> for RunEvent {
    fn from(shape: v1::RunStarted<'_>) -> Self {
        RunEvent::RunStarted {
            run_id: owned(shape.run_id),
            workflow_id: owned(shape.workflow_id),
            workflow_version: shape.workflow_version,
            input_json: owned(shape.input_json),
            idempotency_key: shape.idempotency_key.map(owned),
            connection_id: shape.connection_id.map(owned),
        }
    }
}

impl From<v1::StepStarted<'_>> for RunEvent {
    fn from(shape: v1::StepStarted<'_>) -> Self {
        RunEvent::StepStarted {
            step_id: owned(shape.step_id),
            attempt: shape.attempt,
        }
    }
}

impl From<v1::StepCompleted<'_>> for RunEvent {
    fn from(shape: v1::StepCompleted<'_>) -> Self {
        RunEvent::StepCompleted {
            step_id: owned(shape.step_id),
            attempt: shape.attempt,
            output_json: owned(shape.output_json),
        }
    }
}

impl From<v1::StepFailed<'_>> for RunEvent {
    fn from(shape: v1::StepFailed<'_>) -> Self {
        RunEvent::StepFailed {
            step_id: owned(shape.step_id),
            attempt: shape.attempt,
            error: shape.error.into(),
        }
    }
}

impl From<v1::StepRetryScheduled<'_>> for RunEvent {
    fn from(shape: v1::StepRetryScheduled<'_>) -> Self {
        RunEvent::StepRetryScheduled {
            step_id: owned(shape.step_id),
            next_attempt: shape.next_attempt,
            fire_at_ms: shape.fire_at_ms,
        }
    }
}

impl From<v1::TimerScheduled<'_>> for RunEvent {
    fn from(shape: v1::TimerScheduled<'_>) -> Self {
        RunEvent::TimerScheduled {
            step_id: owned(shape.step_id),
            fire_at_ms: shape.fire_at_ms,
        }
    }
}

impl From<v1::TimerFired<'_>> for RunEvent {
    fn from(shape: v1::TimerFired<'_>) -> Self {
        RunEvent::TimerFired {
            step_id: owned(shape.step_id),
        }
    }
}

impl From<v1::RunPaused<'_>> for RunEvent {
    fn from(shape: v1::RunPaused<'_>) -> Self {
        RunEvent::RunPaused {
            step_id: owned(shape.step_id),
            timeout_at_ms: shape.timeout_at_ms,
        }
    }
}

impl From<v1::RunResumed<'_>> for RunEvent {
    fn from(shape: v1::RunResumed<'_>) -> Self {
        RunEvent::RunResumed {
            step_id: owned(shape.step_id),
            payload_json: owned(shape.payload_json),
        }
    }
}

impl From<v1::RunCancelled<'_>> for RunEvent {
    fn from(shape: v1::RunCancelled<'_>) -> Self {
        RunEvent::RunCancelled {
            reason: owned(shape.reason),
        }
    }
}

impl From<v1::RunCompleted<'_>> for RunEvent {
    fn from(shape: v1::RunCompleted<'_>) -> Self {
        RunEvent::RunCompleted {
            output_json: owned(shape.output_json),
        }
    }
}

impl From<v1::RunFailed<'_>> for RunEvent {
    fn from(shape: v1::RunFailed<'_>) -> Self {
        RunEvent::RunFailed {
            error: shape.error.into(),
        }
    }
}

impl From<v1::ForeachStarted<'_>> for RunEvent {
    fn from(shape: v1::ForeachStarted<'_>) -> Self {
        RunEvent::ForeachStarted {
            step_id: owned(shape.step_id),
            items: shape.items,
        }
    }
}

impl From<v1::RunForked<'_>> for RunEvent {
    fn from(shape: v1::RunForked<'_>) -> Self {
        RunEvent::RunForked {
            parent_run_id: owned(shape.parent_run_id),
            from_step: owned(shape.from_step),
        }
    }
}

impl From<v1::StepReused<'_>> for RunEvent {
    fn from(shape: v1::StepReused<'_>) -> Self {
        RunEvent::StepReused {
            step_id: owned(shape.step_id),
            attempts: shape.attempts,
            output_json: owned(shape.output_json),
        }
    }
}

impl From<v1::RunRerun<'_>> for RunEvent {
    fn from(shape: v1::RunRerun<'_>) -> Self {
        RunEvent::RunRerun {
            child_run_id: owned(shape.child_run_id),
            from_step: owned(shape.from_step),
        }
    }
}

impl From<v1::StepRequestCompleted<'_>> for RunEvent {
    fn from(shape: v1::StepRequestCompleted<'_>) -> Self {
        RunEvent::StepRequestCompleted {
            step_id: owned(shape.step_id),
            attempt: shape.attempt,
            request: shape.request,
            output_json: owned(shape.output_json),
        }
    }
}

impl From<v1::ChildRunStarted<'_>> for RunEvent {
    fn from(shape: v1::ChildRunStarted<'_>) -> Self {
        RunEvent::ChildRunStarted {
            step_id: owned(shape.step_id),
            attempt: shape.attempt,
            child_run_id: owned(shape.child_run_id),
        }
    }
}

impl From<v1::RunCalledBy<'_>> for RunEvent {
    fn from(shape: v1::RunCalledBy<'_>) -> Self {
        RunEvent::RunCalledBy {
            parent_run_id: owned(shape.parent_run_id),
            step_id: owned(shape.step_id),
        }
    }
}

#[cfg(test)]
mod tests;
