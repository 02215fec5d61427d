//! The BIER actions on a packet (draft §10), as pure functions of the pipeline's BIER state:
//! `bier_encap` (RFC 8296 §2.2 encapsulation at a BFIR), `bier_decap`, and `bier_forward`
//! (RFC 8279 §6.5 with ECMP by entropy per §6.7, or RFC 9262 §4.4; TTL per RFC 8296 §2.1.2;
//! local deliveries through the BFR table of draft §8). The pipeline's executor sends what
//! they return and records their [`BierHit`]s, which `process` applies to the counters and the
//! BIER→TSM cache (and `trace` drops).
//!
//! Guarantees: no input panics; a packet that fails any check (truncated header, wrong nibble
//! or version, unknown BIFT-id, a BSL the BIFT does not have, TTL 0, empty BitString) yields
//! no copy at all; bits without an entry are dropped and counted while the other bits are
//! forwarded (RFC 8279 §6.5: a bit with no BFR-NBR cannot be forwarded, the others can); a
//! copy never carries a bit to two neighbours (the `bier` crate's F-BM clearing); a local
//! delivery leaves each port at most once per packet and never by the port the packet came in.

use std::collections::BTreeSet;

use bier::encap::{bier_offset, decapsulate, encapsulate, EncapError};
use bier::{BfrId, BierHeader, BierRepr, BiftId, BitString};
use openflow::error_msg::{BadActionCode, ErrorCode};
use openflow::ext::bier::{ActionSubtype, BierAction, BierEncap, Entropy, EXPERIMENTER_ID};
use openflow::{Action, OxmField, PortNo};

use super::counters::{BierDrop, TableCounters};
use super::state::{BierState, Fwd};
use super::{bsl_of, BierConfig};
use crate::packet::FlowKey;
use crate::pipeline::{Pipeline, Time};

/// A counter or cache event a BIER action caused (applied by `process`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BierHit {
    Drop(BierDrop, u64),
    Encap,
    Decap,
    In(u32),
    Copy {
        bift_id: u32,
        port: PortNo,
    },
    Deliver {
        bift_id: u32,
        port: PortNo,
    },
    CacheHit {
        bift_id: u32,
        bits: BitString,
    },
    Seen {
        bift_id: u32,
        bits: BitString,
        ports: Vec<(PortNo, bool)>,
    },
}

/// A frame `bier_forward` sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Send {
    /// A BIER copy to a neighbour.
    Copy(PortNo, Vec<u8>),
    /// A local delivery out of a port.
    Deliver(PortNo, Vec<u8>),
    /// A local delivery to the controller (packet-in, reason ACTION).
    Controller(Vec<u8>),
}

/// What `bier_forward` did with a packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub sends: Vec<Send>,
    /// Each reason once per packet (the counters get the exact numbers through `hits`).
    pub drops: Vec<BierDrop>,
    pub hits: Vec<BierHit>,
    /// Forward by this local group (the BIER→TSM cache) instead.
    pub group: Option<u32>,
}

impl Verdict {
    fn drop(&mut self, r: BierDrop, n: u64) {
        if n == 0 {
            return;
        }
        if !self.drops.contains(&r) {
            self.drops.push(r);
        }
        self.hits.push(BierHit::Drop(r, n));
    }
}

/// The outcome of one of our actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The frame was rewritten (encap, decap); the action list goes on.
    Rewritten(Vec<u8>, BierHit),
    /// `bier_forward`: the packet is consumed, the list ends here.
    Forwarded(Verdict),
    /// The packet is dropped; the list ends.
    Dropped(BierDrop),
}

/// Whether an action is one of ours.
pub(crate) fn is_ours(a: &Action) -> bool {
    matches!(a, Action::Experimenter { experimenter, .. } if *experimenter == EXPERIMENTER_ID)
}

/// Checks one of our actions when a flow, group or PACKET_OUT is installed (draft §10):
/// an unknown subtype is `OFPBAC_BAD_EXP_TYPE`, a wrong length `OFPBAC_BAD_LEN`, bier_encap
/// fields that break §10.1 or name a BSL, sub-domain or SI this switch lacks `BAD_ENCAP`.
pub(crate) fn check_action(cfg: &BierConfig, data: &[u8]) -> Result<BierAction, ErrorCode> {
    let subtype = match data.get(..2) {
        Some(&[a, b]) => ActionSubtype::from(u16::from_be_bytes([a, b])),
        _ => return Err(BadActionCode::BadLen.into()),
    };
    let a = BierAction::parse_data(data).map_err(|_| match subtype {
        ActionSubtype::Other(_) => ErrorCode::from(BadActionCode::BadExpType),
        _ => BadActionCode::BadLen.into(),
    })?;
    a.validate().map_err(|e| ErrorCode::from(e.code()))?;
    if let BierAction::Encap(e) = &a {
        let bad = !cfg.bsls.contains(&e.bsl)
            || !cfg.sub_domains.contains(&e.sub_domain)
            || e.si > cfg.max_si;
        if bad {
            return Err(openflow::ext::bier::BierErrorCode::BadEncap.into());
        }
    }
    Ok(a)
}

