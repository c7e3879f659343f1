//! How events become journal bytes and back: the machinery every stream's `wire` module
//! uses (`events::wire` for runs, `workflows::wire`, the idempotency claims, and in other
//! crates the triggers', API keys' and connections').
//!
//! An event has two faces. Its *domain* type (`RunEvent`, `WorkflowEvent`, ...) is what the
//! code builds and matches on; it has no encoding of its own. Its *wire* types are frozen
//! shapes, one per journal type tag, each a struct whose postcard encoding is the payload
//! written under that tag. A stream's [`Stream`] table lists every tag it has ever written,
//! with the version of the event's shape that tag holds and how to read it: decoding looks
//! the record's tag up, decodes that tag's wire type and converts it to the domain event,
//! through one upcaster per later version when the tag holds an old shape. Encoding writes
//! the domain event as its latest wire type. So the domain types can change freely (add a
//! variant, reorder them, rename a field) while the bytes of every tag stay what they were.
//!
//! A changed shape is a new version under a new tag, never an edit of an old wire type:
//! docs/journal-format.md ("Adding or changing an event") and decision 0010. Golden files
//! hold the bytes of every tag ([`golden`]).
//!
//! Architecture invariant: a wire type that has been released never changes, and its tag
//! keeps its decoder for as long as journals may hold it.

use serde::{Deserialize, Serialize};

// The golden-file checker reads and (with GOLDEN_UPDATE=1) writes files: test tooling,
// compiled only for tests, and the one place of this crate allowed I/O.
#[cfg(any(test, feature = "golden"))]
#[allow(clippy::disallowed_methods)]
pub mod golden;

/// An event a stream's decoder could not read. `kind` names the stream's events (`run`,
/// `workflow`, ...), `tag` is the record's type tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode {kind} event (type {tag}): {reason}")]
pub struct EventDecodeError {
    pub kind: &'static str,
    pub tag: u16,
    pub reason: String,
}

/// One tag a stream has written: the version of its event's shape and how to read it.
pub struct WireType<E: 'static> {
    /// The journal type tag. Part of the format: never reused or renumbered.
    pub tag: u16,
    /// The domain event it decodes to (its variant's name).
    pub name: &'static str,
    /// The version of the event's shape this tag holds: 1 for the first, each change the
    /// next one under a new tag.
    pub version: u16,
    /// Decodes the payload as this tag's wire type, upcasts it through every later version
    /// of the event, and converts the latest to the domain event.
    pub decode: fn(&[u8]) -> Result<E, String>,
}

/// Every tag one kind of stream has ever written, and nothing else: the one list its
/// decoder reads and its golden files are checked against.
pub struct Stream<E: 'static> {
    /// What its errors call the events (`run`, `workflow`, `trigger`, ...).
    pub kind: &'static str,
    /// Its tags, in increasing order.
    pub wire_types: &'static [WireType<E>],
}

impl<E> Stream<E> {
    /// The entry of `tag`, if this stream ever wrote it.
    /// (A tag is `journal::EventType`'s number; the journal's type converts into it.)
    pub fn wire_type(&self, tag: impl Into<u16>) -> Option<&'static WireType<E>> {
        let tag = tag.into();
        self.wire_types
            .iter()
            .find(|wire_type| wire_type.tag == tag)
    }

    /// Decodes an event read from the journal by its tag: another stream's tag, or bytes
    /// that are not that tag's shape, are an error.
    pub fn decode(&self, tag: impl Into<u16>, data: &[u8]) -> Result<E, EventDecodeError> {
        let tag = tag.into();
        let error = |reason: String| EventDecodeError {
            kind: self.kind,
            tag,
            reason,
        };
        let wire_type = self
            .wire_type(tag)
            .ok_or_else(|| error(format!("no {} event has this type", self.kind)))?;
        (wire_type.decode)(data).map_err(error)
    }
}

/// A wire type of a stream whose events were first written as one postcard enum (every v1
/// so far). Its bytes are those of that enum's variant: the variant's index as a varint,
/// then its fields. The index is frozen here, so the domain enum's order means nothing to
/// the bytes.
pub trait EnumVariant {
    /// The variant's place in the enum the stream was first written as.
    const INDEX: u32;
}

/// Implements [`EnumVariant`] for wire types: `enum_variants! { RunStarted<'_> = 0, ... }`.
#[macro_export]
macro_rules! enum_variants {
    ($($shape:ty = $index:literal),* $(,)?) => {
        $(impl $crate::wire::EnumVariant for $shape {
            const INDEX: u32 = $index;
        })*
    };
}

/// The payload of a wire type that has no enum variant index (claims, and the later
/// versions of any event).
pub fn encode<T: Serialize>(shape: &T) -> Vec<u8> {
    // Wire types are plain structs of strings, integers and options; serializing one to a
    // Vec cannot fail.
    postcard::to_stdvec(shape).unwrap_or_else(|error| unreachable!("postcard: {error}"))
}

/// Reads a payload written by [`encode`]. As postcard's `from_bytes`, bytes after the
/// shape are not looked at.
pub fn decode<'a, T: Deserialize<'a>>(data: &'a [u8]) -> Result<T, String> {
    postcard::from_bytes(data).map_err(|error| error.to_string())
}

/// The payload of an [`EnumVariant`]: its index, then its fields, exactly as postcard
/// encodes the variant of an enum.
pub fn encode_variant<T: EnumVariant + Serialize>(shape: &T) -> Vec<u8> {
    encode(&(T::INDEX, shape))
}

/// Reads a payload written by [`encode_variant`]. A payload that starts with another
/// variant's index is refused naming that variant (`variants` is the original enum's
/// variants in order).
pub fn decode_variant<'a, T: EnumVariant + Deserialize<'a>>(
    data: &'a [u8],
    variants: &[&str],
) -> Result<T, String> {
    let (index, fields) =
        postcard::take_from_bytes::<u32>(data).map_err(|error| error.to_string())?;
    if index != T::INDEX {
        return Err(match variants.get(index as usize) {
            Some(name) => format!("the payload is a {name}"),
            None => format!("the payload is variant {index}, which this stream never had"),
        });
    }
    decode(fields)
}
