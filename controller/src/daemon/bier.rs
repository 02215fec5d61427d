//! BIER in tsmd's API (`api::bier`): the four routes as commands and queries on the core task,
//! and the core's BIER views and refusals as the API's DTOs and problems.
//!
//! Guarantees: a lease is answered only when every switch acknowledged its encapsulation
//! flows (the core completes the command after the barriers); BitStrings and F-BMs are shown
//! in RFC 8296 byte order; every refusal names its culprits (all members without a BFR-id,
//! all members outside the group).
//!
//! For an end-to-end test on real interfaces (switch-sim processes on veth ports, see
//! `tests/src/simfab.rs`): boot tsmd and the fabric, wait until `GET /v1/switches` shows every
//! switch with `capabilities.bier` true and `GET /v1/bier/bfr-ids` lists every host with an
//! `at` port, put a group, then `POST /v1/groups/{name}/bier` with `members` and `lease_ms`;
//! send ordinary UDP datagrams from a member's namespace to the answered `address` and count
//! them at every host's socket: exactly the members get one copy each. `GET
//! /v1/switches/{dpid}/bift` shows the tables each switch holds.

use std::net::IpAddr;
use std::time::Duration;

use api::{
    ApiError, BfirFlow, BfrIdEntry, BierHeader, BierMember as ApiMember, BierPort, BierSubset,
    Bift, BiftAction, BiftAdjacency, BiftEntry, BiftKind, BiftNextHop, Dpid as ApiDpid, GroupName,
    LocalBfer, MacAddr as ApiMac, RequestMeta, SwitchBift,
};
use bier::{BfrId, BitPosition, SetId};
use openflow::ext::bier::{Adjacency, BiftTable, Hop, TableEntries};
use tracing::{info_span, Instrument};

use super::{ms, TsmdService};
use crate::command::Command;
use crate::daemon::clock::Clock;
use crate::daemon::driver::Done;
use crate::machine::bier_state::{
    BfrIdInfo, BierAssignment, BierCommand, BierCommandError, BierReply, BierRequest,
    BierSwitchView,
};
use crate::topology::{Dpid, Endpoint};

fn port(e: Endpoint) -> BierPort {
    BierPort {
        dpid: ApiDpid(e.dpid.0),
        port: e.port.0,
    }
}

fn bits(b: &bier::BitString) -> String {
    api::bier::hex(&b.to_bytes())
}

/// The API's form of an assignment.
pub(crate) fn subset_dto(a: &BierAssignment) -> BierSubset {
    let headers: Vec<BierHeader> = a
        .headers
        .iter()
        .map(|h| BierHeader {
            si: h.si.0,
            bift_id: h.bift_id,
            bitstring: bits(&h.bitstring),
        })
        .collect();
    let first = headers.first().cloned().unwrap_or(BierHeader {
        si: 0,
        bift_id: 0,
        bitstring: String::new(),
    });
    let lease = a.lease.as_ref();
    BierSubset {
        group: a.group.clone(),
        sub_domain: a.sub_domain,
        bsl: u16::try_from(a.bsl.bits()).unwrap_or(u16::MAX),
        si: first.si,
        bitstring: first.bitstring,
        bift_id: first.bift_id,
        headers,
        members: a
            .members
            .iter()
            .map(|m| ApiMember {
                ip: m.ip,
                bfr_id: m.bfr_id.get(),
            })
            .collect(),
        te: a.te,
        bfir_id: a.bfir_id.map(BfrId::get),
        tree: a.tree.iter().copied().map(port).collect(),
        address: lease.map(|l| l.addr),
        lease_ms: lease.map(|l| ms(l.lease)),
        expires_at: lease.map(|l| Clock::unix_ms(l.expires_at)),
        bfirs: lease
            .map(|l| l.bfirs.iter().copied().map(port).collect())
            .unwrap_or_default(),
        owner: lease.and_then(|l| l.owner.clone()),
    }
}

fn adjacency(a: &Adjacency) -> BiftAdjacency {
    let plain = |kind: &str, port: Option<u32>, dnc: bool| BiftAdjacency {
        kind: kind.to_owned(),
        port,
        dnc,
        members: Vec::new(),
    };
    match a {
        Adjacency::ForwardConnected { port, dnc } => plain("forward_connected", Some(port.0), *dnc),
        Adjacency::ForwardRouted { to } => plain("forward_routed", Some(*to), false),
        Adjacency::LocalDecap { port } => plain("local_decap", Some(port.0), false),
        Adjacency::Ecmp(m) => BiftAdjacency {
            members: m.iter().map(adjacency).collect(),
            ..plain("ecmp", None, false)
        },
        Adjacency::Other { kind, value, .. } => plain(&format!("type-{kind}"), Some(*value), false),
    }
}

