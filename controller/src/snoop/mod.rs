//! IGMP / MLD snooping: negotiating-group membership learned from the hosts' own reports.
//!
//! - [`parse`]: IGMPv1/v2/v3 and MLDv1/v2 messages in Ethernet frames, read (checksums and
//!   headers verified, never a panic) and written (our queries).
//! - [`state`]: the membership state per group, edge port and receiver, its timers, fast
//!   leave, and the querier's schedule ([`Snooper`]).
//!
//! The state machine punts IGMP and MLD to the controller with flows of its own
//! ([`punt_flows`]), feeds the packets to the [`Snooper`], and makes the members of every
//! group declared "snooped" follow it (`controller/src/machine/snoop.rs`).

pub mod parse;
pub mod state;

pub use parse::{Message, Packet, SnoopError, Version};
pub use state::{
    Effects, OtherQuerier, QueryOut, QueryTarget, Receiver, ReceiverInfo, SnoopConfig,
    SnoopConfigError, SnoopCounters, Snooper,
};

use openflow::msg::FlowMod;
use openflow::{Action, Instruction, Match, Oxm};

use crate::reconcile::INFRA_COOKIE;
use crate::rules::{ETH_TYPE_IPV4, ETH_TYPE_IPV6, SUBSET_TABLE};

/// Priority of the IGMP / MLD punt flows: above subset (0x9000) and BIER flows, so a report
/// addressed to a subset address still reaches the controller, below LLDP (0xfff0).
pub const SNOOP_PRIORITY: u16 = 0xffe0;

/// The flows that send every IGMP packet and every MLD message (ICMPv6 types 130, 131, 132,
/// 143) whole to the controller. Reports are consumed there, never forwarded.
pub fn punt_flows() -> Vec<FlowMod> {
    let punt = |m: Match| FlowMod {
        cookie: INFRA_COOKIE,
        ..FlowMod::add(
            SUBSET_TABLE,
            SNOOP_PRIORITY,
            m,
            vec![Instruction::ApplyActions(vec![
                Action::output_to_controller(),
            ])],
        )
    };
    let mut flows = vec![punt(
        Match::new()
            .with(Oxm::EthType(ETH_TYPE_IPV4))
            .with(Oxm::IpProto(parse::IP_PROTO_IGMP)),
    )];
    for t in parse::MLD_TYPES {
        flows.push(punt(
            Match::new()
                .with(Oxm::EthType(ETH_TYPE_IPV6))
                .with(Oxm::IpProto(parse::IP_PROTO_ICMPV6))
                .with(Oxm::Icmpv6Type(t)),
        ));
    }
    flows
}
