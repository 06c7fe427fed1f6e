//! Links between tickets: which kinds may be linked how, and the label of
//! each link seen from either end.
//!
//! A link is stored once, from its *source* to its *target*, and shown on
//! both: an incident "caused by" PRB-000004 shows on the problem as
//! "causes INC-000012".

use crate::error::DomainError;
use crate::incident::named_enum;
use crate::kind::Kind;

named_enum! {
    /// What a link says, read from its source.
    LinkType {
        /// The source (an incident) is caused by the target (a problem or a
        /// change).
        CausedBy = "caused_by",
        /// The source (an incident or a problem) is resolved by the target
        /// (a change).
        ResolvedBy = "resolved_by",
        /// The source (a request, problem or change) was created from the
        /// target (an incident).
        CreatedFrom = "created_from",
        /// The source (an incident) is a child of the target (an incident,
        /// its parent: a major incident gathers its reports this way).
        Parent = "parent",
    }
}

/// Which end of a link a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The link was written from this ticket.
    Source,
    /// The link points at this ticket.
    Target,
}

impl End {
    /// The stable name: `source` or `target`.
    pub fn as_str(self) -> &'static str {
        match self {
            End::Source => "source",
            End::Target => "target",
        }
    }
}

impl LinkType {
    /// How the link reads from `end`: "caused by" / "causes", "parent" /
    /// "child".
    pub fn label(self, end: End) -> &'static str {
        match (self, end) {
            (LinkType::CausedBy, End::Source) => "caused by",
            (LinkType::CausedBy, End::Target) => "causes",
            (LinkType::ResolvedBy, End::Source) => "resolved by",
            (LinkType::ResolvedBy, End::Target) => "resolves",
            (LinkType::CreatedFrom, End::Source) => "created from",
            (LinkType::CreatedFrom, End::Target) => "led to",
            (LinkType::Parent, End::Source) => "child of",
            (LinkType::Parent, End::Target) => "parent of",
        }
    }

    /// The kinds a link of this type may join, source first.
    fn allowed(self) -> (&'static [Kind], &'static [Kind]) {
        match self {
            LinkType::CausedBy => (&[Kind::Incident], &[Kind::Problem, Kind::Change]),
            LinkType::ResolvedBy => (&[Kind::Incident, Kind::Problem], &[Kind::Change]),
            LinkType::CreatedFrom => (&[Kind::Request, Kind::Problem, Kind::Change], &[Kind::Incident]),
            LinkType::Parent => (&[Kind::Incident], &[Kind::Incident]),
        }
    }
}

fn names(kinds: &[Kind]) -> String {
    kinds.iter().map(|k| k.label()).collect::<Vec<_>>().join(" or ")
}

/// Checks that a link of `link` may go from a `source` ticket to a
/// `target` ticket (`same` when they are the same ticket).
pub fn check_link(link: LinkType, source: Kind, target: Kind, same: bool) -> Result<(), DomainError> {
    if same {
        return Err(DomainError::invalid("target", "self", "a ticket cannot be linked to itself"));
    }
    let (sources, targets) = link.allowed();
    if !sources.contains(&source) {
        return Err(DomainError::invalid(
            "type",
            "source_kind",
            format!("a `{link}` link goes from a {}, not from a {}", names(sources), source.label()),
        ));
    }
    if !targets.contains(&target) {
        return Err(DomainError::invalid(
            "target",
            "target_kind",
            format!("a `{link}` link goes to a {}, not to a {}", names(targets), target.label()),
        ));
    }
    Ok(())
}

/// Refuses a parent link that would close a loop: `ancestors` are the
/// target's parent, its parent's parent and so on (ids).
pub fn check_no_cycle(source: i64, ancestors: &[i64]) -> Result<(), DomainError> {
    if ancestors.contains(&source) {
        return Err(DomainError::invalid(
            "target",
            "circular",
            "the target is already a child (or grandchild) of this ticket: parent links cannot form a loop",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_per_link_type() {
        use Kind::*;
        use LinkType::*;
        let table = [
            (CausedBy, Incident, Problem, Ok(())),
            (CausedBy, Incident, Change, Ok(())),
            (CausedBy, Incident, Incident, Err("target_kind")),
            (CausedBy, Problem, Problem, Err("source_kind")),
            (ResolvedBy, Incident, Change, Ok(())),
            (ResolvedBy, Problem, Change, Ok(())),
            (ResolvedBy, Incident, Problem, Err("target_kind")),
            (CreatedFrom, Request, Incident, Ok(())),
            (CreatedFrom, Change, Incident, Ok(())),
            (CreatedFrom, Incident, Incident, Err("source_kind")),
            (Parent, Incident, Incident, Ok(())),
            (Parent, Request, Incident, Err("source_kind")),
        ];
        for (link, source, target, want) in table {
            let got = check_link(link, source, target, false).map_err(|e| e.violations()[0].rule.clone());
            assert_eq!(got, want.map_err(str::to_owned), "{link} {source} -> {target}");
        }
        assert_eq!(check_link(Parent, Incident, Incident, true).unwrap_err().violations()[0].rule, "self");
    }

    #[test]
    fn loops_are_refused() {
        assert!(check_no_cycle(1, &[2, 3]).is_ok());
        assert_eq!(check_no_cycle(1, &[2, 1]).unwrap_err().violations()[0].rule, "circular");
    }

    #[test]
    fn labels_read_from_both_ends() {
        assert_eq!(LinkType::CausedBy.label(End::Source), "caused by");
        assert_eq!(LinkType::CausedBy.label(End::Target), "causes");
        assert_eq!(LinkType::Parent.label(End::Target), "parent of");
    }
}
