//! Table features — `ofp_table_features` and its properties (OF1.3.5 §7.3.5.18).
//!
//! `ovs-ofctl` asks a switch for its table features before most commands, so a software switch
//! must answer with these. Every property type of the spec is decoded (instructions, next
//! tables, write/apply actions, match, wildcards, write/apply set-field, their `_MISS` twins and
//! experimenter); a property of an unknown type keeps its bytes. A property's `length` excludes
//! the padding that brings it to 8 bytes; the padding is required and written as zeros.
//!
//! Lists of instruction and action ids hold variable-size elements (4 bytes, more for
//! experimenter ones), each checked against its own length; OXM ids are 4 bytes, 8 for the
//! experimenter class 0xffff (header plus experimenter id).

use super::{take_fixed, take_framed, FixedStr};
use crate::action::ActionType;
use crate::error::DecodeError;
use crate::instruction::InstructionType;
use crate::macros::open_enum;
use crate::oxm::{Oxm, OXM_CLASS_EXPERIMENTER};
use crate::types::TableId;
use crate::wire::{emit_list, len16, list_len, pad8, round8, Reader, Wire, Writer};

open_enum! {
    /// Table feature property type — `ofp_table_feature_prop_type` (OF1.3.5 §7.3.5.18.2).
    pub enum TableFeaturePropType: u16 {
        /// `OFPTFPT_INSTRUCTIONS`.
        Instructions = 0,
        /// `OFPTFPT_INSTRUCTIONS_MISS`.
        InstructionsMiss = 1,
        /// `OFPTFPT_NEXT_TABLES`.
        NextTables = 2,
        /// `OFPTFPT_NEXT_TABLES_MISS`.
        NextTablesMiss = 3,
        /// `OFPTFPT_WRITE_ACTIONS`.
        WriteActions = 4,
        /// `OFPTFPT_WRITE_ACTIONS_MISS`.
        WriteActionsMiss = 5,
        /// `OFPTFPT_APPLY_ACTIONS`.
        ApplyActions = 6,
        /// `OFPTFPT_APPLY_ACTIONS_MISS`.
        ApplyActionsMiss = 7,
        /// `OFPTFPT_MATCH`.
        Match = 8,
        /// `OFPTFPT_WILDCARDS`.
        Wildcards = 10,
        /// `OFPTFPT_WRITE_SETFIELD`.
        WriteSetfield = 12,
        /// `OFPTFPT_WRITE_SETFIELD_MISS`.
        WriteSetfieldMiss = 13,
        /// `OFPTFPT_APPLY_SETFIELD`.
        ApplySetfield = 14,
        /// `OFPTFPT_APPLY_SETFIELD_MISS`.
        ApplySetfieldMiss = 15,
        /// `OFPTFPT_EXPERIMENTER`.
        Experimenter = 0xfffe,
        /// `OFPTFPT_EXPERIMENTER_MISS`.
        ExperimenterMiss = 0xffff,
    }
}

/// An instruction or action as listed in a table feature property: its type, and whatever its
/// `len` covers after the 4-byte `type`/`len` header — nothing for the spec's own types, the
/// experimenter id (and any more) for experimenter ones (OF1.3.5 §7.3.5.18.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FeatureId<T> {
    pub ty: T,
    pub data: Vec<u8>,
}

/// An entry of `OFPTFPT_INSTRUCTIONS[_MISS]` — an `ofp_instruction` header.
pub type InstructionId = FeatureId<InstructionType>;
/// An entry of `OFPTFPT_{WRITE,APPLY}_ACTIONS[_MISS]` — an `ofp_action_header` cut to 4 bytes.
pub type ActionId = FeatureId<ActionType>;

impl<T: Copy + From<u16> + Into<u16>> FeatureId<T> {
    const HEADER_LEN: usize = 4;

    /// A 4-byte id of type `ty`.
    pub fn new(ty: T) -> Self {
        FeatureId {
            ty,
            data: Vec::new(),
        }
    }

