//! Instructions (OF1.3.5 §7.2.4): what a flow entry does when it matches.
//!
//! Every instruction is a TLV `ofp_instruction { type, len }` whose `len` includes the header
//! and is a multiple of 8. Unknown instruction types keep their bytes, so they round-trip.
//!
//! Guarantees: decoding never panics; `len` below 8 or past the enclosing structure is
//! `BadLength`/`Truncated`, a `len` not a multiple of 8 is `Unaligned`, a known instruction
//! with the wrong length is `BadLength` (too short) or `TrailingBytes` (too long), each naming
//! the instruction ("instruction GOTO_TABLE"); action lists inside are decoded by
//! `Action::parse`. Encoding allocates nothing.
//!
//! Padding rule for `Experimenter` and `Unknown`: as for actions, `data` is written as given
//! followed by zeros up to a multiple of 8, and decoding returns every byte after the fixed
//! part. Values round-trip exactly when no padding is needed: `data.len()` a multiple of 8 for
//! `Experimenter`, `data.len() % 8 == 4` for `Unknown`.

use crate::action::{parse_actions, Action};
use crate::error::DecodeError;
use crate::macros::open_enum;
use crate::types::{MeterId, TableId};
use crate::wire::{count_tlv16, emit_list, len16, list_len, round8, Reader, Wire, Writer};

open_enum! {
    /// Instruction type — `ofp_instruction_type` (OF1.3.5 §7.2.4).
    pub enum InstructionType: u16 {
        /// `OFPIT_GOTO_TABLE`.
        GotoTable = 1,
        /// `OFPIT_WRITE_METADATA`.
        WriteMetadata = 2,
        /// `OFPIT_WRITE_ACTIONS`.
        WriteActions = 3,
        /// `OFPIT_APPLY_ACTIONS`.
        ApplyActions = 4,
        /// `OFPIT_CLEAR_ACTIONS`.
        ClearActions = 5,
        /// `OFPIT_METER`.
        Meter = 6,
        /// `OFPIT_EXPERIMENTER`.
        Experimenter = 0xffff,
    }
}

/// One instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Instruction {
    /// `OFPIT_GOTO_TABLE` — `ofp_instruction_goto_table` (8 bytes): continue in a later table.
    GotoTable(TableId),
    /// `OFPIT_WRITE_METADATA` — `ofp_instruction_write_metadata` (24 bytes): set the bits of
    /// the metadata register selected by `mask`.
    WriteMetadata { metadata: u64, mask: u64 },
    /// `OFPIT_WRITE_ACTIONS` — `ofp_instruction_actions`: merge into the action set.
    WriteActions(Vec<Action>),
    /// `OFPIT_APPLY_ACTIONS` — `ofp_instruction_actions`: apply now, in order.
    ApplyActions(Vec<Action>),
    /// `OFPIT_CLEAR_ACTIONS` — `ofp_instruction_actions` with no actions: empty the action set.
    ClearActions,
    /// `OFPIT_METER` — `ofp_instruction_meter` (8 bytes): send through a meter.
    Meter(MeterId),
    /// `OFPIT_EXPERIMENTER` — `ofp_instruction_experimenter` followed by `data` (see the
    /// module's padding rule).
    Experimenter { experimenter: u32, data: Vec<u8> },
    /// An instruction type this crate has no name for: `data` is everything after the 4-byte
    /// header (see the module's padding rule).
    Unknown { kind: u16, data: Vec<u8> },
}

impl Instruction {
    /// The instruction's `type` field.
    pub fn kind(&self) -> InstructionType {
        match self {
            Instruction::GotoTable(_) => InstructionType::GotoTable,
            Instruction::WriteMetadata { .. } => InstructionType::WriteMetadata,
            Instruction::WriteActions(_) => InstructionType::WriteActions,
            Instruction::ApplyActions(_) => InstructionType::ApplyActions,
            Instruction::ClearActions => InstructionType::ClearActions,
            Instruction::Meter(_) => InstructionType::Meter,
            Instruction::Experimenter { .. } => InstructionType::Experimenter,
            Instruction::Unknown { kind, .. } => InstructionType::from(*kind),
        }
    }
}

fn ctx_of(kind: InstructionType) -> &'static str {
    match kind {
        InstructionType::GotoTable => "instruction GOTO_TABLE",
        InstructionType::WriteMetadata => "instruction WRITE_METADATA",
        InstructionType::WriteActions => "instruction WRITE_ACTIONS",
        InstructionType::ApplyActions => "instruction APPLY_ACTIONS",
        InstructionType::ClearActions => "instruction CLEAR_ACTIONS",
        InstructionType::Meter => "instruction METER",
        InstructionType::Experimenter => "instruction EXPERIMENTER",
        InstructionType::Other(_) => "instruction",
    }
}

