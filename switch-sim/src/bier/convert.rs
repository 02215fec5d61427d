//! Between the wire form of a BIFT (`openflow::ext::bier::BiftTable`, what BIFT_MOD carries)
//! and the `bier` crate's forwarding tables.
//!
//! - [`compile`] (switch side): a committed table into a [`Fwd`], refusing what this switch
//!   cannot forward by the draft's error codes (ports, ECMP width, forward_routed).
//! - [`bier_table`], [`te_table`], [`table_key`] (controller side, for tests, benchmarks and
//!   any controller that computes tables with `bier::topo`): the wire table of a computed
//!   `bier::Bift` or `bier::TeBift`.
//!
//! Guarantees: `compile(bier_table(k, t))` forwards exactly as `t` does (same local bits, same
//! ECMP lists of (port, F-BM) per bit, in order); nothing panics on any table.

use std::collections::BTreeMap;

use bier::{BitPosition, BitString, SetId};
use openflow::ext::bier::{Adjacency, BierErrorCode, BiftTable, Hop, TableEntries, TableKey};
use openflow::PortNo;

use super::control::Refusal;
use super::state::Fwd;
use super::{bsl_of, wire_bsl, BierConfig};

/// The key of the table for (BSL, sub-domain, SI), with the BIFT-id laid out as BSL code <<
/// 16 | sub-domain << 8 | SI (draft-ietf-bier-non-mpls-bift-encoding, the layout this
/// project's controller uses). `None` for an SI above 255.
pub fn table_key(bsl: bier::Bsl, sub_domain: u8, si: SetId) -> Option<TableKey> {
    let id = bier::BiftId::from_bsl_sd_si(bsl, sub_domain, si)?;
    Some(TableKey {
        bift_id: id.get(),
        sub_domain,
        bsl: wire_bsl(bsl),
        si: si.0,
    })
}

/// The wire form of a computed BIER table: local bits become LOCAL_DECAP entries, every
/// other bit with an entry FORWARD with its ECMP list of (port, F-BM).
pub fn bier_table(key: TableKey, t: &bier::Bift) -> BiftTable {
    let mut m = BTreeMap::new();
    for bp in t.local().ones() {
        m.insert(bp.get(), Hop::LocalDecap);
    }
    for bp in t.positions() {
        let hops = t
            .entry(bp)
            .map(|(port, fbm)| (PortNo(port.0), fbm.to_bytes()))
            .collect();
        m.insert(bp.get(), Hop::Forward(hops));
    }
    BiftTable {
        key,
        entries: TableEntries::Bier(m),
    }
}

/// The wire form of a computed BIER-TE table; `decap_port` gives the output port of each
/// local_decap bit (the `bier` crate's local_decap has none).
pub fn te_table(
    key: TableKey,
    t: &bier::TeBift,
    decap_port: impl Fn(BitPosition) -> PortNo,
) -> BiftTable {
    let mut m = BTreeMap::new();
    for bp in t.adjacent_bits().ones() {
        let adjs: Vec<Adjacency> = t
            .adjacencies(bp)
            .iter()
            .map(|a| te_adjacency(a, bp, &decap_port))
            .collect();
        m.insert(bp.get(), adjs);
    }
    BiftTable {
        key,
        entries: TableEntries::BierTe(m),
    }
}

fn te_adjacency(
    a: &bier::Adjacency,
    bp: BitPosition,
    decap_port: &impl Fn(BitPosition) -> PortNo,
) -> Adjacency {
    match a {
        bier::Adjacency::ForwardConnected { port, dnc } => Adjacency::ForwardConnected {
            port: PortNo(port.0),
            dnc: *dnc,
        },
        bier::Adjacency::ForwardRouted { to } => Adjacency::ForwardRouted { to: *to },
        bier::Adjacency::LocalDecap => Adjacency::LocalDecap {
            port: decap_port(bp),
        },
        bier::Adjacency::Ecmp(list) => Adjacency::Ecmp(
            list.iter()
                .map(|m| te_adjacency(m, bp, decap_port))
                .collect(),
        ),
    }
}

