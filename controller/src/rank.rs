//! Rendezvous addressing (design, "Rendezvous groups"): every k-subset of a negotiating
//! group's n members has a rank in the combinatorial number system, and copy `c` of subset
//! `S` has the address `base + c·C(n,k) + rank(S)`. The controller and `tsm-agent` both use
//! this module, so an agent computes a subset's address locally from the (versioned) member
//! list without asking.
//!
//! Member indices are positions in the group's member list in ascending IP order (the order
//! `GET /v1/groups/{name}` returns). The rank of indices `c_1 < c_2 < … < c_k` is
//! `Σ C(c_i, i)` (colex order), a bijection onto `0..C(n,k)`.
//!
//! Guarantees: no panics and no overflow (every arithmetic step is checked and fails with a
//! [`RankError`]); [`unrank`] is the inverse of [`rank`]; addresses never leave the address
//! family of `base` and never wrap around.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a rank or an address cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RankError {
    #[error("subset size k = {k} is not in 1..={n} (the group has {n} members)")]
    BadK { n: usize, k: usize },
    #[error("the subset has {got} members, the plan's k is {k}")]
    WrongSize { got: usize, k: usize },
    #[error("member index {index} is out of range for a group of {n}")]
    IndexOutOfRange { index: usize, n: usize },
    #[error("member index {index} appears twice")]
    Duplicate { index: usize },
    #[error("C({n},{k}) does not fit in 64 bits")]
    TooMany { n: usize, k: usize },
    #[error("rank {rank} is not below C({n},{k}) = {count}")]
    RankOutOfRange {
        rank: u64,
        n: usize,
        k: usize,
        count: u64,
    },
    #[error("{what} {got} is not a member of the group")]
    NotAMember { what: &'static str, got: IpAddr },
    #[error("address offset {offset} from {base} leaves the address space")]
    AddressOverflow { base: IpAddr, offset: u128 },
}

/// `C(n, k)`, or `None` when it does not fit in a `u64`.
pub fn binomial(n: usize, k: usize) -> Option<u64> {
    if k > n {
        return Some(0);
    }
    let k = k.min(n - k);
    let mut acc: u128 = 1;
    for i in 0..k {
        // acc·(n−i)/(i+1) stays an integer: it is C(n, i+1)·(i+1)!/(i+1)! at each step.
        acc = acc.checked_mul((n - i) as u128)? / (i as u128 + 1);
        if acc > u64::MAX as u128 {
            return None;
        }
    }
    u64::try_from(acc).ok()
}

/// The number of k-subsets of `n` members, checked: `1 ≤ k ≤ n` and it fits in 64 bits.
pub fn subset_count(n: usize, k: usize) -> Result<u64, RankError> {
    if k == 0 || k > n {
        return Err(RankError::BadK { n, k });
    }
    binomial(n, k).ok_or(RankError::TooMany { n, k })
}

/// The rank of a k-subset given by member indices (any order) of a group of `n`.
pub fn rank(n: usize, k: usize, indices: &[usize]) -> Result<u64, RankError> {
    subset_count(n, k)?;
    if indices.len() != k {
        return Err(RankError::WrongSize {
            got: indices.len(),
            k,
        });
    }
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    let mut r: u64 = 0;
    for (i, pair) in sorted.iter().enumerate() {
        if *pair >= n {
            return Err(RankError::IndexOutOfRange { index: *pair, n });
        }
        if i > 0 && sorted[i - 1] == *pair {
            return Err(RankError::Duplicate { index: *pair });
        }
        // C(c_i, i) ≤ C(n, k) − 1 fits, since the total is below C(n, k).
        let term = binomial(*pair, i + 1).ok_or(RankError::TooMany { n, k })?;
        r = r.checked_add(term).ok_or(RankError::TooMany { n, k })?;
    }
    Ok(r)
}

/// The member indices (ascending) of the k-subset with rank `r`: the inverse of [`rank`].
pub fn unrank(n: usize, k: usize, r: u64) -> Result<Vec<usize>, RankError> {
    let count = subset_count(n, k)?;
    if r >= count {
        return Err(RankError::RankOutOfRange {
            rank: r,
            n,
            k,
            count,
        });
    }
    let mut out = vec![0usize; k];
    let mut rest = r;
    let mut hi = n;
    // Greedy from the largest index: c_i is the largest c with C(c, i) ≤ rest.
    for i in (1..=k).rev() {
        let mut c = hi;
        loop {
            c -= 1;
            let b = binomial(c, i).ok_or(RankError::TooMany { n, k })?;
            if b <= rest {
                rest -= b;
                break;
            }
        }
        out[i - 1] = c;
        hi = c;
    }
    Ok(out)
}

/// The indices of `subset` in `members` (ascending IP order, as the group keeps them).
pub fn indices_of(members: &[IpAddr], subset: &[IpAddr]) -> Result<Vec<usize>, RankError> {
    subset
        .iter()
        .map(|ip| {
            members
                .binary_search(ip)
                .map_err(|_| RankError::NotAMember {
                    what: "subset member",
                    got: *ip,
                })
        })
        .collect()
}

/// `base + offset` in `base`'s family, refusing to wrap.
pub fn offset_addr(base: IpAddr, offset: u128) -> Result<IpAddr, RankError> {
    let over = RankError::AddressOverflow { base, offset };
    match base {
        IpAddr::V4(b) => {
            let v = u128::from(u32::from(b))
                .checked_add(offset)
                .filter(|v| *v <= u128::from(u32::MAX))
                .ok_or(over)?;
            let v = u32::try_from(v).map_err(|_| RankError::AddressOverflow { base, offset })?;
            Ok(IpAddr::V4(Ipv4Addr::from(v)))
        }
        IpAddr::V6(b) => {
            let v = u128::from(b).checked_add(offset).ok_or(over)?;
            Ok(IpAddr::V6(Ipv6Addr::from(v)))
        }
    }
}