    /// An experimenter id (type 0xffff) of `experimenter`, 8 bytes.
    pub fn experimenter(experimenter: u32) -> Self {
        FeatureId {
            ty: T::from(0xffff),
            data: experimenter.to_be_bytes().to_vec(),
        }
    }

    fn wire_len(&self) -> usize {
        Self::HEADER_LEN + self.data.len()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(self.ty.into());
        w.u16(len16(self.wire_len()));
        w.bytes(&self.data);
    }

    fn parse(r: &mut Reader<'_>, ctx: &'static str) -> Result<Self, DecodeError> {
        let mut h = take_fixed(r, Self::HEADER_LEN, ctx)?;
        let ty = T::from(h.u16()?);
        let len = usize::from(h.u16()?);
        if len < Self::HEADER_LEN {
            return Err(DecodeError::BadLength {
                ctx,
                len,
                min: Self::HEADER_LEN,
            });
        }
        let data = take_fixed(r, len - Self::HEADER_LEN, ctx)?.rest().to_vec();
        Ok(FeatureId { ty, data })
    }

    fn parse_list(r: &mut Reader<'_>, ctx: &'static str) -> Result<Vec<Self>, DecodeError> {
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(Self::parse(r, ctx)?);
        }
        Ok(out)
    }
}

/// An entry of `OFPTFPT_MATCH`, `_WILDCARDS` and the set-field properties: a 32-bit OXM header
/// (class, field, hasmask, length) and, for the experimenter class 0xffff only, the
/// experimenter id that follows it (OF1.3.5 §7.3.5.18.2).
///
/// `experimenter` is `Some` exactly when the header's class is 0xffff; a value that breaks this
/// is written as if it held (an experimenter id of 0, or none) and so reads back differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OxmId {
    pub header: u32,
    pub experimenter: Option<u32>,
}

impl OxmId {
    /// The id of a field of a non-experimenter class.
    pub fn new(header: u32) -> Self {
        OxmId {
            header,
            experimenter: None,
        }
    }

    /// The OXM class (`oxm_class`).
    pub fn class(&self) -> u16 {
        (self.header >> 16) as u16
    }

    /// The field within the class (`oxm_field`).
    pub fn field(&self) -> u8 {
        ((self.header >> 9) & 0x7f) as u8
    }

    /// The hasmask bit.
    pub fn has_mask(&self) -> bool {
        self.header & 0x100 != 0
    }

    /// The payload length the header announces (`oxm_length`).
    pub fn payload_len(&self) -> u8 {
        (self.header & 0xff) as u8
    }

    fn is_experimenter(&self) -> bool {
        self.class() == OXM_CLASS_EXPERIMENTER
    }

    fn wire_len(&self) -> usize {
        if self.is_experimenter() {
            8
        } else {
            4
        }
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.header);
        if self.is_experimenter() {
            w.u32(self.experimenter.unwrap_or(0));
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = take_fixed(r, 4, "oxm_id")?.u32()?;
        let mut id = OxmId::new(header);
        if id.is_experimenter() {
            id.experimenter = Some(take_fixed(r, 4, "oxm_id")?.u32()?);
        }
        Ok(id)
    }

    fn parse_list(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(Self::parse(r)?);
        }
        Ok(out)
    }
}

impl From<&Oxm> for OxmId {
    /// The id of `oxm`'s field: its header, and its experimenter id if it has one.
    fn from(oxm: &Oxm) -> Self {
        OxmId {
            header: oxm.header(),
            experimenter: match oxm {
                Oxm::Experimenter { experimenter, .. } => Some(*experimenter),
                _ => None,
            },
        }
    }
}

