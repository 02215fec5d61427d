//! Actions (OF1.3.5 §7.2.5): what a flow entry or a group bucket does to a packet.
//!
//! Every action is a TLV `ofp_action_header { type, len }` whose `len` is a multiple of 8 and
//! includes the header. Unknown action types keep their bytes, so they round-trip.
//!
//! Guarantees: decoding never panics; `len` below 8 or past the enclosing structure is
//! `BadLength`/`Truncated`, a `len` not a multiple of 8 is `Unaligned`, a known action with the
//! wrong length is `BadLength` (too short) or `TrailingBytes` (too long), each naming the action
//! ("action OUTPUT"). Encoding allocates nothing.
//!
//! Padding rule for `Experimenter` and `Unknown` (whose payload the spec leaves opaque): the
//! encoder writes `data` as given and then zeros up to the next multiple of 8; the decoder
//! returns every byte after the fixed part, padding included. So a value round-trips exactly
//! when its encoding needs no padding: `data.len()` a multiple of 8 for `Experimenter`,
//! `data.len() % 8 == 4` for `Unknown`.

use crate::error::DecodeError;
use crate::macros::open_enum;
use crate::oxm::Oxm;
use crate::types::{GroupId, PortNo, QueueId};
use crate::wire::{len16, pad8, round8, Reader, Wire, Writer};

open_enum! {
    /// Action type — `ofp_action_type` (OF1.3.5 §7.2.5).
    pub enum ActionType: u16 {
        /// `OFPAT_OUTPUT`.
        Output = 0,
        /// `OFPAT_COPY_TTL_OUT`.
        CopyTtlOut = 11,
        /// `OFPAT_COPY_TTL_IN`.
        CopyTtlIn = 12,
        /// `OFPAT_SET_MPLS_TTL`.
        SetMplsTtl = 15,
        /// `OFPAT_DEC_MPLS_TTL`.
        DecMplsTtl = 16,
        /// `OFPAT_PUSH_VLAN`.
        PushVlan = 17,
        /// `OFPAT_POP_VLAN`.
        PopVlan = 18,
        /// `OFPAT_PUSH_MPLS`.
        PushMpls = 19,
        /// `OFPAT_POP_MPLS`.
        PopMpls = 20,
        /// `OFPAT_SET_QUEUE`.
        SetQueue = 21,
        /// `OFPAT_GROUP`.
        Group = 22,
        /// `OFPAT_SET_NW_TTL`.
        SetNwTtl = 23,
        /// `OFPAT_DEC_NW_TTL`.
        DecNwTtl = 24,
        /// `OFPAT_SET_FIELD`.
        SetField = 25,
        /// `OFPAT_PUSH_PBB`.
        PushPbb = 26,
        /// `OFPAT_POP_PBB`.
        PopPbb = 27,
        /// `OFPAT_EXPERIMENTER`.
        Experimenter = 0xffff,
    }
}

