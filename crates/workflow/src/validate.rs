//! Parsing and validating workflow documents, reporting every problem with
//! its path and, where the text is at hand, its line.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use jsonschema::ValidationError;
use jsonschema::error::ValidationErrorKind;
use semver::{Version, VersionReq};
use serde_json::Value;

use crate::condition::{CelExpression, Op, TICKET_FIELDS, is_ticket_field};
use crate::document::WorkflowDocument;
use crate::trigger::{parse_schedule, parse_timezone};
use crate::yaml::{self, LineMap, child_index, child_key};

/// The syntax of a document's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML 1.2.
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    /// The format a file's extension names: `.yaml`/`.yml` or `.json`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// Guesses from the text: JSON when it starts with `{`, else YAML.
    pub fn sniff(text: &str) -> Format {
        if text.trim_start_matches('\u{feff}').trim_start().starts_with('{') { Format::Json } else { Format::Yaml }
    }
}

/// One problem in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `steps[2].config.strategy`, `triggers[0].cron.schedule`; empty
    /// for the document as a whole.
    pub path: String,
    /// The 1-based line where the offending key or item starts, when known.
    pub line: Option<usize>,
    /// A short machine word: `syntax`, `unknown_field`, `required`, `type`,
    /// `enum`, `one_of`, `not_allowed`, `pattern`, `range`, `field`, `expr`,
    /// `cron`, `timezone`, `unique`, `goto`, `cycle`, `plugin`, `version`,
    /// `config`.
    pub rule: String,
    /// What is wrong, for people.
    pub message: String,
}

impl Problem {
    /// A problem without a line.
    pub fn new(path: impl Into<String>, rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), line: None, rule: rule.into(), message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "document" } else { &self.path };
        let message = self.message.replace('\n', " ");
        match self.line {
            Some(line) => write!(f, "{path} (line {line}): {message}"),
            None => write!(f, "{path}: {message}"),
        }
    }
}

/// Every problem found in a document, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// The problem at `path` with `rule`, if any.
    pub fn find(&self, path: &str, rule: &str) -> Option<&Problem> {
        self.0.iter().find(|p| p.path == path && p.rule == rule)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// What the installed plugins are, for [`validate()`].
pub trait PluginCatalog {
    /// Checks that a plugin matching `requirement` is installed and that `config` satisfies its config schema.
    fn check_step(&self, plugin: &str, requirement: &VersionReq, config: &Value) -> Result<(), CatalogProblem>;
}

/// Why a catalog refused a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogProblem {
    /// No plugin with that id is installed.
    UnknownPlugin,
    /// The plugin is installed, but no installed version matches.
    NoMatchingVersion {
        /// The versions that are installed.
        available: Vec<Version>,
    },
    /// The config does not satisfy the plugin's config schema: (path inside
    /// the config, message) pairs. A path may be dotted (`rules[0].group`) or
    /// a JSON pointer (`/rules/0/group`); empty means the config itself.
    Config(Vec<(String, String)>),
}

/// Parses a document and checks everything that needs no plugin catalog:
/// syntax, the schema, then the semantic rules (unique step ids, `goto`
/// targets that exist and lie ahead, cron expressions, time zones, condition
/// fields, CEL expressions, version requirements). Every problem is
/// reported, not just the first.
pub fn parse(text: &str, format: Format) -> Result<WorkflowDocument, Problems> {
    parse_with_lines(text, format).0
}

/// Checks a document against the installed plugins: each step's plugin must
/// exist, a version must match its requirement, and its config must satisfy
/// the plugin's schema. It also repeats the checks of [`parse()`], so a
/// document built or deserialized some other way is checked in full.
pub fn validate(doc: &WorkflowDocument, catalog: &dyn PluginCatalog) -> Result<(), Problems> {
    let mut problems = match serde_json::to_value(doc) {
        Ok(value) => structural_problems(&value),
        Err(e) => vec![Problem::new("", "type", format!("the document cannot be serialized: {e}"))],
    };
    problems.extend(catalog_problems(doc, catalog));
    if problems.is_empty() { Ok(()) } else { Err(Problems(problems)) }
}