/// bier_forward must end its action list (draft §10.3: `OFPBAC_UNSUPPORTED_ORDER`).
pub(crate) fn check_order(actions: &[Action]) -> Result<(), ErrorCode> {
    let n = actions.len();
    for (i, a) in actions.iter().enumerate() {
        if let Action::Experimenter {
            experimenter: EXPERIMENTER_ID,
            data,
        } = a
        {
            let forward = matches!(data.get(..2), Some(&[0, 3]));
            if forward && i + 1 != n {
                return Err(BadActionCode::UnsupportedOrder.into());
            }
        }
    }
    Ok(())
}

/// Runs one of our actions on `frame` (whose flow fields are `key`). `group_exists` says
/// whether a local group is still in the group table.
pub(crate) fn run_action(
    state: &BierState,
    data: &[u8],
    frame: &[u8],
    key: &FlowKey,
    group_exists: &dyn Fn(u32) -> bool,
) -> Outcome {
    // Checked at installation; a failure here means the action no longer fits this switch.
    let Ok(a) = BierAction::parse_data(data) else {
        return Outcome::Dropped(BierDrop::Disabled);
    };
    match a {
        BierAction::Encap(e) => match encap(&e, frame, key) {
            Ok(f) => Outcome::Rewritten(f, BierHit::Encap),
            Err(d) => Outcome::Dropped(d),
        },
        BierAction::Decap => match decapsulate(frame) {
            Ok((_, f)) => Outcome::Rewritten(f, BierHit::Decap),
            Err(e) => Outcome::Dropped(decap_drop(&e)),
        },
        BierAction::Forward => Outcome::Forwarded(forward(state, frame, key, group_exists)),
    }
}

fn decap_drop(e: &EncapError) -> BierDrop {
    match e {
        EncapError::NotBier(_) => BierDrop::NotBier,
        EncapError::UnsupportedProto(_) => BierDrop::DecapUnsupportedProto,
        EncapError::Header(h) => BierDrop::from(h),
        _ => BierDrop::Truncated,
    }
}

/// bier_encap (draft §10.1): S = 1, OAM = Rsv = 0, Proto from the EtherType.
fn encap(e: &BierEncap, frame: &[u8], key: &FlowKey) -> Result<Vec<u8>, BierDrop> {
    let bsl = bsl_of(e.bsl);
    let bits = BitString::from_bytes(bsl, &e.bitstring).ok_or(BierDrop::Disabled)?;
    let entropy = match e.entropy {
        Entropy::Fixed(v) => v,
        Entropy::FlowHash { seed } => flow_hash(key) ^ seed,
        Entropy::Other { .. } => 0,
    } & 0xf_ffff;
    let dscp = if e.copy_dscp {
        key.field(OxmField::IpDscp).map_or(0, |v| (v & 0x3f) as u8)
    } else {
        0
    };
    let repr = BierRepr {
        tc: e.tc & 7,
        s: true,
        ttl: e.ttl,
        entropy,
        oam: 0,
        rsv: 0,
        dscp,
        bfir_id: e.bfir_id,
        ..BierRepr::new(BiftId::masked(e.bift_id), bits)
    };
    encapsulate(frame, &repr).map_err(|err| match err {
        EncapError::UnsupportedEtherType(_) => BierDrop::EncapNotIp,
        _ => BierDrop::Truncated,
    })
}

