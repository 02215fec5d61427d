//! Local claims from a held block, without a controller: many threads claiming random
//! subsets never hold the same address at once, every address is the rendezvous formula
//! (`controller::rank::subset_address`) for the subset claimed, and a copy comes back for
//! reuse as soon as its claim is dropped.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use api::{Block, BlockId, GroupName};
use proptest::prelude::*;
use tsm_agent::{BlockClaimer, LocalClaimError};

fn block(n: u8, k: u32, copies: Vec<u32>) -> Block {
    Block {
        id: BlockId(1),
        group: "storage".parse::<GroupName>().unwrap(),
        base: "239.2.0.0".parse().unwrap(),
        k,
        // Not in order on purpose: the claimer sorts them as the plan does.
        members: (1..=n).rev().map(|i| IpAddr::from([10, 0, 0, i])).collect(),
        members_version: 1,
        plan_version: 1,
        copies,
        expires_at: 0,
        owner: None,
    }
}

/// A small xorshift per thread: the threads' choices differ and repeat by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn subset(&mut self, members: &[IpAddr], k: usize) -> Vec<IpAddr> {
        let mut pool = members.to_vec();
        let mut out = Vec::with_capacity(k);
        for _ in 0..k {
            let i = (self.next() % pool.len() as u64) as usize;
            out.push(pool.swap_remove(i));
        }
        out
    }
}

/// Threads claim, hold a few, drop some, claim again; a shared map of live addresses (taken
/// under a lock *after* the claim returned, removed *before* the drop) must never see an
/// address twice.
fn hammer(n: u8, k: u32, copies: Vec<u32>, threads: usize, rounds: usize, seed: u64) {
    let b = block(n, k, copies.clone());
    let claimer = BlockClaimer::new(&b).unwrap();
    let mut members = b.members.clone();
    members.sort();
    let live: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::new(Mutex::new(HashMap::new()));
    std::thread::scope(|s| {
        for t in 0..threads {
            let claimer = claimer.clone();
            let live = Arc::clone(&live);
            let members = members.clone();
            let copies = copies.clone();
            s.spawn(move || {
                let mut rng = Rng(seed.wrapping_mul(2 * t as u64 + 1) | 1);
                let mut held = Vec::new();
                for _ in 0..rounds {
                    let subset = rng.subset(&members, k as usize);
                    match claimer.claim(&subset) {
                        Ok(c) => {
                            // The address is the formula's for one of the block's copies.
                            let expected = controller::rank::subset_address(
                                "239.2.0.0".parse().unwrap(),
                                &members,
                                &subset,
                                c.copy(),
                            )
                            .unwrap();
                            assert_eq!(c.address(), expected);
                            assert!(copies.contains(&c.copy()));
                            let before = live.lock().unwrap().insert(c.address(), t);
                            assert_eq!(before, None, "{} handed out twice", c.address());
                            held.push(c);
                        }
                        Err(LocalClaimError::Exhausted { .. }) => {}
                        Err(e) => panic!("unexpected refusal: {e}"),
                    }
                    // Drop about half of what is held, oldest first.
                    if !held.is_empty() && (held.len() > 4 || rng.next().is_multiple_of(2)) {
                        let c = held.remove(0);
                        live.lock().unwrap().remove(&c.address());
                        drop(c);
                    }
                }
                for c in held {
                    live.lock().unwrap().remove(&c.address());
                }
            });
        }
    });
    assert_eq!(
        claimer.in_use(),
        0,
        "every dropped claim gave its address back"
    );
}

#[test]
fn eight_threads_on_a_small_plan_never_share_an_address() {
    // C(5,2) = 10 subsets × 2 copies: heavy contention on every address.
    hammer(5, 2, vec![0, 3], 8, 20_000, 0x9e37_79b9);
}

#[test]
fn exhausting_every_copy_then_dropping_one_frees_exactly_that_one() {
    let claimer = BlockClaimer::new(&block(4, 2, vec![1, 2, 5])).unwrap();
    let s: Vec<IpAddr> = vec![IpAddr::from([10, 0, 0, 4]), IpAddr::from([10, 0, 0, 1])];
    let held: Vec<_> = (0..3).map(|_| claimer.claim(&s).unwrap()).collect();
    let copies: Vec<u32> = held.iter().map(|c| c.copy()).collect();
    assert_eq!(copies, [1, 2, 5]);
    assert!(matches!(
        claimer.claim(&s),
        Err(LocalClaimError::Exhausted { copies: 3, .. })
    ));
    // Other subsets are unaffected.
    assert!(claimer
        .claim(&[IpAddr::from([10, 0, 0, 2]), IpAddr::from([10, 0, 0, 3])])
        .is_ok());
    let mut held = held;
    let middle = held.remove(1);
    let freed = middle.address();
    drop(middle);
    assert_eq!(claimer.claim(&s).unwrap().address(), freed);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_plans_never_share_an_address(
        n in 2u8..9,
        kseed in 0u32..8,
        copies in proptest::collection::btree_set(0u32..6, 1..4),
        threads in 2usize..6,
        seed in any::<u64>(),
    ) {
        let k = 1 + kseed % u32::from(n);
        hammer(n, k, copies.into_iter().collect(), threads, 2_000, seed | 1);
    }
}