impl Wire for Instruction {
    fn wire_len(&self) -> usize {
        match self {
            Instruction::WriteMetadata { .. } => 24,
            Instruction::WriteActions(a) | Instruction::ApplyActions(a) => 8 + list_len(a),
            Instruction::Experimenter { data, .. } => round8(8 + data.len()),
            Instruction::Unknown { data, .. } => round8(4 + data.len()),
            Instruction::GotoTable(_) | Instruction::ClearActions | Instruction::Meter(_) => 8,
        }
    }

    fn emit(&self, w: &mut Writer<'_>) {
        // Type, length and the following 32-bit word go out in one call.
        let head = |w: &mut Writer<'_>, len: usize, word: [u8; 4]| {
            let [a, b] = self.kind().value().to_be_bytes();
            let [c, d] = len16(len).to_be_bytes();
            let [e, f, g, h] = word;
            *w.take_array() = [a, b, c, d, e, f, g, h];
        };
        match self {
            Instruction::GotoTable(t) => head(w, 8, [t.0, 0, 0, 0]),
            Instruction::WriteMetadata { metadata, mask } => {
                head(w, 24, [0; 4]);
                w.u64(*metadata);
                w.u64(*mask);
            }
            Instruction::WriteActions(a) | Instruction::ApplyActions(a) => {
                // The length is patched in after the actions: one pass over them.
                let start = w.pos();
                head(w, 8, [0; 4]);
                emit_list(a, w);
                w.patch_u16(start + 2, len16(w.pos() - start));
            }
            Instruction::ClearActions => head(w, 8, [0; 4]),
            Instruction::Meter(m) => head(w, 8, m.0.to_be_bytes()),
            Instruction::Experimenter { experimenter, data } => {
                let len = self.wire_len();
                head(w, len, experimenter.to_be_bytes());
                w.bytes(data);
                w.zeros(len - 8 - data.len());
            }
            Instruction::Unknown { kind, data } => {
                let len = self.wire_len();
                let [a, b] = kind.to_be_bytes();
                let [c, d] = len16(len).to_be_bytes();
                w.bytes(&[a, b, c, d]);
                w.bytes(data);
                w.zeros(len - 4 - data.len());
            }
        }
    }

    #[inline]
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        parse_instruction(r)
    }
}

/// The instructions filling the rest of `r` (a flow mod's, a flow stats entry's), the vector
/// reserved exactly.
#[inline]
pub(crate) fn parse_instructions(r: &mut Reader<'_>) -> Result<Vec<Instruction>, DecodeError> {
    let mut out = Vec::with_capacity(count_tlv16(r.unread(), 2, 8));
    while !r.is_empty() {
        out.push(parse_instruction(r)?);
    }
    Ok(out)
}

/// One instruction, inlined (with its action list) into the list loop.
#[inline(always)]
fn parse_instruction(r: &mut Reader<'_>) -> Result<Instruction, DecodeError> {
    let kind = InstructionType::from(r.u16()?);
    let len = usize::from(r.u16()?);
    // OF1.3.5 §7.2.4: len covers the 8-byte header and is a multiple of 8.
    if len < 8 || len % 8 != 0 {
        return Err(bad_header(kind, len));
    }
    let Some(body) = r.try_bytes(len - 4) else {
        return Err(r.truncated_as(ctx_of(kind), len - 4));
    };
    parse_body(kind, len, body)
}

/// An instruction from its type, length and the `len - 4` bytes after its header; error values
/// and the opaque kinds are out of line.
#[inline(always)]
fn parse_body(kind: InstructionType, len: usize, body: &[u8]) -> Result<Instruction, DecodeError> {
    // len ≥ 8: the word after the header is always there.
    let Some((word, rest)) = body.split_first_chunk::<4>() else {
        return Err(bad_length(kind, len, 8));
    };
    let only_word = || {
        if rest.is_empty() {
            Ok(())
        } else {
            Err(too_long(kind, 8, len))
        }
    };
    match kind {
        InstructionType::GotoTable => {
            only_word()?;
            Ok(Instruction::GotoTable(TableId(word[0])))
        }
        InstructionType::WriteMetadata => {
            // ofp_instruction_write_metadata: pad[4], metadata, metadata_mask (24 bytes).
            if len > 24 {
                return Err(too_long(kind, 24, len));
            }
            let Some((m, k)) = rest.split_first_chunk::<8>() else {
                return Err(bad_length(kind, len, 24));
            };
            let Some(k) = k.first_chunk::<8>() else {
                return Err(bad_length(kind, len, 24));
            };
            Ok(Instruction::WriteMetadata {
                metadata: u64::from_be_bytes(*m),
                mask: u64::from_be_bytes(*k),
            })
        }
        InstructionType::WriteActions => {
            parse_actions(rest, ctx_of(kind)).map(Instruction::WriteActions)
        }
        InstructionType::ApplyActions => {
            parse_actions(rest, ctx_of(kind)).map(Instruction::ApplyActions)
        }
        InstructionType::ClearActions => {
            only_word()?;
            Ok(Instruction::ClearActions)
        }
        InstructionType::Meter => {
            only_word()?;
            Ok(Instruction::Meter(MeterId(u32::from_be_bytes(*word))))
        }
        InstructionType::Experimenter | InstructionType::Other(_) => Ok(opaque(kind, body)),
    }
}