/// One table feature property — `ofp_table_feature_prop_*` (OF1.3.5 §7.3.5.18.2). The `Miss`
/// variants describe the table-miss flow entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TableFeatureProp {
    /// `OFPTFPT_INSTRUCTIONS`: instructions the table supports.
    Instructions(Vec<InstructionId>),
    /// `OFPTFPT_INSTRUCTIONS_MISS`.
    InstructionsMiss(Vec<InstructionId>),
    /// `OFPTFPT_NEXT_TABLES`: tables a goto-table may reach.
    NextTables(Vec<TableId>),
    /// `OFPTFPT_NEXT_TABLES_MISS`.
    NextTablesMiss(Vec<TableId>),
    /// `OFPTFPT_WRITE_ACTIONS`: actions a write-actions instruction may hold.
    WriteActions(Vec<ActionId>),
    /// `OFPTFPT_WRITE_ACTIONS_MISS`.
    WriteActionsMiss(Vec<ActionId>),
    /// `OFPTFPT_APPLY_ACTIONS`: actions an apply-actions instruction may hold.
    ApplyActions(Vec<ActionId>),
    /// `OFPTFPT_APPLY_ACTIONS_MISS`.
    ApplyActionsMiss(Vec<ActionId>),
    /// `OFPTFPT_MATCH`: fields the table can match.
    Match(Vec<OxmId>),
    /// `OFPTFPT_WILDCARDS`: fields the table can wildcard.
    Wildcards(Vec<OxmId>),
    /// `OFPTFPT_WRITE_SETFIELD`: fields write-actions set-field may set.
    WriteSetfield(Vec<OxmId>),
    /// `OFPTFPT_WRITE_SETFIELD_MISS`.
    WriteSetfieldMiss(Vec<OxmId>),
    /// `OFPTFPT_APPLY_SETFIELD`: fields apply-actions set-field may set.
    ApplySetfield(Vec<OxmId>),
    /// `OFPTFPT_APPLY_SETFIELD_MISS`.
    ApplySetfieldMiss(Vec<OxmId>),
    /// `OFPTFPT_EXPERIMENTER` — `ofp_table_feature_prop_experimenter`; `data` is
    /// `experimenter_data` as received.
    Experimenter {
        experimenter: u32,
        exp_type: u32,
        data: Vec<u8>,
    },
    /// `OFPTFPT_EXPERIMENTER_MISS`.
    ExperimenterMiss {
        experimenter: u32,
        exp_type: u32,
        data: Vec<u8>,
    },
    /// A property type this crate does not know (`ty` is never one of
    /// `TableFeaturePropType::KNOWN` in a decoded value), with the bytes its length covers
    /// after the 4-byte header.
    Unknown {
        ty: TableFeaturePropType,
        data: Vec<u8>,
    },
}

impl TableFeatureProp {
    /// type and length.
    const HEADER_LEN: usize = 4;

    /// The property's `OFPTFPT_*` type.
    pub fn prop_type(&self) -> TableFeaturePropType {
        use TableFeaturePropType as T;
        match self {
            Self::Instructions(_) => T::Instructions,
            Self::InstructionsMiss(_) => T::InstructionsMiss,
            Self::NextTables(_) => T::NextTables,
            Self::NextTablesMiss(_) => T::NextTablesMiss,
            Self::WriteActions(_) => T::WriteActions,
            Self::WriteActionsMiss(_) => T::WriteActionsMiss,
            Self::ApplyActions(_) => T::ApplyActions,
            Self::ApplyActionsMiss(_) => T::ApplyActionsMiss,
            Self::Match(_) => T::Match,
            Self::Wildcards(_) => T::Wildcards,
            Self::WriteSetfield(_) => T::WriteSetfield,
            Self::WriteSetfieldMiss(_) => T::WriteSetfieldMiss,
            Self::ApplySetfield(_) => T::ApplySetfield,
            Self::ApplySetfieldMiss(_) => T::ApplySetfieldMiss,
            Self::Experimenter { .. } => T::Experimenter,
            Self::ExperimenterMiss { .. } => T::ExperimenterMiss,
            Self::Unknown { ty, .. } => *ty,
        }
    }

