//! The state machine's side of snooping (a child module of `machine`, so it reaches the
//! controller's own state; `machine.rs` only calls in at a few points).
//!
//! - Packet-ins: [`Controller::snoop_classify`] reads IGMP / MLD before host learning (our own
//!   queries coming back are dropped there, so the querier never becomes a host), and
//!   [`Controller::snoop_packet`] feeds the packet to the [`Snooper`] after the sender was
//!   learned (so a new member's host is known when its group's tree is recomputed).
//! - Timers: membership timers and the querier's schedule ([`Controller::snoop_timers`],
//!   [`Controller::snoop_timeout`]); queries go out as PACKET_OUTs of the edge ports.
//! - Groups declared snooped ([`crate::Command::PutSnoopedGroup`]) take the snooper's member set;
//!   every change of it is a `GroupMembers` event, the group's tree is recomputed (as a PUT
//!   with the new members would), and subsets of the group lose the members that left: they
//!   are re-planned without them, or removed (`MembersLeft`) when none is left.
//! - Flows: the punt flows ([`crate::snoop::punt_flows`]) are part of every switch's desired
//!   state while snooping is enabled.

use std::collections::BTreeSet;
use std::net::IpAddr;

use openflow::msg::FlowMod;
use openflow::{Action, Body, PacketOut, PortNo};

use super::Controller;
use crate::command::{CommandError, Reply};
use crate::event::{EventKind, RemovalReason};
use crate::snoop::{parse, Effects, Packet, QueryOut, QueryTarget, Snooper};
use crate::time::Time;
use crate::topology::{Dpid, Endpoint};

/// What a packet-in is to snooping.
pub(super) enum Snooped {
    /// Not IGMP or MLD (or snooping is off): host learning as usual.
    Not,
    /// One of our own queries come back, or a malformed IGMP / MLD frame: dropped.
    Drop,
    /// IGMP or MLD from someone else: learn the sender, then snoop it.
    Packet(Box<Packet>),
}

impl Controller {
    /// The snooping state (members, receivers, counters, other queriers).
    pub fn snooper(&self) -> &Snooper {
        &self.snooper
    }

    /// Reads a packet-in as IGMP / MLD.
    pub(super) fn snoop_classify(&mut self, data: &[u8]) -> Snooped {
        if !self.config.snoop.enabled {
            return Snooped::Not;
        }
        match Packet::parse(data) {
            Ok(p) if p.src_mac == self.config.snoop.querier_mac => {
                self.snooper.count_own_query();
                Snooped::Drop
            }
            Ok(p) => Snooped::Packet(Box::new(p)),
            Err(e) if e.is_malformed() => {
                self.snooper.count_malformed();
                Snooped::Drop
            }
            Err(_) => Snooped::Not,
        }
    }

    /// Snoops a packet that arrived at `at` (its sender already learned).
    pub(super) fn snoop_packet(&mut self, at: Endpoint, p: &Packet) {
        let edge = self.topo.is_edge_port(at);
        let fx = self.snooper.handle_packet(self.now, at, edge, p);
        self.snoop_apply(fx);
    }

    fn ready_switches(&self) -> BTreeSet<Dpid> {
        self.by_dpid
            .keys()
            .copied()
            .filter(|d| self.is_ready(*d))
            .collect()
    }

    /// Runs the snooper's timers (and starts the querier on switches that became ready).
    pub(super) fn snoop_timers(&mut self) {
        if !self.config.snoop.enabled {
            return;
        }
        let ready = self.ready_switches();
        if self.snooper.needs_sync(&ready) {
            self.snooper.sync_switches(self.now, &ready);
        }
        let fx = self.snooper.handle_timeout(self.now);
        self.snoop_apply(fx);
    }

    /// When the snooper's timers need running.
    pub(super) fn snoop_timeout(&self) -> Option<Time> {
        if !self.config.snoop.enabled {
            return None;
        }
        if self.snooper.needs_sync(&self.ready_switches()) {
            return Some(self.now);
        }
        self.snooper.poll_timeout()
    }

    /// The punt flows every switch should have.
    pub(super) fn snoop_flows(&self) -> Vec<FlowMod> {
        if self.config.snoop.enabled {
            crate::snoop::punt_flows()
        } else {
            Vec::new()
        }
    }

    fn snoop_apply(&mut self, fx: Effects) {
        for q in fx.queries {
            self.send_snoop_query(q);
        }
        for g in fx.changed {
            self.snooped_members_changed(g);
        }
    }

