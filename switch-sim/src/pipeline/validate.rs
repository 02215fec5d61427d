//! Checks of instructions and actions before they are installed, with the error Open vSwitch
//! answers for each (calibrated against `ovs-ofctl ofp-print` and OVS's ofproto checks):
//!
//! - instructions: an unknown type is `OFPBIC_UNKNOWN_INST`, an experimenter one
//!   `OFPBIC_BAD_EXPERIMENTER`, the same type twice ONF's `OFPBIC_DUP_INST` (experimenter error
//!   2600, as OVS sends in OF1.3), a goto to this table or an earlier one
//!   `OFPBIC_BAD_TABLE_ID` (OF1.3.5 §5.1: tables are visited in increasing order), a goto past the
//!   last table `OFPBRC_BAD_TABLE_ID`, meter 0 or above `OFPM_MAX` `OFPMMFC_INVALID_METER`;
//! - actions: output to `OFPP_ANY`, a number between `OFPP_MAX` and the reserved ports, or
//!   `OFPP_TABLE` (only for PACKET_OUT, OF1.3.5 §4.5) is `OFPBAC_BAD_OUT_PORT`; a group that
//!   does not exist `OFPBAC_BAD_OUT_GROUP`; a push with an EtherType of the wrong kind
//!   `OFPBAC_BAD_ARGUMENT`; PBB push/pop and unknown actions `OFPBAC_BAD_TYPE`; set-field on a
//!   field that is not writable or with a bad value `OFPBAC_BAD_SET_ARGUMENT`, with a mask ONF's
//!   `OFPBAC_BAD_SET_MASK` (4250), of an unknown OXM `OFPBAC_BAD_SET_TYPE`; in a flow entry, an
//!   action whose header is not known to be there (set-field without its prerequisites, pop VLAN
//!   without a VLAN, TTL actions on packets not known to be IP or MPLS)
//!   `OFPBAC_MATCH_INCONSISTENT`. Group buckets are not checked against a match (they have none).

use openflow::error_msg::{
    BadActionCode, BadInstructionCode, BadRequestCode, ErrorCode, MeterModFailedCode,
};
use openflow::oxm::{Oxm, OxmField, OFPVID_PRESENT};
use openflow::{Action, GroupId, Instruction, MeterId, PortNo};

use super::flow_match::{parts, prereq_ok, value_ok, Known};
use super::Pipeline;
use crate::packet::edit::is_mpls;
use crate::packet::place;

/// The ONF experimenter id, for the OF1.4 error codes OVS sends as experimenter errors in 1.3.
const ONF_EXPERIMENTER: u32 = 0x4f4e_4600;

fn onf(exp_type: u16) -> ErrorCode {
    ErrorCode::Experimenter {
        exp_type,
        experimenter: ONF_EXPERIMENTER,
    }
}

/// A flow entry's instructions, in the order OF1.3.5 §5.9 executes them whatever their order
/// in the message: meter, apply-actions, clear-actions, write-actions, write-metadata, goto.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Program {
    pub apply: Vec<Action>,
    pub clear: bool,
    pub write: Vec<Action>,
    pub metadata: Option<(u64, u64)>,
    pub goto: Option<u8>,
}

/// Where actions are being checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Site {
    Flow,
    Bucket,
    PacketOut,
}

/// Groups an action list names.
pub(crate) fn groups_of(actions: &[Action]) -> impl Iterator<Item = u32> + '_ {
    actions.iter().filter_map(|a| match a {
        Action::Group(g) => Some(g.0),
        _ => None,
    })
}

impl Program {
    /// Every group the program names (for reference counts and group deletion).
    pub fn groups(&self) -> Vec<u32> {
        let mut g: Vec<u32> = groups_of(&self.apply)
            .chain(groups_of(&self.write))
            .collect();
        g.sort_unstable();
        g.dedup();
        g
    }

    /// Whether an output action (apply or write) names `port` (the `out_port` filter).
    pub fn outputs_to(&self, port: PortNo) -> bool {
        self.apply
            .iter()
            .chain(&self.write)
            .any(|a| matches!(a, Action::Output { port: p, .. } if *p == port))
    }
}