/// An experimenter or unknown instruction, kept byte for byte (out of line: it allocates).
#[inline(never)]
fn opaque(kind: InstructionType, body: &[u8]) -> Instruction {
    match (kind, body.split_first_chunk::<4>()) {
        (InstructionType::Experimenter, Some((word, rest))) => Instruction::Experimenter {
            experimenter: u32::from_be_bytes(*word),
            data: rest.to_vec(),
        },
        _ => Instruction::Unknown {
            kind: kind.value(),
            data: body.to_vec(),
        },
    }
}

/// A header whose `len` is below 8 or not a multiple of 8.
#[cold]
#[inline(never)]
fn bad_header(kind: InstructionType, len: usize) -> DecodeError {
    if len < 8 {
        bad_length(kind, len, 8)
    } else {
        DecodeError::Unaligned {
            ctx: ctx_of(kind),
            len,
        }
    }
}

#[cold]
#[inline(never)]
fn bad_length(kind: InstructionType, len: usize, min: usize) -> DecodeError {
    DecodeError::BadLength {
        ctx: ctx_of(kind),
        len,
        min,
    }
}

/// A fixed-size instruction of `size` bytes whose `len` says more.
#[cold]
#[inline(never)]
fn too_long(kind: InstructionType, size: usize, len: usize) -> DecodeError {
    DecodeError::TrailingBytes {
        ctx: ctx_of(kind),
        offset: size,
        extra: len - size,
    }
}

