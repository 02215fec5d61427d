//! The core's refusals ([`CommandError`]) as the API's problems ([`ApiError`]), each naming
//! its culprit: every requested member outside the group, every unknown host, the refusing
//! switch with the OFPT_ERROR type and code, the exhausted pool and its size, the lease and
//! the maximum.
//!
//! Guarantees: the mapping is total (no refusal becomes a generic error without saying what
//! it was), and lists of culprits follow the request's order.

use std::collections::BTreeSet;
use std::net::IpAddr;

use api::{ApiError, Dpid as ApiDpid, TraceId};

use super::driver::PendingKind;
use super::settings::{pool_text, Settings};
use crate::command::CommandError;
use crate::machine::Controller;
use crate::plan::PlanError;

fn dur_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The API problem for a refused command.
pub(crate) fn api_error(
    e: CommandError,
    kind: &PendingKind,
    ctl: &Controller,
    settings: &Settings,
) -> ApiError {
    let requested: &[IpAddr] = match kind {
        PendingKind::CreateSubset { members, .. } => members,
        _ => &[],
    };
    let trace_id = match kind {
        PendingKind::CreateSubset { trace_id, .. } => trace_id.and_then(TraceId::new),
        _ => None,
    };
    let conflict = |resource: String, e: &CommandError| ApiError::Conflict {
        resource,
        reason: e.to_string(),
    };
    match e {
        CommandError::UnknownGroup { name } => ApiError::UnknownGroup { group: name },
        CommandError::BadGroupName { name } => ApiError::BadPathParameter {
            parameter: "name".to_owned(),
            value: name,
            reason: "not 1-64 characters of letters, digits, '.', '_', '-'".to_owned(),
        },
        CommandError::NotMulticast { addr } => ApiError::NotMulticast { address: addr },
        CommandError::AddrInPool { addr } => ApiError::Conflict {
            resource: format!("address {addr}"),
            reason: format!(
                "it lies in the subset address pool ({}); pick a group address outside it",
                pool_text(if addr.is_ipv4() {
                    settings.pool_v4
                } else {
                    settings.pool_v6
                })
            ),
        },
        ref e @ CommandError::AddrInUse { ref by, .. } => conflict(format!("group {by}"), e),
        CommandError::BadMember { ip } => ApiError::InvalidField {
            path: "body.members".to_owned(),
            reason: format!("{ip} is not a unicast host address"),
        },
        ref e @ CommandError::GroupInUse { subset, .. } => conflict(format!("subset {subset}"), e),
        CommandError::EmptySubset => ApiError::InvalidField {
            path: "body.members".to_owned(),
            reason: "a subset needs at least one member".to_owned(),
        },
        CommandError::NotAMember { group, ip } => {
            // Name every requested member outside the group, not only the first found.
            let members: Vec<IpAddr> = match ctl.group(&group) {
                Some(g) => {
                    let inside: BTreeSet<IpAddr> = g.members.into_iter().collect();
                    requested
                        .iter()
                        .filter(|m| !inside.contains(m))
                        .copied()
                        .collect()
                }
                None => vec![ip],
            };
            ApiError::NotGroupMembers {
                group,
                members: if members.is_empty() {
                    vec![ip]
                } else {
                    members
                },
            }
        }
        CommandError::UnknownHost { ip } => {
            let known: BTreeSet<IpAddr> = ctl.hosts().into_iter().flat_map(|h| h.ips).collect();
            let hosts: Vec<IpAddr> = requested
                .iter()
                .filter(|m| !known.contains(m))
                .copied()
                .collect();
            ApiError::UnknownHosts {
                hosts: if hosts.is_empty() { vec![ip] } else { hosts },
            }
        }
        CommandError::ZeroLease => ApiError::LeaseOutOfRange {
            lease_ms: 0,
            max_lease_ms: dur_ms(settings.max_lease),
        },
        CommandError::LeaseTooLong { lease, max } => ApiError::LeaseOutOfRange {
            lease_ms: dur_ms(lease),
            max_lease_ms: dur_ms(max),
        },
        CommandError::BadTraceId { trace_id } => ApiError::BadHeader {
            header: "x-trace-id".to_owned(),
            reason: format!("{trace_id:#x} is reserved (0 and all-ones cannot be flow cookies)"),
        },
        ref e @ CommandError::TraceIdInUse { trace_id, .. } => {
            conflict(format!("trace id {trace_id:016x}"), e)
        }
        CommandError::PoolExhausted { family } => {
            let range = if family == "IPv6" {
                settings.pool_v6
            } else {
                settings.pool_v4
            };
            ApiError::PoolExhausted {
                pool: pool_text(range),
                size: range.map_or(0, |r| u64::try_from(r.len()).unwrap_or(u64::MAX)),
            }
        }
        ref e @ CommandError::NoFabric { ref group } => conflict(format!("group {group}"), e),
        CommandError::Plan(p) => plan_error(p, ctl),
        ref e @ CommandError::GroupIdsExhausted { dpid } => conflict(format!("switch {dpid}"), e),
        CommandError::SwitchRefused { dpid, code } => ApiError::SwitchRefused {
            dpid: ApiDpid(dpid.0),
            error_type: code.error_type().value(),
            error_code: code.code(),
            error: code.to_string(),
            trace_id,
        },
        // The API has no "switch gone" problem: a switch that left before acknowledging is
        // an operation that did not finish, with the switch named.
        CommandError::SwitchDisconnected { dpid } => ApiError::Timeout {
            operation: format!(
                "subset install (switch {dpid} disconnected before acknowledging; rolled back)"
            ),
            after_ms: 0,
            switches: vec![ApiDpid(dpid.0)],
        },
        CommandError::UnknownSubset { addr } => ApiError::NotFound {
            resource: format!("subset {addr}"),
        },
        CommandError::LeaseEnded => ApiError::Timeout {
            operation: "subset install (the lease ended before every switch acknowledged)"
                .to_owned(),
            after_ms: match kind {
                PendingKind::CreateSubset { lease_ms, .. } => *lease_ms,
                _ => 0,
            },
            switches: Vec::new(),
        },
        ref e @ CommandError::Cancelled => conflict("subset".to_owned(), e),
        CommandError::Rendezvous(r) => super::service::rendezvous::api_error(r, settings.max_lease),
        CommandError::Bier(b) => super::service::bier::api_error(b),
        ref e @ CommandError::SnoopingDisabled { ref name } => conflict(format!("group {name}"), e),
    }
}

/// A planning refusal: a member the fabric cannot reach is named by its IP.
fn plan_error(p: PlanError, ctl: &Controller) -> ApiError {
    let ip_of = |mac: openflow::oxm::MacAddr| {
        ctl.hosts()
            .into_iter()
            .find(|h| h.mac == mac)
            .and_then(|h| h.ips.first().copied())
    };
    match &p {
        PlanError::Unreachable { host, .. } => match ip_of(*host) {
            Some(ip) => ApiError::Conflict {
                resource: format!("member {ip}"),
                reason: format!(
                    "{ip} ({host}) cannot be reached: its port is down or off the group's tree"
                ),
            },
            None => ApiError::Conflict {
                resource: format!("host {host}"),
                reason: p.to_string(),
            },
        },
        PlanError::SharedPort { at, host, .. } => ApiError::Conflict {
            resource: format!("port {at}"),
            reason: format!(
                "{p}; host {} shares the port with a subset member",
                ip_of(*host).map_or_else(|| host.to_string(), |ip| ip.to_string())
            ),
        },
        _ => ApiError::Conflict {
            resource: "subset".to_owned(),
            reason: p.to_string(),
        },
    }
}
