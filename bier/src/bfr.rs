//! A Bit-Forwarding Router: its tables keyed by BIFT-id, packet processing and counters.
//!
//! [`Bfr::handle_packet`] takes a BIER packet (header and payload) and returns the copies to
//! send and the local deliveries. Whatever the bytes, it never panics: a bad packet is dropped
//! and counted under a [`DropReason`] the caller can read from [`Bfr::counters`].
//!
//! TTL (RFC 8296 §2.1.2): a packet arriving with TTL 0 is dropped; local delivery needs no
//! decrement; each forwarded copy carries TTL - 1, and a copy whose TTL would reach 0 is not
//! sent but counted as [`DropReason::TtlExpired`].

use std::collections::BTreeMap;

use crate::bift::{Bift, Decision, Port};
use crate::bitstring::{BitString, Bsl};
use crate::encap::{self, EncapError};
use crate::header::{BierHeader, BierRepr, HeaderError, Proto};
use crate::id::{BfrId, BiftId, SetId};
use crate::te::TeBift;

/// Why a packet (or part of it) was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DropReason {
    /// The header or the frame ends early.
    Truncated,
    /// The Nibble field is not 0101.
    WrongNibble,
    /// A BIER version other than 0.
    UnsupportedVersion,
    /// A BSL code RFC 8296 does not define.
    BadBsl,
    /// A frame whose EtherType is not 0xAB37.
    NotBier,
    /// No table for the packet's BIFT-id.
    UnknownBift,
    /// The table for the BIFT-id has another BSL than the packet.
    BslMismatch,
    /// TTL 0 on arrival (per packet) or reaching 0 on forwarding (per copy).
    TtlExpired,
    /// A BitString with no bit set (RFC 8279 §6.5: nothing to forward).
    EmptyBitString,
    /// Bits with no BIFT entry (per bit).
    UnknownBfrId,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 10] = [
        DropReason::Truncated,
        DropReason::WrongNibble,
        DropReason::UnsupportedVersion,
        DropReason::BadBsl,
        DropReason::NotBier,
        DropReason::UnknownBift,
        DropReason::BslMismatch,
        DropReason::TtlExpired,
        DropReason::EmptyBitString,
        DropReason::UnknownBfrId,
    ];
}

impl From<&HeaderError> for DropReason {
    fn from(e: &HeaderError) -> DropReason {
        match e {
            HeaderError::WrongNibble(_) => DropReason::WrongNibble,
            HeaderError::UnsupportedVersion(_) => DropReason::UnsupportedVersion,
            HeaderError::BadBsl(_) => DropReason::BadBsl,
            _ => DropReason::Truncated,
        }
    }
}

/// Packet counters of a BFR.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets handed to the BFR.
    pub received: u64,
    /// Copies sent to neighbours (connected or routed).
    pub forwarded: u64,
    /// Local deliveries.
    pub delivered: u64,
    drops: [u64; DropReason::ALL.len()],
}

impl Counters {
    /// Drops for one reason.
    pub fn drops(&self, r: DropReason) -> u64 {
        self.drops.get(r as usize).copied().unwrap_or(0)
    }

    /// Drops for every reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Every reason with a non-zero count.
    pub fn nonzero_drops(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|&r| (r, self.drops(r)))
            .filter(|&(_, n)| n > 0)
    }

    fn count_drop(&mut self, r: DropReason, n: u64) {
        if let Some(c) = self.drops.get_mut(r as usize) {
            *c += n;
        }
    }

    /// Adds another set of counters to this one.
    pub fn add(&mut self, o: &Counters) {
        self.received += o.received;
        self.forwarded += o.forwarded;
        self.delivered += o.delivered;
        for (a, b) in self.drops.iter_mut().zip(o.drops) {
            *a += b;
        }
    }

    /// What was counted since `earlier` (saturating).
    pub fn since(&self, earlier: &Counters) -> Counters {
        let mut c = Counters {
            received: self.received.saturating_sub(earlier.received),
            forwarded: self.forwarded.saturating_sub(earlier.forwarded),
            delivered: self.delivered.saturating_sub(earlier.delivered),
            drops: self.drops,
        };
        for (a, b) in c.drops.iter_mut().zip(earlier.drops) {
            *a = a.saturating_sub(b);
        }
        c
    }
}