/// One action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// `OFPAT_OUTPUT` — `ofp_action_output` (16 bytes): send out of `port`; `max_len` bytes to
    /// the controller when `port` is `PortNo::CONTROLLER` (`OFPCML_NO_BUFFER` = 0xffff: all).
    Output { port: PortNo, max_len: u16 },
    /// `OFPAT_COPY_TTL_OUT`: copy TTL outwards, from next-to-outermost to outermost header.
    CopyTtlOut,
    /// `OFPAT_COPY_TTL_IN`: copy TTL inwards, from outermost to next-to-outermost header.
    CopyTtlIn,
    /// `OFPAT_SET_MPLS_TTL` — `ofp_action_mpls_ttl`.
    SetMplsTtl(u8),
    /// `OFPAT_DEC_MPLS_TTL`.
    DecMplsTtl,
    /// `OFPAT_PUSH_VLAN` — `ofp_action_push` with the tag's ethertype (0x8100 or 0x88a8).
    PushVlan(u16),
    /// `OFPAT_POP_VLAN`: pop the outer VLAN tag.
    PopVlan,
    /// `OFPAT_PUSH_MPLS` — `ofp_action_push` with the ethertype (0x8847 or 0x8848).
    PushMpls(u16),
    /// `OFPAT_POP_MPLS` — `ofp_action_pop_mpls` with the ethertype of the payload.
    PopMpls(u16),
    /// `OFPAT_SET_QUEUE` — `ofp_action_set_queue`.
    SetQueue(QueueId),
    /// `OFPAT_GROUP` — `ofp_action_group`: process the packet through a group.
    Group(GroupId),
    /// `OFPAT_SET_NW_TTL` — `ofp_action_nw_ttl`: set the IP TTL.
    SetNwTtl(u8),
    /// `OFPAT_DEC_NW_TTL`: decrement the IP TTL.
    DecNwTtl,
    /// `OFPAT_SET_FIELD` — `ofp_action_set_field`: one OXM (unmasked in OpenFlow 1.3), padded
    /// to 8 bytes.
    SetField(Oxm),
    /// `OFPAT_PUSH_PBB` — `ofp_action_push` with the ethertype (0x88e7).
    PushPbb(u16),
    /// `OFPAT_POP_PBB`: pop the outer PBB service tag.
    PopPbb,
    /// `OFPAT_EXPERIMENTER` — `ofp_action_experimenter_header` followed by `data` (see the
    /// module's padding rule).
    Experimenter { experimenter: u32, data: Vec<u8> },
    /// An action type this crate has no name for: `data` is everything after the 4-byte
    /// header (see the module's padding rule).
    Unknown { kind: u16, data: Vec<u8> },
}

impl Action {
    /// The action's `type` field.
    pub fn kind(&self) -> ActionType {
        match self {
            Action::Output { .. } => ActionType::Output,
            Action::CopyTtlOut => ActionType::CopyTtlOut,
            Action::CopyTtlIn => ActionType::CopyTtlIn,
            Action::SetMplsTtl(_) => ActionType::SetMplsTtl,
            Action::DecMplsTtl => ActionType::DecMplsTtl,
            Action::PushVlan(_) => ActionType::PushVlan,
            Action::PopVlan => ActionType::PopVlan,
            Action::PushMpls(_) => ActionType::PushMpls,
            Action::PopMpls(_) => ActionType::PopMpls,
            Action::SetQueue(_) => ActionType::SetQueue,
            Action::Group(_) => ActionType::Group,
            Action::SetNwTtl(_) => ActionType::SetNwTtl,
            Action::DecNwTtl => ActionType::DecNwTtl,
            Action::SetField(_) => ActionType::SetField,
            Action::PushPbb(_) => ActionType::PushPbb,
            Action::PopPbb => ActionType::PopPbb,
            Action::Experimenter { .. } => ActionType::Experimenter,
            Action::Unknown { kind, .. } => ActionType::from(*kind),
        }
    }

    /// Output to `port` (`max_len` 0: controllers get no bytes unless `output_to_controller`).
    pub fn output(port: PortNo) -> Self {
        Action::Output { port, max_len: 0 }
    }

    /// Output the whole packet to the controller (`OFPCML_NO_BUFFER`).
    pub fn output_to_controller() -> Self {
        Action::Output {
            port: PortNo::CONTROLLER,
            max_len: crate::types::CONTROLLER_MAX_LEN_NO_BUFFER,
        }
    }
}