/// [`parse()`], then the catalog checks of [`validate()`], with lines.
pub fn parse_and_validate(text: &str, format: Format, catalog: &dyn PluginCatalog) -> Result<WorkflowDocument, Problems> {
    let (parsed, lines) = parse_with_lines(text, format);
    let doc = parsed?;
    let mut problems = catalog_problems(&doc, catalog);
    if problems.is_empty() {
        return Ok(doc);
    }
    for p in &mut problems {
        p.line = lines.line_of(&p.path);
    }
    Err(Problems(problems))
}

fn parse_with_lines(text: &str, format: Format) -> (Result<WorkflowDocument, Problems>, LineMap) {
    let mut problems = Vec::new();
    let (value, lines) = match format {
        Format::Json => {
            let value = match serde_json::from_str::<Value>(text) {
                Ok(v) => v,
                Err(e) => return (Err(Problems(vec![json_syntax_problem(&e)])), LineMap::default()),
            };
            // JSON is YAML: the YAML reader finds the lines and duplicate keys.
            match yaml::load(text) {
                Ok(loaded) => {
                    problems.extend(duplicate_problems(&loaded.duplicates));
                    (value, loaded.lines)
                }
                Err(_) => (value, LineMap::default()),
            }
        }
        Format::Yaml => match yaml::load(text) {
            Ok(loaded) => {
                problems.extend(duplicate_problems(&loaded.duplicates));
                (loaded.value, loaded.lines)
            }
            Err(e) => {
                let problem = Problem { path: String::new(), line: Some(e.line), rule: "syntax".into(), message: e.message };
                return (Err(Problems(vec![problem])), LineMap::default());
            }
        },
    };
    let mut value = value;
    integral_floats_to_integers(&mut value);
    problems.extend(structural_problems(&value));
    if problems.is_empty() {
        match serde_json::from_value::<WorkflowDocument>(value) {
            Ok(doc) => return (Ok(doc), lines),
            Err(e) => problems.push(Problem::new("", "type", e.to_string())),
        }
    }
    for p in &mut problems {
        if p.line.is_none() {
            p.line = lines.line_of(&p.path);
        }
    }
    // Document order; problems without a line last.
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    (Err(Problems(problems)), lines)
}

/// JSON Schema counts `3.0` as an integer; so do we, so that the serde
/// types accept what the schema does.
fn integral_floats_to_integers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15) {
                *n = serde_json::Number::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

fn json_syntax_problem(e: &serde_json::Error) -> Problem {
    let text = e.to_string();
    let message = match text.rsplit_once(" at line ") {
        Some((message, _)) => format!("{message} (column {})", e.column()),
        None => text,
    };
    Problem { path: String::new(), line: Some(e.line().max(1)), rule: "syntax".into(), message }
}

fn duplicate_problems(duplicates: &[yaml::DuplicateKey]) -> impl Iterator<Item = Problem> + '_ {
    duplicates.iter().map(|d| Problem {
        path: d.path.clone(),
        line: Some(d.line),
        rule: "unique".into(),
        message: format!("duplicate key `{}`", d.path.rsplit('.').next().unwrap_or(&d.path)),
    })
}

/// Schema problems, then the semantic ones at paths the schema did not
/// already flag.
fn structural_problems(value: &Value) -> Vec<Problem> {
    let mut problems = schema_problems(value);
    let mut semantic = Vec::new();
    semantic_problems(value, &mut semantic);
    for p in semantic {
        if !problems.iter().any(|q| q.path == p.path) {
            problems.push(p);
        }
    }
    problems
}

// ---------------------------------------------------------------------------
// The schema

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| jsonschema::draft202012::new(&crate::workflow_schema()).expect("the workflow schema is a valid JSON Schema"))
}