/// A table a BIFT-id selects: BIER (bits are BFERs) or BIER-TE (bits are adjacencies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Table {
    /// RFC 8279.
    Bier(Bift),
    /// RFC 9262.
    Te(TeBift),
}

impl Table {
    /// The BSL.
    pub fn bsl(&self) -> Bsl {
        match self {
            Table::Bier(t) => t.bsl(),
            Table::Te(t) => t.bsl(),
        }
    }

    /// The Set Identifier.
    pub fn si(&self) -> SetId {
        match self {
            Table::Bier(t) => t.si(),
            Table::Te(t) => t.si(),
        }
    }
}

/// A packet delivered at this BFR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The table that delivered it.
    pub bift_id: BiftId,
    /// Its Set Identifier.
    pub si: SetId,
    /// Whether it was a BIER-TE table (then `bits` are local_decap bits, not BFR-ids).
    pub te: bool,
    /// The local bits that were set.
    pub bits: BitString,
    /// The payload type.
    pub proto: Proto,
    /// The payload, without the BIER header.
    pub payload: Vec<u8>,
}

impl Delivery {
    /// The BFR-ids delivered (none for BIER-TE).
    pub fn bfr_ids(&self) -> Vec<BfrId> {
        if self.te {
            return Vec::new();
        }
        let bsl = self.bits.bsl();
        self.bits
            .ones()
            .filter_map(|bp| BfrId::from_location(self.si, bp, bsl))
            .collect()
    }
}

/// What a BFR does with a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this packet (or frame, from [`Bfr::handle_frame`]) out of `port`.
    Forward {
        /// The interface.
        port: Port,
        /// The rewritten packet.
        packet: Vec<u8>,
    },
    /// Send this packet to BFR `to` through the routing underlay (BIER-TE forward_routed).
    Routed {
        /// The remote BFR.
        to: u32,
        /// The rewritten packet.
        packet: Vec<u8>,
    },
    /// Deliver locally.
    Deliver(Delivery),
}

/// A Bit-Forwarding Router.
#[derive(Clone, Debug, Default)]
pub struct Bfr {
    tables: BTreeMap<BiftId, Table>,
    counters: Counters,
    scratch: Decision,
}

impl Bfr {
    /// A BFR with no tables.
    pub fn new() -> Bfr {
        Bfr::default()
    }

    /// Installs a table, returning the one it replaces.
    pub fn insert(&mut self, id: BiftId, table: Table) -> Option<Table> {
        self.tables.insert(id, table)
    }

    /// Removes a table.
    pub fn remove(&mut self, id: BiftId) -> Option<Table> {
        self.tables.remove(&id)
    }

    /// The table for a BIFT-id.
    pub fn table(&self, id: BiftId) -> Option<&Table> {
        self.tables.get(&id)
    }

    /// Every table.
    pub fn tables(&self) -> impl Iterator<Item = (BiftId, &Table)> + '_ {
        self.tables.iter().map(|(k, v)| (*k, v))
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Processes one BIER packet (header and payload).
    pub fn handle_packet(&mut self, packet: &[u8]) -> Vec<Output> {
        let mut out = Vec::new();
        self.handle_packet_into(packet, &mut out);
        out
    }

