//! Conditions on a ticket: field tests, nested groups and CEL expressions.
//!
//! A ticket is a JSON object with the fields in [`TICKET_FIELDS`];
//! `custom_fields` is a nested object. A missing field reads as `null`.
//!
//! Comparison rules for field tests:
//! - `eq`, `ne`, `in`, `not_in`: numbers compare numerically (`2 == 2.0`),
//!   strings case-sensitively, arrays and objects structurally. When the
//!   field holds an array, `in` holds if any of its elements is in the list.
//! - `lt`, `lte`, `gt`, `gte`: numbers numerically, strings lexicographically
//!   (so RFC 3339 timestamps order correctly); anything else, `null` included,
//!   is false.
//! - `contains`: on a string field, a case-insensitive substring test with a
//!   string value; on an array field, whether an element equals the value.
//! - `starts_with`: a case-sensitive prefix test on a string field.
//! - `exists` / `not_exists`: whether the field is present and not `null`.
//!
//! CEL expressions see the ticket as the variable `ticket`, with every
//! standard field present (`null` when missing) and `custom_fields` an
//! object. They are compiled once, when the document is parsed.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use cel::common::types::{CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt};
use cel::common::value::Val;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The fields a condition may name, besides `custom_fields.<name>`.
pub const TICKET_FIELDS: &[&str] = &[
    "number",
    "title",
    "description",
    "requester",
    "channel",
    "category",
    "subcategory",
    "service",
    "affected_cis",
    "impact",
    "urgency",
    "priority",
    "status",
    "pending_reason",
    "assignment_group",
    "assignee",
    "escalation_level",
    "watchers",
    "created_at",
    "updated_at",
];

/// Prefix of custom field names in conditions.
pub const CUSTOM_FIELD_PREFIX: &str = "custom_fields.";

/// Whether `name` is a field a condition may test: one of [`TICKET_FIELDS`]
/// or `custom_fields.<name>` (a non-empty name without dots).
pub fn is_ticket_field(name: &str) -> bool {
    match name.strip_prefix(CUSTOM_FIELD_PREFIX) {
        Some(custom) => !custom.is_empty() && !custom.contains('.'),
        None => TICKET_FIELDS.contains(&name),
    }
}

/// A group of conditions: `{all: [...]}` or `{any: [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionGroup {
    /// Holds when every condition holds (evaluation stops at the first false).
    All(Vec<Condition>),
    /// Holds when any condition holds (evaluation stops at the first true).
    Any(Vec<Condition>),
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    /// `{field, op, value}`.
    Field(FieldTest),
    /// A nested `{all: [...]}` or `{any: [...]}`.
    Group(ConditionGroup),
    /// `{expr: "<CEL>"}`.
    Expr(ExprCondition),
}

/// A test of one ticket field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTest {
    /// A name from [`TICKET_FIELDS`] or `custom_fields.<name>`.
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// The value compared with; `None` when absent (`exists`, `not_exists`).
    /// An explicit `null` is `Some(Value::Null)`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// A CEL expression condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExprCondition {
    /// The compiled expression.
    pub expr: CelExpression,
}

/// Comparison operators of a [`FieldTest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Equal to an element of the list value.
    In,
    /// Equal to no element of the list value.
    NotIn,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Case-insensitive substring (strings) or element (arrays).
    Contains,
    /// Case-sensitive string prefix.
    StartsWith,
    /// Present and not null.
    Exists,
    /// Missing or null.
    NotExists,
}

impl Op {
    /// Every operator.
    pub const ALL: &'static [Op] =
        &[Op::Eq, Op::Ne, Op::In, Op::NotIn, Op::Lt, Op::Lte, Op::Gt, Op::Gte, Op::Contains, Op::StartsWith, Op::Exists, Op::NotExists];

    /// The name used in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::Exists => "exists",
            Op::NotExists => "not_exists",
        }
    }

    /// The operator with this name.
    pub fn parse(name: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.as_str() == name)
    }

    /// Whether the operator takes no value.
    pub fn is_unary(self) -> bool {
        matches!(self, Op::Exists | Op::NotExists)
    }

    /// Whether the operator's value must be a list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::NotIn)
    }
}

/// A compiled CEL expression. It serializes as its source text and compares
/// by it.
#[derive(Clone)]
pub struct CelExpression {
    source: String,
    program: Arc<cel::Program>,
}

fn cel_env() -> &'static Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(cel::Env::stdlib()))
}

