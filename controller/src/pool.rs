//! The transactional address pool: the ranges subset addresses are drawn from (one IPv4 and
//! one IPv6 range), and which addresses are in use.
//!
//! Guarantees: allocation is deterministic (the lowest free address of the range first); an
//! address is handed out at most once until released; addresses outside the ranges are never
//! handed out. Ranges hold multicast addresses of one family only (checked by
//! [`AddrRange::new`]).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An inclusive range of multicast addresses of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AddrRange {
    first: IpAddr,
    last: IpAddr,
}

/// Why a range is not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    #[error("range {first} - {last} mixes IPv4 and IPv6")]
    MixedFamilies { first: IpAddr, last: IpAddr },
    #[error("range {first} - {last} is empty (first after last)")]
    Empty { first: IpAddr, last: IpAddr },
    #[error("range {first} - {last} holds non-multicast addresses")]
    NotMulticast { first: IpAddr, last: IpAddr },
}

fn num(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u128::from(u32::from(v)),
        IpAddr::V6(v) => u128::from(v),
    }
}

fn addr_of(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

impl AddrRange {
    /// `first..=last`: the same family, `first <= last`, both ends multicast (so, multicast
    /// blocks being contiguous, everything between is too).
    pub fn new(first: IpAddr, last: IpAddr) -> Result<AddrRange, RangeError> {
        if first.is_ipv4() != last.is_ipv4() {
            return Err(RangeError::MixedFamilies { first, last });
        }
        if num(first) > num(last) {
            return Err(RangeError::Empty { first, last });
        }
        if !first.is_multicast() || !last.is_multicast() {
            return Err(RangeError::NotMulticast { first, last });
        }
        Ok(AddrRange { first, last })
    }

    pub fn first(&self) -> IpAddr {
        self.first
    }

    pub fn last(&self) -> IpAddr {
        self.last
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        a.is_ipv4() == self.first.is_ipv4() && num(a) >= num(self.first) && num(a) <= num(self.last)
    }

    /// Number of addresses.
    pub fn len(&self) -> u128 {
        num(self.last) - num(self.first) + 1
    }

    /// Never true (a range holds at least one address); for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The pool: an optional range per family and the addresses in use.
///
/// Allocation goes round the range (the next free address after the last one handed out), so
/// a freed address comes back only after the rest of the range: a switch may still hold a
/// cached datapath flow for a just-removed subset for a few milliseconds after the barrier
/// (NOTES: OVS revalidation), and an immediate reuse could meet it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrPool {
    v4: Option<AddrRange>,
    v6: Option<AddrRange>,
    used: BTreeSet<IpAddr>,
    /// Per family, where the next search starts.
    next_v4: u128,
    next_v6: u128,
}

impl AddrPool {
    pub fn new(v4: Option<AddrRange>, v6: Option<AddrRange>) -> AddrPool {
        AddrPool {
            v4,
            v6,
            used: BTreeSet::new(),
            next_v4: 0,
            next_v6: 0,
        }
    }

    fn cursor(&mut self, v6: bool) -> &mut u128 {
        if v6 {
            &mut self.next_v6
        } else {
            &mut self.next_v4
        }
    }

    /// The lowest free number in `lo..=hi`, if any.
    fn first_free(&self, v6: bool, lo: u128, hi: u128) -> Option<u128> {
        if lo > hi {
            return None;
        }
        let mut cand = lo;
        for u in self.used.range(addr_of(v6, lo)..=addr_of(v6, hi)) {
            let n = num(*u);
            if n == cand {
                if cand == hi {
                    return None;
                }
                cand += 1;
            } else if n > cand {
                break;
            }
        }
        Some(cand)
    }

    /// The range for addresses of the family of `like`.
    pub fn range_for(&self, like: IpAddr) -> Option<AddrRange> {
        if like.is_ipv4() {
            self.v4
        } else {
            self.v6
        }
    }

    /// Whether `a` lies in one of the ranges.
    pub fn contains(&self, a: IpAddr) -> bool {
        self.range_for(a).is_some_and(|r| r.contains(a))
    }

    pub fn is_used(&self, a: IpAddr) -> bool {
        self.used.contains(&a)
    }

    /// The next free address of the family of `like` after the last one handed out (going
    /// round the range), now in use; `None` when the family has no range or the range is
    /// exhausted.
    pub fn alloc(&mut self, like: IpAddr) -> Option<IpAddr> {
        let r = self.range_for(like)?;
        let v6 = r.first.is_ipv6();
        let (first, last) = (num(r.first), num(r.last));
        let start = (*self.cursor(v6)).clamp(first, last);
        let n = self
            .first_free(v6, start, last)
            .or_else(|| self.first_free(v6, first, start.checked_sub(1)?))?;
        let a = addr_of(v6, n);
        self.used.insert(a);
        *self.cursor(v6) = if n == last { first } else { n + 1 };
        Some(a)
    }

    /// Marks `a` as in use (restoring a snapshot). False when it is outside the ranges or
    /// already in use.
    pub fn reserve(&mut self, a: IpAddr) -> bool {
        if !(self.contains(a) && self.used.insert(a)) {
            return false;
        }
        // Restored addresses were handed out before: continue after the highest of them.
        let cur = self.cursor(a.is_ipv6());
        *cur = (*cur).max(num(a) + 1);
        true
    }

    /// Gives `a` back.
    pub fn release(&mut self, a: IpAddr) {
        self.used.remove(&a);
    }

    /// Addresses in use, in order.
    pub fn used(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.used.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn round_robin_and_exhaustion() {
        let r = AddrRange::new(ip("239.1.0.254"), ip("239.1.1.1")).unwrap();
        assert_eq!(r.len(), 4);
        let mut p = AddrPool::new(Some(r), None);
        assert_eq!(p.alloc(ip("239.0.0.1")), Some(ip("239.1.0.254")));
        assert_eq!(p.alloc(ip("239.0.0.1")), Some(ip("239.1.0.255")));
        assert_eq!(p.alloc(ip("239.0.0.1")), Some(ip("239.1.1.0")));
        p.release(ip("239.1.0.255"));
        // A freed address comes back only after the rest of the range.
        assert_eq!(p.alloc(ip("239.0.0.1")), Some(ip("239.1.1.1")));
        assert_eq!(p.alloc(ip("239.0.0.1")), Some(ip("239.1.0.255")));
        assert_eq!(p.alloc(ip("239.0.0.1")), None, "exhausted");
        p.release(ip("239.1.0.254"));
        p.release(ip("239.1.1.1"));
        assert_eq!(
            p.alloc(ip("239.0.0.1")),
            Some(ip("239.1.1.1")),
            "after the last handed out"
        );
        assert_eq!(p.alloc(ip("239.0.0.1")), Some(ip("239.1.0.254")), "wraps");
        assert_eq!(p.alloc(ip("ff3e::1")), None, "no IPv6 range");
        assert!(!p.reserve(ip("239.1.1.1")), "in use");
        let mut q = AddrPool::new(Some(r), None);
        assert!(q.reserve(ip("239.1.1.0")));
        assert_eq!(
            q.alloc(ip("239.0.0.1")),
            Some(ip("239.1.1.1")),
            "continues after restored"
        );
        assert!(!p.reserve(ip("239.2.0.0")), "outside");
    }

    #[test]
    fn ranges_are_checked() {
        assert!(matches!(
            AddrRange::new(ip("239.0.0.1"), ip("ff3e::1")),
            Err(RangeError::MixedFamilies { .. })
        ));
        assert!(matches!(
            AddrRange::new(ip("239.0.0.2"), ip("239.0.0.1")),
            Err(RangeError::Empty { .. })
        ));
        assert!(matches!(
            AddrRange::new(ip("10.0.0.1"), ip("239.0.0.1")),
            Err(RangeError::NotMulticast { .. })
        ));
        let r = AddrRange::new(ip("ff18::8000:0"), ip("ff18::8000:ffff")).unwrap();
        let mut p = AddrPool::new(None, Some(r));
        assert_eq!(p.alloc(ip("ff3e::1")), Some(ip("ff18::8000:0")));
        assert!(p.contains(ip("ff18::8000:12")));
        assert!(!p.contains(ip("239.0.0.1")));
    }
}
