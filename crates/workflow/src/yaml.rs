//! YAML to JSON, with the line of every key and list item.
//!
//! Scalars resolve with the YAML 1.2 core schema (so `on`, `yes` and `no`
//! stay strings); quoted scalars are always strings. Anchors and aliases
//! work; merge keys (`<<`) do not. The same reader runs over JSON text (JSON
//! is YAML) to find lines for problems in JSON documents.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where each path starts: `steps[2].config.strategy` -> line (1-based).
#[derive(Debug, Default, Clone)]
pub(crate) struct LineMap {
    lines: HashMap<String, usize>,
}

impl LineMap {
    /// The line of `path`, or of its closest ancestor that has one.
    pub(crate) fn line_of(&self, path: &str) -> Option<usize> {
        let mut path = path;
        loop {
            if let Some(line) = self.lines.get(path) {
                return Some(*line);
            }
            if path.is_empty() {
                return None;
            }
            path = parent_path(path);
        }
    }
}

/// `a.b[2]` -> `a.b` -> `a` -> ``.
pub(crate) fn parent_path(path: &str) -> &str {
    if path.ends_with(']')
        && let Some(i) = path.rfind('[')
    {
        return &path[..i];
    }
    match path.rfind('.') {
        Some(i) => &path[..i],
        None => "",
    }
}

/// Appends an object key to a path.
pub(crate) fn child_key(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// Appends an array index to a path.
pub(crate) fn child_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// A YAML syntax or structure error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    pub line: usize,
    pub message: String,
}

/// A duplicated mapping key, reported but not fatal (the last one wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DuplicateKey {
    pub path: String,
    pub line: usize,
}

/// The result of reading a YAML text.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub value: Value,
    pub lines: LineMap,
    pub duplicates: Vec<DuplicateKey>,
}

enum Frame {
    Seq { path: String, items: Vec<Value>, anchor: usize },
    Map { path: String, entries: Map<String, Value>, key: Option<String>, anchor: usize },
}

struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    anchors: HashMap<usize, Value>,
    lines: LineMap,
    duplicates: Vec<DuplicateKey>,
    error: Option<YamlError>,
    documents: usize,
}

impl Builder {
    /// The path of the node that starts now, recording its line; `None` when
    /// the node is a mapping key (handled by the caller).
    fn node_path(&mut self, mark: Marker) -> Option<String> {
        let path = match self.stack.last() {
            None => String::new(),
            Some(Frame::Seq { path, items, .. }) => child_index(path, items.len()),
            Some(Frame::Map { path, key: Some(key), .. }) => child_key(path, key),
            Some(Frame::Map { key: None, .. }) => return None,
        };
        self.lines.lines.entry(path.clone()).or_insert(mark.line());
        Some(path)
    }

    fn push_value(&mut self, value: Value, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { entries, key, .. }) => {
                if let Some(k) = key.take() {
                    entries.insert(k, value);
                }
            }
        }
    }

    fn fail(&mut self, mark: Marker, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError { line: mark.line(), message: message.into() });
        }
    }

    /// A scalar in key position: record the key.
    fn key(&mut self, text: String, mark: Marker) {
        let Some(Frame::Map { path, entries, key, .. }) = self.stack.last_mut() else { return };
        let full = child_key(path, &text);
        if entries.contains_key(&text) {
            self.duplicates.push(DuplicateKey { path: full.clone(), line: mark.line() });
        }
        self.lines.lines.insert(full, mark.line());
        *key = Some(text);
    }

    fn in_key_position(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        if let Event::DocumentStart = event {
            self.documents += 1;
            if self.documents > 1 {
                self.fail(mark, "a workflow is one YAML document; remove the second `---`");
            }
            return;
        }
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                if self.in_key_position() {
                    self.key(text, mark);
                    return;
                }
                self.node_path(mark);
                match scalar(text, style, tag.as_ref()) {
                    Ok(value) => self.push_value(value, anchor),
                    Err(message) => self.fail(mark, message),
                }
            }
            Event::Alias(anchor) => {
                let Some(value) = self.anchors.get(&anchor).cloned() else {
                    self.fail(mark, "unknown alias");
                    return;
                };
                if self.in_key_position() {
                    match value {
                        Value::String(s) => self.key(s, mark),
                        _ => self.fail(mark, "only string keys are supported"),
                    }
                    return;
                }
                self.node_path(mark);
                self.push_value(value, 0);
            }
            Event::SequenceStart(anchor, _) => match self.node_path(mark) {
                Some(path) => self.stack.push(Frame::Seq { path, items: Vec::new(), anchor }),
                None => self.fail(mark, "only string keys are supported"),
            },
            Event::MappingStart(anchor, _) => match self.node_path(mark) {
                Some(path) => self.stack.push(Frame::Map { path, entries: Map::new(), key: None, anchor }),
                None => self.fail(mark, "only string keys are supported"),
            },
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { items, anchor, .. }) => self.push_value(Value::Array(items), anchor),
                Some(Frame::Map { entries, anchor, .. }) => self.push_value(Value::Object(entries), anchor),
                None => self.fail(mark, "unbalanced collection"),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {}
        }
    }
}

fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag
        && tag.handle == "tag:yaml.org,2002:"
    {
        return match tag.suffix.as_str() {
            "str" => Ok(Value::String(text)),
            "null" => Ok(Value::Null),
            "bool" | "int" | "float" => match plain(&text) {
                v @ (Value::Bool(_) | Value::Number(_)) => Ok(v),
                _ => Err(format!("`{text}` is not a !!{}", tag.suffix)),
            },
            other => Err(format!("the tag !!{other} is not supported")),
        };
    }
    if style != TScalarStyle::Plain {
        return Ok(Value::String(text));
    }
    Ok(plain(&text))
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let radix = |prefix: &str, radix: u32| text.strip_prefix(prefix).and_then(|d| i64::from_str_radix(d, radix).ok());
    if let Some(n) = radix("0x", 16).or_else(|| radix("0o", 8)) {
        return Value::Number(n.into());
    }
    let bytes = text.as_bytes();
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.trim_start_matches('+').parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = text.trim_start_matches('+').parse::<u64>() {
            return Value::Number(n.into());
        }
    }
    let looks_float = bytes.iter().any(u8::is_ascii_digit)
        && bytes.iter().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && !text.starts_with(['e', 'E'])
        && !text.ends_with(['e', 'E', '-', '+']);
    if looks_float
        && let Ok(f) = text.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

/// Reads a YAML text holding one document.
pub(crate) fn load(text: &str) -> Result<Loaded, YamlError> {
    let mut builder = Builder {
        stack: Vec::new(),
        root: None,
        anchors: HashMap::new(),
        lines: LineMap::default(),
        duplicates: Vec::new(),
        error: None,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| YamlError { line: e.marker().line(), message: e.info().to_owned() })?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(Loaded { value: builder.root.unwrap_or(Value::Null), lines: builder.lines, duplicates: builder.duplicates })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_resolve_with_the_core_schema() {
        let loaded = load(
            "a: 1\nb: -2.5\nc: on\nd: 'true'\ne: true\nf: ~\ng: 0x1F\nh: 0 */15 * * * *\ni: ^0.1\nj: [1, x]\nk: 1e3\nl: .inf\nm: 007\n",
        )
        .unwrap();
        assert_eq!(
            loaded.value,
            json!({"a": 1, "b": -2.5, "c": "on", "d": "true", "e": true, "f": null, "g": 31,
                   "h": "0 */15 * * * *", "i": "^0.1", "j": [1, "x"], "k": 1000.0, "l": ".inf", "m": 7})
        );
    }

    #[test]
    fn lines_of_keys_and_items() {
        let text = "id: x\nsteps:\n  - id: a\n    config:\n      strategy: skills\n  - id: b\n";
        let loaded = load(text).unwrap();
        assert_eq!(loaded.lines.line_of("id"), Some(1));
        assert_eq!(loaded.lines.line_of("steps"), Some(2));
        assert_eq!(loaded.lines.line_of("steps[0]"), Some(3));
        assert_eq!(loaded.lines.line_of("steps[0].config.strategy"), Some(5));
        assert_eq!(loaded.lines.line_of("steps[1].id"), Some(6));
        assert_eq!(loaded.lines.line_of("steps[1].plugin"), Some(6));
    }

    #[test]
    fn json_text_gets_lines_too() {
        let text = "{\n  \"id\": \"x\",\n  \"steps\": [\n    {\"id\": \"a\"},\n    {\"id\": \"b\"}\n  ]\n}";
        let loaded = load(text).unwrap();
        assert_eq!(loaded.value, json!({"id": "x", "steps": [{"id": "a"}, {"id": "b"}]}));
        assert_eq!(loaded.lines.line_of("steps[1].id"), Some(5));
    }

    #[test]
    fn anchors_duplicates_and_errors() {
        let loaded = load("a: &x {k: 1}\nb: *x\na: 2\n").unwrap();
        assert_eq!(loaded.value, json!({"a": 2, "b": {"k": 1}}));
        assert_eq!(loaded.duplicates, vec![DuplicateKey { path: "a".into(), line: 3 }]);
        let err = load("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        let err = load("---\na: 1\n---\na: 2\n").unwrap_err();
        assert_eq!(err.line, 3, "{err:?}");
        assert_eq!(load("---\na: 1\n...\n").unwrap().value, json!({"a": 1}));
    }

    #[test]
    fn parents() {
        assert_eq!(parent_path("a.b[2]"), "a.b");
        assert_eq!(parent_path("a.b"), "a");
        assert_eq!(parent_path("a"), "");
    }
}