fn writable(f: OxmField) -> bool {
    !matches!(
        f,
        OxmField::InPort
            | OxmField::InPhyPort
            | OxmField::EthType
            | OxmField::IpProto
            | OxmField::MplsBos
            | OxmField::PbbIsid
            | OxmField::Ipv6Exthdr
    )
}

impl Pipeline {
    /// Checks a flow's instructions (for `table`, or for every table when `None`) against what
    /// its match says about packets, and compiles them.
    pub(crate) fn check_instructions(
        &self,
        table: Option<u8>,
        instructions: &[Instruction],
        known: Known,
    ) -> Result<Program, ErrorCode> {
        let mut prog = Program::default();
        let mut seen: u32 = 0;
        let mut meter = None;
        for ins in instructions {
            let bit = match ins {
                Instruction::GotoTable(_) => 1,
                Instruction::WriteMetadata { .. } => 2,
                Instruction::WriteActions(_) => 4,
                Instruction::ApplyActions(_) => 8,
                Instruction::ClearActions => 16,
                Instruction::Meter(_) => 32,
                Instruction::Experimenter { .. } => {
                    return Err(BadInstructionCode::BadExperimenter.into())
                }
                _ => return Err(BadInstructionCode::UnknownInst.into()),
            };
            if seen & bit != 0 {
                return Err(onf(2600));
            }
            seen |= bit;
            match ins {
                Instruction::GotoTable(t) => {
                    if table.is_some_and(|cur| t.0 <= cur) {
                        return Err(BadInstructionCode::BadTableId.into());
                    }
                    prog.goto = Some(t.0);
                }
                Instruction::WriteMetadata { metadata, mask } => {
                    prog.metadata = Some((*metadata, *mask));
                }
                Instruction::WriteActions(a) => prog.write = a.clone(),
                Instruction::ApplyActions(a) => prog.apply = a.clone(),
                Instruction::ClearActions => prog.clear = true,
                Instruction::Meter(m) => meter = Some(*m),
                _ => {}
            }
        }
        if let Some(m) = meter {
            if m.0 == 0 || m.0 > MeterId::MAX.0 {
                return Err(MeterModFailedCode::InvalidMeter.into());
            }
        }
        // Actions are checked in execution order: apply-actions first, then the action set
        // from the state they leave.
        // BIER actions run in apply-actions only: the action set has no place for them.
        if self.bier.is_some() && prog.write.iter().any(crate::bier::dataplane::is_ours) {
            return Err(BadActionCode::UnsupportedOrder.into());
        }
        let mut k = known;
        self.check_actions(&prog.apply, Site::Flow, Some(&mut k))?;
        self.check_actions(&prog.write, Site::Flow, Some(&mut k))?;
        if let Some(t) = prog.goto {
            if usize::from(t) >= self.tables.len() {
                return Err(BadRequestCode::BadTableId.into());
            }
        }
        Ok(prog)
    }

    /// Checks an action list. `known` is `Some` for flow entries (actions are checked against
    /// the match and update what is known, in order).
    pub(crate) fn check_actions(
        &self,
        actions: &[Action],
        site: Site,
        mut known: Option<&mut Known>,
    ) -> Result<(), ErrorCode> {
        for a in actions {
            self.check_action(a, site, known.as_deref_mut())?;
        }
        if self.bier.is_some() {
            crate::bier::dataplane::check_order(actions)?;
        }
        Ok(())
    }

