//! The comparisons of an encrypted column with a clear constant: the planner parses them from
//! a fused query's WHERE clause and shuyu-crypto evaluates them under encryption.

/// A comparison of a value with a constant, `value <op> c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Comparison {
    /// `value = c`
    Eq,
    /// `value <> c`
    Ne,
    /// `value < c`
    Lt,
    /// `value <= c`
    Le,
    /// `value > c`
    Gt,
    /// `value >= c`
    Ge,
}

impl Comparison {
    /// The same comparison with its operands swapped: `c <op> value` is `value <flipped> c`.
    pub fn flipped(self) -> Comparison {
        match self {
            Comparison::Lt => Comparison::Gt,
            Comparison::Le => Comparison::Ge,
            Comparison::Gt => Comparison::Lt,
            Comparison::Ge => Comparison::Le,
            symmetric => symmetric,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Comparison;

    /// Whether `value <op> constant` holds, in the clear.
    fn holds(c: Comparison, value: u32, constant: u32) -> bool {
        match c {
            Comparison::Eq => value == constant,
            Comparison::Ne => value != constant,
            Comparison::Lt => value < constant,
            Comparison::Le => value <= constant,
            Comparison::Gt => value > constant,
            Comparison::Ge => value >= constant,
        }
    }

    const ALL: [Comparison; 6] = [Comparison::Eq, Comparison::Ne, Comparison::Lt, Comparison::Le, Comparison::Gt, Comparison::Ge];

    #[test]
    fn a_flipped_comparison_with_swapped_operands_says_the_same() {
        for c in ALL {
            for (a, b) in [(1, 2), (2, 2), (3, 2)] {
                assert_eq!(holds(c, a, b), holds(c.flipped(), b, a), "{c:?} on ({a}, {b})");
            }
            assert_eq!(c.flipped().flipped(), c);
        }
    }
}