/// A 20-bit hash of the IP source, destination, protocol and transport ports (FLOW_HASH).
pub(crate) fn flow_hash(key: &FlowKey) -> u32 {
    let (src, dst) = match key.eth_type() {
        0x0800 => (
            u128::from(u32::from(key.ipv4_src())),
            u128::from(u32::from(key.ipv4_dst())),
        ),
        _ => (u128::from(key.ipv6_src()), u128::from(key.ipv6_dst())),
    };
    let proto = key.ip_proto();
    let (sp, dp) = match proto {
        6 => (OxmField::TcpSrc, OxmField::TcpDst),
        17 => (OxmField::UdpSrc, OxmField::UdpDst),
        132 => (OxmField::SctpSrc, OxmField::SctpDst),
        _ => return fold(mix(mix(mix(0, src), dst), u128::from(proto))),
    };
    let ports = key.field(sp).unwrap_or(0) << 16 | key.field(dp).unwrap_or(0);
    fold(mix(mix(mix(mix(0, src), dst), u128::from(proto)), ports))
}

// splitmix64 steps over the 64-bit halves.
fn mix(h: u64, v: u128) -> u64 {
    let mut x = h;
    for part in [(v >> 64) as u64, v as u64] {
        x = x.wrapping_add(part).wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
    }
    x
}

fn fold(h: u64) -> u32 {
    ((h ^ (h >> 20) ^ (h >> 40)) & 0xf_ffff) as u32
}

/// bier_forward (draft §10.3).
fn forward(
    state: &BierState,
    frame: &[u8],
    key: &FlowKey,
    group_exists: &dyn Fn(u32) -> bool,
) -> Verdict {
    let mut v = Verdict::default();
    let off = match bier_offset(frame) {
        Ok(o) => o,
        Err(EncapError::NotBier(_)) => {
            v.drop(BierDrop::NotBier, 1);
            return v;
        }
        Err(_) => {
            v.drop(BierDrop::Truncated, 1);
            return v;
        }
    };
    let packet = frame.get(off..).unwrap_or(&[]);
    let repr = match BierRepr::parse_bytes(packet) {
        Ok(r) => r,
        Err(e) => {
            v.drop(BierDrop::from(&e), 1);
            return v;
        }
    };
    // RFC 8296 §2.1.2: a packet that arrives with TTL 0 is not forwarded at all.
    if repr.ttl == 0 {
        v.drop(BierDrop::TtlZero, 1);
        return v;
    }
    if repr.bitstring.is_zero() {
        v.drop(BierDrop::EmptyBitString, 1);
        return v;
    }
    let bift_id = repr.bift_id.get();
    let Some(table) = state.tables.get(&bift_id) else {
        v.drop(BierDrop::UnknownBift, 1);
        return v;
    };
    if bsl_of(table.wire.key.bsl) != repr.bsl() {
        v.drop(BierDrop::BslMismatch, 1);
        return v;
    }
    v.hits.push(BierHit::In(bift_id));
    let in_port = key.in_port();
    let key_of = &table.wire.key;
    let (sub_domain, si, bsl) = (key_of.sub_domain, bier::SetId(key_of.si), repr.bsl());
    let ttl = repr.ttl - 1;
    let copy = |v: &mut Verdict, port: bier::Port, bits: &BitString| {
        if ttl == 0 {
            v.drop(BierDrop::TtlExpired, 1);
            return;
        }
        let mut f = frame.to_vec();
        if let Some(h) = f.get_mut(off..) {
            let mut h = BierHeader::new_unchecked(h);
            h.set_ttl(ttl);
            h.set_bitstring(bits);
        }
        let port = PortNo(port.0);
        v.hits.push(BierHit::Copy { bift_id, port });
        v.sends.push(Send::Copy(port, f));
    };
    match &table.fwd {
        Fwd::Bier(t) => {
            if let Some(gid) = state.tsm.lookup(bift_id, &repr.bitstring) {
                if group_exists(gid) {
                    v.hits.push(BierHit::CacheHit {
                        bift_id,
                        bits: repr.bitstring.clone(),
                    });
                    v.group = Some(gid);
                    return v;
                }
            }
            let Ok(d) = t.forward(&repr.bitstring, repr.entropy) else {
                v.drop(BierDrop::BslMismatch, 1);
                return v;
            };
            v.drop(BierDrop::UnknownBfrId, u64::from(d.unknown().count_ones()));
            let mut targets = BTreeSet::new();
            let mut missing = 0u64;
            for bp in d.local().ones() {
                let rec = BfrId::from_location(si, bp, bsl)
                    .and_then(|id| state.bfr(sub_domain, id.get()));
                match rec {
                    Some(r) => {
                        targets.insert((r.port, r.decap));
                    }
                    None => missing += 1,
                }
            }
            v.drop(BierDrop::NoBfrRecord, missing);
            // The BIER→TSM cache can stand for a packet that only has local deliveries, to
            // ports a group can send to.
            let cacheable = state.tsm.enabled()
                && d.copies().is_empty()
                && d.unknown().is_zero()
                && missing == 0
                && !targets.is_empty()
                && targets
                    .iter()
                    .all(|(p, _)| p.is_physical() && *p != PortNo::MAX && *p != in_port);
            deliver(&mut v, bift_id, frame, in_port, &targets);
            for (port, bits) in d.copies() {
                copy(&mut v, *port, bits);
            }
            if cacheable {
                v.hits.push(BierHit::Seen {
                    bift_id,
                    bits: repr.bitstring.clone(),
                    ports: targets.into_iter().collect(),
                });
            }
        }
        Fwd::Te { table, decap } => {
            let Ok(d) = table.forward(&repr.bitstring, repr.entropy) else {
                v.drop(BierDrop::BslMismatch, 1);
                return v;
            };
            let mut targets = BTreeSet::new();
            for bp in d.local.ones() {
                for p in decap.get(&bp.get()).into_iter().flatten() {
                    targets.insert((*p, true));
                }
            }
            deliver(&mut v, bift_id, frame, in_port, &targets);
            for (port, bits) in &d.connected {
                copy(&mut v, *port, bits);
            }
            v.drop(BierDrop::Routed, d.routed.len() as u64);
        }
    }
    v
}

