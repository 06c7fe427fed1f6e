//! The impact x urgency priority matrix.

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, Violations};
use crate::incident::{Level, Priority};

/// Maps impact x urgency to a priority. Rows are impact 1..3, columns are
/// urgency 1..3. The shipped default is the ITIL matrix:
///
/// | impact \ urgency | 1  | 2  | 3  |
/// |------------------|----|----|----|
/// | 1 high           | P1 | P2 | P3 |
/// | 2 medium         | P2 | P3 | P4 |
/// | 3 low            | P3 | P4 | P5 |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityMatrix {
    /// `cells[impact - 1][urgency - 1]`.
    pub cells: [[Priority; 3]; 3],
}

impl Default for PriorityMatrix {
    fn default() -> Self {
        use Priority as P;
        Self { cells: [[P::P1, P::P2, P::P3], [P::P2, P::P3, P::P4], [P::P3, P::P4, P::P5]] }
    }
}

impl PriorityMatrix {
    /// Builds a matrix after checking it is monotonic: a higher impact or a
    /// higher urgency never yields a lower priority. A matrix that breaks
    /// this would rank a worse outage below a milder one, which is always a
    /// configuration mistake.
    pub fn new(cells: [[Priority; 3]; 3]) -> Result<Self, DomainError> {
        let matrix = Self { cells };
        matrix.validate()?;
        Ok(matrix)
    }

    /// Checks monotonicity, naming the offending cell.
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut v = Violations::default();
        for i in 0..3 {
            for u in 0..3 {
                let here = self.cells[i][u];
                if u + 1 < 3 && self.cells[i][u + 1] < here {
                    v.push(
                        format!("cells[{i}][{}]", u + 1),
                        "monotonic",
                        format!("a lower urgency must not give a higher priority than {here}"),
                    );
                }
                if i + 1 < 3 && self.cells[i + 1][u] < here {
                    v.push(
                        format!("cells[{}][{u}]", i + 1),
                        "monotonic",
                        format!("a lower impact must not give a higher priority than {here}"),
                    );
                }
            }
        }
        v.finish()
    }

    /// The priority of an impact and urgency.
    pub fn priority(&self, impact: Level, urgency: Level) -> Priority {
        self.cells[impact.index()][urgency.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn itil_default_table() {
        let m = PriorityMatrix::default();
        let expected = [(1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 1, 2), (2, 2, 3), (2, 3, 4), (3, 1, 3), (3, 2, 4), (3, 3, 5)];
        for (impact, urgency, p) in expected {
            let got = m.priority(Level::new(impact).unwrap(), Level::new(urgency).unwrap());
            assert_eq!(got.get(), p, "impact {impact} urgency {urgency}");
        }
        m.validate().unwrap();
    }

    #[test]
    fn non_monotonic_matrix_is_rejected_with_the_cell_named() {
        let mut cells = PriorityMatrix::default().cells;
        cells[2][2] = Priority::P1;
        let err = PriorityMatrix::new(cells).unwrap_err();
        let fields: Vec<_> = err.violations().iter().map(|v| v.field.as_str()).collect();
        assert!(fields.contains(&"cells[2][2]"), "{fields:?}");
    }

    #[test]
    fn matrix_documents_reject_unknown_keys_and_bad_priorities() {
        assert!(serde_json::from_str::<PriorityMatrix>(r#"{"cells":[["P1","P2","P3"],["P2","P3","P4"],["P3","P4","P5"]],"x":1}"#).is_err());
        assert!(serde_json::from_str::<PriorityMatrix>(r#"{"cells":[["P0","P2","P3"],["P2","P3","P4"],["P3","P4","P5"]]}"#).is_err());
        assert!(serde_json::from_str::<PriorityMatrix>(r#"{"cells":[["P1","P2"],["P2","P3","P4"],["P3","P4","P5"]]}"#).is_err());
    }

    fn any_matrix() -> impl Strategy<Value = [[Priority; 3]; 3]> {
        let p = proptest::sample::select(Priority::ALL.to_vec());
        proptest::array::uniform3(proptest::array::uniform3(p))
    }

    proptest! {
        /// Every accepted matrix is monotonic in both impact and urgency, and
        /// every rejected one has a cell that breaks it.
        #[test]
        fn accepted_matrices_are_monotonic(cells in any_matrix()) {
            match PriorityMatrix::new(cells) {
                Ok(m) => {
                    for a in Level::ALL { for b in Level::ALL { for u in Level::ALL {
                        if a <= b {
                            prop_assert!(m.priority(a, u) <= m.priority(b, u));
                            prop_assert!(m.priority(u, a) <= m.priority(u, b));
                        }
                    }}}
                }
                Err(e) => prop_assert!(e.violations().iter().all(|v| v.rule == "monotonic")),
            }
        }

        /// The default matrix: priority is at least as urgent as impact and
        /// urgency alone suggest, and P1 only for high/high.
        #[test]
        fn default_matrix_is_sum_based(i in 1u8..=3, u in 1u8..=3) {
            let p = PriorityMatrix::default().priority(Level::new(i).unwrap(), Level::new(u).unwrap());
            prop_assert_eq!(p.get(), i + u - 1);
        }
    }
}