/// The spec's name of a known action type, as the `ctx` of its decode errors.
fn ctx_of(kind: ActionType) -> &'static str {
    match kind {
        ActionType::Output => "action OUTPUT",
        ActionType::CopyTtlOut => "action COPY_TTL_OUT",
        ActionType::CopyTtlIn => "action COPY_TTL_IN",
        ActionType::SetMplsTtl => "action SET_MPLS_TTL",
        ActionType::DecMplsTtl => "action DEC_MPLS_TTL",
        ActionType::PushVlan => "action PUSH_VLAN",
        ActionType::PopVlan => "action POP_VLAN",
        ActionType::PushMpls => "action PUSH_MPLS",
        ActionType::PopMpls => "action POP_MPLS",
        ActionType::SetQueue => "action SET_QUEUE",
        ActionType::Group => "action GROUP",
        ActionType::SetNwTtl => "action SET_NW_TTL",
        ActionType::DecNwTtl => "action DEC_NW_TTL",
        ActionType::SetField => "action SET_FIELD",
        ActionType::PushPbb => "action PUSH_PBB",
        ActionType::PopPbb => "action POP_PBB",
        ActionType::Experimenter => "action EXPERIMENTER",
        ActionType::Other(_) => "action",
    }
}

impl Wire for Action {
    fn wire_len(&self) -> usize {
        match self {
            Action::Output { .. } => 16,
            // OF1.3.5 §7.2.5: set-field is header + OXM, padded to a multiple of 8.
            Action::SetField(oxm) => round8(4 + oxm.wire_len()),
            Action::Experimenter { data, .. } => round8(8 + data.len()),
            Action::Unknown { data, .. } => round8(4 + data.len()),
            _ => 8,
        }
    }

    fn emit(&self, w: &mut Writer<'_>) {
        // Fixed-size actions are assembled on the stack and written with one call.
        let pad4 = |w: &mut Writer<'_>, kind: ActionType| fixed8(w, kind, [0; 4]);
        let ethertype = |w: &mut Writer<'_>, kind: ActionType, t: u16| {
            let [a, b] = t.to_be_bytes();
            fixed8(w, kind, [a, b, 0, 0]);
        };
        match self {
            Action::Output { port, max_len } => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&header(ActionType::Output, 16));
                b[4..8].copy_from_slice(&port.0.to_be_bytes());
                b[8..10].copy_from_slice(&max_len.to_be_bytes());
                // b[10..16]: pad[6], zero.
                w.bytes(&b);
            }
            Action::CopyTtlOut => pad4(w, ActionType::CopyTtlOut),
            Action::CopyTtlIn => pad4(w, ActionType::CopyTtlIn),
            Action::DecMplsTtl => pad4(w, ActionType::DecMplsTtl),
            Action::PopVlan => pad4(w, ActionType::PopVlan),
            Action::DecNwTtl => pad4(w, ActionType::DecNwTtl),
            Action::PopPbb => pad4(w, ActionType::PopPbb),
            Action::SetMplsTtl(t) => fixed8(w, ActionType::SetMplsTtl, [*t, 0, 0, 0]),
            Action::SetNwTtl(t) => fixed8(w, ActionType::SetNwTtl, [*t, 0, 0, 0]),
            Action::PushVlan(t) => ethertype(w, ActionType::PushVlan, *t),
            Action::PushMpls(t) => ethertype(w, ActionType::PushMpls, *t),
            Action::PopMpls(t) => ethertype(w, ActionType::PopMpls, *t),
            Action::PushPbb(t) => ethertype(w, ActionType::PushPbb, *t),
            Action::SetQueue(q) => fixed8(w, ActionType::SetQueue, q.0.to_be_bytes()),
            Action::Group(g) => fixed8(w, ActionType::Group, g.0.to_be_bytes()),
            Action::SetField(oxm) => {
                let len = self.wire_len();
                w.bytes(&header(ActionType::SetField, len));
                oxm.emit(w);
                w.zeros(len - 4 - oxm.wire_len());
            }
            Action::Experimenter { experimenter, data } => {
                let len = self.wire_len();
                w.bytes(&header(ActionType::Experimenter, len));
                w.u32(*experimenter);
                w.bytes(data);
                w.zeros(len - 8 - data.len());
            }
            Action::Unknown { kind, data } => {
                let len = self.wire_len();
                w.bytes(&header(ActionType::Other(*kind), len));
                w.bytes(data);
                w.zeros(len - 4 - data.len());
            }
        }
    }

    #[inline]
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        parse_action(r)
    }
}