/// The API's form of a BIFT.
pub(crate) fn bift_dto(t: &BiftTable) -> Bift {
    let bsl = bier::Bsl::from_code(t.key.bsl.code());
    let si = SetId(t.key.si);
    let bfr_id = |bit: u16| {
        let bp = BitPosition::new(bit)?;
        BfrId::from_location(si, bp, bsl?).map(BfrId::get)
    };
    let (kind, entries) = match &t.entries {
        TableEntries::Bier(m) => (
            BiftKind::Bier,
            m.iter()
                .filter_map(|(bit, hop)| {
                    let (action, next_hops) = match hop {
                        Hop::Forward(v) => (
                            BiftAction::Forward,
                            v.iter()
                                .map(|(p, fbm)| BiftNextHop {
                                    port: p.0,
                                    fbm: api::bier::hex(fbm),
                                })
                                .collect(),
                        ),
                        Hop::LocalDecap => (BiftAction::LocalDecap, Vec::new()),
                        Hop::Remove => return None,
                    };
                    Some(BiftEntry {
                        bit: *bit,
                        bfr_id: bfr_id(*bit),
                        action,
                        next_hops,
                        adjacencies: Vec::new(),
                    })
                })
                .collect(),
        ),
        TableEntries::BierTe(m) => (
            BiftKind::BierTe,
            m.iter()
                .map(|(bit, adj)| BiftEntry {
                    bit: *bit,
                    bfr_id: None,
                    action: BiftAction::Adjacencies,
                    next_hops: Vec::new(),
                    adjacencies: adj.iter().map(adjacency).collect(),
                })
                .collect(),
        ),
    };
    Bift {
        bift_id: t.key.bift_id,
        sub_domain: t.key.sub_domain,
        bsl: u16::try_from(t.key.bsl.bits()).unwrap_or(u16::MAX),
        si: t.key.si,
        kind,
        entries,
    }
}

/// The API's form of a switch's BIER state.
pub(crate) fn switch_dto(v: &BierSwitchView) -> SwitchBift {
    SwitchBift {
        dpid: ApiDpid(v.dpid.0),
        bier: v.capable,
        te: v.te,
        reason: v.why_not.clone(),
        tables: v.tables.iter().map(bift_dto).collect(),
        bfers: v
            .bfrs
            .iter()
            .map(|b| LocalBfer {
                bfr_id: b.bfr_id,
                port: b.port.0,
                decap: b.decap,
            })
            .collect(),
        bfirs: v
            .bfirs
            .iter()
            .map(|(p, a)| BfirFlow {
                port: p.0,
                address: *a,
            })
            .collect(),
    }
}

fn bfr_id_dto(b: &BfrIdInfo) -> BfrIdEntry {
    BfrIdEntry {
        bfr_id: b.bfr_id.get(),
        si: b.si.0,
        bit: b.bit,
        mac: ApiMac(b.mac.0),
        ips: b.ips.clone(),
        at: b.at.map(port),
    }
}

/// The API problem for a BIER refusal.
pub(crate) fn api_error(e: BierCommandError) -> ApiError {
    let conflict = |resource: String, e: &BierCommandError| ApiError::Conflict {
        resource,
        reason: e.to_string(),
    };
    match e {
        BierCommandError::NotMembers { group, ips } => ApiError::NotGroupMembers {
            group,
            members: ips,
        },
        // A BFR-id is given to every host when it is learned: no BFR-id, unknown host.
        BierCommandError::NoBfrId { ips } => ApiError::UnknownHosts { hosts: ips },
        BierCommandError::UnknownSender { ip } => ApiError::UnknownHosts { hosts: vec![ip] },
        BierCommandError::TeNeedsSender => ApiError::MissingField {
            field: "sender".to_owned(),
            path: "body".to_owned(),
        },
        BierCommandError::UnknownLease { addr } => ApiError::NotFound {
            resource: format!("BIER lease {addr}"),
        },
        ref e @ BierCommandError::NotBierReachable { ref ips } => {
            conflict(format!("members {}", list(ips)), e)
        }
        ref e @ BierCommandError::SenderNotBier { ip } => conflict(format!("sender {ip}"), e),
        ref e @ BierCommandError::TeUnavailable { .. } => conflict("BIER-TE".to_owned(), e),
        ref e @ (BierCommandError::Disabled | BierCommandError::Plane(_)) => {
            conflict("BIER".to_owned(), e)
        }
    }
}

