//! Local claims from a held block (design, "Agents take a block of claims ahead of time, so
//! the per-transaction claim is a local operation"): [`BlockClaimer::claim`] computes the
//! address of a subset with `controller::rank` — `base + copy·C(n,k) + rank(S)` over the
//! block's member list — and takes one copy of it that nobody else in this process holds.
//!
//! Guarantees:
//! - Exclusive within the process: each address of the block is one bit of a bitmap, taken
//!   with one atomic `fetch_or` and given back with one `fetch_and` when the [`LocalClaim`] is
//!   dropped; no lock, so claims on any number of threads never hand out one address twice.
//!   (Across processes the controller guarantees it: a block's copies are its holder's.)
//! - Checked against the versioned member list: members outside the list, a wrong size or a
//!   duplicate are refused by name; once a newer membership version has been seen (events or
//!   renew answers, [`BlockClaimer::observe_members_version`]) every claim is refused with
//!   [`LocalClaimError::StaleMembers`] until the holder takes a new block.
//! - No claim is handed out after the block's lease ended ([`LocalClaimError::BlockEnded`]).
//! - No allocation on the claim path for subsets of up to [`INLINE_K`] members apart from
//!   the one inside `controller::rank::rank`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use controller::rank::{self, RankError};

use crate::error::LocalClaimError;

/// Subsets up to this size are indexed on the stack.
pub const INLINE_K: usize = 16;

/// The most addresses one block may have for local claims (one bit each: 8 MiB). A plan is
/// installed as one group per address per switch, so a real plan is far below this.
pub const MAX_BLOCK_ADDRESSES: u64 = 1 << 26;

/// What a block holds, as the controller granted it (`api::Block`), and the state of its
/// local claims.
#[derive(Debug)]
pub(crate) struct BlockState {
    id: String,
    group: String,
    base: IpAddr,
    k: usize,
    /// Ascending: index i is member i of the plan.
    members: Vec<IpAddr>,
    members_version: u64,
    /// The copies held, ascending; slot i of the bitmap is copy `copies[i]`.
    copies: Vec<u32>,
    /// C(n, k).
    count: u64,
    /// The newest membership version seen for the group (shared with the agent).
    latest: Arc<AtomicU64>,
    /// Bit `slot·count + rank` is set while that address is claimed.
    in_use: Box<[AtomicU64]>,
    ended: AtomicBool,
    end_reason: Mutex<String>,
}

impl BlockState {
    /// Marks the block as no longer held: every later claim is refused with `reason`.
    pub(crate) fn end(&self, reason: &str) {
        if let Ok(mut r) = self.end_reason.lock() {
            if r.is_empty() {
                reason.clone_into(&mut r);
            }
        }
        self.ended.store(true, Ordering::Release);
    }

    fn ended_error(&self) -> LocalClaimError {
        let reason = self
            .end_reason
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default();
        LocalClaimError::BlockEnded {
            block: self.id.clone(),
            reason,
        }
    }
}

/// Claims addresses of one held block, locally. Cheap to clone (shared state); `Send` and
/// `Sync`, so one claimer serves every thread.
#[derive(Clone, Debug)]
pub struct BlockClaimer {
    state: Arc<BlockState>,
}

impl BlockClaimer {
    /// A claimer of `block` on its own (its latest membership version is only what
    /// [`observe_members_version`](Self::observe_members_version) is told). An
    /// [`crate::Agent`]'s blocks come with a claimer that follows the agent's events.
    pub fn new(block: &api::Block) -> Result<Self, LocalClaimError> {
        let latest = Arc::new(AtomicU64::new(block.members_version));
        Self::with_latest(block, latest)
    }