impl CelExpression {
    /// Compiles `source`.
    pub fn compile(source: &str) -> Result<Self, String> {
        if source.trim().is_empty() {
            return Err("the expression is empty".to_owned());
        }
        let program = cel_env().compile(source).map_err(|e| {
            // The first line says what and where; the rest draws the source.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default().trim();
            first.strip_prefix("ERROR: <input>:").map_or_else(|| first.to_owned(), |rest| format!("at {rest}"))
        })?;
        // The only free variable is `ticket`; anything else is a typo that
        // would fail on every evaluation. Macro variables (`exists(w, ...)`)
        // are bound where they are written as `(w,` or `, w,`.
        let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
        let references = program.references();
        let unknown: Vec<&str> = references
            .variables()
            .into_iter()
            .filter(|v| *v != "ticket" && !compact.contains(&format!("({v},")) && !compact.contains(&format!(",{v},")))
            .collect();
        if !unknown.is_empty() {
            return Err(format!("unknown variable `{}`: an expression sees only `ticket`", unknown.join("`, `")));
        }
        Ok(Self { source: source.to_owned(), program: Arc::new(program) })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn evaluate(&self, context: &cel::Context<'_, '_>) -> Result<bool, String> {
        match self.program.execute(context) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("expression `{}` returned {}, not a bool", self.source, other.type_of())),
            Err(e) => Err(format!("expression `{}` failed: {e}", self.source)),
        }
    }
}

impl fmt::Debug for CelExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CelExpression").field(&self.source).finish()
    }
}

impl PartialEq for CelExpression {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for CelExpression {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for CelExpression {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        CelExpression::compile(&source).map_err(serde::de::Error::custom)
    }
}

/// The ticket, and the CEL context holding it, built at most once per
/// evaluation and only when an expression needs it.
struct Scope<'a> {
    ticket: &'a serde_json::Map<String, Value>,
    cel: Option<cel::Context<'a, 'a>>,
}

impl<'a> Scope<'a> {
    fn cel_context(&mut self) -> &cel::Context<'a, 'a> {
        let ticket = self.ticket;
        self.cel.get_or_insert_with(|| {
            let mut context = cel::Context::with_env(Arc::clone(cel_env()));
            context.add_variable_as_val("ticket", ticket_to_cel(ticket));
            context
        })
    }
}

impl ConditionGroup {
    /// The conditions of the group.
    pub fn conditions(&self) -> &[Condition] {
        match self {
            ConditionGroup::All(c) | ConditionGroup::Any(c) => c,
        }
    }

    /// Evaluates the group on `ticket`, a JSON object. Errors come from CEL
    /// expressions (a runtime error, or a result that is not a bool), from a
    /// non-object ticket, and from an `in`/`not_in` value that is not a list;
    /// the first error met ends the evaluation.
    pub fn evaluate(&self, ticket: &Value) -> Result<bool, String> {
        let ticket = ticket.as_object().ok_or_else(|| "the ticket is not a JSON object".to_owned())?;
        let mut scope = Scope { ticket, cel: None };
        self.eval(&mut scope)
    }

    fn eval(&self, scope: &mut Scope<'_>) -> Result<bool, String> {
        match self {
            ConditionGroup::All(conditions) => {
                for c in conditions {
                    if !c.eval(scope)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            ConditionGroup::Any(conditions) => {
                for c in conditions {
                    if c.eval(scope)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }
}

impl Condition {
    fn eval(&self, scope: &mut Scope<'_>) -> Result<bool, String> {
        match self {
            Condition::Field(test) => test.eval(scope.ticket),
            Condition::Group(group) => group.eval(scope),
            Condition::Expr(e) => e.expr.evaluate(scope.cel_context()),
        }
    }
}

static NULL: Value = Value::Null;

/// The value of `field` in `ticket`: `custom_fields.<name>` reads the nested
/// object. Missing reads as `null`.
pub fn field_value<'a>(ticket: &'a serde_json::Map<String, Value>, field: &str) -> &'a Value {
    let found = match field.strip_prefix(CUSTOM_FIELD_PREFIX) {
        Some(name) => ticket.get("custom_fields").and_then(|c| c.get(name)),
        None => ticket.get(field),
    };
    found.unwrap_or(&NULL)
}

impl FieldTest {
    /// Evaluates the test on a ticket object.
    pub fn evaluate(&self, ticket: &serde_json::Map<String, Value>) -> Result<bool, String> {
        self.eval(ticket)
    }

    fn eval(&self, ticket: &serde_json::Map<String, Value>) -> Result<bool, String> {
        let actual = field_value(ticket, &self.field);
        let expected = self.value.as_ref().unwrap_or(&NULL);
        Ok(match self.op {
            Op::Eq => json_eq(actual, expected),
            Op::Ne => !json_eq(actual, expected),
            Op::In => self.is_in(actual, expected)?,
            Op::NotIn => !self.is_in(actual, expected)?,
            Op::Lt => ordering(actual, expected) == Some(Ordering::Less),
            Op::Lte => matches!(ordering(actual, expected), Some(Ordering::Less | Ordering::Equal)),
            Op::Gt => ordering(actual, expected) == Some(Ordering::Greater),
            Op::Gte => matches!(ordering(actual, expected), Some(Ordering::Greater | Ordering::Equal)),
            Op::Contains => match (actual, expected) {
                (Value::String(a), Value::String(e)) => contains_ignore_case(a, e),
                (Value::Array(items), e) => items.iter().any(|item| json_eq(item, e)),
                _ => false,
            },
            Op::StartsWith => match (actual, expected) {
                (Value::String(a), Value::String(e)) => a.starts_with(e.as_str()),
                _ => false,
            },
            Op::Exists => !actual.is_null(),
            Op::NotExists => actual.is_null(),
        })
    }

    fn is_in(&self, actual: &Value, list: &Value) -> Result<bool, String> {
        let Value::Array(list) = list else {
            return Err(format!("`{}` needs a list value for field `{}`", self.op.as_str(), self.field));
        };
        Ok(match actual {
            Value::Array(items) => items.iter().any(|item| list.iter().any(|l| json_eq(item, l))),
            _ => list.iter().any(|l| json_eq(actual, l)),
        })
    }
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    } else {
        haystack.to_lowercase().contains(&needle.to_lowercase())
    }
}

fn number_cmp(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// Equality as conditions see it: numbers numerically, everything else
/// structurally (strings case-sensitively).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w))),
        _ => a == b,
    }
}

fn ordering(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// The JSON value as a CEL value, borrowing its strings.
fn json_to_cel(value: &Value) -> Box<dyn Val + '_> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            _ => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Array(items) => Box::new(CelList::from(items.iter().map(json_to_cel).collect::<Vec<_>>())),
        Value::Object(map) => Box::new(CelMap::from(object_entries(map).collect::<HashMap<_, _>>())),
    }
}