/// The actions filling `bytes` (a bucket's or an instruction's list), read with a reader
/// named `ctx`; the vector is reserved exactly. Always inlined into those two loops: a call
/// per list costs more than the list (usually one action) takes to decode.
#[inline(always)]
pub(crate) fn parse_actions(bytes: &[u8], ctx: &'static str) -> Result<Vec<Action>, DecodeError> {
    let mut r = Reader::new(bytes, ctx);
    let mut actions = Vec::with_capacity(crate::wire::count_tlv16(bytes, 2, 8));
    while !r.is_empty() {
        actions.push(parse_action(&mut r)?);
    }
    Ok(actions)
}

/// One action. Inlined into the list loop, so the reader stays in registers; the error values
/// and the rare, allocating kinds are out of line.
#[inline(always)]
fn parse_action(r: &mut Reader<'_>) -> Result<Action, DecodeError> {
    let kind = ActionType::from(r.u16()?);
    let len = usize::from(r.u16()?);
    // OF1.3.5 §7.2.5: "len ... must be a multiple of 8" (and covers the 8-byte header).
    if len < 8 || len % 8 != 0 {
        return Err(bad_header(kind, len));
    }
    let Some(body) = r.try_bytes(len - 4) else {
        return Err(r.truncated_as(ctx_of(kind), len - 4));
    };
    // The 4 bytes after the header of an 8-byte action (len 8 exactly); more is an error.
    let word = || match body.first_chunk::<4>() {
        Some(w) if len == 8 => Ok(*w),
        _ => Err(too_long(kind, 8, len)),
    };
    Ok(match kind {
        ActionType::Output => {
            // ofp_action_output: port, max_len, pad[6] (16 bytes).
            let Some(b) = body.first_chunk::<12>() else {
                return Err(DecodeError::BadLength {
                    ctx: ctx_of(kind),
                    len,
                    min: 16,
                });
            };
            if len > 16 {
                return Err(too_long(kind, 16, len));
            }
            let [p0, p1, p2, p3, m0, m1, ..] = *b;
            Action::Output {
                port: PortNo(u32::from_be_bytes([p0, p1, p2, p3])),
                max_len: u16::from_be_bytes([m0, m1]),
            }
        }
        ActionType::CopyTtlOut => word().map(|_| Action::CopyTtlOut)?,
        ActionType::CopyTtlIn => word().map(|_| Action::CopyTtlIn)?,
        ActionType::DecMplsTtl => word().map(|_| Action::DecMplsTtl)?,
        ActionType::PopVlan => word().map(|_| Action::PopVlan)?,
        ActionType::DecNwTtl => word().map(|_| Action::DecNwTtl)?,
        ActionType::PopPbb => word().map(|_| Action::PopPbb)?,
        ActionType::SetMplsTtl => Action::SetMplsTtl(word()?[0]),
        ActionType::SetNwTtl => Action::SetNwTtl(word()?[0]),
        ActionType::PushVlan => Action::PushVlan(ethertype(word()?)),
        ActionType::PushMpls => Action::PushMpls(ethertype(word()?)),
        ActionType::PopMpls => Action::PopMpls(ethertype(word()?)),
        ActionType::PushPbb => Action::PushPbb(ethertype(word()?)),
        ActionType::SetQueue => Action::SetQueue(QueueId(u32::from_be_bytes(word()?))),
        ActionType::Group => Action::Group(GroupId(u32::from_be_bytes(word()?))),
        ActionType::SetField | ActionType::Experimenter | ActionType::Other(_) => {
            parse_variable(kind, len, body)?
        }
    })
}