    /// The up edge ports of a switch, in order.
    fn up_edge_ports(&self, dpid: Dpid) -> Vec<PortNo> {
        self.switches
            .get(&dpid)
            .map(|r| {
                r.ports
                    .values()
                    .filter(|p| p.port_no.is_physical() && p.is_up())
                    .map(|p| p.port_no)
                    .filter(|p| self.topo.is_edge_port(Endpoint::new(dpid, *p)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn send_snoop_query(&mut self, q: QueryOut) {
        let (dpid, ports) = match q.target {
            QueryTarget::Switch(d) => (d, self.up_edge_ports(d)),
            QueryTarget::Port(e) => (
                e.dpid,
                self.up_edge_ports(e.dpid)
                    .into_iter()
                    .filter(|p| *p == e.port)
                    .collect(),
            ),
        };
        let Some(conn) = self.ready_conn(dpid) else {
            return;
        };
        if ports.is_empty() {
            return;
        }
        let cfg = &self.config.snoop;
        let src = if q.v6 {
            IpAddr::V6(cfg.querier_v6)
        } else {
            IpAddr::V4(cfg.querier_v4)
        };
        // Group-specific queries ask for an answer within the last member query interval.
        let max_resp = if q.group.is_some() {
            cfg.last_member_query_interval
        } else {
            cfg.query_response_interval
        };
        let packet = parse::query(
            cfg.querier_mac,
            src,
            q.group,
            max_resp,
            cfg.robustness,
            cfg.query_interval,
        );
        let Ok(frame) = packet.emit() else {
            return;
        };
        self.snooper.count_queries_sent(1);
        let actions = ports.into_iter().map(Action::output).collect();
        self.send(conn, Body::PacketOut(PacketOut::new(actions, frame)));
    }

    /// The snooper's member set of `addr` changed: a snooped group with that address follows.
    fn snooped_members_changed(&mut self, addr: IpAddr) {
        let Some(name) = self
            .groups
            .iter()
            .find(|(_, g)| g.snooped && g.addr == addr)
            .map(|(n, _)| n.clone())
        else {
            return;
        };
        let new = self.snooper.members(addr);
        let Some(g) = self.groups.get_mut(&name) else {
            return;
        };
        if g.members == new {
            return;
        }
        let joined: Vec<IpAddr> = new.difference(&g.members).copied().collect();
        let left: BTreeSet<IpAddr> = g.members.difference(&new).copied().collect();
        g.members = new.clone();
        // Like a PUT with new members: a new membership version (rendezvous plans follow it).
        g.version += 1;
        self.dirty = true;
        self.event(EventKind::GroupMembers {
            name: name.clone(),
            addr,
            joined,
            left: left.iter().copied().collect(),
            members: new.into_iter().collect(),
        });
        // Subsets of the group lose the members that left.
        let mut shrunk = Vec::new();
        let mut emptied = Vec::new();
        for (a, s) in self.subsets.iter_mut().filter(|(_, s)| s.group == name) {
            let before = s.members.len();
            s.members.retain(|m| !left.contains(m));
            if s.members.is_empty() {
                emptied.push(*a);
            } else if s.members.len() != before {
                shrunk.push(*a);
            }
        }
        for a in emptied {
            self.remove_subset(a, RemovalReason::MembersLeft, Vec::new());
        }
        self.refresh_forwarding(false);
        // A member that shared its port with one that stays leaves the tree as it was.
        for a in shrunk {
            self.replan(a);
        }
    }

    /// `Command::PutSnoopedGroup`: a group whose members are the hosts that joined `addr`.
    pub(super) fn put_snooped_group(
        &mut self,
        name: String,
        addr: IpAddr,
    ) -> Result<Reply, CommandError> {
        if !self.config.snoop.enabled {
            return Err(CommandError::SnoopingDisabled { name });
        }
        let members: Vec<IpAddr> = self.snooper.members(addr).into_iter().collect();
        self.put_group(name.clone(), addr, members)?;
        if let Some(g) = self.groups.get_mut(&name) {
            g.snooped = true;
        }
        self.dirty = true;
        self.group(&name)
            .map(Reply::Group)
            .ok_or(CommandError::UnknownGroup { name })
    }

    /// After a restore: snooped groups keep their members until they report again or the
    /// membership interval passes.
    pub(super) fn snoop_restore(&mut self, snap: &crate::snapshot::Snapshot, now: Time) {
        for r in snap.groups.iter().filter(|r| r.snooped) {
            if let Some(g) = self.groups.get_mut(&r.name) {
                g.snooped = true;
                self.snooper.restore_members(r.addr, &r.members, now);
            }
        }
    }
}