/// Proptest strategies for instructions whose values round-trip exactly.
#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use crate::action::arb::actions;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Any instruction; opaque payloads sized to need no padding.
    pub fn instruction() -> impl Strategy<Value = Instruction> {
        prop_oneof![
            any::<u8>().prop_map(|t| Instruction::GotoTable(TableId(t))),
            (any::<u64>(), any::<u64>())
                .prop_map(|(metadata, mask)| Instruction::WriteMetadata { metadata, mask }),
            actions().prop_map(Instruction::WriteActions),
            actions().prop_map(Instruction::ApplyActions),
            Just(Instruction::ClearActions),
            any::<u32>().prop_map(|m| Instruction::Meter(MeterId(m))),
            (any::<u32>(), 0usize..4)
                .prop_flat_map(|(e, n)| (Just(e), vec(any::<u8>(), n * 8)))
                .prop_map(|(experimenter, data)| Instruction::Experimenter { experimenter, data }),
            (
                any::<u16>().prop_filter("known instruction type", |k| matches!(
                    InstructionType::from(*k),
                    InstructionType::Other(_)
                )),
                0usize..4
            )
                .prop_flat_map(|(k, n)| (Just(k), vec(any::<u8>(), n * 8 + 4)))
                .prop_map(|(kind, data)| Instruction::Unknown { kind, data }),
        ]
    }

    /// A list of up to 4 instructions (any order: codec tests only).
    pub fn instructions() -> impl Strategy<Value = Vec<Instruction>> {
        vec(instruction(), 0..4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeError;
    use crate::oxm::test_util::{golden, parse_err, round_trip};
    use crate::types::{GroupId, PortNo};
    use proptest::prelude::*;

    // Golden instructions assembled by hand from OF1.3.5 §7.2.4 (ofp_instruction_* layouts,
    // type numbers from ofp_instruction_type), checked with `ovs-ofctl ofp-print` in a FLOW_MOD
    // (EXPERIMENTER and type 7, which OVS rejects, with tshark's openflow_v4 dissector).

    const GOTO_TABLE: &str = concat!(
        "0001",   // type OFPIT_GOTO_TABLE
        "0008",   // len 8
        "03",     // table_id 3
        "000000", // pad[3]
    );
    const WRITE_METADATA: &str = concat!(
        "0002",             // type OFPIT_WRITE_METADATA
        "0018",             // len 24
        "00000000",         // pad[4]
        "00000000000000aa", // metadata
        "00000000000000ff", // metadata_mask
    );
    const WRITE_ACTIONS: &str = concat!(
        "0003",                                 // type OFPIT_WRITE_ACTIONS
        "0018",                                 // len 24: 8 + one OUTPUT action
        "00000000",                             // pad[4]
        "0000 0010 00000002 0000 000000000000", // OUTPUT port 2, max_len 0
    );
    const APPLY_ACTIONS: &str = concat!(
        "0004",               // type OFPIT_APPLY_ACTIONS
        "0018",               // len 24: 8 + two 8-byte actions
        "00000000",           // pad[4]
        "0018 0008 00000000", // DEC_NW_TTL
        "0016 0008 00000007", // GROUP 7
    );
    const CLEAR_ACTIONS: &str = concat!(
        "0005",     // type OFPIT_CLEAR_ACTIONS
        "0008",     // len 8
        "00000000", // pad[4]
    );
    const METER: &str = concat!(
        "0006",     // type OFPIT_METER
        "0008",     // len 8
        "00000001", // meter_id 1
    );
    const EXPERIMENTER: &str = concat!(
        "ffff",             // type OFPIT_EXPERIMENTER
        "0010",             // len 16
        "00abcdef",         // experimenter
        "0102030405060708", // data
    );
    const UNKNOWN_7: &str = concat!(
        "0007",     // type 7 (OF1.5's STAT_TRIGGER): not an OF1.3 instruction
        "0008",     // len 8
        "0a0b0c0d", // data
    );

    fn all() -> Vec<(Instruction, &'static str)> {
        vec![
            (Instruction::GotoTable(TableId(3)), GOTO_TABLE),
            (
                Instruction::WriteMetadata {
                    metadata: 0xaa,
                    mask: 0xff,
                },
                WRITE_METADATA,
            ),
            (
                Instruction::WriteActions(vec![Action::output(PortNo(2))]),
                WRITE_ACTIONS,
            ),
            (
                Instruction::ApplyActions(vec![Action::DecNwTtl, Action::Group(GroupId(7))]),
                APPLY_ACTIONS,
            ),
            (Instruction::ClearActions, CLEAR_ACTIONS),
            (Instruction::Meter(MeterId(1)), METER),
            (
                Instruction::Experimenter {
                    experimenter: 0x00ab_cdef,
                    data: vec![1, 2, 3, 4, 5, 6, 7, 8],
                },
                EXPERIMENTER,
            ),
            (
                Instruction::Unknown {
                    kind: 7,
                    data: vec![0xa, 0xb, 0xc, 0xd],
                },
                UNKNOWN_7,
            ),
        ]
    }

    #[test]
    fn golden_instructions() {
        for (i, g) in all() {
            golden(&i, g);
        }
        for k in InstructionType::KNOWN {
            assert!(all().iter().any(|(i, _)| i.kind() == *k), "{k:?}");
        }
        golden(
            &Instruction::ApplyActions(vec![]),
            "0004 0008 00000000", // APPLY_ACTIONS with no action
        );
    }

    #[test]
    fn bad_instructions() {
        assert_eq!(
            parse_err::<Instruction>("0001 0004 03000000"),
            DecodeError::BadLength {
                ctx: "instruction GOTO_TABLE",
                len: 4,
                min: 8
            }
        );
        assert_eq!(
            parse_err::<Instruction>("0006 000c 00000001 00000000"),
            DecodeError::Unaligned {
                ctx: "instruction METER",
                len: 12
            }
        );
        assert!(matches!(
            parse_err::<Instruction>("0006 0010 00000001"),
            DecodeError::Truncated {
                ctx: "instruction METER",
                ..
            }
        ));
        assert_eq!(
            parse_err::<Instruction>("0002 0010 00000000 00000000000000aa"),
            DecodeError::BadLength {
                ctx: "instruction WRITE_METADATA",
                len: 16,
                min: 24
            }
        );
        // CLEAR_ACTIONS carries no action.
        assert!(matches!(
            parse_err::<Instruction>("0005 0010 00000000 0018 0008 00000000"),
            DecodeError::TrailingBytes {
                ctx: "instruction CLEAR_ACTIONS",
                extra: 8,
                ..
            }
        ));
        // An action overrunning its APPLY_ACTIONS.
        assert!(matches!(
            parse_err::<Instruction>("0004 0010 00000000 0000 0010 00000002"),
            DecodeError::Truncated {
                ctx: "action OUTPUT",
                ..
            }
        ));
        // A bad action inside.
        assert!(matches!(
            parse_err::<Instruction>("0004 0010 00000000 0016 0004 00000007"),
            DecodeError::BadLength {
                ctx: "action GROUP",
                ..
            }
        ));
    }

    proptest! {
        #[test]
        fn instruction_round_trip(i in arb::instruction()) {
            round_trip(&i);
            prop_assert_eq!(i.wire_len() % 8, 0);
        }

        #[test]
        fn instruction_decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Instruction::parse(&mut Reader::new(&b, "fuzz"));
        }
    }
}