fn object_entries(map: &serde_json::Map<String, Value>) -> impl Iterator<Item = (CelMapKey<'_>, Box<dyn Val + '_>)> + '_ {
    map.iter().map(|(k, v)| (CelMapKey::from(k.as_str()), json_to_cel(v)))
}

/// The ticket as CEL sees it: every standard field present (`null` when
/// missing) and `custom_fields` an object.
fn ticket_to_cel(ticket: &serde_json::Map<String, Value>) -> Box<dyn Val + '_> {
    let mut map: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = HashMap::with_capacity(TICKET_FIELDS.len() + ticket.len() + 1);
    for field in TICKET_FIELDS {
        map.insert(CelMapKey::from(*field), Box::new(CelNull));
    }
    map.insert(CelMapKey::from("custom_fields"), Box::new(CelMap::from(HashMap::new())));
    for (key, value) in ticket {
        if key == "custom_fields" && !value.is_object() {
            continue;
        }
        map.insert(CelMapKey::from(key.as_str()), json_to_cel(value));
    }
    Box::new(CelMap::from(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group(v: Value) -> ConditionGroup {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn field_names() {
        assert!(is_ticket_field("priority"));
        assert!(is_ticket_field("custom_fields.region"));
        assert!(!is_ticket_field("custom_fields."));
        assert!(!is_ticket_field("custom_fields.a.b"));
        assert!(!is_ticket_field("prio"));
    }

    #[test]
    fn cel_sees_missing_fields_as_null() {
        let g = group(json!({"all": [{"expr": "ticket.assignee == null && ticket.custom_fields.size() == 0"}]}));
        assert_eq!(g.evaluate(&json!({"title": "x"})), Ok(true));
    }

    #[test]
    fn cel_integers_compare_with_literals() {
        let g = group(json!({"all": [{"expr": "ticket.impact == 1 && ticket.priority < 3"}]}));
        assert_eq!(g.evaluate(&json!({"impact": 1, "priority": 2})), Ok(true));
    }

    #[test]
    fn cel_variables_other_than_ticket_are_refused() {
        assert!(CelExpression::compile("tickt.impact == 1").unwrap_err().contains("`tickt`"));
        assert!(CelExpression::compile("ticket.watchers.exists(w, w == 'a')").is_ok());
        assert!(CelExpression::compile("ticket.custom_fields.all(k, v, v != null)").is_ok());
        assert!(CelExpression::compile("[1, 2].map(x, x * 2).size() > 0 && ticket.impact == 1").is_ok());
        assert!(CelExpression::compile("ticket.impact == (1").unwrap_err().starts_with("at 1:"));
        assert!(CelExpression::compile("  ").is_err());
    }

    #[test]
    fn cel_non_bool_is_an_error() {
        let g = group(json!({"all": [{"expr": "ticket.impact"}]}));
        assert!(g.evaluate(&json!({"impact": 1})).unwrap_err().contains("not a bool"));
    }

    #[test]
    fn documents_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ConditionGroup>();
        check::<crate::WorkflowDocument>();
    }
}