fn schema_problems(value: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    for error in validator().iter_errors(value) {
        convert_error(&error, value, &mut problems);
    }
    // A shape error (one_of) next to a more precise error at the same path adds nothing.
    let precise: Vec<String> = problems.iter().filter(|p| p.rule != "one_of").map(|p| p.path.clone()).collect();
    problems.retain(|p| p.rule != "one_of" || !precise.contains(&p.path));
    let mut seen = Vec::new();
    problems.retain(|p| {
        let key = (p.path.clone(), p.rule.clone());
        let fresh = !seen.contains(&key);
        seen.push(key);
        fresh
    });
    problems
}

/// The dotted path of a schema error's instance, reading the document to
/// tell list indexes from keys.
fn instance_path(error: &ValidationError<'_>, root: &Value) -> String {
    let mut path = String::new();
    let mut node = Some(root);
    for segment in error.instance_path().segments() {
        let token = match segment {
            jsonschema::paths::LocationSegment::Property(p) => p.into_owned(),
            jsonschema::paths::LocationSegment::Index(i) => i.to_string(),
        };
        match node {
            Some(Value::Array(items)) => {
                let index = token.parse::<usize>().unwrap_or(usize::MAX);
                path = child_index(&path, index);
                node = items.get(index);
            }
            Some(Value::Object(map)) => {
                path = child_key(&path, &token);
                node = map.get(&token);
            }
            _ => {
                path = child_key(&path, &token);
                node = None;
            }
        }
    }
    path
}

fn last_key(path: &str) -> &str {
    let parent = yaml::parent_path(path);
    path[parent.len()..].trim_start_matches('.')
}

