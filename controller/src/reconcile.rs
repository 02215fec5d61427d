//! Reconciliation: what a switch has (its flow table 0 and group table, read with multipart
//! `OFPMP_FLOW` and `OFPMP_GROUP_DESC`) against what it should have, as the smallest batch of
//! messages that makes it right. Pure: the state machine reads, calls this, and sends.
//!
//! What is ours (and so may be changed or removed); everything else is left alone:
//! - a flow in table 0 with cookie [`INFRA_COOKIE`] at one of the infrastructure priorities
//!   ([`TABLE_MISS_PRIORITY`], [`LLDP_PRIORITY`], [`crate::snoop::SNOOP_PRIORITY`]);
//! - a flow in table 0 at [`SUBSET_PRIORITY`] whose match is exactly `eth_type` + an unmasked
//!   IPv4/IPv6 destination that lies in the controller's subset address pool;
//! - a flow in table 0 at [`crate::rendezvous::RENDEZVOUS_PRIORITY`] with a rendezvous plan
//!   cookie (`"tsmr"` in the high 32 bits) and such a match (a plan's address);
//! - a group whose id lies in the controller's group-id range.
//!
//! Guarantees: a flow or group of ours that is already right produces no message at all (a
//! restart with the switch keeping its rules sends nothing for them); a flow is right when its
//! cookie, instructions and `SEND_FLOW_REM` flag are as desired (its timeouts and counters are
//! not compared: they tick on the switch); a group is right when it is an ALL group whose
//! buckets each output to one port and the ports are the desired ones (order ignored). Matches
//! are compared field by field whatever order the switch reports them in. The batch is ordered
//! as [`crate::rules::SwitchBatch`] orders every batch: flow deletes, group deletes, group adds
//! and modifies, flow adds, each followed by a barrier.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use openflow::msg::{FlowMod, FlowModFlags};
use openflow::multipart::{FlowStats, GroupDesc};
use openflow::{Action, Cookie, GroupId, GroupType, Instruction, Match, Oxm, PortNo};

use crate::rules::{
    group_add, group_delete, group_modify, SwitchBatch, SUBSET_PRIORITY, SUBSET_TABLE,
};

/// Cookie of the controller's infrastructure flows (table-miss, LLDP): "tsm" and 1.
pub const INFRA_COOKIE: Cookie = Cookie(0x0074_736d_0000_0001);
/// Priority of the table-miss flow (OF1.3.5 §5.4: priority 0, empty match).
pub const TABLE_MISS_PRIORITY: u16 = 0;
/// Priority of the LLDP-to-controller flow: above everything else of ours.
pub const LLDP_PRIORITY: u16 = 0xfff0;

/// The state a switch should have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// Flows, as the `OFPFC_ADD` that installs each (table 0).
    pub flows: Vec<FlowMod>,
    /// ALL groups by id, with their output ports.
    pub groups: BTreeMap<GroupId, Vec<PortNo>>,
}

/// What reconciliation decided, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub flows_kept: usize,
    pub flows_added: usize,
    pub flows_replaced: usize,
    pub flows_deleted: usize,
    pub groups_kept: usize,
    pub groups_added: usize,
    pub groups_modified: usize,
    pub groups_deleted: usize,
    /// Flows and groups found that are not ours (left alone).
    pub foreign: usize,
}

impl Summary {
    /// Whether nothing had to change.
    pub fn is_clean(&self) -> bool {
        self.flows_added == 0
            && self.flows_replaced == 0
            && self.flows_deleted == 0
            && self.groups_added == 0
            && self.groups_modified == 0
            && self.groups_deleted == 0
    }
}

/// Which flows and groups are ours (see the module header).
pub trait Ownership {
    /// Whether `a` lies in the subset address pool.
    fn is_pool_addr(&self, a: IpAddr) -> bool;
    /// Whether `g` lies in our group-id range.
    fn is_our_group(&self, g: GroupId) -> bool;
}