    /// Processes one BIER packet, appending to `out`.
    pub fn handle_packet_into(&mut self, packet: &[u8], out: &mut Vec<Output>) {
        self.counters.received += 1;
        let repr = match BierRepr::parse_bytes(packet) {
            Ok(r) => r,
            Err(e) => return self.counters.count_drop(DropReason::from(&e), 1),
        };
        let payload = packet.get(repr.buffer_len()..).unwrap_or(&[]);
        if repr.ttl == 0 {
            return self.counters.count_drop(DropReason::TtlExpired, 1);
        }
        if repr.bitstring.is_zero() {
            return self.counters.count_drop(DropReason::EmptyBitString, 1);
        }
        let Some(table) = self.tables.get(&repr.bift_id) else {
            return self.counters.count_drop(DropReason::UnknownBift, 1);
        };
        if table.bsl() != repr.bsl() {
            return self.counters.count_drop(DropReason::BslMismatch, 1);
        }
        let ttl = repr.ttl - 1;
        let c = &mut self.counters;
        let deliver = |c: &mut Counters, out: &mut Vec<Output>, bits: BitString, te: bool| {
            c.delivered += 1;
            out.push(Output::Deliver(Delivery {
                bift_id: repr.bift_id,
                si: table.si(),
                te,
                bits,
                proto: repr.proto,
                payload: payload.to_vec(),
            }));
        };
        match table {
            Table::Bier(t) => {
                let d = &mut self.scratch;
                if t.forward_into(&repr.bitstring, repr.entropy, d).is_err() {
                    return c.count_drop(DropReason::BslMismatch, 1);
                }
                c.count_drop(
                    DropReason::UnknownBfrId,
                    u64::from(d.unknown().count_ones()),
                );
                if !d.local().is_zero() {
                    deliver(c, out, d.local().clone(), false);
                }
                for (port, bits) in d.copies() {
                    if let Some(packet) = rewrite(c, packet, ttl, bits) {
                        out.push(Output::Forward {
                            port: *port,
                            packet,
                        });
                    }
                }
            }
            Table::Te(t) => {
                let Ok(d) = t.forward(&repr.bitstring, repr.entropy) else {
                    return c.count_drop(DropReason::BslMismatch, 1);
                };
                if !d.local.is_zero() {
                    deliver(c, out, d.local, true);
                }
                for (port, bits) in d.connected {
                    if let Some(packet) = rewrite(c, packet, ttl, &bits) {
                        out.push(Output::Forward { port, packet });
                    }
                }
                for (to, bits) in d.routed {
                    if let Some(packet) = rewrite(c, packet, ttl, &bits) {
                        out.push(Output::Routed { to, packet });
                    }
                }
            }
        }
    }

    /// Processes one Ethernet frame carrying BIER (EtherType 0xAB37, VLAN tags allowed).
    /// Forwarded copies keep the frame's Ethernet header (the caller rewrites the MACs);
    /// deliveries carry the payload alone, as from [`handle_packet`](Self::handle_packet).
    pub fn handle_frame(&mut self, frame: &[u8]) -> Vec<Output> {
        let off = match encap::bier_offset(frame) {
            Ok(off) => off,
            Err(e) => {
                self.counters.received += 1;
                let r = match e {
                    EncapError::NotBier(_) => DropReason::NotBier,
                    _ => DropReason::Truncated,
                };
                self.counters.count_drop(r, 1);
                return Vec::new();
            }
        };
        let head = frame.get(..off).unwrap_or(&[]);
        let prefix = |p: Vec<u8>| {
            let mut f = Vec::with_capacity(head.len() + p.len());
            f.extend_from_slice(head);
            f.extend_from_slice(&p);
            f
        };
        self.handle_packet(frame.get(off..).unwrap_or(&[]))
            .into_iter()
            .map(|o| match o {
                Output::Forward { port, packet } => Output::Forward {
                    port,
                    packet: prefix(packet),
                },
                Output::Routed { to, packet } => Output::Routed {
                    to,
                    packet: prefix(packet),
                },
                d @ Output::Deliver(_) => d,
            })
            .collect()
    }
}