    fn check_action(
        &self,
        a: &Action,
        site: Site,
        known: Option<&mut Known>,
    ) -> Result<(), ErrorCode> {
        let inconsistent = || ErrorCode::from(BadActionCode::MatchInconsistent);
        match a {
            Action::Output { port, .. } => self.check_out_port(*port, site)?,
            Action::Group(g) => {
                if !self.groups.contains_key(&g.0) || g.0 > GroupId::MAX.0 {
                    return Err(BadActionCode::BadOutGroup.into());
                }
            }
            Action::PushVlan(et) => {
                if *et != 0x8100 && *et != 0x88a8 {
                    return Err(BadActionCode::BadArgument.into());
                }
                if let Some(k) = known {
                    k.vlan = true;
                }
            }
            Action::PopVlan => {
                if let Some(k) = known {
                    if !k.vlan {
                        return Err(inconsistent());
                    }
                    k.vlan = false;
                }
            }
            Action::PushMpls(et) => {
                if !is_mpls(*et) {
                    return Err(BadActionCode::BadArgument.into());
                }
                if let Some(k) = known {
                    k.eth_type = Some(*et);
                    k.ip_proto = None;
                }
            }
            Action::PopMpls(et) => {
                if let Some(k) = known {
                    if !k.is_mpls() {
                        return Err(inconsistent());
                    }
                    k.eth_type = Some(*et);
                }
            }
            Action::SetMplsTtl(_) | Action::DecMplsTtl => {
                if known.is_some_and(|k| !k.is_mpls()) {
                    return Err(inconsistent());
                }
            }
            Action::SetNwTtl(_) | Action::DecNwTtl => {
                if known.is_some_and(|k| !k.is_ip()) {
                    return Err(inconsistent());
                }
            }
            Action::CopyTtlIn | Action::CopyTtlOut | Action::SetQueue(_) => {}
            Action::SetField(oxm) => check_set_field(oxm, known)?,
            Action::Experimenter { experimenter, data } => match self.bier.as_deref() {
                Some(b) if *experimenter == openflow::ext::bier::EXPERIMENTER_ID => {
                    let a = crate::bier::dataplane::check_action(b.config(), data)?;
                    if let Some(k) = known {
                        // What later actions may rely on: the EtherType changes.
                        match a {
                            openflow::ext::bier::BierAction::Encap(_) => {
                                k.eth_type = Some(bier::ETHERTYPE_BIER);
                                k.ip_proto = None;
                            }
                            openflow::ext::bier::BierAction::Decap => {
                                k.eth_type = None;
                                k.ip_proto = None;
                            }
                            openflow::ext::bier::BierAction::Forward => {}
                        }
                    }
                }
                _ => return Err(BadActionCode::BadExperimenter.into()),
            },
            _ => return Err(BadActionCode::BadType.into()),
        }
        Ok(())
    }

    fn check_out_port(&self, port: PortNo, site: Site) -> Result<(), ErrorCode> {
        let bad = Err(BadActionCode::BadOutPort.into());
        match port {
            PortNo::IN_PORT
            | PortNo::NORMAL
            | PortNo::FLOOD
            | PortNo::ALL
            | PortNo::CONTROLLER
            | PortNo::LOCAL => Ok(()),
            PortNo::TABLE if site == Site::PacketOut => Ok(()),
            PortNo::TABLE | PortNo::ANY => bad,
            p if p.0 >= PortNo::MAX.0 => bad,
            p if self.config.strict_ports && !self.ports.contains_key(&p.0) => bad,
            _ => Ok(()),
        }
    }

    /// Checks the actions of a PACKET_OUT.
    pub(crate) fn check_packet_out_actions(&self, actions: &[Action]) -> Result<(), ErrorCode> {
        self.check_actions(actions, Site::PacketOut, None)
    }
}

fn check_set_field(oxm: &Oxm, known: Option<&mut Known>) -> Result<(), ErrorCode> {
    let Some((f, value, mask)) = parts(oxm) else {
        return Err(BadActionCode::BadSetType.into());
    };
    if mask.is_some() {
        return Err(onf(4250));
    }
    if place(f).is_none() || !writable(f) {
        return Err(BadActionCode::BadSetArgument.into());
    }
    let vid_ok = f != OxmField::VlanVid || value & u128::from(OFPVID_PRESENT) != 0;
    if !value_ok(f, value) || !vid_ok {
        return Err(BadActionCode::BadSetArgument.into());
    }
    if let Some(k) = known {
        let ok = match f {
            OxmField::VlanVid | OxmField::VlanPcp => k.vlan,
            _ => prereq_ok(f, k),
        };
        if !ok {
            return Err(BadActionCode::MatchInconsistent.into());
        }
        // What later actions may rely on after this one.
        if f == OxmField::Icmpv6Type {
            k.icmpv6_type = u8::try_from(value).ok();
        }
    }
    Ok(())
}
