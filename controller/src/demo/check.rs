//! The demo's delivery verdict: which hosts should have received a datagram, against which
//! did and how often.
//!
//! Guarantees: a verdict is exact only when every expected host received exactly one copy
//! and no other host received any; otherwise it names each missing host, each host that got
//! a copy it should not have, and each host that got more than one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::host::HostId;

/// Expected receivers against observed copies of one datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Who should receive the datagram (exactly once each).
    pub expected: BTreeSet<HostId>,
    /// Who received it, and how many copies.
    pub got: BTreeMap<HostId, usize>,
}

impl Verdict {
    /// Compares `got` with `expected`; hosts with zero copies in `got` count as absent.
    pub fn new(expected: BTreeSet<HostId>, got: BTreeMap<HostId, usize>) -> Verdict {
        let got = got.into_iter().filter(|(_, n)| *n > 0).collect();
        Verdict { expected, got }
    }

    /// Every expected host exactly once, nobody else.
    pub fn is_exact(&self) -> bool {
        self.missing().is_empty() && self.extra().is_empty() && self.duplicated().is_empty()
    }

    /// Expected hosts that received nothing.
    pub fn missing(&self) -> Vec<HostId> {
        self.expected
            .iter()
            .filter(|h| !self.got.contains_key(h))
            .copied()
            .collect()
    }

    /// Hosts that received a copy without being expected.
    pub fn extra(&self) -> Vec<HostId> {
        self.got
            .keys()
            .filter(|h| !self.expected.contains(h))
            .copied()
            .collect()
    }

    /// Hosts that received more than one copy, with the count.
    pub fn duplicated(&self) -> Vec<(HostId, usize)> {
        self.got
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(h, n)| (*h, *n))
            .collect()
    }

    /// The receivers as printed: `h2 h5 h7`, a count after a duplicate (`h2×2`), or
    /// `nobody`.
    pub fn receivers(&self) -> String {
        if self.got.is_empty() {
            return "nobody".to_owned();
        }
        let v: Vec<String> = self
            .got
            .iter()
            .map(|(h, n)| {
                if *n == 1 {
                    h.to_string()
                } else {
                    format!("{h}\u{d7}{n}")
                }
            })
            .collect();
        v.join(" ")
    }
}

/// `exact`, or what was wrong: `missing h5; extra h10; duplicated h2 (2 copies)`.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_exact() {
            return f.write_str("exact");
        }
        let list = |v: &[HostId]| {
            v.iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut parts = Vec::new();
        let missing = self.missing();
        if !missing.is_empty() {
            parts.push(format!("missing {}", list(&missing)));
        }
        let extra = self.extra();
        if !extra.is_empty() {
            parts.push(format!("extra {}", list(&extra)));
        }
        for (h, n) in self.duplicated() {
            parts.push(format!("duplicated {h} ({n} copies)"));
        }
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u8]) -> BTreeSet<HostId> {
        v.iter().map(|n| HostId(*n)).collect()
    }

    fn got(v: &[(u8, usize)]) -> BTreeMap<HostId, usize> {
        v.iter().map(|(h, n)| (HostId(*h), *n)).collect()
    }

    #[test]
    fn exact_only_when_each_expected_host_has_one_copy_and_nobody_else_any() {
        let v = Verdict::new(ids(&[2, 5, 7]), got(&[(2, 1), (5, 1), (7, 1)]));
        assert!(v.is_exact());
        assert_eq!(v.to_string(), "exact");
        assert_eq!(v.receivers(), "h2 h5 h7");

        let none = Verdict::new(ids(&[]), got(&[(3, 0)]));
        assert!(none.is_exact());
        assert_eq!(none.receivers(), "nobody");
    }

    #[test]
    fn every_kind_of_inexact_delivery_is_named() {
        let missing = Verdict::new(ids(&[2, 5, 7]), got(&[(2, 1), (7, 1)]));
        assert!(!missing.is_exact());
        assert_eq!(missing.to_string(), "missing h5");

        let extra = Verdict::new(ids(&[2]), got(&[(2, 1), (10, 1)]));
        assert!(!extra.is_exact());
        assert_eq!(extra.to_string(), "extra h10");

        let dup = Verdict::new(ids(&[2, 5]), got(&[(2, 2), (5, 1)]));
        assert!(!dup.is_exact());
        assert_eq!(dup.to_string(), "duplicated h2 (2 copies)");
        assert_eq!(dup.receivers(), "h2\u{d7}2 h5");

        let all = Verdict::new(ids(&[1, 2]), got(&[(2, 3), (12, 1)]));
        assert_eq!(
            all.to_string(),
            "missing h1; extra h12; duplicated h2 (3 copies)"
        );

        let leak = Verdict::new(ids(&[]), got(&[(4, 1)]));
        assert!(!leak.is_exact());
        assert_eq!(leak.to_string(), "extra h4");
    }
}
