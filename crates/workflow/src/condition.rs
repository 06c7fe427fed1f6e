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
//! standard field present (`null` when missing, so `has()` is always true
//! for them: compare with `null` instead) and `custom_fields` an object.
//! They are compiled once, when the document is parsed; an expression naming
//! another variable or an unknown `ticket.<field>` does not compile. Only the
//! fields an expression reads are handed to CEL, which keeps an evaluation
//! to a few microseconds.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, OnceLock};

use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr};
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
    "kind",
    "links",
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
    /// The ticket fields it reads, when it only reads `ticket.<field>`;
    /// `None` when it uses `ticket` as a whole.
    reads: Option<Vec<String>>,
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
        let mut walk = Walk::default();
        walk.expr(program.expression());
        let unknown: Vec<&String> =
            walk.idents.iter().filter(|v| *v != "ticket" && !walk.bound.contains(*v) && !CEL_TYPE_NAMES.contains(&v.as_str())).collect();
        if let Some(name) = unknown.first() {
            return Err(format!("unknown variable `{name}`: an expression sees only `ticket`"));
        }
        if let Some(field) = walk.fields.iter().find(|f| !TICKET_FIELDS.contains(&f.as_str()) && *f != "custom_fields") {
            return Err(format!("unknown ticket field `ticket.{field}`; the fields are custom_fields, {}", TICKET_FIELDS.join(", ")));
        }
        let reads = (!walk.whole).then(|| walk.fields.into_iter().collect());
        Ok(Self { source: source.to_owned(), program: Arc::new(program), reads })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn evaluate(&self, ticket: &serde_json::Map<String, Value>) -> Result<bool, String> {
        let value = match &self.reads {
            Some(fields) => ticket_fields_to_cel(ticket, fields),
            None => ticket_to_cel(ticket),
        };
        let mut context = cel::Context::with_env(Arc::clone(cel_env()));
        context.add_variable_as_val("ticket", value);
        match self.program.execute(&context) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("expression `{}` returned {}, not a bool", self.source, other.type_of())),
            Err(e) => Err(format!("expression `{}` failed: {e}", self.source)),
        }
    }
}

/// Identifiers CEL resolves to types, not variables.
const CEL_TYPE_NAMES: &[&str] = &["bool", "bytes", "double", "int", "list", "map", "null_type", "string", "type", "uint", "dyn"];

/// What an expression reads: identifiers, the variables its macros bind,
/// and the fields of `ticket` it selects.
#[derive(Default)]
struct Walk {
    idents: BTreeSet<String>,
    bound: BTreeSet<String>,
    fields: BTreeSet<String>,
    whole: bool,
}

impl Walk {
    fn expr(&mut self, e: &IdedExpr) {
        match &e.expr {
            Expr::Select(select) => match &select.operand.expr {
                Expr::Ident(name) if name == "ticket" => {
                    self.fields.insert(select.field.clone());
                }
                _ => self.expr(&select.operand),
            },
            Expr::Ident(name) => {
                if name == "ticket" {
                    self.whole = true;
                }
                self.idents.insert(name.clone());
            }
            Expr::Call(call) => {
                if let Some(target) = &call.target {
                    self.expr(target);
                }
                call.args.iter().for_each(|a| self.expr(a));
            }
            Expr::Comprehension(c) => {
                self.bound.insert(c.iter_var.clone());
                self.bound.extend(c.iter_var2.clone());
                self.bound.insert(c.accu_var.clone());
                for part in [&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result] {
                    self.expr(part);
                }
            }
            Expr::List(list) => list.elements.iter().for_each(|e| self.expr(e)),
            Expr::Map(map) => map.entries.iter().for_each(|e| self.entry(e)),
            Expr::Struct(st) => st.entries.iter().for_each(|e| self.entry(e)),
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }

    fn entry(&mut self, entry: &IdedEntryExpr) {
        match &entry.expr {
            EntryExpr::MapEntry(m) => {
                self.expr(&m.key);
                self.expr(&m.value);
            }
            EntryExpr::StructField(f) => self.expr(&f.value),
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
        self.eval(ticket)
    }

    fn eval(&self, ticket: &serde_json::Map<String, Value>) -> Result<bool, String> {
        match self {
            ConditionGroup::All(conditions) => {
                for c in conditions {
                    if !c.eval(ticket)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            ConditionGroup::Any(conditions) => {
                for c in conditions {
                    if c.eval(ticket)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }
}

impl Condition {
    fn eval(&self, ticket: &serde_json::Map<String, Value>) -> Result<bool, String> {
        match self {
            Condition::Field(test) => test.eval(ticket),
            Condition::Group(group) => group.eval(ticket),
            Condition::Expr(e) => e.expr.evaluate(ticket),
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

/// Just the fields an expression reads, as [`ticket_to_cel`] would show them.
fn ticket_fields_to_cel<'a>(ticket: &'a serde_json::Map<String, Value>, fields: &'a [String]) -> Box<dyn Val + 'a> {
    let mut map: HashMap<CelMapKey<'a>, Box<dyn Val + 'a>> = HashMap::with_capacity(fields.len());
    for field in fields {
        let value: Box<dyn Val + 'a> = match ticket.get(field.as_str()) {
            Some(custom @ Value::Object(_)) if field == "custom_fields" => json_to_cel(custom),
            _ if field == "custom_fields" => Box::new(CelMap::from(HashMap::new())),
            Some(value) => json_to_cel(value),
            None => Box::new(CelNull),
        };
        map.insert(CelMapKey::from(field.as_str()), value);
    }
    Box::new(CelMap::from(map))
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
        assert!(CelExpression::compile("ticket.custom_fields.all(k, k != '')").is_ok());
        assert!(CelExpression::compile("[1, 2].map(x, x * 2).size() > 0 && ticket.impact == 1").is_ok());
        assert!(CelExpression::compile("ticket.impact == (1").unwrap_err().starts_with("at 1:"));
        assert!(CelExpression::compile("  ").is_err());
        assert!(CelExpression::compile("ticket.prio == 1").unwrap_err().contains("`ticket.prio`"));
        assert!(CelExpression::compile("type(ticket.impact) == int").is_ok());
        assert!(CelExpression::compile("has(ticket.custom_fields.region)").is_ok());
        assert_eq!(
            CelExpression::compile("ticket.impact == 1 && ticket.title.contains('x')").unwrap().reads,
            Some(vec!["impact".into(), "title".into()])
        );
        assert_eq!(CelExpression::compile("'title' in ticket").unwrap().reads, None);
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
