//! Matching known errors to incidents: which of the problems published as
//! known errors applies to an incident, and why.
//!
//! A match is scored from what the two tickets share: an affected CI
//! (strongest), the service, words of the text, the category (weakest).
//! The category alone never proposes a known error: too many unrelated
//! incidents share one.

use std::collections::HashSet;

/// What an incident or a known error is matched on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchFacts<'a> {
    /// Affected CI ids.
    pub cis: &'a [i64],
    /// The service CI id.
    pub service: Option<i64>,
    /// Category.
    pub category: Option<&'a str>,
    /// Text to compare: title and description (and a known error's
    /// workaround).
    pub text: &'a str,
}

/// Why a known error was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// They share an affected CI.
    Ci,
    /// Same service.
    Service,
    /// Their texts share enough words.
    Text,
    /// Same category.
    Category,
}

impl Reason {
    /// The stable name: `ci`, `service`, `text`, `category`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Ci => "ci",
            Reason::Service => "service",
            Reason::Text => "text",
            Reason::Category => "category",
        }
    }

    fn weight(self) -> u32 {
        match self {
            Reason::Ci => 3,
            Reason::Service | Reason::Text => 2,
            Reason::Category => 1,
        }
    }
}

/// The lowest score that proposes a known error.
pub const THRESHOLD: u32 = 2;
/// Words two texts must share (at least) for a text match.
pub const SHARED_WORDS: usize = 2;

/// Words of a text that carry meaning: lowercase, 4 letters or more, not
/// a common word.
pub fn words(text: &str) -> HashSet<String> {
    const COMMON: &[&str] = &[
        "this", "that", "with", "from", "have", "does", "doesn", "when", "there", "they", "what", "since", "again", "after", "before",
        "still", "just", "cannot", "can't", "please", "help", "working", "work", "anymore", "today", "morning", "issue", "problem",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(str::to_lowercase)
        .filter(|w| !COMMON.contains(&w.as_str()))
        .collect()
}

/// The reasons a known error applies to an incident and their score;
/// `None` below [`THRESHOLD`].
pub fn score(incident: &MatchFacts<'_>, known: &MatchFacts<'_>) -> Option<(u32, Vec<Reason>)> {
    let mut reasons = Vec::new();
    if incident.cis.iter().any(|c| known.cis.contains(c)) {
        reasons.push(Reason::Ci);
    }
    if incident.service.is_some() && incident.service == known.service {
        reasons.push(Reason::Service);
    }
    let shared = words(incident.text).intersection(&words(known.text)).count();
    if shared >= SHARED_WORDS {
        reasons.push(Reason::Text);
    }
    if incident.category.is_some() && incident.category == known.category {
        reasons.push(Reason::Category);
    }
    let total: u32 = reasons.iter().map(|r| r.weight()).sum();
    (total >= THRESHOLD).then_some((total, reasons))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(cis: &'a [i64], service: Option<i64>, category: Option<&'a str>, text: &'a str) -> MatchFacts<'a> {
        MatchFacts { cis, service, category, text }
    }

    #[test]
    fn matches_are_scored_by_what_is_shared() {
        let known = facts(&[7], Some(3), Some("email"), "Mail relay rejects TLS connections; workaround: send through relay-b");
        let table: Vec<(MatchFacts<'_>, Option<Vec<Reason>>)> = vec![
            (facts(&[7, 9], None, None, "x"), Some(vec![Reason::Ci])),
            (facts(&[], Some(3), None, "x"), Some(vec![Reason::Service])),
            (facts(&[], None, None, "Outlook: relay rejects my connections"), Some(vec![Reason::Text])),
            (facts(&[], None, Some("email"), "printer jammed"), None),
            (facts(&[], None, Some("email"), "mail relay is slow"), Some(vec![Reason::Text, Reason::Category])),
            (facts(&[1], Some(4), Some("network"), "VPN drops every hour"), None),
        ];
        for (incident, want) in table {
            let got = score(&incident, &known).map(|(_, r)| r);
            assert_eq!(got, want, "{incident:?}");
        }
    }

    #[test]
    fn common_and_short_words_do_not_count() {
        assert!(words("it is not working this morning").is_empty());
        assert_eq!(words("VPN: Tunnel DROPS"), HashSet::from(["tunnel".to_owned(), "drops".to_owned()]));
    }
}