    pub(crate) fn with_latest(
        block: &api::Block,
        latest: Arc<AtomicU64>,
    ) -> Result<Self, LocalClaimError> {
        let mut members = block.members.clone();
        members.sort_unstable();
        members.dedup();
        let n = members.len();
        let k = usize::try_from(block.k).unwrap_or(usize::MAX);
        let count = rank::subset_count(n, k)?;
        let mut copies = block.copies.clone();
        copies.sort_unstable();
        copies.dedup();
        let addresses = u128::from(count) * copies.len() as u128;
        if addresses > u128::from(MAX_BLOCK_ADDRESSES) {
            return Err(LocalClaimError::TooLarge {
                block: block.id.to_string(),
                addresses,
                max: MAX_BLOCK_ADDRESSES,
            });
        }
        // The last address must exist in the base's family.
        if let Some(last) = copies.last() {
            rank::address(block.base, n, k, *last, count - 1)?;
        }
        let words = usize::try_from(addresses.div_ceil(64)).unwrap_or(0);
        latest.fetch_max(block.members_version, Ordering::AcqRel);
        Ok(Self {
            state: Arc::new(BlockState {
                id: block.id.to_string(),
                group: block.group.to_string(),
                base: block.base,
                k,
                members,
                members_version: block.members_version,
                copies,
                count,
                latest,
                in_use: (0..words).map(|_| AtomicU64::new(0)).collect(),
                ended: AtomicBool::new(false),
                end_reason: Mutex::new(String::new()),
            }),
        })
    }

    pub(crate) fn state(&self) -> &Arc<BlockState> {
        &self.state
    }

    /// Claims an address that reaches exactly `members` (any order): the lowest copy of the
    /// subset that this process does not hold yet. The address is given back when the
    /// [`LocalClaim`] is dropped.
    pub fn claim(&self, members: &[IpAddr]) -> Result<LocalClaim, LocalClaimError> {
        let st = &*self.state;
        if st.ended.load(Ordering::Acquire) {
            return Err(st.ended_error());
        }
        let latest = st.latest.load(Ordering::Acquire);
        if latest > st.members_version {
            return Err(LocalClaimError::StaleMembers {
                group: st.group.clone(),
                block: st.members_version,
                latest,
            });
        }
        if members.len() != st.k {
            return Err(LocalClaimError::WrongSize {
                group: st.group.clone(),
                size: members.len(),
                k: st.k,
            });
        }
        let r = if st.k <= INLINE_K {
            let mut idx = [0usize; INLINE_K];
            self.indices(members, &mut idx[..st.k])?;
            self.rank_of(&idx[..st.k])?
        } else {
            let mut idx = vec![0usize; st.k];
            self.indices(members, &mut idx)?;
            self.rank_of(&idx)?
        };
        for (slot, copy) in st.copies.iter().enumerate() {
            // The bitmap's size was checked against copies·count when the block came.
            let bit = (slot as u64 * st.count + r) as usize;
            let mask = 1u64 << (bit % 64);
            let Some(word) = st.in_use.get(bit / 64) else {
                break;
            };
            if word.fetch_or(mask, Ordering::AcqRel) & mask == 0 {
                let address = match rank::address(st.base, st.members.len(), st.k, *copy, r) {
                    Ok(a) => a,
                    Err(e) => {
                        word.fetch_and(!mask, Ordering::Release);
                        return Err(e.into());
                    }
                };
                return Ok(LocalClaim {
                    state: Arc::clone(&self.state),
                    bit,
                    address,
                    copy: *copy,
                });
            }
        }
        let mut subset = members.to_vec();
        subset.sort_unstable();
        Err(LocalClaimError::Exhausted {
            block: st.id.clone(),
            members: subset,
            copies: st.copies.len(),
        })
    }

    /// Fills `out` with the member indices of `members`, or names those outside the list.
    fn indices(&self, members: &[IpAddr], out: &mut [usize]) -> Result<(), LocalClaimError> {
        let st = &*self.state;
        let mut outside = Vec::new();
        for (slot, ip) in out.iter_mut().zip(members) {
            match st.members.binary_search(ip) {
                Ok(i) => *slot = i,
                Err(_) => outside.push(*ip),
            }
        }
        if outside.is_empty() {
            Ok(())
        } else {
            Err(LocalClaimError::NotMembers {
                group: st.group.clone(),
                members: outside,
                members_version: st.members_version,
            })
        }
    }