fn list(v: &[IpAddr]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn unexpected(what: &str, d: &Done) -> ApiError {
    ApiError::Internal {
        reason: format!("unexpected answer to {what}: {d:?}"),
    }
}

pub(super) async fn assign(
    svc: &TsmdService,
    meta: RequestMeta,
    group: GroupName,
    req: api::BierRequest,
) -> Result<BierSubset, ApiError> {
    let span = info_span!("api", op = "assign_bier", group = %group, te = req.te);
    async move {
        let command = Command::Bier(BierCommand::Assign(BierRequest {
            group: group.to_string(),
            members: req.members,
            lease: req.lease_ms.map(Duration::from_millis),
            te: req.te,
            sender: req.sender,
            owner: super::scope::owner(&meta),
        }));
        // A lease whose answer timed out stays until its lease ends (its address is unknown
        // to the requester but reaches exactly the members).
        match svc.command_or_timeout(command, "BIER assignment").await? {
            Done::Bier(BierReply::Assigned(a)) => Ok(subset_dto(&a)),
            other => Err(unexpected("a BIER assignment", &other)),
        }
    }
    .instrument(span)
    .await
}

pub(super) async fn release(
    svc: &TsmdService,
    meta: RequestMeta,
    address: IpAddr,
) -> Result<(), ApiError> {
    let span = info_span!("api", op = "release_bier", addr = %address);
    async move {
        // The route names no group: another group's lease is answered as no lease (`scope`).
        let held = svc
            .query(move |v| v.ctl.bier_lease(address).map(|l| (l.group, l.owner)))
            .await?;
        if let Some((group, owner)) = held {
            if !super::scope::visible(&meta, &group) {
                return Err(super::scope::no_bier_lease(address));
            }
            // Another token's lease: 403, unless admin (`scope::check_owner`).
            super::scope::check_owner(
                &meta,
                &format!("BIER lease {address}"),
                &group,
                owner.as_deref(),
            )?;
        }
        let command = Command::Bier(BierCommand::Release { addr: address });
        match svc
            .command_or_timeout(command, "BIER lease removal")
            .await?
        {
            Done::Bier(BierReply::Released { .. }) => Ok(()),
            other => Err(unexpected("a BIER lease removal", &other)),
        }
    }
    .instrument(span)
    .await
}

pub(super) async fn switch_bift(
    svc: &TsmdService,
    meta: RequestMeta,
    dpid: ApiDpid,
) -> Result<SwitchBift, ApiError> {
    svc.query(move |v| {
        v.ctl
            .bier_switch(Dpid(dpid.0))
            .map(|s| switch_dto(&s))
            .map(|mut s| {
                // Only the leases of groups the token may see (`scope`).
                if super::scope::scoped(&meta) {
                    s.bfirs.retain(|f| {
                        v.ctl
                            .bier_lease(f.address)
                            .is_some_and(|l| super::scope::visible(&meta, &l.group))
                    });
                }
                s
            })
            .ok_or_else(|| ApiError::NotFound {
                resource: format!("switch {dpid}"),
            })
    })
    .await?
}

pub(super) async fn bfr_ids(
    svc: &TsmdService,
    _meta: RequestMeta,
) -> Result<Vec<BfrIdEntry>, ApiError> {
    svc.query(|v| v.ctl.bfr_ids().iter().map(bfr_id_dto).collect())
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use openflow::ext::bier::{Bsl as WireBsl, TableKey};
    use openflow::PortNo;
    use std::collections::BTreeMap;

    #[test]
    fn bift_entries_name_their_bfr_ids_and_fbms() {
        let key = TableKey {
            bift_id: 0x30001,
            sub_domain: 0,
            bsl: WireBsl::B256,
            si: 1,
        };
        let mut fbm = vec![0u8; 32];
        fbm[31] = 0x06;
        let t = BiftTable {
            key,
            entries: TableEntries::Bier(BTreeMap::from([
                (1, Hop::LocalDecap),
                (2, Hop::Forward(vec![(PortNo(3), fbm)])),
            ])),
        };
        let d = bift_dto(&t);
        assert_eq!((d.bsl, d.si, d.kind), (256, 1, BiftKind::Bier));
        assert_eq!(d.entries[0].bfr_id, Some(257));
        assert_eq!(d.entries[0].action, BiftAction::LocalDecap);
        assert_eq!(d.entries[1].next_hops[0].port, 3);
        assert!(d.entries[1].next_hops[0].fbm.ends_with("06"));
        assert_eq!(d.entries[1].next_hops[0].fbm.len(), 64);
    }

    #[test]
    fn refusals_name_their_culprits() {
        let ips: Vec<IpAddr> = vec!["10.0.0.9".parse().unwrap(), "10.0.0.10".parse().unwrap()];
        assert_eq!(
            api_error(BierCommandError::NoBfrId { ips: ips.clone() }),
            ApiError::UnknownHosts { hosts: ips.clone() }
        );
        let e = api_error(BierCommandError::NotBierReachable { ips });
        assert!(e.to_string().contains("10.0.0.10"), "{e}");
        assert_eq!(e.status().as_u16(), 409);
    }
}