/// The actions of variable length: set-field, experimenter, unknown (out of line).
#[inline(never)]
fn parse_variable(kind: ActionType, len: usize, body: &[u8]) -> Result<Action, DecodeError> {
    let ctx = ctx_of(kind);
    Ok(match kind {
        ActionType::Experimenter => {
            // len ≥ 8, so the experimenter id is there.
            let (id, data) = body
                .split_first_chunk::<4>()
                .ok_or(DecodeError::BadLength { ctx, len, min: 8 })?;
            Action::Experimenter {
                experimenter: u32::from_be_bytes(*id),
                data: data.to_vec(),
            }
        }
        ActionType::Other(kind) => Action::Unknown {
            kind,
            data: body.to_vec(),
        },
        _ => {
            let mut b = Reader::new(body, ctx);
            let oxm = Oxm::parse(&mut b)?;
            // Exactly the padding to 8 may follow the OXM.
            let pad = pad8(4 + oxm.wire_len());
            if b.remaining() != pad {
                return Err(DecodeError::TrailingBytes {
                    ctx,
                    offset: 4 + b.pos(),
                    extra: b.remaining().saturating_sub(pad),
                });
            }
            Action::SetField(oxm)
        }
    })
}

/// A header whose `len` is below 8 or not a multiple of 8.
#[cold]
#[inline(never)]
fn bad_header(kind: ActionType, len: usize) -> DecodeError {
    let ctx = ctx_of(kind);
    if len < 8 {
        DecodeError::BadLength { ctx, len, min: 8 }
    } else {
        DecodeError::Unaligned { ctx, len }
    }
}

/// A fixed-size action of `size` bytes whose `len` says more.
#[cold]
#[inline(never)]
fn too_long(kind: ActionType, size: usize, len: usize) -> DecodeError {
    DecodeError::TrailingBytes {
        ctx: ctx_of(kind),
        offset: size,
        extra: len - size,
    }
}

/// An action header: type and length.
#[inline]
fn header(kind: ActionType, len: usize) -> [u8; 4] {
    let [a, b] = kind.value().to_be_bytes();
    let [c, d] = len16(len).to_be_bytes();
    [a, b, c, d]
}

/// Writes an 8-byte action: header and one 4-byte word.
#[inline]
fn fixed8(w: &mut Writer<'_>, kind: ActionType, word: [u8; 4]) {
    let [a, b, c, d] = header(kind, 8);
    let [e, f, g, h] = word;
    w.bytes(&[a, b, c, d, e, f, g, h]);
}

/// The ethertype in the first two bytes of `ofp_action_push` / `ofp_action_pop_mpls`.
fn ethertype(word: [u8; 4]) -> u16 {
    u16::from_be_bytes([word[0], word[1]])
}