    fn rank_of(&self, idx: &[usize]) -> Result<u64, LocalClaimError> {
        let st = &*self.state;
        rank::rank(st.members.len(), st.k, idx).map_err(|e| match e {
            RankError::Duplicate { index } => match st.members.get(index) {
                Some(member) => LocalClaimError::Duplicate { member: *member },
                None => LocalClaimError::Rank(e),
            },
            other => LocalClaimError::Rank(other),
        })
    }

    /// Records that the group's membership version `version` exists (from an event or an
    /// answer): once it is newer than the block's, claims are refused as stale.
    pub fn observe_members_version(&self, version: u64) {
        self.state.latest.fetch_max(version, Ordering::AcqRel);
    }

    /// Whether claims are refused as stale (a newer membership version was seen).
    pub fn is_stale(&self) -> bool {
        self.state.latest.load(Ordering::Acquire) > self.state.members_version
    }

    /// Whether the block's lease still holds (as far as this process knows).
    pub fn is_held(&self) -> bool {
        !self.state.ended.load(Ordering::Acquire)
    }

    /// The block's id.
    pub fn block_id(&self) -> &str {
        &self.state.id
    }

    /// The member list claims are checked against (ascending).
    pub fn members(&self) -> &[IpAddr] {
        &self.state.members
    }

    /// The membership version of the member list.
    pub fn members_version(&self) -> u64 {
        self.state.members_version
    }

    /// The plan's subset size.
    pub fn k(&self) -> usize {
        self.state.k
    }

    /// The copies held.
    pub fn copies(&self) -> &[u32] {
        &self.state.copies
    }

    /// How many addresses of the block are claimed now.
    pub fn in_use(&self) -> usize {
        self.state
            .in_use
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones() as usize)
            .sum()
    }

    /// How many addresses the block has (copies · C(n, k)).
    pub fn capacity(&self) -> u64 {
        self.state.count * self.state.copies.len() as u64
    }
}

/// One address of a held block, this process's until dropped.
#[derive(Debug)]
pub struct LocalClaim {
    state: Arc<BlockState>,
    bit: usize,
    address: IpAddr,
    copy: u32,
}

impl LocalClaim {
    /// The address to send to: it reaches exactly the subset claimed.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// Which copy of the subset it is.
    pub fn copy(&self) -> u32 {
        self.copy
    }

    /// The membership version the address was computed from.
    pub fn members_version(&self) -> u64 {
        self.state.members_version
    }

    /// Whether the address may still be used: the block is held and no newer membership
    /// version was seen.
    pub fn is_valid(&self) -> bool {
        !self.state.ended.load(Ordering::Acquire)
            && self.state.latest.load(Ordering::Acquire) <= self.state.members_version
    }
}

