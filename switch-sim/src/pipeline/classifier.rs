//! One flow table's classifier: entries grouped into subtables by mask (Open vSwitch's
//! "tuple space search"), each subtable a hash map from the masked key to its entries.
//!
//! A lookup probes the subtables in order of their highest priority and stops as soon as the
//! best entry found so far has a priority no lower than the next subtable's highest: the result
//! is exactly the highest-priority matching entry (OF1.3.5 §5.3). With one priority per mask,
//! as a controller's rules usually have, that is one hash probe per mask.

use std::collections::{BTreeMap, HashMap};

use super::flow_match::Compiled;
use super::flows::FlowEntry;
use super::hash::{finish, mix, BuildPassThrough};
use crate::packet::{FlowKey, KEY_WORDS};

/// Mask words kept inline with each entry of a bucket, so that a probe of a mask touching at
/// most this many words never reads the flow entry itself.
const INLINE: usize = 4;

#[derive(Clone, Copy, Debug)]
struct Slot {
    prio: u16,
    id: u32,
    /// The entry's value on the subtable's first `INLINE` words.
    vals: [u64; INLINE],
}

/// The entries whose masked values hash alike: usually one, kept inline in the hash table.
#[derive(Clone, Debug)]
enum Bucket {
    One(Slot),
    Many(Vec<Slot>),
}

impl Bucket {
    fn slots(&self) -> &[Slot] {
        match self {
            Bucket::One(s) => std::slice::from_ref(s),
            Bucket::Many(v) => v,
        }
    }
}

#[derive(Debug)]
struct Subtable {
    mask: FlowKey,
    /// The words the mask touches.
    words: Vec<usize>,
    /// Masked-key hash → entries, highest priority first (then oldest).
    buckets: HashMap<u64, Bucket, BuildPassThrough>,
    /// Priority → number of entries.
    prios: BTreeMap<u16, u32>,
    max_prio: u16,
    /// Creation order, to keep the probe order stable among equal priorities.
    ordinal: u64,
}

impl Subtable {
    fn new(mask: FlowKey, ordinal: u64) -> Subtable {
        let words = (0..KEY_WORDS).filter(|i| mask.w[*i] != 0).collect();
        Subtable {
            mask,
            words,
            buckets: HashMap::default(),
            prios: BTreeMap::new(),
            max_prio: 0,
            ordinal,
        }
    }

    #[inline]
    fn hash(&self, k: &FlowKey) -> u64 {
        let mut h = 0;
        for &i in &self.words {
            h = mix(h, k.w[i] & self.mask.w[i]);
        }
        finish(h)
    }

    fn inline_vals(&self, value: &FlowKey) -> [u64; INLINE] {
        let mut v = [0; INLINE];
        for (slot, &i) in v.iter_mut().zip(&self.words) {
            *slot = value.w[i];
        }
        v
    }

    /// Whether the entry in `slot` matches `k` (reading the entry only for wide masks).
    #[inline]
    fn slot_matches(&self, k: &FlowKey, slot: &Slot, flows: &[Option<FlowEntry>]) -> bool {
        if self.words.len() <= INLINE {
            self.words
                .iter()
                .zip(&slot.vals)
                .all(|(&i, v)| k.w[i] & self.mask.w[i] == *v)
        } else {
            entry(flows, slot.id).is_some_and(|e| {
                self.words
                    .iter()
                    .all(|&i| k.w[i] & self.mask.w[i] == e.m.value.w[i])
            })
        }
    }
}

/// A flow table's index and counters.
#[derive(Debug, Default)]
pub(crate) struct Table {
    subtables: Vec<Subtable>,
    next_ordinal: u64,
    /// Entries in the table.
    pub count: usize,
    /// `lookup_count` of TABLE stats.
    pub lookups: u64,
    /// `matched_count` of TABLE stats.
    pub matched: u64,
}

fn entry(flows: &[Option<FlowEntry>], id: u32) -> Option<&FlowEntry> {
    flows.get(id as usize).and_then(Option::as_ref)
}

impl Table {
    fn resort(&mut self) {
        self.subtables
            .sort_by(|a, b| b.max_prio.cmp(&a.max_prio).then(a.ordinal.cmp(&b.ordinal)));
    }

