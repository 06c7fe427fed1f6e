//! Domain errors: which field broke which rule.

use crate::incident::Status;

/// One rule one field broke, e.g. `title` / `required`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    /// Path of the field, dotted (`custom_fields.region`) or a JSON pointer
    /// for nested documents.
    pub field: String,
    /// Stable name of the rule, e.g. `required`, `max_length`, `range`.
    pub rule: String,
    /// A sentence for people.
    pub message: String,
}

impl Violation {
    /// A violation of `rule` on `field`.
    pub fn new(field: impl Into<String>, rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), rule: rule.into(), message: message.into() }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.rule)
    }
}

/// Why the domain refused something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// Input broke one or more field rules.
    #[error("validation failed: {}", join(.0))]
    Validation(Vec<Violation>),
    /// The lifecycle does not allow this status change at all.
    #[error("an incident cannot move from {from} to {to}")]
    TransitionNotAllowed {
        /// Current status.
        from: Status,
        /// Requested status.
        to: Status,
    },
    /// The status change is allowed but a precondition is missing.
    #[error("moving to {to} needs {}", join(.violations))]
    TransitionPrecondition {
        /// Requested status.
        to: Status,
        /// What is missing.
        violations: Vec<Violation>,
    },
}

impl DomainError {
    /// Shorthand for a single violation.
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![Violation::new(field, rule, message)])
    }

    /// The violations carried by this error, if any.
    pub fn violations(&self) -> &[Violation] {
        match self {
            Self::Validation(v) | Self::TransitionPrecondition { violations: v, .. } => v,
            Self::TransitionNotAllowed { .. } => &[],
        }
    }
}

fn join(violations: &[Violation]) -> String {
    violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Collects violations and turns them into a result at the end.
#[derive(Debug, Default)]
pub struct Violations(Vec<Violation>);

impl Violations {
    /// Record a violation.
    pub fn push(&mut self, field: impl Into<String>, rule: impl Into<String>, message: impl Into<String>) {
        self.0.push(Violation::new(field, rule, message));
    }

    /// Record a violation when `failed` holds.
    pub fn check(&mut self, failed: bool, field: &str, rule: &str, message: impl FnOnce() -> String) {
        if failed {
            self.push(field, rule, message());
        }
    }

    /// Record every violation of a nested result.
    pub fn absorb(&mut self, result: Result<(), DomainError>) {
        if let Err(e) = result {
            self.0.extend(e.violations().iter().cloned());
        }
    }

    /// How many violations were recorded so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was recorded so far.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was recorded.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() { Ok(()) } else { Err(DomainError::Validation(self.0)) }
    }
}