/// The match with its fields in a canonical order, for comparisons.
fn canonical(m: &Match) -> Match {
    let mut fields = m.fields.clone();
    fields.sort_by_key(Oxm::header);
    Match { fields }
}

/// The destination of a subset-shaped match: exactly `eth_type` and an unmasked destination
/// of that family.
fn subset_dst(m: &Match) -> Option<IpAddr> {
    let mut eth = None;
    let mut dst = None;
    for f in &m.fields {
        match f {
            Oxm::EthType(t) if eth.is_none() => eth = Some(*t),
            Oxm::Ipv4Dst { value, mask: None } if dst.is_none() => dst = Some(IpAddr::V4(*value)),
            Oxm::Ipv6Dst { value, mask: None } if dst.is_none() => dst = Some(IpAddr::V6(*value)),
            _ => return None,
        }
    }
    match (eth, dst) {
        (Some(crate::rules::ETH_TYPE_IPV4), Some(a @ IpAddr::V4(_)))
        | (Some(crate::rules::ETH_TYPE_IPV6), Some(a @ IpAddr::V6(_))) => Some(a),
        _ => None,
    }
}

/// Whether a flow the switch reported is ours.
pub fn is_our_flow(f: &FlowStats, own: &impl Ownership) -> bool {
    if f.table_id != SUBSET_TABLE {
        return false;
    }
    if f.cookie == INFRA_COOKIE
        && (f.priority == TABLE_MISS_PRIORITY
            || f.priority == LLDP_PRIORITY
            || f.priority == crate::snoop::SNOOP_PRIORITY)
    {
        return true;
    }
    // Rendezvous plan flows: their priority, a plan cookie, a subset-shaped match.
    if f.priority == crate::rendezvous::RENDEZVOUS_PRIORITY
        && crate::rendezvous::is_plan_cookie(f.cookie)
        && subset_dst(&f.match_).is_some()
    {
        return true;
    }
    f.priority == SUBSET_PRIORITY && subset_dst(&f.match_).is_some_and(|a| own.is_pool_addr(a))
}

fn flow_is_right(have: &FlowStats, want: &FlowMod) -> bool {
    have.cookie == want.cookie
        && have.instructions == want.instructions
        && (!want.flags.contains(FlowModFlags::SEND_FLOW_REM)
            || have.flags.contains(FlowModFlags::SEND_FLOW_REM))
}

