//! `GET /v1/switches/{dpid}/rules`: the flows and groups tsmd keeps on a switch, from the
//! core's record ([`crate::machine::Controller::rules_of`]: the infrastructure flows, every
//! subset's and rendezvous plan's group and flow, IGMP/MLD punts) — the state that
//! reconciliation enforces on the switch after every (re)connection and that barrier replies
//! confirmed.
//!
//! Matches and actions are written the way `ovs-ofctl dump-flows` writes them
//! (`eth_type=0x0800,ipv4_dst=239.2.0.1`, `group:7`, `CONTROLLER:65535`), so an operator can
//! hold the two side by side. Guarantees: flows sorted by table, priority (highest first),
//! then match; groups by id; an unknown switch is `not-found`.

use std::fmt::Write as _;

use api::{ApiError, Dpid as ApiDpid, FlowRule, GroupRule, SwitchRules};
use openflow::msg::FlowMod;
use openflow::{Action, Instruction, Oxm, PortNo};

use super::driver::View;
use crate::topology::Dpid;

/// The rules of `dpid` as the API shows them.
pub(crate) fn switch_rules(view: &View<'_>, dpid: ApiDpid) -> Result<SwitchRules, ApiError> {
    let desired = view
        .ctl
        .rules_of(Dpid(dpid.0))
        .ok_or_else(|| ApiError::NotFound {
            resource: format!("switch {dpid}"),
        })?;
    let mut flows: Vec<FlowRule> = desired.flows.iter().map(flow_rule).collect();
    flows.sort_by(|a, b| {
        (a.table, std::cmp::Reverse(a.priority), &a.match_).cmp(&(
            b.table,
            std::cmp::Reverse(b.priority),
            &b.match_,
        ))
    });
    let groups = desired
        .groups
        .iter()
        .map(|(id, ports)| GroupRule {
            group_id: id.0,
            kind: "all".to_owned(),
            buckets: ports.iter().map(|p| p.0).collect(),
        })
        .collect();
    Ok(SwitchRules {
        dpid,
        source: "controller".to_owned(),
        flows,
        groups,
    })
}

fn flow_rule(f: &FlowMod) -> FlowRule {
    FlowRule {
        table: f.table_id.0,
        priority: f.priority,
        cookie: format!("{:016x}", f.cookie.0),
        match_: f
            .match_
            .fields
            .iter()
            .map(oxm)
            .collect::<Vec<_>>()
            .join(","),
        actions: f
            .instructions
            .iter()
            .map(instruction)
            .collect::<Vec<_>>()
            .join(","),
        hard_timeout: f.hard_timeout,
        idle_timeout: f.idle_timeout,
    }
}

fn masked<T: std::fmt::Display>(name: &str, value: T, mask: Option<T>) -> String {
    match mask {
        Some(m) => format!("{name}={value}/{m}"),
        None => format!("{name}={value}"),
    }
}

/// One match field as `ovs-ofctl` writes it.
fn oxm(o: &Oxm) -> String {
    match o {
        Oxm::InPort(p) => format!("in_port={}", port(*p)),
        Oxm::EthDst { value, mask } => masked("eth_dst", value, mask.as_ref()),
        Oxm::EthSrc { value, mask } => masked("eth_src", value, mask.as_ref()),
        Oxm::EthType(t) => format!("eth_type=0x{t:04x}"),
        Oxm::IpProto(p) => format!("ip_proto={p}"),
        Oxm::Ipv4Src { value, mask } => masked("ipv4_src", value, mask.as_ref()),
        Oxm::Ipv4Dst { value, mask } => masked("ipv4_dst", value, mask.as_ref()),
        Oxm::Ipv6Src { value, mask } => masked("ipv6_src", value, mask.as_ref()),
        Oxm::Ipv6Dst { value, mask } => masked("ipv6_dst", value, mask.as_ref()),
        Oxm::Icmpv6Type(t) => format!("icmpv6_type={t}"),
        Oxm::UdpDst(p) => format!("udp_dst={p}"),
        Oxm::TcpDst(p) => format!("tcp_dst={p}"),
        // Fields tsmd does not install are rare here: their Rust form, lower case.
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

fn port(p: PortNo) -> String {
    match p {
        PortNo::CONTROLLER => "CONTROLLER".to_owned(),
        PortNo::IN_PORT => "IN_PORT".to_owned(),
        PortNo::FLOOD => "FLOOD".to_owned(),
        PortNo::ALL => "ALL".to_owned(),
        PortNo(n) => n.to_string(),
    }
}

fn action(a: &Action) -> String {
    match a {
        Action::Output { port: p, max_len } if *p == PortNo::CONTROLLER => {
            format!("CONTROLLER:{max_len}")
        }
        Action::Output { port: p, .. } => format!("output:{}", port(*p)),
        Action::Group(g) => format!("group:{}", g.0),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

fn instruction(i: &Instruction) -> String {
    match i {
        Instruction::ApplyActions(actions) => {
            actions.iter().map(action).collect::<Vec<_>>().join(",")
        }
        Instruction::WriteActions(actions) => {
            let mut s = String::from("write_actions(");
            let _ = write!(
                s,
                "{})",
                actions.iter().map(action).collect::<Vec<_>>().join(",")
            );
            s
        }
        Instruction::GotoTable(t) => format!("goto_table:{}", t.0),
        Instruction::ClearActions => "clear_actions".to_owned(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openflow::{GroupId, Match};

    #[test]
    fn flows_read_like_ovs_ofctl() {
        let rule = crate::rules::Rule::new(
            "239.2.0.1".parse().unwrap(),
            0xab,
            std::time::Duration::from_secs(5),
        )
        .unwrap();
        let f = flow_rule(&rule.flow_add(GroupId(7)));
        assert_eq!(f.match_, "eth_type=0x0800,ipv4_dst=239.2.0.1");
        assert_eq!(f.actions, "group:7");
        assert_eq!(f.cookie, "00000000000000ab");
        assert_eq!(f.hard_timeout, 5);
        let miss = crate::reconcile::infra_flows(128);
        let rendered: Vec<FlowRule> = miss.iter().map(flow_rule).collect();
        assert!(
            rendered
                .iter()
                .any(|r| r.match_.is_empty() && r.actions == "CONTROLLER:128"),
            "{rendered:?}"
        );
        assert_eq!(oxm(&Oxm::InPort(PortNo(3))), "in_port=3");
        assert!(Match::new().fields.is_empty());
    }
}
