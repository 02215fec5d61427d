//! One switch connection as the controller sees it: where the handshake stands, the xids it
//! handed out, and which of its messages belong to which operation.
//!
//! Handshake (OF1.3.5 §6.3.1, §7.3.1): HELLO (sent at once) → FEATURES → SET_CONFIG and the
//! four reads (PORT_DESC, GROUP_FEATURES, table-0 flows, group descriptions) → Ready, after
//! reconciliation. Guarantees: xids are never 0 and increase per connection; every message of
//! an operation's batch is recorded by xid until a later barrier reply retires it, so an
//! `OFPT_ERROR` (which carries the failed request's xid) is attributed to its operation.

use std::collections::BTreeMap;

use openflow::msg::SwitchFeatures;
use openflow::multipart::{FlowStats, GroupDesc, GroupFeatures};
use openflow::{Assembler, Port, PortNo, Xid};

use crate::machine::{ConnId, OpId};
use crate::time::Time;
use crate::topology::Dpid;

/// Most bytes of unfinished multipart replies held per connection.
const MAX_MULTIPART_HELD: usize = 64 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Our HELLO sent, waiting for the switch's.
    Hello,
    /// FEATURES_REQUEST sent.
    Features,
    /// SET_CONFIG and the reads sent, waiting for the replies.
    Sync,
    /// Reconciled; the switch is part of the fabric.
    Ready,
}

/// A read sent during the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    PortDesc,
    GroupFeatures,
    Flows,
    Groups,
}

#[derive(Debug)]
pub(crate) struct Session {
    pub phase: Phase,
    pub opened: Time,
    pub last_rx: Time,
    /// When our echo request went out, while no message came since.
    pub echo_sent: Option<Time>,
    next_xid: u32,
    pub dpid: Option<Dpid>,
    pub features: Option<SwitchFeatures>,
    pub ports: Option<BTreeMap<PortNo, Port>>,
    pub group_features: Option<Option<GroupFeatures>>,
    pub flows: Option<Vec<FlowStats>>,
    pub groups: Option<Vec<GroupDesc>>,
    pub reads: BTreeMap<Xid, Read>,
    pub assembler: Assembler,
    /// Messages of operations not yet retired by a barrier reply.
    pub inflight: BTreeMap<Xid, OpId>,
    /// The last barrier of an operation's batch on this switch.
    pub barriers: BTreeMap<Xid, OpId>,
}

impl Session {
    pub fn new(now: Time) -> Session {
        Session {
            phase: Phase::Hello,
            opened: now,
            last_rx: now,
            echo_sent: None,
            next_xid: 1,
            dpid: None,
            features: None,
            ports: None,
            group_features: None,
            flows: None,
            groups: None,
            reads: BTreeMap::new(),
            assembler: Assembler::new(MAX_MULTIPART_HELD),
            inflight: BTreeMap::new(),
            barriers: BTreeMap::new(),
        }
    }

    /// The next xid (never 0).
    pub fn xid(&mut self) -> Xid {
        let x = self.next_xid;
        self.next_xid = self.next_xid.checked_add(1).unwrap_or(1);
        Xid(x)
    }

    /// Every read answered.
    pub fn synced(&self) -> bool {
        self.ports.is_some()
            && self.group_features.is_some()
            && self.flows.is_some()
            && self.groups.is_some()
    }

    /// Records the answer to a read; a failed read (`None`) counts as an empty answer, so a
    /// switch that cannot answer one still completes its handshake.
    pub fn answer(&mut self, read: Read, body: Option<openflow::MultipartReplyBody>) {
        use openflow::MultipartReplyBody as R;
        match (read, body) {
            (Read::PortDesc, Some(R::PortDesc(p))) => {
                self.ports = Some(p.into_iter().map(|p| (p.port_no, p)).collect());
            }
            (Read::PortDesc, _) => self.ports = Some(BTreeMap::new()),
            (Read::GroupFeatures, Some(R::GroupFeatures(g))) => self.group_features = Some(Some(g)),
            (Read::GroupFeatures, _) => self.group_features = Some(None),
            (Read::Flows, Some(R::Flow(f))) => self.flows = Some(f),
            (Read::Flows, _) => self.flows = Some(Vec::new()),
            (Read::Groups, Some(R::GroupDesc(g))) => self.groups = Some(g),
            (Read::Groups, _) => self.groups = Some(Vec::new()),
        }
    }
}

impl ConnId {
    /// Helper for logs.
    pub fn get(self) -> u64 {
        self.0
    }
}