/// The output ports of an ALL group whose every bucket is a single output action.
fn group_ports(g: &GroupDesc) -> Option<BTreeSet<PortNo>> {
    if g.group_type != GroupType::All {
        return None;
    }
    let mut ports = BTreeSet::new();
    for b in &g.buckets {
        match b.actions.as_slice() {
            [Action::Output { port, .. }] => {
                if !ports.insert(*port) {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(ports)
}

/// The batch that turns what the switch has into `desired`, touching only what is ours.
pub fn reconcile(
    desired: &Desired,
    flows: &[FlowStats],
    groups: &[GroupDesc],
    own: &impl Ownership,
) -> (SwitchBatch, Summary) {
    let mut batch = SwitchBatch::default();
    let mut sum = Summary::default();

    // Flows by (priority, canonical match).
    let mut have: HashMap<(u16, Match), &FlowStats> = HashMap::new();
    for f in flows {
        if is_our_flow(f, own) {
            have.insert((f.priority, canonical(&f.match_)), f);
        } else {
            sum.foreign += 1;
        }
    }
    let mut wanted: HashMap<(u16, Match), ()> = HashMap::new();
    for w in &desired.flows {
        let key = (w.priority, canonical(&w.match_));
        match have.get(&key) {
            Some(h) if flow_is_right(h, w) => sum.flows_kept += 1,
            Some(_) => {
                // OFPFC_ADD of an existing match and priority replaces it (OF1.3.5 §6.4).
                sum.flows_replaced += 1;
                batch.flow_adds.push(w.clone());
            }
            None => {
                sum.flows_added += 1;
                batch.flow_adds.push(w.clone());
            }
        }
        wanted.insert(key, ());
    }
    // Deletes in the order the switch reported the flows (deterministic).
    for f in flows {
        if !is_our_flow(f, own) {
            continue;
        }
        if wanted.contains_key(&(f.priority, canonical(&f.match_))) {
            continue;
        }
        sum.flows_deleted += 1;
        // A plan's flows share one cookie: the mask that keeps Open vSwitch's lookup O(1).
        let cookie_mask = if crate::rendezvous::is_plan_cookie(f.cookie) {
            crate::rendezvous::PLAN_DELETE_COOKIE_MASK
        } else {
            u64::MAX
        };
        batch.flow_deletes.push(FlowMod {
            cookie: f.cookie,
            cookie_mask,
            ..FlowMod::delete_strict(SUBSET_TABLE, f.priority, f.match_.clone())
        });
    }

    let mut seen: BTreeSet<GroupId> = BTreeSet::new();
    for g in groups {
        if !own.is_our_group(g.group_id) {
            sum.foreign += 1;
            continue;
        }
        seen.insert(g.group_id);
        match desired.groups.get(&g.group_id) {
            None => {
                sum.groups_deleted += 1;
                batch.group_deletes.push(group_delete(g.group_id));
            }
            Some(ports) => {
                let want: BTreeSet<PortNo> = ports.iter().copied().collect();
                if group_ports(g).is_some_and(|p| p == want) {
                    sum.groups_kept += 1;
                } else {
                    sum.groups_modified += 1;
                    batch.group_mods.push(group_modify(g.group_id, ports));
                }
            }
        }
    }
    for (id, ports) in &desired.groups {
        if !seen.contains(id) {
            sum.groups_added += 1;
            batch.group_mods.push(group_add(*id, ports));
        }
    }
    (batch, sum)
}

/// The infrastructure flows every switch gets: table-miss to the controller with `miss_len`
/// bytes of the packet (enough for the headers host learning reads), and LLDP to the
/// controller whole.
pub fn infra_flows(miss_len: u16) -> Vec<FlowMod> {
    let miss = FlowMod {
        cookie: INFRA_COOKIE,
        ..FlowMod::add(
            SUBSET_TABLE,
            TABLE_MISS_PRIORITY,
            Match::new(),
            vec![Instruction::ApplyActions(vec![Action::Output {
                port: PortNo::CONTROLLER,
                max_len: miss_len,
            }])],
        )
    };
    let lldp = FlowMod {
        cookie: INFRA_COOKIE,
        ..FlowMod::add(
            SUBSET_TABLE,
            LLDP_PRIORITY,
            Match::new().with(Oxm::EthType(crate::frames::ETH_TYPE_LLDP)),
            vec![Instruction::ApplyActions(vec![
                Action::output_to_controller(),
            ])],
        )
    };
    vec![lldp, miss]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rule;
    use std::time::Duration;

    struct Own;
    impl Ownership for Own {
        fn is_pool_addr(&self, a: IpAddr) -> bool {
            matches!(a, IpAddr::V4(v) if v.octets()[..2] == [239, 192])
        }
        fn is_our_group(&self, g: GroupId) -> bool {
            (100..200).contains(&g.0)
        }
    }

    fn stats(fm: &FlowMod) -> FlowStats {
        FlowStats {
            table_id: fm.table_id,
            duration_sec: 5,
            duration_nsec: 0,
            priority: fm.priority,
            idle_timeout: 0,
            hard_timeout: fm.hard_timeout,
            flags: fm.flags,
            cookie: fm.cookie,
            packet_count: 3,
            byte_count: 300,
            // Reported in another field order than we sent.
            match_: Match {
                fields: fm.match_.fields.iter().rev().cloned().collect(),
            },
            instructions: fm.instructions.clone(),
        }
    }

    fn gd(id: u32, ports: &[u32]) -> GroupDesc {
        let g = group_add(
            GroupId(id),
            &ports.iter().map(|p| PortNo(*p)).collect::<Vec<_>>(),
        );
        GroupDesc {
            group_type: g.group_type,
            group_id: g.group_id,
            buckets: g.buckets,
        }
    }

    #[test]
    fn right_rules_are_untouched_wrong_ones_fixed_foreign_ones_ignored() {
        let x: IpAddr = "239.192.0.1".parse().unwrap();
        let y: IpAddr = "239.192.0.2".parse().unwrap();
        let z: IpAddr = "239.192.0.3".parse().unwrap();
        let r = |a, c| Rule::new(a, c, Duration::from_secs(10)).unwrap();
        let mut desired = Desired {
            flows: infra_flows(128),
            groups: BTreeMap::new(),
        };
        desired.flows.push(r(x, 7).flow_add(GroupId(100)));
        desired.flows.push(r(y, 8).flow_add(GroupId(101)));
        desired
            .groups
            .insert(GroupId(100), vec![PortNo(1), PortNo(2)]);
        desired.groups.insert(GroupId(101), vec![PortNo(3)]);

        let foreign = FlowMod::add(
            SUBSET_TABLE,
            SUBSET_PRIORITY,
            crate::rules::dst_match("239.1.1.1".parse().unwrap()),
            vec![],
        );
        let have_flows = vec![
            stats(&desired.flows[0]),
            stats(&desired.flows[1]),
            stats(&desired.flows[2]),               // x: right
            stats(&r(y, 9).flow_add(GroupId(101))), // y: wrong cookie
            stats(&r(z, 5).flow_add(GroupId(102))), // z: stale
            stats(&foreign),                        // not in the pool: not ours
        ];
        let have_groups = vec![
            gd(101, &[4]),    // wrong buckets
            gd(100, &[2, 1]), // right, other order
            gd(102, &[1]),    // stale
            gd(7, &[1]),      // foreign id
        ];
        let (b, s) = reconcile(&desired, &have_flows, &have_groups, &Own);
        assert_eq!(
            s,
            Summary {
                flows_kept: 3,
                flows_added: 0,
                flows_replaced: 1,
                flows_deleted: 1,
                groups_kept: 1,
                groups_added: 0,
                groups_modified: 1,
                groups_deleted: 1,
                foreign: 2,
            }
        );
        assert_eq!(b.flow_adds, vec![desired.flows[3].clone()]);
        assert_eq!(b.flow_deletes.len(), 1);
        assert_eq!(
            (b.flow_deletes[0].cookie, b.flow_deletes[0].cookie_mask),
            (Cookie(5), u64::MAX)
        );
        assert_eq!(b.group_deletes, vec![group_delete(GroupId(102))]);
        assert_eq!(b.group_mods, vec![group_modify(GroupId(101), &[PortNo(3)])]);

        // Everything right: nothing to send.
        let (b, s) = reconcile(
            &desired,
            &desired.flows.iter().map(stats).collect::<Vec<_>>(),
            &[gd(100, &[1, 2]), gd(101, &[3])],
            &Own,
        );
        assert!(b.is_empty() && s.is_clean());
        // A stale plan flow: deleted under the plan mask (see `PLAN_DELETE_COOKIE_MASK`).
        let plan = crate::rendezvous::flow_add(z, GroupId(150), crate::rendezvous::plan_cookie(3));
        let mut have = desired.flows.iter().map(stats).collect::<Vec<_>>();
        have.push(stats(&plan));
        let (b, s) = reconcile(&desired, &have, &[gd(100, &[1, 2]), gd(101, &[3])], &Own);
        assert_eq!(s.flows_deleted, 1);
        let want = crate::rendezvous::flow_delete(z, crate::rendezvous::plan_cookie(3));
        let d = &b.flow_deletes[0];
        assert_eq!(
            (d.command, d.cookie, d.cookie_mask, d.priority),
            (want.command, want.cookie, want.cookie_mask, want.priority)
        );
        // An empty switch gets everything.
        let (b, s) = reconcile(&desired, &[], &[], &Own);
        assert_eq!((s.flows_added, s.groups_added), (4, 2));
        assert_eq!(b.messages().len(), 2 + 1 + 4 + 1);
    }
}