    /// The value of the `length` field: header and content, without the padding.
    fn unpadded_len(&self) -> usize {
        Self::HEADER_LEN
            + match self {
                Self::Instructions(v) | Self::InstructionsMiss(v) => {
                    v.iter().map(InstructionId::wire_len).sum()
                }
                Self::NextTables(v) | Self::NextTablesMiss(v) => v.len(),
                Self::WriteActions(v)
                | Self::WriteActionsMiss(v)
                | Self::ApplyActions(v)
                | Self::ApplyActionsMiss(v) => v.iter().map(ActionId::wire_len).sum(),
                Self::Match(v)
                | Self::Wildcards(v)
                | Self::WriteSetfield(v)
                | Self::WriteSetfieldMiss(v)
                | Self::ApplySetfield(v)
                | Self::ApplySetfieldMiss(v) => v.iter().map(OxmId::wire_len).sum(),
                Self::Experimenter { data, .. } | Self::ExperimenterMiss { data, .. } => {
                    8 + data.len()
                }
                Self::Unknown { data, .. } => data.len(),
            }
    }
}

impl Wire for TableFeatureProp {
    fn wire_len(&self) -> usize {
        round8(self.unpadded_len())
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let start = w.pos();
        w.u16(self.prop_type().value());
        w.u16(len16(self.unpadded_len()));
        match self {
            Self::Instructions(v) | Self::InstructionsMiss(v) => v.iter().for_each(|i| i.emit(w)),
            Self::NextTables(v) | Self::NextTablesMiss(v) => v.iter().for_each(|t| w.u8(t.0)),
            Self::WriteActions(v)
            | Self::WriteActionsMiss(v)
            | Self::ApplyActions(v)
            | Self::ApplyActionsMiss(v) => v.iter().for_each(|a| a.emit(w)),
            Self::Match(v)
            | Self::Wildcards(v)
            | Self::WriteSetfield(v)
            | Self::WriteSetfieldMiss(v)
            | Self::ApplySetfield(v)
            | Self::ApplySetfieldMiss(v) => v.iter().for_each(|o| o.emit(w)),
            Self::Experimenter {
                experimenter,
                exp_type,
                data,
            }
            | Self::ExperimenterMiss {
                experimenter,
                exp_type,
                data,
            } => {
                w.u32(*experimenter);
                w.u32(*exp_type);
                w.bytes(data);
            }
            Self::Unknown { data, .. } => w.bytes(data),
        }
        // "Exactly ((length + 7)/8*8 - length) bytes of all-zero bytes" (OF1.3.5 §7.3.5.18.2).
        w.pad8_from(start);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const CTX: &str = "table_feature_prop";
        let mut h = take_fixed(r, Self::HEADER_LEN, CTX)?;
        let ty = TableFeaturePropType::from(h.u16()?);
        let len = usize::from(h.u16()?);
        if len < Self::HEADER_LEN {
            return Err(DecodeError::BadLength {
                ctx: CTX,
                len,
                min: Self::HEADER_LEN,
            });
        }
        let mut c = take_fixed(r, len - Self::HEADER_LEN, CTX)?;
        take_fixed(r, pad8(len), CTX)?;
        use TableFeaturePropType as T;
        let prop = match ty {
            T::Instructions => {
                Self::Instructions(InstructionId::parse_list(&mut c, "instruction_id")?)
            }
            T::InstructionsMiss => {
                Self::InstructionsMiss(InstructionId::parse_list(&mut c, "instruction_id")?)
            }
            T::NextTables => Self::NextTables(c.rest().iter().map(|&t| TableId(t)).collect()),
            T::NextTablesMiss => {
                Self::NextTablesMiss(c.rest().iter().map(|&t| TableId(t)).collect())
            }
            T::WriteActions => Self::WriteActions(ActionId::parse_list(&mut c, "action_id")?),
            T::WriteActionsMiss => {
                Self::WriteActionsMiss(ActionId::parse_list(&mut c, "action_id")?)
            }
            T::ApplyActions => Self::ApplyActions(ActionId::parse_list(&mut c, "action_id")?),
            T::ApplyActionsMiss => {
                Self::ApplyActionsMiss(ActionId::parse_list(&mut c, "action_id")?)
            }
            T::Match => Self::Match(OxmId::parse_list(&mut c)?),
            T::Wildcards => Self::Wildcards(OxmId::parse_list(&mut c)?),
            T::WriteSetfield => Self::WriteSetfield(OxmId::parse_list(&mut c)?),
            T::WriteSetfieldMiss => Self::WriteSetfieldMiss(OxmId::parse_list(&mut c)?),
            T::ApplySetfield => Self::ApplySetfield(OxmId::parse_list(&mut c)?),
            T::ApplySetfieldMiss => Self::ApplySetfieldMiss(OxmId::parse_list(&mut c)?),
            T::Experimenter => Self::Experimenter {
                experimenter: c.u32()?,
                exp_type: c.u32()?,
                data: c.rest().to_vec(),
            },
            T::ExperimenterMiss => Self::ExperimenterMiss {
                experimenter: c.u32()?,
                exp_type: c.u32()?,
                data: c.rest().to_vec(),
            },
            T::Other(_) => Self::Unknown {
                ty,
                data: c.rest().to_vec(),
            },
        };
        Ok(prop)
    }
}