/// Proptest strategies for actions whose values round-trip exactly.
#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Any action, set-field with an unmasked OXM, opaque payloads sized to need no padding.
    pub fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            (any::<u32>(), any::<u16>()).prop_map(|(p, max_len)| Action::Output {
                port: PortNo(p),
                max_len
            }),
            Just(Action::CopyTtlOut),
            Just(Action::CopyTtlIn),
            any::<u8>().prop_map(Action::SetMplsTtl),
            Just(Action::DecMplsTtl),
            any::<u16>().prop_map(Action::PushVlan),
            Just(Action::PopVlan),
            any::<u16>().prop_map(Action::PushMpls),
            any::<u16>().prop_map(Action::PopMpls),
            any::<u32>().prop_map(|q| Action::SetQueue(QueueId(q))),
            any::<u32>().prop_map(|g| Action::Group(GroupId(g))),
            any::<u8>().prop_map(Action::SetNwTtl),
            Just(Action::DecNwTtl),
            crate::oxm::arb::oxm_unmasked().prop_map(Action::SetField),
            any::<u16>().prop_map(Action::PushPbb),
            Just(Action::PopPbb),
            (any::<u32>(), 0usize..4)
                .prop_flat_map(|(e, n)| (Just(e), vec(any::<u8>(), n * 8)))
                .prop_map(|(experimenter, data)| Action::Experimenter { experimenter, data }),
            (
                any::<u16>().prop_filter("known action type", |k| matches!(
                    ActionType::from(*k),
                    ActionType::Other(_)
                )),
                0usize..4
            )
                .prop_flat_map(|(k, n)| (Just(k), vec(any::<u8>(), n * 8 + 4)))
                .prop_map(|(kind, data)| Action::Unknown { kind, data }),
        ]
    }

    /// A list of up to 6 actions.
    pub fn actions() -> impl Strategy<Value = Vec<Action>> {
        vec(action(), 0..6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeError;
    use crate::oxm::test_util::{golden, parse_err, round_trip};
    use crate::wire::parse_list;
    use proptest::prelude::*;

    // Golden actions assembled by hand from OF1.3.5 §7.2.5 (ofp_action_* layouts, type numbers
    // from ofp_action_type). Each was checked with `ovs-ofctl ofp-print` in a FLOW_MOD's
    // APPLY_ACTIONS; OVS 3.1 rejects COPY_TTL_OUT/IN, PUSH/POP_PBB and type 99, so those were
    // checked with tshark's openflow_v4 dissector.

    const OUTPUT: &str = concat!(
        "0000",         // type OFPAT_OUTPUT
        "0010",         // len 16
        "fffffffd",     // port OFPP_CONTROLLER
        "ffff",         // max_len OFPCML_NO_BUFFER
        "000000000000", // pad[6]
    );
    const COPY_TTL_OUT: &str = concat!(
        "000b",     // type OFPAT_COPY_TTL_OUT
        "0008",     // len 8
        "00000000", // pad[4]
    );
    const COPY_TTL_IN: &str = concat!(
        "000c",     // type OFPAT_COPY_TTL_IN
        "0008",     // len
        "00000000", // pad[4]
    );
    const SET_MPLS_TTL: &str = concat!(
        "000f",   // type OFPAT_SET_MPLS_TTL
        "0008",   // len
        "40",     // mpls_ttl 64
        "000000", // pad[3]
    );
    const DEC_MPLS_TTL: &str = concat!(
        "0010",     // type OFPAT_DEC_MPLS_TTL
        "0008",     // len
        "00000000", // pad[4]
    );
    const PUSH_VLAN: &str = concat!(
        "0011", // type OFPAT_PUSH_VLAN
        "0008", // len
        "8100", // ethertype 802.1Q
        "0000", // pad[2]
    );
    const POP_VLAN: &str = concat!(
        "0012",     // type OFPAT_POP_VLAN
        "0008",     // len
        "00000000", // pad[4]
    );
    const PUSH_MPLS: &str = concat!(
        "0013", // type OFPAT_PUSH_MPLS
        "0008", // len
        "8847", // ethertype MPLS unicast
        "0000", // pad[2]
    );
    const POP_MPLS: &str = concat!(
        "0014", // type OFPAT_POP_MPLS
        "0008", // len
        "0800", // ethertype of the payload: IPv4
        "0000", // pad[2]
    );
    const SET_QUEUE: &str = concat!(
        "0015",     // type OFPAT_SET_QUEUE
        "0008",     // len
        "00000003", // queue_id 3
    );
    const GROUP: &str = concat!(
        "0016",     // type OFPAT_GROUP
        "0008",     // len
        "00000005", // group_id 5
    );
    const SET_NW_TTL: &str = concat!(
        "0017",   // type OFPAT_SET_NW_TTL
        "0008",   // len
        "20",     // nw_ttl 32
        "000000", // pad[3]
    );
    const DEC_NW_TTL: &str = concat!(
        "0018",     // type OFPAT_DEC_NW_TTL
        "0008",     // len
        "00000000", // pad[4]
    );
    const SET_FIELD_IPV4_DST: &str = concat!(
        "0019",     // type OFPAT_SET_FIELD
        "0010",     // len 16: 4 + 8-byte OXM, padded
        "80001804", // OXM IPV4_DST, length 4
        "0a000001", // 10.0.0.1
        "00000000", // pad to 8
    );
    const SET_FIELD_ETH_DST: &str = concat!(
        "0019",         // type OFPAT_SET_FIELD
        "0010",         // len 16: 4 + 10-byte OXM, padded
        "80000606",     // OXM ETH_DST, length 6
        "020000000002", // 02:00:00:00:00:02
        "0000",         // pad to 8
    );
    const SET_FIELD_IPV6_DST: &str = concat!(
        "0019",                             // type OFPAT_SET_FIELD
        "0018",                             // len 24: 4 + 20-byte OXM, no padding
        "80003610",                         // OXM IPV6_DST, length 16
        "20010db8000000000000000000000002", // 2001:db8::2
    );
    const PUSH_PBB: &str = concat!(
        "001a", // type OFPAT_PUSH_PBB
        "0008", // len
        "88e7", // ethertype 802.1ah
        "0000", // pad[2]
    );
    const POP_PBB: &str = concat!(
        "001b",     // type OFPAT_POP_PBB
        "0008",     // len
        "00000000", // pad[4]
    );
    // Nicira NXAST_RESUBMIT (subtype 1) to port 5: OVS prints "resubmit:5".
    const EXPERIMENTER_NX_RESUBMIT: &str = concat!(
        "ffff",     // type OFPAT_EXPERIMENTER
        "0010",     // len 16
        "00002320", // experimenter NX_VENDOR_ID
        "0001",     // data: subtype NXAST_RESUBMIT
        "0005",     // data: in_port 5
        "00000000", // data: pad
    );
    const UNKNOWN_99: &str = concat!(
        "0063",     // type 99: not an OF1.3 action
        "0008",     // len 8
        "01020304", // data
    );

    fn all() -> Vec<(Action, &'static str)> {
        vec![
            (Action::output_to_controller(), OUTPUT),
            (Action::CopyTtlOut, COPY_TTL_OUT),
            (Action::CopyTtlIn, COPY_TTL_IN),
            (Action::SetMplsTtl(64), SET_MPLS_TTL),
            (Action::DecMplsTtl, DEC_MPLS_TTL),
            (Action::PushVlan(0x8100), PUSH_VLAN),
            (Action::PopVlan, POP_VLAN),
            (Action::PushMpls(0x8847), PUSH_MPLS),
            (Action::PopMpls(0x0800), POP_MPLS),
            (Action::SetQueue(QueueId(3)), SET_QUEUE),
            (Action::Group(GroupId(5)), GROUP),
            (Action::SetNwTtl(32), SET_NW_TTL),
            (Action::DecNwTtl, DEC_NW_TTL),
            (
                Action::SetField(Oxm::Ipv4Dst {
                    value: [10, 0, 0, 1].into(),
                    mask: None,
                }),
                SET_FIELD_IPV4_DST,
            ),
            (
                Action::SetField(Oxm::EthDst {
                    value: crate::oxm::MacAddr([2, 0, 0, 0, 0, 2]),
                    mask: None,
                }),
                SET_FIELD_ETH_DST,
            ),
            (
                Action::SetField(Oxm::Ipv6Dst {
                    value: "2001:db8::2".parse().unwrap(),
                    mask: None,
                }),
                SET_FIELD_IPV6_DST,
            ),
            (Action::PushPbb(0x88e7), PUSH_PBB),
            (Action::PopPbb, POP_PBB),
            (
                Action::Experimenter {
                    experimenter: 0x2320,
                    data: vec![0, 1, 0, 5, 0, 0, 0, 0],
                },
                EXPERIMENTER_NX_RESUBMIT,
            ),
            (
                Action::Unknown {
                    kind: 99,
                    data: vec![1, 2, 3, 4],
                },
                UNKNOWN_99,
            ),
        ]
    }

    #[test]
    fn golden_actions() {
        for (a, g) in all() {
            golden(&a, g);
        }
        // Every named type has a golden case.
        for k in ActionType::KNOWN {
            assert!(all().iter().any(|(a, _)| a.kind() == *k), "{k:?}");
        }
    }

    #[test]
    fn golden_action_list() {
        let list = crate::oxm::test_util::hex(&[GROUP, DEC_NW_TTL, OUTPUT].concat());
        let mut r = Reader::new(&list, "actions");
        let got: Vec<Action> = parse_list(&mut r).unwrap();
        assert_eq!(
            got,
            vec![
                Action::Group(GroupId(5)),
                Action::DecNwTtl,
                Action::output_to_controller()
            ]
        );
    }

    #[test]
    fn opaque_padding_rule() {
        // data not needing padding round-trips; other data comes back with its zero padding.
        let a = Action::Experimenter {
            experimenter: 1,
            data: vec![9; 3],
        };
        let b = a.to_vec();
        assert_eq!(b.len(), 16);
        assert_eq!(
            Action::parse(&mut Reader::new(&b, "t")).unwrap(),
            Action::Experimenter {
                experimenter: 1,
                data: vec![9, 9, 9, 0, 0, 0, 0, 0]
            }
        );
        round_trip(&Action::Unknown {
            kind: 0x1234,
            data: vec![1; 12],
        });
        let empty = Action::Unknown {
            kind: 0x1234,
            data: vec![],
        };
        assert_eq!(empty.to_vec(), [0x12, 0x34, 0, 8, 0, 0, 0, 0]);
    }

    #[test]
    fn bad_actions() {
        // len below 8.
        assert_eq!(
            parse_err::<Action>("0016 0004 00000005"),
            DecodeError::BadLength {
                ctx: "action GROUP",
                len: 4,
                min: 8
            }
        );
        // len not a multiple of 8.
        assert_eq!(
            parse_err::<Action>("0016 000c 00000005 00000000"),
            DecodeError::Unaligned {
                ctx: "action GROUP",
                len: 12
            }
        );
        // len past the end.
        assert!(matches!(
            parse_err::<Action>("0000 0010 00000001 ffff"),
            DecodeError::Truncated {
                ctx: "action OUTPUT",
                ..
            }
        ));
        // OUTPUT must be 16 bytes.
        assert_eq!(
            parse_err::<Action>("0000 0008 00000001"),
            DecodeError::BadLength {
                ctx: "action OUTPUT",
                len: 8,
                min: 16
            }
        );
        // GROUP with 8 extra bytes.
        assert!(matches!(
            parse_err::<Action>("0016 0010 00000005 00000000 00000000"),
            DecodeError::TrailingBytes {
                ctx: "action GROUP",
                extra: 8,
                ..
            }
        ));
        // SET_FIELD whose OXM overruns the action.
        assert!(matches!(
            parse_err::<Action>("0019 0008 80001804 0a000001"),
            DecodeError::Truncated { ctx: "oxm", .. }
        ));
        // SET_FIELD with 8 bytes more than the padding.
        assert!(matches!(
            parse_err::<Action>("0019 0018 80001804 0a000001 00000000 0000000000000000"),
            DecodeError::TrailingBytes {
                ctx: "action SET_FIELD",
                ..
            }
        ));
        // SET_FIELD with a bad OXM.
        assert!(matches!(
            parse_err::<Action>("0019 0008 80001800"),
            DecodeError::BadLength {
                ctx: "oxm IPV4_DST",
                ..
            }
        ));
        // Experimenter without its id.
        assert!(matches!(
            parse_err::<Action>("ffff 0004"),
            DecodeError::BadLength { .. }
        ));
        // Header cut short.
        assert!(matches!(
            parse_err::<Action>("00"),
            DecodeError::Truncated { .. }
        ));
    }

    proptest! {
        #[test]
        fn action_round_trip(a in arb::action()) {
            round_trip(&a);
            prop_assert_eq!(a.wire_len() % 8, 0);
        }

        #[test]
        fn action_decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..48)) {
            let _ = Action::parse(&mut Reader::new(&b, "fuzz"));
        }
    }
}
