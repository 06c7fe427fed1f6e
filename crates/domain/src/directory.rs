//! Users, roles and assignment groups.

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, Violations};
use crate::incident::{check_text, named_enum};

named_enum! {
    /// What a user may do. Roles are ordered: an admin is also an agent.
    Role {
        /// Reports incidents and sees only their own.
        Requester = "requester",
        /// Works all incidents.
        Agent = "agent",
        /// Configures Switchyard.
        Admin = "admin",
    }
}

impl Role {
    /// Whether this role includes agent rights.
    pub fn is_agent(self) -> bool {
        matches!(self, Role::Agent | Role::Admin)
    }
}

/// A person (or integration account) known to Switchyard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Unique login name, `[a-z0-9._-]`.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// Where notifications go.
    pub email: Option<String>,
    /// What the user may do.
    pub role: Role,
    /// Inactive users cannot log in or be assigned.
    pub active: bool,
    /// Whether the agent is on shift now (assignment respects it).
    pub on_shift: bool,
    /// Skills used by skills-based assignment.
    pub skills: Vec<String>,
}

/// An assignment group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Primary key.
    pub id: i64,
    /// Unique name, `[a-z0-9._-]`, used in workflows and plugins.
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// Group mailbox.
    pub email: Option<String>,
    /// The group manager's user id (escalation target).
    pub manager_id: Option<i64>,
}

/// Checks a username or group name: 1..=64 of `[a-z0-9._-]`, starting with
/// a letter or digit.
pub fn check_handle(v: &mut Violations, field: &str, value: &str) {
    let ok_chars = value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    let ok_start = value.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    v.check(value.is_empty() || value.len() > 64, field, "length", || "must be 1 to 64 characters".into());
    let well_formed = value.is_empty() || (ok_chars && ok_start);
    v.check(!well_formed, field, "pattern", || {
        format!("`{value}` must use only a-z, 0-9, '.', '_' and '-', starting with a letter or digit")
    });
}

/// Checks an email address loosely: one `@` with text on both sides and a
/// dot in the domain. Delivery is the real test.
pub fn check_email(v: &mut Violations, field: &str, value: Option<&str>) {
    if let Some(value) = value {
        let ok = value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.contains(char::is_whitespace)
        });
        v.check(!ok || value.len() > 254, field, "email", || format!("`{value}` is not an email address"));
    }
}

/// Checks the editable fields of a user.
pub fn validate_user(username: &str, display_name: &str, email: Option<&str>, skills: &[String]) -> Result<(), DomainError> {
    let mut v = Violations::default();
    check_handle(&mut v, "username", username);
    check_text(&mut v, "display_name", display_name, 200, true);
    check_email(&mut v, "email", email);
    for (i, skill) in skills.iter().enumerate() {
        check_handle(&mut v, &format!("skills[{i}]"), skill);
    }
    v.finish()
}

/// Checks the editable fields of a group.
pub fn validate_group(name: &str, display_name: &str, email: Option<&str>) -> Result<(), DomainError> {
    let mut v = Violations::default();
    check_handle(&mut v, "name", name);
    check_text(&mut v, "display_name", display_name, 200, true);
    check_email(&mut v, "email", email);
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        for good in ["alice", "service-desk", "l2.network_ops", "a1"] {
            assert!(validate_group(good, "x", None).is_ok(), "{good}");
        }
        for bad in ["", "Alice", "-x", "a b", "ü", &"x".repeat(65)] {
            assert!(validate_group(bad, "x", None).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(validate_user("a", "A", Some("a@example.com"), &[]).is_ok());
        for bad in ["a", "@x.com", "a@x", "a@.com", "a b@x.com"] {
            let err = validate_user("a", "A", Some(bad), &[]).unwrap_err();
            assert_eq!(err.violations()[0].field, "email", "{bad}");
        }
    }

    #[test]
    fn roles_nest() {
        assert!(Role::Admin.is_agent() && Role::Agent.is_agent() && !Role::Requester.is_agent());
    }
}