/// A copy of `packet` with a new TTL and BitString; `None` (counted) if the TTL reached 0.
fn rewrite(c: &mut Counters, packet: &[u8], ttl: u8, bits: &BitString) -> Option<Vec<u8>> {
    if ttl == 0 {
        c.count_drop(DropReason::TtlExpired, 1);
        return None;
    }
    let mut p = packet.to_vec();
    let mut h = BierHeader::new_unchecked(&mut p[..]);
    h.set_ttl(ttl);
    h.set_bitstring(bits);
    c.forwarded += 1;
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::BitPosition;

    fn bp(v: u16) -> BitPosition {
        BitPosition::new(v).unwrap()
    }

    fn bfr() -> (Bfr, BiftId) {
        let id = BiftId::new(7).unwrap();
        let t = Bift::from_next_hops(
            SetId(1),
            Bsl::B64,
            [bp(1)],
            [(bp(2), vec![Port(10)]), (bp(3), vec![Port(11)])],
        );
        let mut b = Bfr::new();
        b.insert(id, Table::Bier(t));
        (b, id)
    }

    fn packet(id: BiftId, ttl: u8, bits: &[u16]) -> Vec<u8> {
        let bs = BitString::from_positions(Bsl::B64, bits.iter().map(|&v| bp(v)));
        BierRepr {
            ttl,
            ..BierRepr::new(id, bs)
        }
        .to_packet(&[0x45, 1, 2, 3])
    }

    #[test]
    fn forwards_delivers_and_counts() {
        let (mut b, id) = bfr();
        let out = b.handle_packet(&packet(id, 5, &[1, 2, 3, 40]));
        assert_eq!(out.len(), 3);
        let Output::Deliver(d) = &out[0] else {
            panic!("{out:?}")
        };
        // SI 1 with BSL 64: bit 1 is BFR-id 65.
        assert_eq!(d.bfr_ids(), vec![BfrId::new(65).unwrap()]);
        assert_eq!(d.payload, vec![0x45, 1, 2, 3]);
        let Output::Forward { port, packet: p } = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(*port, Port(10));
        let r = BierRepr::parse_bytes(p).unwrap();
        assert_eq!(r.ttl, 4);
        assert_eq!(r.bitstring.ones().collect::<Vec<_>>(), vec![bp(2)]);
        assert_eq!(b.counters().drops(DropReason::UnknownBfrId), 1);
        assert_eq!(b.counters().forwarded, 2);
        assert_eq!(b.counters().delivered, 1);
    }

    #[test]
    fn ttl_rules() {
        let (mut b, id) = bfr();
        assert!(b.handle_packet(&packet(id, 0, &[1, 2])).is_empty());
        assert_eq!(b.counters().drops(DropReason::TtlExpired), 1);
        // TTL 1: delivered here, both copies would reach 0.
        let out = b.handle_packet(&packet(id, 1, &[1, 2, 3]));
        assert_eq!(out.len(), 1);
        assert_eq!(b.counters().drops(DropReason::TtlExpired), 3);
    }

    #[test]
    fn bad_packets_counted() {
        let (mut b, id) = bfr();
        b.handle_packet(&[0x50; 4]);
        b.handle_packet(&packet(BiftId::new(8).unwrap(), 9, &[2]));
        b.handle_packet(&packet(id, 9, &[]));
        let mut p = packet(id, 9, &[2]);
        p[4] = 0x45;
        b.handle_packet(&p);
        b.handle_frame(&[0; 20]);
        let c = b.counters();
        assert_eq!(c.drops(DropReason::Truncated), 1);
        assert_eq!(c.drops(DropReason::UnknownBift), 1);
        assert_eq!(c.drops(DropReason::EmptyBitString), 1);
        assert_eq!(c.drops(DropReason::WrongNibble), 1);
        assert_eq!(c.drops(DropReason::NotBier), 1);
        assert_eq!(c.received, 5);
        assert_eq!(c.total_drops(), 5);
    }

    #[test]
    fn bsl_mismatch_counted() {
        let (mut b, id) = bfr();
        let bs = BitString::from_positions(Bsl::B128, [bp(2)]);
        b.handle_packet(&BierRepr::new(id, bs).to_packet(&[]));
        assert_eq!(b.counters().drops(DropReason::BslMismatch), 1);
    }

    #[test]
    fn frames_keep_ethernet_header() {
        let (mut b, id) = bfr();
        let mut f = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xab, 0x37];
        f.extend(packet(id, 9, &[3]));
        let out = b.handle_frame(&f);
        let [Output::Forward { port, packet }] = &out[..] else {
            panic!("{out:?}")
        };
        assert_eq!(*port, Port(11));
        assert_eq!(packet[..14], f[..14]);
        assert_eq!(BierRepr::parse_bytes(&packet[14..]).unwrap().ttl, 8);
    }
}