    /// Adds an entry (the caller made sure no identical one exists). `seq` orders entries of
    /// equal priority: older first.
    pub fn insert(&mut self, id: u32, prio: u16, m: &Compiled, flows: &[Option<FlowEntry>]) {
        let pos = match self.subtables.iter().position(|s| s.mask == m.mask) {
            Some(p) => p,
            None => {
                self.subtables
                    .push(Subtable::new(m.mask, self.next_ordinal));
                self.next_ordinal += 1;
                self.subtables.len() - 1
            }
        };
        let st = &mut self.subtables[pos];
        let h = st.hash(&m.value);
        let slot = Slot {
            prio,
            id,
            vals: st.inline_vals(&m.value),
        };
        let seq_of = |id: u32| entry(flows, id).map_or(u64::MAX, |e| e.seq);
        let my_seq = seq_of(id);
        match st.buckets.remove(&h) {
            None => {
                st.buckets.insert(h, Bucket::One(slot));
            }
            Some(b) => {
                let mut v = b.slots().to_vec();
                let at = v
                    .iter()
                    .position(|o| o.prio < prio || (o.prio == prio && seq_of(o.id) > my_seq))
                    .unwrap_or(v.len());
                v.insert(at, slot);
                st.buckets.insert(h, Bucket::Many(v));
            }
        }
        *st.prios.entry(prio).or_default() += 1;
        let before = st.max_prio;
        st.max_prio = st.prios.keys().next_back().copied().unwrap_or(0);
        self.count += 1;
        if st.prios.len() == 1 || st.max_prio != before {
            self.resort();
        }
    }

    /// Removes an entry.
    pub fn remove(&mut self, id: u32, prio: u16, m: &Compiled) {
        let Some(pos) = self.subtables.iter().position(|s| s.mask == m.mask) else {
            return;
        };
        let st = &mut self.subtables[pos];
        let h = st.hash(&m.value);
        let Some(bucket) = st.buckets.remove(&h) else {
            return;
        };
        let mut v = bucket.slots().to_vec();
        let Some(at) = v.iter().position(|s| s.id == id) else {
            st.buckets.insert(h, bucket);
            return;
        };
        v.remove(at);
        match v.as_slice() {
            [] => {}
            [one] => {
                st.buckets.insert(h, Bucket::One(*one));
            }
            _ => {
                st.buckets.insert(h, Bucket::Many(v));
            }
        }
        if let Some(n) = st.prios.get_mut(&prio) {
            *n -= 1;
            if *n == 0 {
                st.prios.remove(&prio);
            }
        }
        self.count = self.count.saturating_sub(1);
        if st.prios.is_empty() {
            self.subtables.remove(pos);
        } else {
            let before = st.max_prio;
            st.max_prio = st.prios.keys().next_back().copied().unwrap_or(0);
            if st.max_prio != before {
                self.resort();
            }
        }
    }

    /// The highest-priority entry matching `k`.
    #[inline]
    pub fn lookup(&self, k: &FlowKey, flows: &[Option<FlowEntry>]) -> Option<u32> {
        let mut best: Option<(u16, u32)> = None;
        for st in &self.subtables {
            if let Some((bp, _)) = best {
                if bp >= st.max_prio {
                    break;
                }
            }
            let Some(bucket) = st.buckets.get(&st.hash(k)) else {
                continue;
            };
            for slot in bucket.slots() {
                if best.is_some_and(|(bp, _)| bp >= slot.prio) {
                    break;
                }
                if st.slot_matches(k, slot, flows) {
                    best = Some((slot.prio, slot.id));
                    break;
                }
            }
        }
        best.map(|(_, id)| id)
    }

    /// The entry with exactly this match and priority (OF1.3.5 §6.4 "identical").
    pub fn find_exact(&self, prio: u16, m: &Compiled, flows: &[Option<FlowEntry>]) -> Option<u32> {
        let st = self.subtables.iter().find(|s| s.mask == m.mask)?;
        let bucket = st.buckets.get(&st.hash(&m.value))?;
        bucket
            .slots()
            .iter()
            .find(|s| s.prio == prio && entry(flows, s.id).is_some_and(|e| e.m.value == m.value))
            .map(|s| s.id)
    }

    /// Ids of the entries of priority `prio` whose match overlaps `m`.
    pub fn overlapping(&self, prio: u16, m: &Compiled, flows: &[Option<FlowEntry>]) -> bool {
        self.subtables
            .iter()
            .filter(|s| s.prios.contains_key(&prio))
            .flat_map(|s| s.buckets.values())
            .flat_map(Bucket::slots)
            .filter(|s| s.prio == prio)
            .any(|s| entry(flows, s.id).is_some_and(|e| e.m.overlaps(m)))
    }
}
