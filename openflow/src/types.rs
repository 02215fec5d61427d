//! Identifier newtypes shared by messages (OF1.3.5 §7.2).

use crate::macros::open_enum;

/// Wire version of OpenFlow 1.3 (OFP_VERSION).
pub const OFP_VERSION: u8 = 0x04;

/// Transaction id of a message header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Xid(pub u32);

/// Datapath id — `datapath_id`: the switch's 64-bit identity (low 48 bits usually a MAC).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DatapathId(pub u64);

impl core::fmt::Debug for DatapathId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DatapathId({:#018x})", self.0)
    }
}

impl core::fmt::Display for DatapathId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Port number — `ofp_port_no` (OF1.3.5 §7.2.1). Reserved ports are associated constants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortNo(pub u32);

impl PortNo {
    /// `OFPP_MAX`: the highest physical port number.
    pub const MAX: PortNo = PortNo(0xffff_ff00);
    /// `OFPP_IN_PORT`: send back out of the input port.
    pub const IN_PORT: PortNo = PortNo(0xffff_fff8);
    /// `OFPP_TABLE`: submit to the first flow table (packet-out only).
    pub const TABLE: PortNo = PortNo(0xffff_fff9);
    /// `OFPP_NORMAL`: the switch's non-OpenFlow forwarding.
    pub const NORMAL: PortNo = PortNo(0xffff_fffa);
    /// `OFPP_FLOOD`: every port but the input port and blocked ones.
    pub const FLOOD: PortNo = PortNo(0xffff_fffb);
    /// `OFPP_ALL`: every port but the input port.
    pub const ALL: PortNo = PortNo(0xffff_fffc);
    /// `OFPP_CONTROLLER`: to the controller as a packet-in.
    pub const CONTROLLER: PortNo = PortNo(0xffff_fffd);
    /// `OFPP_LOCAL`: the switch's local networking stack.
    pub const LOCAL: PortNo = PortNo(0xffff_fffe);
    /// `OFPP_ANY`: wildcard in requests and commands.
    pub const ANY: PortNo = PortNo(0xffff_ffff);

    /// A physical (or logical) port, not a reserved one.
    pub fn is_physical(self) -> bool {
        self.0 >= 1 && self.0 <= Self::MAX.0
    }
}

impl core::fmt::Debug for PortNo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match *self {
            PortNo::IN_PORT => "IN_PORT",
            PortNo::TABLE => "TABLE",
            PortNo::NORMAL => "NORMAL",
            PortNo::FLOOD => "FLOOD",
            PortNo::ALL => "ALL",
            PortNo::CONTROLLER => "CONTROLLER",
            PortNo::LOCAL => "LOCAL",
            PortNo::ANY => "ANY",
            _ => return write!(f, "PortNo({})", self.0),
        };
        f.write_str(name)
    }
}

/// Group id — `group_id` (OF1.3.5 §7.3.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u32);

impl GroupId {
    /// `OFPG_MAX`: the highest group number.
    pub const MAX: GroupId = GroupId(0xffff_ff00);
    /// `OFPG_ALL`: every group, in group delete and stats requests.
    pub const ALL: GroupId = GroupId(0xffff_fffc);
    /// `OFPG_ANY`: wildcard, no group.
    pub const ANY: GroupId = GroupId(0xffff_ffff);
}

/// Flow table id. `TableId::ALL` (`OFPTT_ALL`) means every table in requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId(pub u8);

impl TableId {
    /// `OFPTT_MAX`.
    pub const MAX: TableId = TableId(0xfe);
    /// `OFPTT_ALL`.
    pub const ALL: TableId = TableId(0xff);
}

/// Buffer id of a packet buffered on the switch; `BufferId::NO_BUFFER` (`OFP_NO_BUFFER`) when
/// the whole packet travels in the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufferId(pub u32);

impl BufferId {
    pub const NO_BUFFER: BufferId = BufferId(0xffff_ffff);
}

/// Meter id (OF1.3.5 §7.3.4.4). Reserved: `SLOWPATH`, `CONTROLLER`, `ALL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MeterId(pub u32);

impl MeterId {
    /// `OFPM_MAX`.
    pub const MAX: MeterId = MeterId(0xffff_0000);
    /// `OFPM_SLOWPATH`.
    pub const SLOWPATH: MeterId = MeterId(0xffff_fffd);
    /// `OFPM_CONTROLLER`.
    pub const CONTROLLER: MeterId = MeterId(0xffff_fffe);
    /// `OFPM_ALL`.
    pub const ALL: MeterId = MeterId(0xffff_ffff);
}

/// Queue id. `QueueId::ALL` (`OFPQ_ALL`) in requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueueId(pub u32);

impl QueueId {
    pub const ALL: QueueId = QueueId(0xffff_ffff);
}

/// Flow cookie: opaque to the switch. The controller puts the transaction's trace id here.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cookie(pub u64);

impl core::fmt::Debug for Cookie {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Cookie({:#x})", self.0)
    }
}

/// `OFPCML_NO_BUFFER`: send the whole packet to the controller (output action max_len).
pub const CONTROLLER_MAX_LEN_NO_BUFFER: u16 = 0xffff;

open_enum! {
    /// Group type — `ofp_group_type` (OF1.3.5 §7.3.4.2).
    pub enum GroupType: u8 {
        /// `OFPGT_ALL`: every bucket (multicast/broadcast).
        All = 0,
        /// `OFPGT_SELECT`: one bucket (multipath).
        Select = 1,
        /// `OFPGT_INDIRECT`: the single bucket.
        Indirect = 2,
        /// `OFPGT_FF`: the first live bucket (fast failover).
        FastFailover = 3,
    }
}
