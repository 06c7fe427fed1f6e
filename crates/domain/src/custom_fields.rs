//! Admin-defined custom fields: a JSON Schema that every incident's
//! `custom_fields` object must satisfy.

use crate::error::{DomainError, Violation};

/// A compiled custom-field schema.
pub struct CustomFieldSchema {
    source: serde_json::Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for CustomFieldSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomFieldSchema").field("source", &self.source).finish_non_exhaustive()
    }
}

impl CustomFieldSchema {
    /// The schema used until an admin sets one: any object.
    pub fn permissive() -> Self {
        Self::new(serde_json::json!({"type": "object"})).expect("the permissive schema compiles")
    }

    /// Compiles a schema. It must itself be a valid JSON Schema describing an
    /// object.
    pub fn new(source: serde_json::Value) -> Result<Self, DomainError> {
        if source.get("type").and_then(|t| t.as_str()) != Some("object") {
            return Err(DomainError::invalid("schema.type", "const", "a custom field schema must have \"type\": \"object\""));
        }
        let validator = jsonschema::validator_for(&source)
            .map_err(|e| DomainError::invalid(format!("schema{}", e.instance_path()), "json_schema", e.to_string()))?;
        Ok(Self { source, validator })
    }

    /// The schema document.
    pub fn source(&self) -> &serde_json::Value {
        &self.source
    }

    /// Checks a `custom_fields` value, reporting every failing path as
    /// `custom_fields/<pointer>`.
    pub fn validate(&self, value: &serde_json::Value) -> Result<(), DomainError> {
        let violations: Vec<Violation> = self
            .validator
            .iter_errors(value)
            .map(|e| {
                let path = e.instance_path().to_string();
                Violation::new(format!("custom_fields{path}"), "json_schema", e.to_string())
            })
            .collect();
        if violations.is_empty() { Ok(()) } else { Err(DomainError::Validation(violations)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_and_names_paths() {
        let schema = CustomFieldSchema::new(json!({
            "type": "object",
            "properties": {"region": {"enum": ["emea", "amer"]}, "seats": {"type": "integer", "minimum": 1}},
            "additionalProperties": false
        }))
        .unwrap();
        schema.validate(&json!({"region": "emea", "seats": 3})).unwrap();
        let err = schema.validate(&json!({"region": "mars", "seats": 0, "x": 1})).unwrap_err();
        let fields: Vec<_> = err.violations().iter().map(|v| v.field.clone()).collect();
        assert!(fields.contains(&"custom_fields/region".to_string()), "{fields:?}");
        assert!(fields.contains(&"custom_fields/seats".to_string()), "{fields:?}");
        assert_eq!(err.violations().len(), 3);
    }

    #[test]
    fn rejects_non_object_and_broken_schemas() {
        assert!(CustomFieldSchema::new(json!({"type": "string"})).is_err());
        assert!(CustomFieldSchema::new(json!({"type": "object", "properties": {"a": {"type": 12}}})).is_err());
        assert!(CustomFieldSchema::permissive().validate(&json!([])).is_err());
    }
}