/// The address of copy `copy` of the subset with rank `r`: `base + copy·C(n,k) + r`.
pub fn address(base: IpAddr, n: usize, k: usize, copy: u32, r: u64) -> Result<IpAddr, RankError> {
    let count = subset_count(n, k)?;
    if r >= count {
        return Err(RankError::RankOutOfRange {
            rank: r,
            n,
            k,
            count,
        });
    }
    let offset = u128::from(copy) * u128::from(count) + u128::from(r);
    offset_addr(base, offset)
}

/// The address of copy `copy` of `subset` of a group whose members (ascending) are `members`.
pub fn subset_address(
    base: IpAddr,
    members: &[IpAddr],
    subset: &[IpAddr],
    copy: u32,
) -> Result<IpAddr, RankError> {
    let idx = indices_of(members, subset)?;
    let r = rank(members.len(), subset.len(), &idx)?;
    address(base, members.len(), subset.len(), copy, r)
}

/// The inverse of [`address`]: which (copy, rank) `addr` is in a plan, if any.
pub fn locate(base: IpAddr, n: usize, k: usize, copies: u32, addr: IpAddr) -> Option<(u32, u64)> {
    let count = subset_count(n, k).ok()?;
    let off = match (base, addr) {
        (IpAddr::V4(b), IpAddr::V4(a)) => u128::from(u32::from(a).checked_sub(u32::from(b))?),
        (IpAddr::V6(b), IpAddr::V6(a)) => u128::from(a).checked_sub(u128::from(b))?,
        _ => return None,
    };
    let copy = off / u128::from(count);
    let r = off % u128::from(count);
    if copy >= u128::from(copies) {
        return None;
    }
    Some((u32::try_from(copy).ok()?, u64::try_from(r).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranks_cover_zero_to_count_once() {
        // Every 3-subset of 8 (the plan) gets a distinct rank in 0..56.
        let mut seen = [false; 56];
        for a in 0..8 {
            for b in a + 1..8 {
                for c in b + 1..8 {
                    let r = rank(8, 3, &[c, a, b]).unwrap() as usize;
                    assert!(!seen[r], "rank {r} twice");
                    seen[r] = true;
                    assert_eq!(unrank(8, 3, r as u64).unwrap(), vec![a, b, c]);
                }
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn colex_examples_by_hand() {
        // {0,1,2} is first, {0,1,3} = C(3,3) = 1, {5,6,7} = C(5,1)+C(6,2)+C(7,3) = 55.
        assert_eq!(rank(8, 3, &[0, 1, 2]).unwrap(), 0);
        assert_eq!(rank(8, 3, &[0, 1, 3]).unwrap(), 1);
        assert_eq!(rank(8, 3, &[5, 6, 7]).unwrap(), 55);
    }

    #[test]
    fn addresses_by_copy_and_rank() {
        let base: IpAddr = "239.2.0.0".parse().unwrap();
        // copy 1 of rank 0 of C(8,3)=56 is base + 56.
        assert_eq!(
            address(base, 8, 3, 1, 0).unwrap(),
            "239.2.0.56".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            locate(base, 8, 3, 2, "239.2.0.57".parse().unwrap()),
            Some((1, 1))
        );
        assert_eq!(locate(base, 8, 3, 2, "239.2.0.112".parse().unwrap()), None);
        let top: IpAddr = "255.255.255.250".parse().unwrap();
        assert!(matches!(
            address(top, 8, 3, 0, 10),
            Err(RankError::AddressOverflow { .. })
        ));
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(rank(4, 5, &[0]), Err(RankError::BadK { n: 4, k: 5 }));
        assert_eq!(rank(4, 0, &[]), Err(RankError::BadK { n: 4, k: 0 }));
        assert_eq!(rank(4, 2, &[1, 1]), Err(RankError::Duplicate { index: 1 }));
        assert_eq!(
            rank(4, 2, &[1, 4]),
            Err(RankError::IndexOutOfRange { index: 4, n: 4 })
        );
        assert_eq!(rank(4, 2, &[1]), Err(RankError::WrongSize { got: 1, k: 2 }));
        assert!(matches!(
            unrank(4, 2, 6),
            Err(RankError::RankOutOfRange { .. })
        ));
        assert_eq!(binomial(200, 100), None);
        let members: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        assert!(matches!(
            subset_address(
                "239.2.0.0".parse().unwrap(),
                &members,
                &["10.0.0.9".parse().unwrap()],
                0
            ),
            Err(RankError::NotAMember { .. })
        ));
    }

    proptest! {
        #[test]
        fn unrank_inverts_rank(n in 1usize..40, kseed in 0usize..40, rseed in any::<u64>()) {
            let k = 1 + kseed % n;
            let count = subset_count(n, k).unwrap();
            let r = rseed % count;
            let idx = unrank(n, k, r).unwrap();
            prop_assert!(idx.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(rank(n, k, &idx).unwrap(), r);
        }

        #[test]
        fn v6_addresses_locate_back(copy in 0u32..1000, rseed in any::<u64>()) {
            let base: IpAddr = "ff15::1:0".parse().unwrap();
            let r = rseed % 120;
            let a = address(base, 10, 3, copy, r).unwrap();
            prop_assert_eq!(locate(base, 10, 3, 1000, a), Some((copy, r)));
        }
    }
}
