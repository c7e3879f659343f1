//! A run's input against its workflow's `inputSchema` (JSON Schema): defaults filled in
//! first, then every violation listed with the path of the offending field, as the API's
//! VALIDATION_ERROR shows them (`{"path": ["customerId"], "message": "Required"}`).

use serde_json::Value;

use crate::definition::Problem;

/// How deep defaults are filled into nested objects and arrays.
const DEFAULTS_DEPTH_MAX: usize = 32;

/// Checks that `schema` is a JSON Schema the validator accepts.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The input with the schema's defaults applied, or every way it violates the schema.
pub fn prepare(schema: Option<&Value>, mut input: Value) -> Result<Value, Vec<Problem>> {
    let Some(schema) = schema else {
        return Ok(input);
    };
    apply_defaults(schema, &mut input, 0);
    let validator = jsonschema::validator_for(schema).map_err(|e| {
        vec![Problem {
            path: vec!["inputSchema".into()],
            message: e.to_string(),
        }]
    })?;
    let problems: Vec<Problem> = validator
        .iter_errors(&input)
        .map(|error| {
            let mut path = pointer_segments(error.instance_path().as_str());
            let message = match error.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    path.push(
                        property
                            .as_str()
                            .map_or_else(|| property.to_string(), str::to_owned),
                    );
                    "Required".to_string()
                }
                _ => error.to_string(),
            };
            Problem { path, message }
        })
        .collect();
    if problems.is_empty() {
        Ok(input)
    } else {
        Err(problems)
    }
}

/// Fills `default`s of absent object properties, recursing into present ones and arrays.
fn apply_defaults(schema: &Value, value: &mut Value, depth: usize) {
    if depth >= DEFAULTS_DEPTH_MAX {
        return;
    }
    if let (Some(Value::Object(properties)), Value::Object(object)) =
        (schema.get("properties"), &mut *value)
    {
        for (name, property) in properties {
            match object.get_mut(name) {
                Some(present) => apply_defaults(property, present, depth + 1),
                None => {
                    if let Some(default) = property.get("default") {
                        object.insert(name.clone(), default.clone());
                    }
                }
            }
        }
    }
    if let (Some(items), Value::Array(elements)) = (schema.get("items"), value) {
        for element in elements {
            apply_defaults(items, element, depth + 1);
        }
    }
}

/// "/items/0/name" -> ["items", "0", "name"], with JSON Pointer escapes undone.
fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed_schema() -> Value {
        json!({
            "type": "object",
            "required": ["customerId", "amount"],
            "properties": {
                "customerId": { "type": "string", "pattern": "^cus_[a-zA-Z0-9]+$" },
                "amount": { "type": "number", "minimum": 100 },
                "currency": { "type": "string", "enum": ["usd", "eur", "gbp"], "default": "usd" }
            }
        })
    }

    #[test]
    fn defaults_are_applied_before_validation() {
        let input = prepare(
            Some(&seed_schema()),
            json!({ "customerId": "cus_1", "amount": 9900 }),
        )
        .expect("valid");
        assert_eq!(input["currency"], json!("usd"));
    }

    #[test]
    fn a_missing_field_is_required_at_its_path() {
        let problems =
            prepare(Some(&seed_schema()), json!({ "amount": 9900 })).expect_err("invalid");
        assert_eq!(
            problems,
            vec![Problem {
                path: vec!["customerId".into()],
                message: "Required".into()
            }]
        );
    }

    #[test]
    fn every_violation_is_listed() {
        let problems = prepare(
            Some(&seed_schema()),
            json!({ "customerId": "bob", "amount": 5, "currency": "yen" }),
        )
        .expect_err("invalid");
        let paths: Vec<Vec<String>> = problems.iter().map(|p| p.path.clone()).collect();
        assert_eq!(paths.len(), 3, "{problems:?}");
        for field in ["customerId", "amount", "currency"] {
            assert!(
                paths.contains(&vec![field.to_string()]),
                "{field}: {problems:?}"
            );
        }
    }

    #[test]
    fn bad_schemas_are_refused() {
        assert!(check_schema(&json!({ "type": "nonsense" })).is_err());
        assert!(check_schema(&seed_schema()).is_ok());
    }
}
