//! Request bodies: JSON read within the size limit and parsed whatever the Content-Type says
//! (seed 001's cron example posts with curl's default form type). Every failure is a 4xx in
//! the error envelope naming the field: nothing malformed reaches a handler or the journal.

use std::cell::Cell;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use crate::error::{ApiError, Detail};
use crate::AppState;

/// A JSON body deserialized into `T`. An empty body reads as `{}`, so routes whose fields
/// are all optional (run, cancel) accept a bare POST.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.config.max_body_bytes;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit }
                } else {
                    ApiError::invalid_field(&[], rejection.body_text())
                }
            })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses `bytes` as JSON into `T`, naming the field of the first problem.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    // Serde also fills a struct from an array of its fields in order; a body is an object
    // (else `[]` would cancel a run and `["ci", ["admin"]]` create a key).
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') && is_struct::<T>() {
        return Err(ApiError::invalid_field(
            &[],
            "must be a JSON object, not an array",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    // Trailing bytes after the value are malformed input too.
    deserializer
        .end()
        .map_err(|e| ApiError::invalid_field(&[], format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Whether `T` deserializes as a struct (asks its deserializer for one).
fn is_struct<T: DeserializeOwned>() -> bool {
    let asked = Cell::new(false);
    let _ = T::deserialize(StructProbe(&asked));
    asked.get()
}

/// A deserializer that yields nothing and notes whether it was asked for a struct.
struct StructProbe<'a>(&'a Cell<bool>);

impl<'de> Deserializer<'de> for StructProbe<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("probe"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(true);
        Err(de::Error::custom("probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Deserializes an already parsed JSON value into `T`, naming the field of the first problem.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

fn path_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path: Vec<String> = error
        .path()
        .iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect();
    let inner = error.into_inner();
    let message = if inner.is_syntax() || inner.is_eof() {
        format!("malformed JSON: {inner}")
    } else {
        inner.to_string()
    };
    let detail = Detail { path, message };
    ApiError::Validation {
        message: format!(
            "{}: {}",
            crate::error::field_name(&detail.path),
            detail.message
        ),
        details: vec![detail],
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        idempotency_key: Option<String>,
        items: Option<Vec<u32>>,
    }

    fn details(error: ApiError) -> (Vec<String>, String) {
        match error {
            ApiError::Validation { details, .. } => {
                (details[0].path.clone(), details[0].message.clone())
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_type_names_its_field() {
        let error = parse::<Body>(br#"{"idempotencyKey": 5}"#).expect_err("wrong type");
        let (path, message) = details(error);
        assert_eq!(path, vec!["idempotencyKey"]);
        assert!(message.contains("invalid type"), "{message}");
        let error = parse::<Body>(br#"{"items": [1, "x"]}"#).expect_err("wrong type");
        assert_eq!(details(error).0, vec!["items", "1"]);
    }

    #[test]
    fn malformed_json_and_trailing_bytes_are_refused() {
        let (path, message) = details(parse::<Body>(b"not json").expect_err("syntax"));
        assert!(path.is_empty());
        assert!(message.starts_with("malformed JSON"), "{message}");
        let (path, message) = details(parse::<Body>(b"{\"items\": [").expect_err("eof"));
        assert_eq!(path, vec!["items"]);
        assert!(message.starts_with("malformed JSON"), "{message}");
        assert!(parse::<Body>(b"{} {}").is_err());
    }

    #[test]
    fn an_array_does_not_fill_a_struct() {
        let (path, message) = details(parse::<Body>(b" [\"key\"]").expect_err("array"));
        assert!(path.is_empty());
        assert!(message.contains("JSON object"), "{message}");
        assert!(parse::<Body>(b"[]").is_err());
        // Bodies that are not structs keep their own rules.
        assert_eq!(
            parse::<serde_json::Value>(b"[1]").ok(),
            Some(serde_json::json!([1]))
        );
        assert!(parse::<Vec<u32>>(b"[1, 2]").is_ok());
    }

    #[test]
    fn an_empty_body_reads_as_an_empty_object() {
        let body = parse::<Body>(b"  ").expect("empty body");
        assert!(body.idempotency_key.is_none());
    }
}
