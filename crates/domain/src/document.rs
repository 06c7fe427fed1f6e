//! Admin documents checked against their published JSON Schema: every
//! schema error becomes a [`Violation`] whose field is the document path
//! (`calendars[1].hours.mon[0]`), so the API names exactly what to fix.

use serde_json::Value;

use crate::error::{DomainError, Violation};

/// `parent.key` (just `key` at the root).
pub(crate) fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

/// `parent.key`, quoting keys that would not read back as one segment.
fn render_key(parent: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain { child(parent, key) } else { format!("{parent}[{}]", Value::String(key.to_owned())) }
}

/// Renders a JSON pointer into `root` as `path.key[index]`. The instance
/// decides whether a segment is an index, so an object key made of digits
/// stays a key.
pub fn render_pointer(path: &str, pointer: &str, root: &Value) -> String {
    let mut out = path.to_owned();
    let mut node = Some(root);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        let index = match node {
            Some(Value::Array(_)) => segment.parse::<usize>().ok(),
            _ => None,
        };
        match index {
            Some(index) => {
                out.push_str(&format!("[{index}]"));
                node = node.and_then(|n| n.get(index));
            }
            None => {
                out = render_key(&out, &segment);
                node = node.and_then(|n| n.get(segment.as_str()));
            }
        }
    }
    out
}

fn schema_violations(error: &jsonschema::ValidationError<'_>, root: &Value, path: &str, one_of: &str) -> Vec<Violation> {
    use jsonschema::error::ValidationErrorKind as Kind;
    let at = render_pointer(path, error.instance_path().as_str(), root);
    match error.kind() {
        Kind::AdditionalProperties { unexpected } | Kind::UnevaluatedProperties { unexpected } => unexpected
            .iter()
            .map(|name| Violation::new(render_key(&at, name), "unknown_field", format!("`{name}` is not a known field")))
            .collect(),
        Kind::Required { property } => {
            let name = property.as_str().map_or_else(|| property.to_string(), str::to_owned);
            vec![Violation::new(render_key(&at, &name), "required", format!("`{name}` is required"))]
        }
        Kind::OneOfNotValid { .. } | Kind::OneOfMultipleValid { .. } => vec![Violation::new(at, "one_of", one_of)],
        _ => vec![Violation::new(at, "json_schema", error.to_string())],
    }
}

/// Checks `value` against a compiled schema; every error is reported with
/// its path under `prefix`. Unknown properties get the rule
/// `unknown_field` and name the property, missing ones `required`, a
/// `oneOf` failure `one_of` (with the message `one_of`), and other
/// failures `json_schema`.
pub fn check_schema(validator: &jsonschema::Validator, value: &Value, prefix: &str, one_of: &str) -> Result<(), DomainError> {
    let violations: Vec<Violation> =
        validator.iter_errors(value).flat_map(|error| schema_violations(&error, value, prefix, one_of)).collect();
    if violations.is_empty() { Ok(()) } else { Err(DomainError::Validation(violations)) }
}

/// Compiles one of the crate's own schemas, with formats checked (a bug if
/// it does not compile).
pub(crate) fn compile_schema(source: &str) -> (Value, jsonschema::Validator) {
    let schema: Value = serde_json::from_str(source).expect("the published schema is valid JSON");
    // Formats are only annotations in 2020-12 by default; checking `date`
    // here means serde never sees an impossible date.
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).expect("the published schema compiles");
    (schema, validator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_become_paths() {
        let doc = json!({"calendars": [{}, {"hours": {"mon": ["x"]}}], "7": {"a.b": 1}});
        assert_eq!(render_pointer("", "/calendars/1/hours/mon/0", &doc), "calendars[1].hours.mon[0]");
        assert_eq!(render_pointer("policies[2]", "/targets", &json!({})), "policies[2].targets");
        assert_eq!(render_pointer("doc", "", &doc), "doc");
        assert_eq!(render_pointer("", "/7/a.b", &doc), "7[\"a.b\"]");
    }
}
