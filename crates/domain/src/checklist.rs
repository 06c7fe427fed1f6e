//! Checklists of processing steps and the templates that carry them.
//!
//! A template (an admin document) prefills a new ticket's fields and gives
//! it a checklist. Items marked required must be done before the ticket
//! can be resolved: [`first_required_open`] is what the lifecycle asks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DomainError, Violations};
use crate::incident::{LABEL_MAX, Level, TEXT_MAX, TITLE_MAX, check_label, check_text};
use crate::kind::Kind;

/// Longest checklist item text, in characters.
pub const ITEM_MAX: usize = 200;
/// Most items on one checklist.
pub const ITEMS_MAX: usize = 50;
/// Most templates in the document.
pub const TEMPLATES_MAX: usize = 200;

/// One processing step on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    /// What to do.
    pub text: String,
    /// Whether the ticket cannot be resolved before it is done.
    #[serde(default)]
    pub required: bool,
    /// Whether it is done.
    #[serde(default)]
    pub done: bool,
    /// Who ticked it (username).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_by: Option<String>,
    /// When it was ticked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<DateTime<Utc>>,
}

/// The first required item not yet done, if any.
pub fn first_required_open(items: &[ChecklistItem]) -> Option<&ChecklistItem> {
    items.iter().find(|i| i.required && !i.done)
}

/// Ticks (or unticks) item `index` (0-based) as `who` at `now`; answers
/// the item as it was before.
pub fn set_done(
    items: &mut [ChecklistItem],
    index: usize,
    done: bool,
    who: &str,
    now: DateTime<Utc>,
) -> Result<ChecklistItem, DomainError> {
    let count = items.len();
    let item = items.get_mut(index).ok_or_else(|| {
        DomainError::invalid("item", "range", format!("the checklist has {count} items; item {} does not exist", index + 1))
    })?;
    let before = item.clone();
    item.done = done;
    item.done_by = done.then(|| who.to_owned());
    item.done_at = done.then_some(now);
    Ok(before)
}

/// A template step as an admin writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateItem {
    /// What to do.
    pub text: String,
    /// Whether resolving waits for it.
    #[serde(default)]
    pub required: bool,
}

/// A registration template: prefilled fields and a checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Unique name, used to pick it (`template` when logging a ticket).
    pub name: String,
    /// Kind of ticket it creates (default: incident).
    #[serde(default)]
    pub kind: Kind,
    /// Title, unless the caller gives one.
    #[serde(default)]
    pub title: Option<String>,
    /// Description, unless the caller gives one.
    #[serde(default)]
    pub description: Option<String>,
    /// Category.
    #[serde(default)]
    pub category: Option<String>,
    /// Subcategory.
    #[serde(default)]
    pub subcategory: Option<String>,
    /// Impact.
    #[serde(default)]
    pub impact: Option<Level>,
    /// Urgency.
    #[serde(default)]
    pub urgency: Option<Level>,
    /// Assignment group name.
    #[serde(default)]
    pub assignment_group: Option<String>,
    /// The processing steps.
    #[serde(default)]
    pub checklist: Vec<TemplateItem>,
}

impl Template {
    /// The checklist a ticket created from it starts with.
    pub fn checklist(&self) -> Vec<ChecklistItem> {
        self.checklist
            .iter()
            .map(|i| ChecklistItem { text: i.text.clone(), required: i.required, done: false, done_by: None, done_at: None })
            .collect()
    }
}

/// The templates document: `{"templates": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDocument {
    /// Every template.
    #[serde(default)]
    pub templates: Vec<Template>,
}