/// Compiles a committed table for forwarding. `port_ok` says whether a port may carry a copy
/// (a physical port, and one that exists if the pipeline is strict about ports).
pub(crate) fn compile(
    t: &BiftTable,
    cfg: &BierConfig,
    port_ok: &dyn Fn(PortNo) -> bool,
) -> Result<Fwd, Refusal> {
    let bsl = bsl_of(t.key.bsl);
    let si = SetId(t.key.si);
    let bad = |code, why: String| Refusal::Semantic { code, why };
    let position = |bit: u16| {
        BitPosition::new(bit)
            .filter(|b| usize::from(b.get()) <= bsl.bits())
            .ok_or_else(|| {
                bad(
                    BierErrorCode::BadBitPosition,
                    format!("bit {bit} outside 1..={}", bsl.bits()),
                )
            })
    };
    match &t.entries {
        TableEntries::Bier(m) => {
            let mut local = BitString::zero(bsl);
            let mut entries = Vec::with_capacity(m.len());
            for (&bit, hop) in m {
                let bp = position(bit)?;
                match hop {
                    Hop::LocalDecap => {
                        local.set(bp);
                    }
                    Hop::Forward(list) => {
                        check_ecmp(bit, list.len(), cfg, BierErrorCode::BadEntry)?;
                        let mut v = Vec::with_capacity(list.len());
                        for (port, fbm) in list {
                            if !port_ok(*port) {
                                return Err(bad(
                                    BierErrorCode::BadNextHop,
                                    format!("bit {bit}: port {port:?} cannot carry a copy"),
                                ));
                            }
                            let f = BitString::from_bytes(bsl, fbm).ok_or_else(|| {
                                bad(
                                    BierErrorCode::BadNextHop,
                                    format!("bit {bit}: F-BM of {} bytes", fbm.len()),
                                )
                            })?;
                            v.push((bier::Port(port.0), f));
                        }
                        entries.push((bp, v));
                    }
                    Hop::Remove => {
                        return Err(bad(
                            BierErrorCode::BadEntry,
                            format!("bit {bit}: REMOVE left in a committed table"),
                        ))
                    }
                }
            }
            let table = bier::Bift::from_entries(si, local, entries).map_err(|e| {
                let code = match e {
                    bier::BiftError::PositionOutOfRange { .. }
                    | bier::BiftError::LocalAndForwarded(_) => BierErrorCode::BadBitPosition,
                    _ => BierErrorCode::BadNextHop,
                };
                bad(code, e.to_string())
            })?;
            Ok(Fwd::Bier(table))
        }
        TableEntries::BierTe(m) => {
            let mut table = bier::TeBift::new(si, bsl);
            let mut decap: BTreeMap<u16, Vec<PortNo>> = BTreeMap::new();
            for (&bit, adjs) in m {
                let bp = position(bit)?;
                let mut out = Vec::with_capacity(adjs.len());
                for a in adjs {
                    out.push(te_compile(bit, a, cfg, port_ok, &mut decap, false)?);
                }
                table
                    .set(bp, out)
                    .map_err(|e| bad(BierErrorCode::BadAdjacency, e.to_string()))?;
            }
            Ok(Fwd::Te { table, decap })
        }
    }
}

fn check_ecmp(bit: u16, n: usize, cfg: &BierConfig, code: BierErrorCode) -> Result<(), Refusal> {
    if n > usize::from(cfg.max_ecmp) {
        return Err(Refusal::Semantic {
            code,
            why: format!(
                "bit {bit}: {n} alternatives, this switch takes at most {}",
                cfg.max_ecmp
            ),
        });
    }
    Ok(())
}

fn te_compile(
    bit: u16,
    a: &Adjacency,
    cfg: &BierConfig,
    port_ok: &dyn Fn(PortNo) -> bool,
    decap: &mut BTreeMap<u16, Vec<PortNo>>,
    member: bool,
) -> Result<bier::Adjacency, Refusal> {
    let bad = |why: String| Refusal::Semantic {
        code: BierErrorCode::BadAdjacency,
        why: format!("bit {bit}: {why}"),
    };
    Ok(match a {
        Adjacency::ForwardConnected { port, dnc } => {
            if !port_ok(*port) {
                return Err(bad(format!("port {port:?} cannot carry a copy")));
            }
            bier::Adjacency::ForwardConnected {
                port: bier::Port(port.0),
                dnc: *dnc,
            }
        }
        // No routing underlay here: CAPS_REPLY does not announce TE_ROUTED.
        Adjacency::ForwardRouted { .. } => {
            return Err(bad("forward_routed without TE_ROUTED".into()))
        }
        Adjacency::LocalDecap { port } if !member => {
            let ok = port_ok(*port) || *port == PortNo::LOCAL || *port == PortNo::CONTROLLER;
            if !ok {
                return Err(bad(format!("local_decap to port {port:?}")));
            }
            let ports = decap.entry(bit).or_default();
            if !ports.contains(port) {
                ports.push(*port);
            }
            bier::Adjacency::LocalDecap
        }
        Adjacency::Ecmp(list) if !member && !list.is_empty() => {
            check_ecmp(bit, list.len(), cfg, BierErrorCode::BadEntry)?;
            let mut v = Vec::with_capacity(list.len());
            for m in list {
                v.push(te_compile(bit, m, cfg, port_ok, decap, true)?);
            }
            bier::Adjacency::Ecmp(v)
        }
        other => return Err(bad(format!("adjacency {other:?} not allowed here"))),
    })
}
