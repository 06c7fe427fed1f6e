//! Notification templates: a subject, a text part and an HTML part, in
//! minijinja. The HTML part is autoescaped; the subject and text parts are
//! plain text. Templates see the ticket's fields as `ticket.*`, the
//! notification's own subject and body as `subject` and `body`, and links
//! as `links.portal` and `links.console`.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

/// A stored template document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDocument {
    /// The name notifications refer to it by (`acknowledgement`).
    pub name: String,
    /// The subject line (the ticket number is prefixed when it is missing).
    pub subject: String,
    /// The plain text part.
    pub text: String,
    /// The HTML part (autoescaped).
    pub html: String,
}

/// What a template failed on: the part, the line, the column and the
/// engine's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part}: line {line}, column {column}: {message}")]
pub struct TemplateError {
    /// `subject`, `text` or `html`.
    pub part: &'static str,
    /// The line (1-based; 0 when the engine did not say).
    pub line: usize,
    /// The column in that line (1-based, in characters; 0 when the engine
    /// did not say where).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A rendered notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject.
    pub subject: String,
    /// Text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    env
}

fn error(part: &'static str, source: &str, e: &minijinja::Error) -> TemplateError {
    let line = e.line().unwrap_or(0);
    // The engine gives the byte range of the offending token; its column
    // is counted from the start of its line.
    let column = e.range().map_or(0, |r| {
        let start = r.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        source[line_start..start].chars().count() + 1
    });
    TemplateError { part, line, column, message: e.detail().map_or_else(|| e.kind().to_string(), str::to_owned) }
}

impl TemplateDocument {
    /// Checks that every part compiles; the first error names its part and line.
    pub fn check(&self) -> Result<(), TemplateError> {
        let mut env = environment();
        for (part, name, source) in self.parts() {
            env.add_template_owned(name, source.to_owned()).map_err(|e| error(part, source, &e))?;
        }
        Ok(())
    }

    fn parts(&self) -> [(&'static str, &'static str, &str); 3] {
        [("subject", "subject.txt", &self.subject), ("text", "text.txt", &self.text), ("html", "body.html", &self.html)]
    }

    /// Renders the three parts with `context`.
    pub fn render(&self, context: &serde_json::Value) -> Result<Rendered, TemplateError> {
        let mut env = environment();
        for (part, name, source) in self.parts() {
            env.add_template_owned(name, source.to_owned()).map_err(|e| error(part, source, &e))?;
        }
        let sources = self.parts();
        let render = |part: &'static str, name: &str| {
            let source = sources.iter().find(|(p, _, _)| *p == part).map_or("", |(_, _, s)| s);
            env.get_template(name).and_then(|t| t.render(context)).map_err(|e| error(part, source, &e))
        };
        Ok(Rendered {
            subject: render("subject", "subject.txt")?.lines().next().unwrap_or("").trim().to_owned(),
            text: render("text", "text.txt")?,
            html: render("html", "body.html")?,
        })
    }
}

/// The template every notification uses unless it names another: the
/// workflow's own subject and body, with the ticket and links around them.
pub fn default_template() -> TemplateDocument {
    TemplateDocument {
        name: "default".into(),
        subject: "{{ subject }}".into(),
        text: "{{ body }}\n\n{{ ticket.number }}: {{ ticket.title }}\nStatus: {{ ticket.status }} · Priority: {{ ticket.priority }}\n\nFollow it: {{ links.portal }}\n".into(),
        html: "<p>{{ body }}</p>\n<p><strong>{{ ticket.number }}</strong>: {{ ticket.title }}<br>Status: {{ ticket.status }} · Priority: {{ ticket.priority }}</p>\n<p><a href=\"{{ links.portal }}\">Follow it in the portal</a></p>\n".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let t = default_template();
        let ctx = json!({"subject": "Hi <you>", "body": "a < b & c", "ticket": {"number": "INC-000001", "title": "<script>x</script>", "status": "new", "priority": "P3"}, "links": {"portal": "http://x/portal/incidents/INC-000001"}});
        let r = t.render(&ctx).unwrap();
        assert_eq!(r.subject, "Hi <you>");
        assert!(r.text.contains("a < b & c") && r.text.contains("<script>x</script>"));
        assert!(r.html.contains("a &lt; b &amp; c") && r.html.contains("&lt;script&gt;"));
    }

    #[test]
    fn a_broken_template_names_its_part_and_line() {
        let mut t = default_template();
        t.html = "<p>ok</p>\n<p>{{ body </p>\n".into();
        let e = t.check().unwrap_err();
        assert_eq!((e.part, e.line, e.column), ("html", 2, 13), "{e}");
        assert!(e.to_string().starts_with("html: line 2, column 13: "), "{e}");
        t.html = "{% if x %}never closed".into();
        assert_eq!(t.check().unwrap_err().part, "html");
    }
}