/// One flow table's capabilities — `ofp_table_features` (OF1.3.5 §7.3.5.18.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableFeatures {
    pub table_id: TableId,
    /// `name[OFP_MAX_TABLE_NAME_LEN]`.
    pub name: FixedStr<32>,
    /// Metadata bits the table can match.
    pub metadata_match: u64,
    /// Metadata bits the table can write.
    pub metadata_write: u64,
    /// `ofp_table_config` bits (only `OFPTC_DEPRECATED_MASK`, 3, exists in 1.3).
    pub config: u32,
    /// Most entries the table holds.
    pub max_entries: u32,
    pub properties: Vec<TableFeatureProp>,
}

impl TableFeatures {
    const FIXED_LEN: usize = 64;

    pub(super) fn parse_list(r: &mut Reader<'_>) -> Result<Vec<Self>, DecodeError> {
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(Self::parse(r)?);
        }
        Ok(out)
    }

    /// The property types every table's features should carry: all but the `_MISS` and
    /// experimenter ones (a `_MISS` property left out means "same as the non-miss one",
    /// OF1.3.5 §7.3.5.18.2). Open vSwitch 3.1 refuses a reply that lacks any of them
    /// ("table features message missing required properties"), so a switch that wants
    /// `ovs-ofctl` to work must send them all.
    pub const REQUIRED: [TableFeaturePropType; 8] = [
        TableFeaturePropType::Instructions,
        TableFeaturePropType::NextTables,
        TableFeaturePropType::WriteActions,
        TableFeaturePropType::ApplyActions,
        TableFeaturePropType::Match,
        TableFeaturePropType::Wildcards,
        TableFeaturePropType::WriteSetfield,
        TableFeaturePropType::ApplySetfield,
    ];

    /// The types of [`TableFeatures::REQUIRED`] this table lacks.
    pub fn missing_required(&self) -> Vec<TableFeaturePropType> {
        Self::REQUIRED
            .into_iter()
            .filter(|&t| self.property(t).is_none())
            .collect()
    }

    /// The first property of type `t`, if any.
    pub fn property(&self, t: TableFeaturePropType) -> Option<&TableFeatureProp> {
        self.properties.iter().find(|p| p.prop_type() == t)
    }
}

impl Wire for TableFeatures {
    fn wire_len(&self) -> usize {
        Self::FIXED_LEN + list_len(&self.properties)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(len16(self.wire_len()));
        w.u8(self.table_id.0);
        w.zeros(5);
        self.name.emit(w);
        w.u64(self.metadata_match);
        w.u64(self.metadata_write);
        w.u32(self.config);
        w.u32(self.max_entries);
        emit_list(&self.properties, w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut e = take_framed(r, 0, Self::FIXED_LEN, "table_features")?;
        e.skip(2)?; // length, checked by take_framed
        let table_id = TableId(e.u8()?);
        e.skip(5)?;
        let name = FixedStr::parse(&mut e)?;
        let metadata_match = e.u64()?;
        let metadata_write = e.u64()?;
        let config = e.u32()?;
        let max_entries = e.u32()?;
        let mut properties = Vec::new();
        while !e.is_empty() {
            properties.push(TableFeatureProp::parse(&mut e)?);
        }
        Ok(TableFeatures {
            table_id,
            name,
            metadata_match,
            metadata_write,
            config,
            max_entries,
            properties,
        })
    }
}
