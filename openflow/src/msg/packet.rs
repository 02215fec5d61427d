//! Packets between switch and controller: `ofp_packet_in` (OF1.3.5 §7.4.1) and
//! `ofp_packet_out` (OF1.3.5 §7.3.7).

use crate::action::Action;
use crate::error::DecodeError;
use crate::macros::open_enum;
use crate::oxm::Match;
use crate::types::{BufferId, Cookie, PortNo, TableId};
use crate::wire::{emit_list, len16, list_len, parse_list, Reader, Wire, Writer};

open_enum! {
    /// Why a packet was sent to the controller — `ofp_packet_in_reason` (OF1.3.5 §7.4.1).
    pub enum PacketInReason: u8 {
        /// `OFPR_NO_MATCH`: table miss.
        NoMatch = 0,
        /// `OFPR_ACTION`: an output action to the controller.
        Action = 1,
        /// `OFPR_INVALID_TTL`: the packet has an invalid TTL.
        InvalidTtl = 2,
    }
}

/// `OFPT_PACKET_IN` body: a 16-byte fixed part, the match (pipeline fields such as
/// `IN_PORT`), 2 bytes of zeros, then the packet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketIn {
    /// `buffer_id`: `BufferId::NO_BUFFER` when the whole packet is in `data`.
    pub buffer_id: BufferId,
    /// `total_len`: full length of the frame (may exceed `data`).
    pub total_len: u16,
    /// `reason`.
    pub reason: PacketInReason,
    /// `table_id` of the table that was looked up.
    pub table_id: TableId,
    /// `cookie` of the flow entry that sent the packet (all ones for a table miss without
    /// entry).
    pub cookie: Cookie,
    /// `match`: the packet's pipeline fields.
    pub match_: Match,
    /// The Ethernet frame (or its first bytes).
    pub data: Vec<u8>,
}

impl PacketIn {
    /// The `IN_PORT` pipeline field, if the switch sent one (OF1.3.5 §7.4.1 requires it).
    pub fn in_port(&self) -> Option<PortNo> {
        self.match_.in_port()
    }
}

impl Wire for PacketIn {
    fn wire_len(&self) -> usize {
        16 + self.match_.wire_len() + 2 + self.data.len()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.buffer_id.0);
        w.u16(self.total_len);
        w.u8(self.reason.value());
        w.u8(self.table_id.0);
        w.u64(self.cookie.0);
        self.match_.emit(w);
        // The 2 bytes align the IP header after a 14-byte Ethernet header to 32 bits.
        w.zeros(2);
        w.bytes(&self.data);
    }

    /// Parses the rest of the message as a packet-in body.
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let buffer_id = BufferId(r.u32()?);
        let total_len = r.u16()?;
        let reason = PacketInReason::from(r.u8()?);
        let table_id = TableId(r.u8()?);
        let cookie = Cookie(r.u64()?);
        let match_ = Match::parse(r)?;
        r.skip(2)?;
        Ok(PacketIn {
            buffer_id,
            total_len,
            reason,
            table_id,
            cookie,
            match_,
            data: r.rest().to_vec(),
        })
    }
}

/// `OFPT_PACKET_OUT` body: a 16-byte fixed part, the actions (`actions_len` bytes), then the
/// packet (only meaningful with `BufferId::NO_BUFFER`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketOut {
    /// `buffer_id`: a packet buffered on the switch, or `BufferId::NO_BUFFER`.
    pub buffer_id: BufferId,
    /// `in_port`: the packet's input port, or `PortNo::CONTROLLER`.
    pub in_port: PortNo,
    /// `actions`.
    pub actions: Vec<Action>,
    /// The packet.
    pub data: Vec<u8>,
}

impl PacketOut {
    /// Sends `data` (a whole frame, not buffered) through `actions`, as if it came from the
    /// controller.
    pub fn new(actions: Vec<Action>, data: Vec<u8>) -> PacketOut {
        PacketOut {
            buffer_id: BufferId::NO_BUFFER,
            in_port: PortNo::CONTROLLER,
            actions,
            data,
        }
    }
}

impl Wire for PacketOut {
    fn wire_len(&self) -> usize {
        16 + list_len(&self.actions) + self.data.len()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.buffer_id.0);
        w.u32(self.in_port.0);
        w.u16(len16(list_len(&self.actions)));
        w.zeros(6);
        emit_list(&self.actions, w);
        w.bytes(&self.data);
    }

    /// Parses the rest of the message as a packet-out body.
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let buffer_id = BufferId(r.u32()?);
        let in_port = PortNo(r.u32()?);
        let actions_len = usize::from(r.u16()?);
        r.skip(6)?;
        let mut actions = r.sub(actions_len, "packet_out actions")?;
        Ok(PacketOut {
            buffer_id,
            in_port,
            actions: parse_list(&mut actions)?,
            data: r.rest().to_vec(),
        })
    }
}

#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    pub fn packet_in_reason() -> impl Strategy<Value = PacketInReason> {
        any::<u8>().prop_map(PacketInReason::from)
    }

    pub fn packet_in() -> impl Strategy<Value = PacketIn> {
        (
            (any::<u32>(), any::<u16>(), packet_in_reason(), any::<u8>()),
            any::<u64>(),
            crate::oxm::arb::match_(),
            vec(any::<u8>(), 0..64),
        )
            .prop_map(
                |((b, total_len, reason, t), cookie, match_, data)| PacketIn {
                    buffer_id: BufferId(b),
                    total_len,
                    reason,
                    table_id: TableId(t),
                    cookie: Cookie(cookie),
                    match_,
                    data,
                },
            )
    }

    pub fn packet_out() -> impl Strategy<Value = PacketOut> {
        (
            any::<u32>(),
            any::<u32>(),
            crate::action::arb::actions(),
            vec(any::<u8>(), 0..64),
        )
            .prop_map(|(b, p, actions, data)| PacketOut {
                buffer_id: BufferId(b),
                in_port: PortNo(p),
                actions,
                data,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::parse_all;
    use proptest::prelude::*;

    #[test]
    fn actions_len_past_the_end() {
        // buffer, in_port, actions_len 16 but no actions follow.
        let b = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 16, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            parse_all::<PacketOut>(&b),
            Err(DecodeError::Truncated {
                ctx: "test",
                need: 16,
                ..
            })
        ));
    }

    #[test]
    fn packet_in_without_pad_is_truncated() {
        // fixed part, empty match, no pad.
        let mut b = vec![0xff, 0xff, 0xff, 0xff, 0, 60, 0, 0];
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&[0, 1, 0, 4, 0, 0, 0, 0]);
        assert!(matches!(
            parse_all::<PacketIn>(&b),
            Err(DecodeError::Truncated { need: 2, .. })
        ));
        b.extend_from_slice(&[0, 0]);
        let p = parse_all::<PacketIn>(&b).unwrap();
        assert!(p.data.is_empty());
        assert_eq!(p.total_len, 60);
    }

    proptest! {
        #[test]
        fn packet_in_round_trip(v in arb::packet_in()) {
            prop_assert_eq!(parse_all::<PacketIn>(&v.to_vec()).unwrap(), v);
        }

        #[test]
        fn packet_out_round_trip(v in arb::packet_out()) {
            prop_assert_eq!(parse_all::<PacketOut>(&v.to_vec()).unwrap(), v);
        }
    }
}
