//! The core's events as the API's `GET /v1/events` items: the driver hands every
//! [`Event`](crate::event::Event) to [`publish`] in the order the core made them, so the
//! [`EventLog`] (one per daemon) is the single ordered source every client reads.
//!
//! Guarantees: the API event keeps the core's `seq` (strictly increasing, continued across
//! restarts from the snapshot) and its time in ms since the Unix epoch; every core kind maps
//! to a typed API kind (a kind added to the core later shows as `other` with its name until it
//! gets one, rather than being dropped).

use api::events::{Event as ApiEvent, EventKind as K, EventLog, RemovalReason as R};
use api::{BlockId, ClaimId, Dpid as ApiDpid, LinkEnd, MacAddr as ApiMac, TraceId};

use super::clock::Clock;
use crate::event::{Event, EventKind, RemovalReason};
use crate::topology::Endpoint;

/// Appends the API form of `e` to `log`.
pub(crate) fn publish(log: &EventLog, e: &Event) {
    log.push(to_api(e));
}

fn end(e: &Endpoint) -> LinkEnd {
    LinkEnd {
        dpid: ApiDpid(e.dpid.0),
        port: e.port.0,
    }
}

/// `PlanOverBudget` → `plan_over_budget`: the API's names for the core's unit enums.
fn snake(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len() + 4);
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            // Stop at a payload (`Variant { .. }` / `Variant(..)`).
            break;
        }
    }
    out
}

/// The API form of a core event.
pub(crate) fn to_api(e: &Event) -> ApiEvent {
    let kind = match &e.kind {
        EventKind::Restored => K::Restored,
        EventKind::SwitchUp { dpid, .. } => K::SwitchUp {
            dpid: ApiDpid(dpid.0),
        },
        EventKind::SwitchDown { dpid, reason } => K::SwitchDown {
            dpid: ApiDpid(dpid.0),
            reason: (*reason).to_owned(),
        },
        EventKind::PortUp { at } => K::PortUp { end: end(at) },
        EventKind::PortDown { at } => K::PortDown { end: end(at) },
        EventKind::LinkUp { link } => K::LinkUp {
            a: end(&link.a),
            b: end(&link.b),
        },
        EventKind::LinkDown { link } => K::LinkDown {
            a: end(&link.a),
            b: end(&link.b),
        },
        EventKind::HostAdded { mac, at, ips } => K::HostAdded {
            mac: ApiMac(mac.0),
            attached: end(at),
            ips: ips.clone(),
        },
        EventKind::HostMoved { mac, from, to } => K::HostMoved {
            mac: ApiMac(mac.0),
            from: end(from),
            to: end(to),
        },
        EventKind::HostAddrs { mac, ips } => K::HostAddrs {
            mac: ApiMac(mac.0),
            ips: ips.clone(),
        },
        EventKind::HostRemoved { mac } => K::HostRemoved { mac: ApiMac(mac.0) },
        EventKind::GroupPut {
            name,
            addr,
            members,
        } => K::GroupPut {
            group: name.clone(),
            address: *addr,
            members: members.clone(),
        },
        EventKind::GroupDeleted { name } => K::GroupDeleted {
            group: name.clone(),
        },
        EventKind::GroupMembers {
            name,
            addr,
            joined,
            left,
            members,
        } => K::GroupMembers {
            group: name.clone(),
            address: *addr,
            joined: joined.clone(),
            left: left.clone(),
            members: members.clone(),
        },
        EventKind::SubsetReady {
            addr,
            group,
            trace_id,
        } => K::SubsetReady {
            address: *addr,
            group: group.clone(),
            trace_id: TraceId::new(*trace_id),
        },
        EventKind::SubsetRemoved { addr, reason } => K::SubsetRemoved {
            address: *addr,
            reason: match reason {
                RemovalReason::Deleted => R::Deleted,
                RemovalReason::Expired => R::Expired,
                RemovalReason::GroupDeleted => R::GroupDeleted,
                RemovalReason::MembersLeft => R::MembersLeft,
            },
        },
        EventKind::SubsetRerouted { addr } => K::SubsetRerouted { address: *addr },
        EventKind::SubsetDegraded { addr, why } => K::SubsetDegraded {
            address: *addr,
            reason: why.clone(),
        },
        EventKind::SwitchError { dpid, code } => K::SwitchError {
            dpid: ApiDpid(dpid.0),
            error_type: code.error_type().value(),
            error_code: code.code(),
            error: code.to_string(),
        },
        EventKind::PlanChanged {
            group,
            version,
            members_version,
            state,
        } => K::PlanChanged {
            group: group.clone(),
            version: *version,
            members_version: *members_version,
            state: snake(&format!("{state:?}")),
        },
        EventKind::PlanDeleted { group } => K::PlanDeleted {
            group: group.clone(),
        },
        EventKind::ClaimTaken {
            id,
            group,
            addr,
            members_version,
        } => K::ClaimTaken {
            id: ClaimId(*id),
            group: group.clone(),
            address: *addr,
            members_version: *members_version,
        },
        EventKind::ClaimRenewed { id, expires_at } => K::ClaimRenewed {
            id: ClaimId(*id),
            expires_at: Clock::unix_ms(*expires_at),
        },
        EventKind::ClaimEnded {
            id,
            group,
            addr,
            reason,
        } => K::ClaimEnded {
            id: ClaimId(*id),
            group: group.clone(),
            address: *addr,
            reason: snake(&format!("{reason:?}")),
        },
        EventKind::BlockTaken { id, group, copies } => K::BlockTaken {
            id: BlockId(*id),
            group: group.clone(),
            copies: copies.clone(),
        },
        EventKind::BlockRenewed { id, expires_at } => K::BlockRenewed {
            id: BlockId(*id),
            expires_at: Clock::unix_ms(*expires_at),
        },
        EventKind::BlockEnded { id, group, reason } => K::BlockEnded {
            id: BlockId(*id),
            group: group.clone(),
            reason: snake(&format!("{reason:?}")),
        },
        // A kind added to the core after this mapping: named, not dropped.
        #[allow(unreachable_patterns)]
        other => {
            let detail = format!("{other:?}");
            K::Other {
                name: snake(&detail),
                detail,
            }
        }
    };
    ApiEvent {
        seq: e.seq,
        at: Clock::unix_ms(e.at),
        kind,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn snake_names() {
        assert_eq!(snake("OverBudget"), "over_budget");
        assert_eq!(snake("Ready"), "ready");
        assert_eq!(snake("PlanFailed { x: 1 }"), "plan_failed");
    }

    #[test]
    fn seq_and_kind_carry_over() {
        let e = Event {
            seq: 42,
            at: crate::time::Time::ZERO,
            kind: EventKind::GroupPut {
                name: "g".into(),
                addr: "239.1.1.1".parse().unwrap(),
                members: vec!["10.0.0.1".parse().unwrap()],
            },
        };
        let a = to_api(&e);
        assert_eq!(a.seq, 42);
        assert_eq!(a.kind.type_name(), "group_put");
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["members"], serde_json::json!(["10.0.0.1"]));
    }
}