/// Local deliveries (draft §8): each (port, decap) once, never back to the ingress port.
fn deliver(
    v: &mut Verdict,
    bift_id: u32,
    frame: &[u8],
    in_port: PortNo,
    targets: &BTreeSet<(PortNo, bool)>,
) {
    for &(port, decap) in targets {
        if port == in_port {
            v.drop(BierDrop::IngressPort, 1);
            continue;
        }
        if port == PortNo::LOCAL {
            v.drop(BierDrop::LocalPort, 1);
            continue;
        }
        let f = if decap {
            match decapsulate(frame) {
                Ok((_, f)) => {
                    v.hits.push(BierHit::Decap);
                    f
                }
                Err(e) => {
                    v.drop(decap_drop(&e), 1);
                    continue;
                }
            }
        } else {
            frame.to_vec()
        };
        v.hits.push(BierHit::Deliver { bift_id, port });
        if port == PortNo::CONTROLLER {
            v.sends.push(Send::Controller(f));
        } else {
            v.sends.push(Send::Deliver(port, f));
        }
    }
}

impl Pipeline {
    /// Applies one BIER counter or cache event.
    pub(crate) fn bier_hit(&mut self, now: Time, h: &BierHit) {
        match h {
            BierHit::CacheHit { bift_id, bits } => return self.bier_cache_hit(now, *bift_id, bits),
            BierHit::Seen {
                bift_id,
                bits,
                ports,
            } => return self.bier_seen(now, *bift_id, bits, ports),
            _ => {}
        }
        let Some(b) = self.bier.as_deref_mut() else {
            return;
        };
        match h {
            BierHit::Drop(r, n) => b.counters.drop(*r, *n),
            BierHit::Encap => b.counters.encapsulated += 1,
            BierHit::Decap => b.counters.decapsulated += 1,
            BierHit::In(id) => {
                if let Some(t) = table_counters(b, *id) {
                    t.packets_in += 1;
                }
            }
            BierHit::Copy { bift_id, port } => {
                if let Some(t) = table_counters(b, *bift_id) {
                    t.copies_out += 1;
                }
                b.counters.ports.entry(port.0).or_default().copies += 1;
            }
            BierHit::Deliver { bift_id, port } => {
                if let Some(t) = table_counters(b, *bift_id) {
                    t.deliveries += 1;
                }
                b.counters.ports.entry(port.0).or_default().deliveries += 1;
            }
            BierHit::CacheHit { .. } | BierHit::Seen { .. } => {}
        }
    }
}

/// The counters of a table, created from its key on first use.
fn table_counters(b: &mut BierState, id: u32) -> Option<&mut TableCounters> {
    let Some(t) = b.tables.get(&id) else {
        return b.counters.tables.get_mut(&id);
    };
    let (k, te) = (
        t.wire.key,
        t.kind() == openflow::ext::bier::TableKind::BierTe,
    );
    Some(b.counters.tables.entry(id).or_insert(TableCounters {
        sub_domain: k.sub_domain,
        si: k.si,
        bsl: k.bsl,
        te,
        packets_in: 0,
        copies_out: 0,
        deliveries: 0,
        cache_hits: 0,
    }))
}