/// The `properties` named by the schema object holding the failed keyword.
fn allowed_keys(error: &ValidationError<'_>) -> Vec<String> {
    let pointer = error.schema_path().as_str();
    let parent = pointer.rsplit_once('/').map_or("", |(p, _)| p);
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    let schema = SCHEMA.get_or_init(crate::workflow_schema);
    schema
        .pointer(parent)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn convert_error(error: &ValidationError<'_>, root: &Value, out: &mut Vec<Problem>) {
    let path = instance_path(error, root);
    let key = last_key(&path).to_owned();
    let instance = error.instance();
    let mut push = |path: String, rule: &str, message: String| out.push(Problem::new(path, rule, message));
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed = allowed_keys(error);
            for name in unexpected {
                let hint = if allowed.is_empty() {
                    String::from("; this object takes no options")
                } else {
                    format!("; expected one of: {}", allowed.join(", "))
                };
                push(child_key(&path, name), "unknown_field", format!("unknown field `{name}`{hint}"));
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            push(child_key(&path, name), "required", format!("`{name}` is required"));
        }
        ValidationErrorKind::Type { kind } => {
            let article = |t: jsonschema::JsonType| match t.to_string().as_str() {
                "array" => "a list".to_owned(),
                "null" => "null".to_owned(),
                name @ ("object" | "integer") => format!("an {name}"),
                name => format!("a {name}"),
            };
            let expected = match kind {
                jsonschema::error::TypeKind::Single(t) => article(*t),
                jsonschema::error::TypeKind::Multiple(set) => set.iter().map(article).collect::<Vec<_>>().join(" or "),
            };
            push(path, "type", format!("expected {expected}, found {}", type_name(instance)));
        }
        ValidationErrorKind::Enum { options } => {
            let names: Vec<String> =
                options.as_array().into_iter().flatten().map(|o| o.as_str().map_or(o.to_string(), str::to_owned)).collect();
            push(path, "enum", format!("{instance} is not one of: {}", names.join(", ")));
        }
        ValidationErrorKind::Pattern { pattern } => {
            let message = match key.as_str() {
                "id" if !path.contains('[') => {
                    "must be 1 to 64 lowercase letters, digits and '-', starting with a letter or digit".to_owned()
                }
                "id" => "must be 1 to 64 lowercase letters, digits, '_' and '-', starting with a letter or digit".to_owned(),
                "plugin" => "must be a plugin id: 1 to 64 lowercase letters, digits and '-'".to_owned(),
                _ => format!("{instance} does not match {pattern}"),
            };
            push(path, "pattern", message);
        }
        ValidationErrorKind::Minimum { limit } | ValidationErrorKind::ExclusiveMinimum { limit } => {
            push(path, "range", format!("{instance} is below the minimum of {limit}"));
        }
        ValidationErrorKind::Maximum { limit } | ValidationErrorKind::ExclusiveMaximum { limit } => {
            push(path, "range", format!("{instance} is above the maximum of {limit}"));
        }
        ValidationErrorKind::MinLength { .. } => push(path, "required", "must not be empty".to_owned()),
        ValidationErrorKind::MaxLength { limit } => push(path, "range", format!("must be at most {limit} characters")),
        ValidationErrorKind::MinItems { limit } => {
            let message = match key.as_str() {
                "triggers" => "at least one trigger is required".to_owned(),
                "steps" => "at least one step is required".to_owned(),
                "all" | "any" => "a group needs at least one condition".to_owned(),
                _ => format!("needs at least {limit} items"),
            };
            push(path, "required", message);
        }
        ValidationErrorKind::MaxItems { limit } => push(path, "range", format!("takes at most {limit} items")),
        ValidationErrorKind::MinProperties { .. } => {
            let message = if path.starts_with("triggers[") && yaml::parent_path(&path) == "triggers" {
                "a trigger needs a kind: ticket_created, ticket_updated, sla_warning, sla_breached, cron, manual or inbound_channel"
            } else {
                "a group needs `all` or `any`"
            };
            push(path, "required", message.to_owned());
        }
        ValidationErrorKind::MaxProperties { .. } => {
            let message = if path.starts_with("triggers[") && yaml::parent_path(&path) == "triggers" {
                "a trigger has exactly one kind; write each trigger as its own list item"
            } else {
                "a group has either `all` or `any`, not both; nest groups to combine them"
            };
            push(path, "one_of", message.to_owned());
        }
        ValidationErrorKind::AnyOf { .. } => push(
            path,
            "field",
            format!("unknown ticket field {instance}; use custom_fields.<name> or one of: {}", TICKET_FIELDS.join(", ")),
        ),
        ValidationErrorKind::OneOfNotValid { context } => {
            // Prefer the branch that matched the shape (its errors are all
            // deeper), else the branch with the fewest errors if it is the
            // only one; otherwise describe the allowed shapes.
            let depth = error.instance_path().as_str().len();
            let deeper = |branch: &Vec<ValidationError<'static>>| branch.iter().all(|e| e.instance_path().as_str().len() > depth);
            let shaped: Vec<_> = context.iter().filter(|b| !b.is_empty() && deeper(b)).collect();
            let fewest = context.iter().map(Vec::len).min().unwrap_or(0);
            let smallest: Vec<_> = context.iter().filter(|b| b.len() == fewest).collect();
            let chosen = match (shaped.as_slice(), smallest.as_slice()) {
                ([one], _) | ([], [one]) => Some(*one),
                _ => None,
            };
            match chosen {
                Some(branch) => {
                    for e in branch {
                        convert_error(e, root, out);
                    }
                }
                None => push(path.clone(), "one_of", shape_message(&path)),
            }
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => push(path.clone(), "one_of", shape_message(&path)),
        ValidationErrorKind::FalseSchema => {
            let message = if key == "value" {
                "`value` is not allowed with `exists` and `not_exists`".to_owned()
            } else {
                "not allowed here".to_owned()
            };
            push(path, "not_allowed", message);
        }
        _ => push(path, "schema", error.to_string()),
    }
}

fn shape_message(path: &str) -> String {
    if last_key(path) == "on_failure" {
        "must be `stop`, `continue` or {goto: <step id>}".to_owned()
    } else {
        "a condition must be exactly one of: a field test {field, op, value}, a group {all: [...]} or {any: [...]}, or an expression {expr}"
            .to_owned()
    }
}

// ---------------------------------------------------------------------------
// Semantic rules, read off the raw value so they run even when other parts
// of the document are broken.

fn semantic_problems(value: &Value, out: &mut Vec<Problem>) {
    let Some(root) = value.as_object() else { return };
    if let Some(Value::Array(triggers)) = root.get("triggers") {
        for (i, trigger) in triggers.iter().enumerate() {
            check_trigger(trigger, &child_index("triggers", i), out);
        }
    }
    if let Some(group) = root.get("conditions") {
        check_group(group, "conditions", out);
    }
    if let Some(Value::Array(steps)) = root.get("steps") {
        check_steps(steps, out);
    }
}

fn check_trigger(trigger: &Value, path: &str, out: &mut Vec<Problem>) {
    if let Some(cron) = trigger.get("cron") {
        if let Some(Value::String(schedule)) = cron.get("schedule")
            && let Err(e) = parse_schedule(schedule)
        {
            out.push(Problem::new(format!("{path}.cron.schedule"), "cron", e));
        }
        if let Some(Value::String(zone)) = cron.get("timezone")
            && let Err(e) = parse_timezone(zone)
        {
            out.push(Problem::new(format!("{path}.cron.timezone"), "timezone", e));
        }
    }
    if let Some(Value::Array(fields)) = trigger.get("ticket_updated").and_then(|t| t.get("fields")) {
        for (j, field) in fields.iter().enumerate() {
            if let Value::String(name) = field
                && !is_ticket_field(name)
            {
                out.push(unknown_field(format!("{path}.ticket_updated.fields[{j}]"), name));
            }
        }
    }
}

fn unknown_field(path: String, name: &str) -> Problem {
    Problem::new(path, "field", format!("unknown ticket field `{name}`; use custom_fields.<name> or one of: {}", TICKET_FIELDS.join(", ")))
}

fn check_group(group: &Value, path: &str, out: &mut Vec<Problem>) {
    let Some(map) = group.as_object() else { return };
    for key in ["all", "any"] {
        if let Some(Value::Array(conditions)) = map.get(key) {
            for (i, condition) in conditions.iter().enumerate() {
                check_condition(condition, &child_index(&child_key(path, key), i), out);
            }
        }
    }
}

fn check_condition(condition: &Value, path: &str, out: &mut Vec<Problem>) {
    let Some(map) = condition.as_object() else { return };
    if let Some(Value::String(name)) = map.get("field")
        && !is_ticket_field(name)
    {
        out.push(unknown_field(child_key(path, "field"), name));
    }
    if let Some(op) = map.get("op").and_then(Value::as_str).and_then(Op::parse) {
        let value = map.get("value");
        let value_path = child_key(path, "value");
        match value {
            Some(_) if op.is_unary() => {
                out.push(Problem::new(value_path, "not_allowed", "`value` is not allowed with `exists` and `not_exists`"))
            }
            None if !op.is_unary() => out.push(Problem::new(value_path, "required", format!("`{}` needs a `value`", op.as_str()))),
            Some(v) if op.takes_list() && !v.is_array() => {
                out.push(Problem::new(value_path, "type", format!("`{}` needs a list value", op.as_str())))
            }
            _ => {}
        }
    }
    if let Some(Value::String(expr)) = map.get("expr")
        && let Err(e) = CelExpression::compile(expr)
    {
        out.push(Problem::new(child_key(path, "expr"), "expr", format!("invalid CEL expression: {e}")));
    }
    check_group(condition, path, out);
}

fn check_steps(steps: &[Value], out: &mut Vec<Problem>) {
    let ids: Vec<Option<&str>> = steps.iter().map(|s| s.get("id").and_then(Value::as_str)).collect();
    let first_index = |id: &str| ids.iter().position(|x| *x == Some(id));
    for (i, step) in steps.iter().enumerate() {
        let path = child_index("steps", i);
        if let Some(id) = ids[i]
            && let Some(first) = first_index(id)
            && first < i
        {
            out.push(Problem::new(format!("{path}.id"), "unique", format!("duplicate step id `{id}`, already used by steps[{first}]")));
        }
        if let Some(Value::String(requirement)) = step.get("version")
            && let Err(e) = VersionReq::parse(requirement)
        {
            out.push(Problem::new(
                format!("{path}.version"),
                "version",
                format!("`{requirement}` is not a semver requirement (for example ^0.1 or >=1.2, <2): {e}"),
            ));
        }
        if let Some(when) = step.get("when") {
            check_group(when, &format!("{path}.when"), out);
        }
        if let Some(Value::String(target)) = step.get("on_failure").and_then(|f| f.get("goto")) {
            let goto_path = format!("{path}.on_failure.goto");
            match first_index(target) {
                None => out.push(Problem::new(goto_path, "goto", format!("there is no step `{target}`"))),
                Some(j) if j <= i => out.push(Problem::new(
                    goto_path,
                    "cycle",
                    format!("`{target}` (steps[{j}]) is not after this step; a run only moves forward"),
                )),
                Some(_) => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The plugin catalog

fn catalog_problems(doc: &WorkflowDocument, catalog: &dyn PluginCatalog) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (i, step) in doc.steps.iter().enumerate() {
        let path = child_index("steps", i);
        match catalog.check_step(&step.plugin, &step.version, &step.config) {
            Ok(()) => {}
            Err(CatalogProblem::UnknownPlugin) => {
                problems.push(Problem::new(format!("{path}.plugin"), "plugin", format!("no plugin `{}` is installed", step.plugin)))
            }
            Err(CatalogProblem::NoMatchingVersion { available }) => {
                let available: Vec<String> = available.iter().map(Version::to_string).collect();
                problems.push(Problem::new(
                    format!("{path}.version"),
                    "version",
                    format!(
                        "no installed version of `{}` matches `{}` (installed: {})",
                        step.plugin,
                        step.version,
                        if available.is_empty() { "none".to_owned() } else { available.join(", ") }
                    ),
                ));
            }
            Err(CatalogProblem::Config(errors)) if errors.is_empty() => {
                problems.push(Problem::new(format!("{path}.config"), "config", format!("the config is not valid for `{}`", step.plugin)))
            }
            Err(CatalogProblem::Config(errors)) => {
                for (inner, message) in errors {
                    problems.push(Problem::new(config_path(&format!("{path}.config"), &inner), "config", message));
                }
            }
        }
    }
    problems
}

/// Joins a path inside a config (dotted or a JSON pointer) to the config's path.
fn config_path(base: &str, inner: &str) -> String {
    if let Some(pointer) = inner.strip_prefix('/') {
        let mut path = base.to_owned();
        for token in pointer.split('/') {
            let token = token.replace("~1", "/").replace("~0", "~");
            path = match token.parse::<usize>() {
                Ok(i) => child_index(&path, i),
                Err(_) => child_key(&path, &token),
            };
        }
        path
    } else if inner.is_empty() {
        base.to_owned()
    } else if inner.starts_with('[') {
        format!("{base}{inner}")
    } else {
        format!("{base}.{inner}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(Format::from_path(Path::new("a/b.YML")), Some(Format::Yaml));
        assert_eq!(Format::from_path(Path::new("b.json")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("b.toml")), None);
        assert_eq!(Format::sniff("  \n{\"id\": 1}"), Format::Json);
        assert_eq!(Format::sniff("id: x"), Format::Yaml);
    }

    #[test]
    fn config_paths() {
        assert_eq!(config_path("steps[1].config", "/rules/0/group"), "steps[1].config.rules[0].group");
        assert_eq!(config_path("steps[1].config", "rules[0].group"), "steps[1].config.rules[0].group");
        assert_eq!(config_path("steps[1].config", ""), "steps[1].config");
    }

    #[test]
    fn display() {
        let problems = Problems(vec![
            Problem { path: "steps[0].id".into(), line: Some(4), rule: "unique".into(), message: "dup".into() },
            Problem::new("", "syntax", "bad"),
        ]);
        assert_eq!(problems.to_string(), "steps[0].id (line 4): dup\ndocument: bad");
    }
}