impl TemplateDocument {
    /// Parses and checks the document; violations name JSON pointers.
    pub fn parse(value: &Value) -> Result<Self, DomainError> {
        let doc: TemplateDocument = serde_json::from_value(value.clone())
            .map_err(|e| DomainError::invalid("/templates", "format", format!("not a templates document: {e}")))?;
        let mut v = Violations::default();
        v.check(doc.templates.len() > TEMPLATES_MAX, "/templates", "max_items", || format!("at most {TEMPLATES_MAX} templates"));
        for (i, t) in doc.templates.iter().enumerate() {
            let at = format!("/templates/{i}");
            check_text(&mut v, &format!("{at}/name"), &t.name, LABEL_MAX, true);
            if doc.templates[..i].iter().any(|o| o.name == t.name) {
                v.push(format!("{at}/name"), "unique", format!("another template is named `{}`", t.name));
            }
            if let Some(title) = &t.title {
                check_text(&mut v, &format!("{at}/title"), title, TITLE_MAX, true);
            }
            if let Some(d) = &t.description {
                check_text(&mut v, &format!("{at}/description"), d, TEXT_MAX, false);
            }
            check_label(&mut v, &format!("{at}/category"), t.category.as_deref());
            check_label(&mut v, &format!("{at}/subcategory"), t.subcategory.as_deref());
            check_items(&mut v, &format!("{at}/checklist"), t.checklist.iter().map(|i| i.text.as_str()));
        }
        v.finish()?;
        Ok(doc)
    }

    /// The template named `name`.
    pub fn get(&self, name: &str) -> Result<&Template, DomainError> {
        self.templates
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| DomainError::invalid("template", "exists", format!("there is no template named `{name}`")))
    }
}

/// Checks checklist texts (`field` is where they are).
pub fn check_items<'a>(v: &mut Violations, field: &str, texts: impl ExactSizeIterator<Item = &'a str>) {
    let n = texts.len();
    v.check(n > ITEMS_MAX, field, "max_items", || format!("{n} items; the limit is {ITEMS_MAX}"));
    for (i, text) in texts.enumerate() {
        check_text(v, &format!("{field}/{i}/text"), text, ITEM_MAX, true);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn item(text: &str, required: bool, done: bool) -> ChecklistItem {
        ChecklistItem { text: text.into(), required, done, done_by: None, done_at: None }
    }

    #[test]
    fn the_first_open_required_item_gates() {
        let items = vec![item("a", false, false), item("b", true, true), item("c", true, false)];
        assert_eq!(first_required_open(&items).unwrap().text, "c");
        assert!(first_required_open(&items[..2]).is_none());
        assert!(first_required_open(&[]).is_none());
    }

    #[test]
    fn ticking_records_who_and_when() {
        let now = Utc.with_ymd_and_hms(2026, 12, 8, 9, 0, 0).unwrap();
        let mut items = vec![item("a", true, false)];
        let before = set_done(&mut items, 0, true, "alice", now).unwrap();
        assert!(!before.done);
        assert_eq!((items[0].done, items[0].done_by.as_deref(), items[0].done_at), (true, Some("alice"), Some(now)));
        set_done(&mut items, 0, false, "bob", now).unwrap();
        assert_eq!((items[0].done, items[0].done_by.as_deref()), (false, None));
        let e = set_done(&mut items, 3, true, "bob", now).unwrap_err();
        assert_eq!(e.violations()[0].field, "item");
    }

    #[test]
    fn templates_are_checked() {
        let ok = json!({"templates": [{"name": "new starter", "kind": "request", "title": "New starter",
            "checklist": [{"text": "create account", "required": true}, {"text": "order laptop"}]}]});
        let doc = TemplateDocument::parse(&ok).unwrap();
        let t = doc.get("new starter").unwrap();
        assert_eq!(t.kind, Kind::Request);
        assert_eq!(t.checklist().len(), 2);
        assert!(t.checklist()[0].required && !t.checklist()[1].required);
        assert_eq!(doc.get("nope").unwrap_err().violations()[0].field, "template");

        for (bad, field) in [
            (json!({"templates": [{"name": "a"}, {"name": "a"}]}), "/templates/1/name"),
            (json!({"templates": [{"name": "a", "checklist": [{"text": ""}]}]}), "/templates/0/checklist/0/text"),
            (json!({"templates": [{"name": ""}]}), "/templates/0/name"),
            (json!({"templates": [{"name": "a", "colour": "red"}]}), "/templates"),
        ] {
            let e = TemplateDocument::parse(&bad).unwrap_err();
            assert_eq!(e.violations()[0].field, field, "{bad}");
        }
    }
}