impl Drop for LocalClaim {
    fn drop(&mut self) {
        if let Some(word) = self.state.in_use.get(self.bit / 64) {
            word.fetch_and(!(1u64 << (self.bit % 64)), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{Block, BlockId, GroupName};

    pub(crate) fn block(n: u8, k: u32, copies: Vec<u32>) -> Block {
        Block {
            id: BlockId(7),
            group: "storage".parse::<GroupName>().unwrap(),
            base: "239.2.0.0".parse().unwrap(),
            k,
            members: (1..=n).map(|i| IpAddr::from([10, 0, 0, i])).collect(),
            members_version: 3,
            plan_version: 1,
            copies,
            expires_at: 0,
            owner: None,
        }
    }

    fn ip(i: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, i])
    }

    #[test]
    fn addresses_are_the_rank_formula_and_come_back_on_drop() {
        let c = BlockClaimer::new(&block(8, 3, vec![0, 1])).unwrap();
        // {10.0.0.1, .2, .3} is rank 0: copy 0 at base, copy 1 at base + C(8,3) = 56.
        let a = c.claim(&[ip(3), ip(1), ip(2)]).unwrap();
        assert_eq!(a.address(), "239.2.0.0".parse::<IpAddr>().unwrap());
        let b = c.claim(&[ip(1), ip(2), ip(3)]).unwrap();
        assert_eq!(b.address(), "239.2.0.56".parse::<IpAddr>().unwrap());
        assert_eq!(b.copy(), 1);
        let e = c.claim(&[ip(1), ip(2), ip(3)]).unwrap_err();
        assert!(
            matches!(e, LocalClaimError::Exhausted { copies: 2, .. }),
            "{e}"
        );
        assert_eq!(c.in_use(), 2);
        drop(a);
        assert_eq!(c.claim(&[ip(1), ip(2), ip(3)]).unwrap().copy(), 0);
        // {6,7,8} = indices {5,6,7} is rank 55.
        let last = c.claim(&[ip(8), ip(7), ip(6)]).unwrap();
        assert_eq!(last.address(), "239.2.0.55".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_block_with_copy_three_only_uses_copy_three() {
        let c = BlockClaimer::new(&block(4, 2, vec![3])).unwrap();
        // C(4,2) = 6; {1,2} has rank 0: base + 3·6.
        let a = c.claim(&[ip(1), ip(2)]).unwrap();
        assert_eq!(a.address(), "239.2.0.18".parse::<IpAddr>().unwrap());
        assert_eq!(c.capacity(), 6);
    }

    #[test]
    fn bad_subsets_are_named_and_take_nothing() {
        let c = BlockClaimer::new(&block(8, 3, vec![0])).unwrap();
        let e = c.claim(&[ip(1), ip(2), ip(9)]).unwrap_err();
        assert_eq!(
            e,
            LocalClaimError::NotMembers {
                group: "storage".into(),
                members: vec![ip(9)],
                members_version: 3
            }
        );
        assert!(matches!(
            c.claim(&[ip(1), ip(2)]),
            Err(LocalClaimError::WrongSize { size: 2, k: 3, .. })
        ));
        assert_eq!(
            c.claim(&[ip(1), ip(2), ip(2)]).unwrap_err(),
            LocalClaimError::Duplicate { member: ip(2) }
        );
        assert_eq!(c.in_use(), 0);
    }

    #[test]
    fn a_newer_membership_version_makes_claims_stale() {
        let c = BlockClaimer::new(&block(8, 3, vec![0])).unwrap();
        let held = c.claim(&[ip(1), ip(2), ip(3)]).unwrap();
        c.observe_members_version(3);
        assert!(c.claim(&[ip(1), ip(2), ip(4)]).is_ok());
        c.observe_members_version(4);
        assert!(!held.is_valid());
        assert_eq!(
            c.claim(&[ip(1), ip(2), ip(5)]).unwrap_err(),
            LocalClaimError::StaleMembers {
                group: "storage".into(),
                block: 3,
                latest: 4
            }
        );
        // An older version seen later does not undo it.
        c.observe_members_version(2);
        assert!(c.is_stale());
    }

    #[test]
    fn an_ended_block_refuses() {
        let c = BlockClaimer::new(&block(8, 3, vec![0])).unwrap();
        c.state().end("released");
        let e = c.claim(&[ip(1), ip(2), ip(3)]).unwrap_err();
        assert!(
            matches!(&e, LocalClaimError::BlockEnded { reason, .. } if reason == "released"),
            "{e}"
        );
    }

    #[test]
    fn blocks_too_large_or_past_the_address_space_are_refused() {
        let mut b = block(60, 10, vec![0]);
        assert!(matches!(
            BlockClaimer::new(&b),
            Err(LocalClaimError::TooLarge { .. })
        ));
        b = block(8, 3, vec![0, 1]);
        b.base = "255.255.255.200".parse().unwrap();
        assert!(matches!(
            BlockClaimer::new(&b),
            Err(LocalClaimError::Rank(RankError::AddressOverflow { .. }))
        ));
    }
}
