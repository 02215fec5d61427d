//! `OFPT_ERROR` — `ofp_error_msg` and `ofp_error_experimenter_msg` (OF1.3.5 §7.4.4) — with
//! every error type and code family of the spec as open enums.
//!
//! Guarantees: the offending bytes (`data`) are kept exactly as received; type and code values
//! this crate has no name for survive a round trip and print in hex; `ErrorMsg::typed` gives
//! the code with its family (`ErrorCode::GroupModFailed(GroupModFailedCode::GroupExists)`), and
//! `Display` prints the spec's names (`OFPET_GROUP_MOD_FAILED/OFPGMFC_GROUP_EXISTS`).

use crate::error::DecodeError;
use crate::macros::open_enum;
use crate::wire::{Reader, Wire, Writer};

/// An error reply to a request carries at most this many of the request's bytes (OF1.3.5
/// §7.4.4 asks for "at least the first 64 bytes"; we send exactly that many at most, so an
/// error about a large flow mod stays small).
pub const MAX_OFFENDING_LEN: usize = 64;

/// Declares an open enum of error codes with the spec's name of each value.
macro_rules! error_codes {
    (
        $(#[$m:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vm:meta])* $var:ident = $val:expr => $spec:literal ),* $(,)?
        }
    ) => {
        open_enum! {
            $(#[$m])*
            $vis enum $name: u16 {
                $( $(#[$vm])* $var = $val, )*
            }
        }

        impl $name {
            /// The spec's name of this code, or `None` for a value it does not define.
            pub fn spec_name(self) -> Option<&'static str> {
                match self {
                    $( $name::$var => Some($spec), )*
                    $name::Other(_) => None,
                }
            }
        }
    };
}

error_codes! {
    /// Error type — `ofp_error_type` (OF1.3.5 §7.4.4).
    pub enum ErrorType {
        /// Hello protocol failed.
        HelloFailed = 0 => "OFPET_HELLO_FAILED",
        /// Request was not understood.
        BadRequest = 1 => "OFPET_BAD_REQUEST",
        /// Error in action description.
        BadAction = 2 => "OFPET_BAD_ACTION",
        /// Error in instruction list.
        BadInstruction = 3 => "OFPET_BAD_INSTRUCTION",
        /// Error in match.
        BadMatch = 4 => "OFPET_BAD_MATCH",
        /// Problem modifying flow entry.
        FlowModFailed = 5 => "OFPET_FLOW_MOD_FAILED",
        /// Problem modifying group entry.
        GroupModFailed = 6 => "OFPET_GROUP_MOD_FAILED",
        /// Port mod request failed.
        PortModFailed = 7 => "OFPET_PORT_MOD_FAILED",
        /// Table mod request failed.
        TableModFailed = 8 => "OFPET_TABLE_MOD_FAILED",
        /// Queue operation failed.
        QueueOpFailed = 9 => "OFPET_QUEUE_OP_FAILED",
        /// Switch config request failed.
        SwitchConfigFailed = 10 => "OFPET_SWITCH_CONFIG_FAILED",
        /// Controller role request failed.
        RoleRequestFailed = 11 => "OFPET_ROLE_REQUEST_FAILED",
        /// Error in meter.
        MeterModFailed = 12 => "OFPET_METER_MOD_FAILED",
        /// Setting table features failed.
        TableFeaturesFailed = 13 => "OFPET_TABLE_FEATURES_FAILED",
        /// Experimenter error: the message has the `ofp_error_experimenter_msg` layout.
        Experimenter = 0xffff => "OFPET_EXPERIMENTER",
    }
}

error_codes! {
    /// Codes of `OFPET_HELLO_FAILED` — `ofp_hello_failed_code`. `data` holds ASCII text.
    pub enum HelloFailedCode {
        /// No compatible version.
        Incompatible = 0 => "OFPHFC_INCOMPATIBLE",
        /// Permissions error.
        Eperm = 1 => "OFPHFC_EPERM",
    }
}

error_codes! {
    /// Codes of `OFPET_BAD_REQUEST` — `ofp_bad_request_code`.
    pub enum BadRequestCode {
        /// `ofp_header.version` not supported.
        BadVersion = 0 => "OFPBRC_BAD_VERSION",
        /// `ofp_header.type` not supported.
        BadType = 1 => "OFPBRC_BAD_TYPE",
        /// `ofp_multipart_request.type` not supported.
        BadMultipart = 2 => "OFPBRC_BAD_MULTIPART",
        /// Experimenter id not supported.
        BadExperimenter = 3 => "OFPBRC_BAD_EXPERIMENTER",
        /// Experimenter type not supported.
        BadExpType = 4 => "OFPBRC_BAD_EXP_TYPE",
        /// Permissions error.
        Eperm = 5 => "OFPBRC_EPERM",
        /// Wrong request length for type.
        BadLen = 6 => "OFPBRC_BAD_LEN",
        /// Specified buffer has already been used.
        BufferEmpty = 7 => "OFPBRC_BUFFER_EMPTY",
        /// Specified buffer does not exist.
        BufferUnknown = 8 => "OFPBRC_BUFFER_UNKNOWN",
        /// Specified table-id invalid or does not exist.
        BadTableId = 9 => "OFPBRC_BAD_TABLE_ID",
        /// Denied because controller is slave.
        IsSlave = 10 => "OFPBRC_IS_SLAVE",
        /// Invalid port.
        BadPort = 11 => "OFPBRC_BAD_PORT",
        /// Invalid packet in packet-out.
        BadPacket = 12 => "OFPBRC_BAD_PACKET",
        /// `ofp_multipart_request` overflowed the assigned buffer.
        MultipartBufferOverflow = 13 => "OFPBRC_MULTIPART_BUFFER_OVERFLOW",
    }
}

error_codes! {
    /// Codes of `OFPET_BAD_ACTION` — `ofp_bad_action_code`.
    pub enum BadActionCode {
        /// Unknown or unsupported action type.
        BadType = 0 => "OFPBAC_BAD_TYPE",
        /// Length problem in actions.
        BadLen = 1 => "OFPBAC_BAD_LEN",
        /// Unknown experimenter id specified.
        BadExperimenter = 2 => "OFPBAC_BAD_EXPERIMENTER",
        /// Unknown action for experimenter id.
        BadExpType = 3 => "OFPBAC_BAD_EXP_TYPE",
        /// Problem validating output port.
        BadOutPort = 4 => "OFPBAC_BAD_OUT_PORT",
        /// Bad action argument.
        BadArgument = 5 => "OFPBAC_BAD_ARGUMENT",
        /// Permissions error.
        Eperm = 6 => "OFPBAC_EPERM",
        /// Can't handle this many actions.
        TooMany = 7 => "OFPBAC_TOO_MANY",
        /// Problem validating output queue.
        BadQueue = 8 => "OFPBAC_BAD_QUEUE",
        /// Invalid group id in forward action.
        BadOutGroup = 9 => "OFPBAC_BAD_OUT_GROUP",
        /// Action can't apply for this match, or Set-Field missing prerequisite.
        MatchInconsistent = 10 => "OFPBAC_MATCH_INCONSISTENT",
        /// Action order is unsupported for the action list in an Apply-Actions instruction.
        UnsupportedOrder = 11 => "OFPBAC_UNSUPPORTED_ORDER",
        /// Actions uses an unsupported tag/encap.
        BadTag = 12 => "OFPBAC_BAD_TAG",
        /// Unsupported type in SET_FIELD action.
        BadSetType = 13 => "OFPBAC_BAD_SET_TYPE",
        /// Length problem in SET_FIELD action.
        BadSetLen = 14 => "OFPBAC_BAD_SET_LEN",
        /// Bad argument in SET_FIELD action.
        BadSetArgument = 15 => "OFPBAC_BAD_SET_ARGUMENT",
    }
}

error_codes! {
    /// Codes of `OFPET_BAD_INSTRUCTION` — `ofp_bad_instruction_code`.
    pub enum BadInstructionCode {
        /// Unknown instruction.
        UnknownInst = 0 => "OFPBIC_UNKNOWN_INST",
        /// Switch or table does not support the instruction.
        UnsupInst = 1 => "OFPBIC_UNSUP_INST",
        /// Invalid Table-ID specified.
        BadTableId = 2 => "OFPBIC_BAD_TABLE_ID",
        /// Metadata value unsupported by datapath.
        UnsupMetadata = 3 => "OFPBIC_UNSUP_METADATA",
        /// Metadata mask value unsupported by datapath.
        UnsupMetadataMask = 4 => "OFPBIC_UNSUP_METADATA_MASK",
        /// Unknown experimenter id specified.
        BadExperimenter = 5 => "OFPBIC_BAD_EXPERIMENTER",
        /// Unknown instruction for experimenter id.
        BadExpType = 6 => "OFPBIC_BAD_EXP_TYPE",
        /// Length problem in instructions.
        BadLen = 7 => "OFPBIC_BAD_LEN",
        /// Permissions error.
        Eperm = 8 => "OFPBIC_EPERM",
    }
}

error_codes! {
    /// Codes of `OFPET_BAD_MATCH` — `ofp_bad_match_code`.
    pub enum BadMatchCode {
        /// Unsupported match type specified by the match.
        BadType = 0 => "OFPBMC_BAD_TYPE",
        /// Length problem in match.
        BadLen = 1 => "OFPBMC_BAD_LEN",
        /// Match uses an unsupported tag/encap.
        BadTag = 2 => "OFPBMC_BAD_TAG",
        /// Unsupported datalink address mask.
        BadDlAddrMask = 3 => "OFPBMC_BAD_DL_ADDR_MASK",
        /// Unsupported network address mask.
        BadNwAddrMask = 4 => "OFPBMC_BAD_NW_ADDR_MASK",
        /// Unsupported combination of fields masked or omitted in the match.
        BadWildcards = 5 => "OFPBMC_BAD_WILDCARDS",
        /// Unsupported field type in the match.
        BadField = 6 => "OFPBMC_BAD_FIELD",
        /// Unsupported value in a match field.
        BadValue = 7 => "OFPBMC_BAD_VALUE",
        /// Unsupported mask specified in the match.
        BadMask = 8 => "OFPBMC_BAD_MASK",
        /// A prerequisite was not met.
        BadPrereq = 9 => "OFPBMC_BAD_PREREQ",
        /// A field type was duplicated.
        DupField = 10 => "OFPBMC_DUP_FIELD",
        /// Permissions error.
        Eperm = 11 => "OFPBMC_EPERM",
    }
}

error_codes! {
    /// Codes of `OFPET_FLOW_MOD_FAILED` — `ofp_flow_mod_failed_code`.
    pub enum FlowModFailedCode {
        /// Unspecified error.
        Unknown = 0 => "OFPFMFC_UNKNOWN",
        /// Flow not added because table was full.
        TableFull = 1 => "OFPFMFC_TABLE_FULL",
        /// Table does not exist.
        BadTableId = 2 => "OFPFMFC_BAD_TABLE_ID",
        /// Attempted to add overlapping flow with CHECK_OVERLAP flag set.
        Overlap = 3 => "OFPFMFC_OVERLAP",
        /// Permissions error.
        Eperm = 4 => "OFPFMFC_EPERM",
        /// Flow not added because of unsupported idle/hard timeout.
        BadTimeout = 5 => "OFPFMFC_BAD_TIMEOUT",
        /// Unsupported or unknown command.
        BadCommand = 6 => "OFPFMFC_BAD_COMMAND",
        /// Unsupported or unknown flags.
        BadFlags = 7 => "OFPFMFC_BAD_FLAGS",
    }
}

error_codes! {
    /// Codes of `OFPET_GROUP_MOD_FAILED` — `ofp_group_mod_failed_code`.
    pub enum GroupModFailedCode {
        /// A group ADD attempted to replace an already-present group.
        GroupExists = 0 => "OFPGMFC_GROUP_EXISTS",
        /// The group specified is invalid.
        InvalidGroup = 1 => "OFPGMFC_INVALID_GROUP",
        /// Switch does not support unequal load sharing with select groups.
        WeightUnsupported = 2 => "OFPGMFC_WEIGHT_UNSUPPORTED",
        /// The group table is full.
        OutOfGroups = 3 => "OFPGMFC_OUT_OF_GROUPS",
        /// The maximum number of action buckets for a group has been exceeded.
        OutOfBuckets = 4 => "OFPGMFC_OUT_OF_BUCKETS",
        /// Switch does not support groups that forward to groups.
        ChainingUnsupported = 5 => "OFPGMFC_CHAINING_UNSUPPORTED",
        /// This group cannot watch the watch_port or watch_group specified.
        WatchUnsupported = 6 => "OFPGMFC_WATCH_UNSUPPORTED",
        /// Group entry would cause a loop.
        Loop = 7 => "OFPGMFC_LOOP",
        /// A group MODIFY attempted to modify a non-existent group.
        UnknownGroup = 8 => "OFPGMFC_UNKNOWN_GROUP",
        /// Group not deleted because another group is forwarding to it.
        ChainedGroup = 9 => "OFPGMFC_CHAINED_GROUP",
        /// Unsupported or unknown group type.
        BadType = 10 => "OFPGMFC_BAD_TYPE",
        /// Unsupported or unknown command.
        BadCommand = 11 => "OFPGMFC_BAD_COMMAND",
        /// Error in bucket.
        BadBucket = 12 => "OFPGMFC_BAD_BUCKET",
        /// Error in watch port/group.
        BadWatch = 13 => "OFPGMFC_BAD_WATCH",
        /// Permissions error.
        Eperm = 14 => "OFPGMFC_EPERM",
    }
}

error_codes! {
    /// Codes of `OFPET_PORT_MOD_FAILED` — `ofp_port_mod_failed_code`.
    pub enum PortModFailedCode {
        /// Specified port number does not exist.
        BadPort = 0 => "OFPPMFC_BAD_PORT",
        /// Specified hardware address does not match the port number.
        BadHwAddr = 1 => "OFPPMFC_BAD_HW_ADDR",
        /// Specified config is invalid.
        BadConfig = 2 => "OFPPMFC_BAD_CONFIG",
        /// Specified advertise is invalid.
        BadAdvertise = 3 => "OFPPMFC_BAD_ADVERTISE",
        /// Permissions error.
        Eperm = 4 => "OFPPMFC_EPERM",
    }
}

error_codes! {
    /// Codes of `OFPET_TABLE_MOD_FAILED` — `ofp_table_mod_failed_code`.
    pub enum TableModFailedCode {
        /// Specified table does not exist.
        BadTable = 0 => "OFPTMFC_BAD_TABLE",
        /// Specified config is invalid.
        BadConfig = 1 => "OFPTMFC_BAD_CONFIG",
        /// Permissions error.
        Eperm = 2 => "OFPTMFC_EPERM",
    }
}

error_codes! {
    /// Codes of `OFPET_QUEUE_OP_FAILED` — `ofp_queue_op_failed_code`.
    pub enum QueueOpFailedCode {
        /// Invalid port (or port does not exist).
        BadPort = 0 => "OFPQOFC_BAD_PORT",
        /// Queue does not exist.
        BadQueue = 1 => "OFPQOFC_BAD_QUEUE",
        /// Permissions error.
        Eperm = 2 => "OFPQOFC_EPERM",
    }
}

error_codes! {
    /// Codes of `OFPET_SWITCH_CONFIG_FAILED` — `ofp_switch_config_failed_code`.
    pub enum SwitchConfigFailedCode {
        /// Specified flags is invalid.
        BadFlags = 0 => "OFPSCFC_BAD_FLAGS",
        /// Specified miss send len is invalid.
        BadLen = 1 => "OFPSCFC_BAD_LEN",
        /// Permissions error.
        Eperm = 2 => "OFPSCFC_EPERM",
    }
}

error_codes! {
    /// Codes of `OFPET_ROLE_REQUEST_FAILED` — `ofp_role_request_failed_code`.
    pub enum RoleRequestFailedCode {
        /// Stale message: old generation_id.
        Stale = 0 => "OFPRRFC_STALE",
        /// Controller role change unsupported.
        Unsup = 1 => "OFPRRFC_UNSUP",
        /// Invalid role.
        BadRole = 2 => "OFPRRFC_BAD_ROLE",
    }
}

error_codes! {
    /// Codes of `OFPET_METER_MOD_FAILED` — `ofp_meter_mod_failed_code`.
    pub enum MeterModFailedCode {
        /// Unspecified error.
        Unknown = 0 => "OFPMMFC_UNKNOWN",
        /// A meter ADD attempted to replace an existing meter.
        MeterExists = 1 => "OFPMMFC_METER_EXISTS",
        /// Meter specified is invalid.
        InvalidMeter = 2 => "OFPMMFC_INVALID_METER",
        /// A meter MODIFY attempted to modify a non-existent meter.
        UnknownMeter = 3 => "OFPMMFC_UNKNOWN_METER",
        /// Unsupported or unknown command.
        BadCommand = 4 => "OFPMMFC_BAD_COMMAND",
        /// Flag configuration unsupported.
        BadFlags = 5 => "OFPMMFC_BAD_FLAGS",
        /// Rate unsupported.
        BadRate = 6 => "OFPMMFC_BAD_RATE",
        /// Burst size unsupported.
        BadBurst = 7 => "OFPMMFC_BAD_BURST",
        /// Band unsupported.
        BadBand = 8 => "OFPMMFC_BAD_BAND",
        /// Band value unsupported.
        BadBandValue = 9 => "OFPMMFC_BAD_BAND_VALUE",
        /// No more meters available.
        OutOfMeters = 10 => "OFPMMFC_OUT_OF_METERS",
        /// The maximum number of properties for a meter has been exceeded.
        OutOfBands = 11 => "OFPMMFC_OUT_OF_BANDS",
    }
}

error_codes! {
    /// Codes of `OFPET_TABLE_FEATURES_FAILED` — `ofp_table_features_failed_code`.
    pub enum TableFeaturesFailedCode {
        /// Specified table does not exist.
        BadTable = 0 => "OFPTFFC_BAD_TABLE",
        /// Invalid metadata mask.
        BadMetadata = 1 => "OFPTFFC_BAD_METADATA",
        /// Unknown property type.
        BadType = 2 => "OFPTFFC_BAD_TYPE",
        /// Length problem in properties.
        BadLen = 3 => "OFPTFFC_BAD_LEN",
        /// Unsupported property value.
        BadArgument = 4 => "OFPTFFC_BAD_ARGUMENT",
        /// Permissions error.
        Eperm = 5 => "OFPTFFC_EPERM",
    }
}

/// An error type and code, typed by family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    HelloFailed(HelloFailedCode),
    BadRequest(BadRequestCode),
    BadAction(BadActionCode),
    BadInstruction(BadInstructionCode),
    BadMatch(BadMatchCode),
    FlowModFailed(FlowModFailedCode),
    GroupModFailed(GroupModFailedCode),
    PortModFailed(PortModFailedCode),
    TableModFailed(TableModFailedCode),
    QueueOpFailed(QueueOpFailedCode),
    SwitchConfigFailed(SwitchConfigFailedCode),
    RoleRequestFailed(RoleRequestFailedCode),
    MeterModFailed(MeterModFailedCode),
    TableFeaturesFailed(TableFeaturesFailedCode),
    /// `OFPET_EXPERIMENTER`: an experimenter-defined type within the experimenter's space.
    Experimenter {
        exp_type: u16,
        experimenter: u32,
    },
    /// An error type OF1.3 does not define.
    Other {
        kind: u16,
        code: u16,
    },
}

impl ErrorCode {
    /// The error type (the family).
    pub fn error_type(self) -> ErrorType {
        match self {
            ErrorCode::HelloFailed(_) => ErrorType::HelloFailed,
            ErrorCode::BadRequest(_) => ErrorType::BadRequest,
            ErrorCode::BadAction(_) => ErrorType::BadAction,
            ErrorCode::BadInstruction(_) => ErrorType::BadInstruction,
            ErrorCode::BadMatch(_) => ErrorType::BadMatch,
            ErrorCode::FlowModFailed(_) => ErrorType::FlowModFailed,
            ErrorCode::GroupModFailed(_) => ErrorType::GroupModFailed,
            ErrorCode::PortModFailed(_) => ErrorType::PortModFailed,
            ErrorCode::TableModFailed(_) => ErrorType::TableModFailed,
            ErrorCode::QueueOpFailed(_) => ErrorType::QueueOpFailed,
            ErrorCode::SwitchConfigFailed(_) => ErrorType::SwitchConfigFailed,
            ErrorCode::RoleRequestFailed(_) => ErrorType::RoleRequestFailed,
            ErrorCode::MeterModFailed(_) => ErrorType::MeterModFailed,
            ErrorCode::TableFeaturesFailed(_) => ErrorType::TableFeaturesFailed,
            ErrorCode::Experimenter { .. } => ErrorType::Experimenter,
            ErrorCode::Other { kind, .. } => ErrorType::from(kind),
        }
    }

    /// The wire `code` (for `Experimenter`, the `exp_type`).
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::HelloFailed(c) => c.value(),
            ErrorCode::BadRequest(c) => c.value(),
            ErrorCode::BadAction(c) => c.value(),
            ErrorCode::BadInstruction(c) => c.value(),
            ErrorCode::BadMatch(c) => c.value(),
            ErrorCode::FlowModFailed(c) => c.value(),
            ErrorCode::GroupModFailed(c) => c.value(),
            ErrorCode::PortModFailed(c) => c.value(),
            ErrorCode::TableModFailed(c) => c.value(),
            ErrorCode::QueueOpFailed(c) => c.value(),
            ErrorCode::SwitchConfigFailed(c) => c.value(),
            ErrorCode::RoleRequestFailed(c) => c.value(),
            ErrorCode::MeterModFailed(c) => c.value(),
            ErrorCode::TableFeaturesFailed(c) => c.value(),
            ErrorCode::Experimenter { exp_type, .. } => exp_type,
            ErrorCode::Other { code, .. } => code,
        }
    }

    /// The spec's name of the code (`OFPGMFC_GROUP_EXISTS`), if it has one.
    pub fn spec_name(self) -> Option<&'static str> {
        match self {
            ErrorCode::HelloFailed(c) => c.spec_name(),
            ErrorCode::BadRequest(c) => c.spec_name(),
            ErrorCode::BadAction(c) => c.spec_name(),
            ErrorCode::BadInstruction(c) => c.spec_name(),
            ErrorCode::BadMatch(c) => c.spec_name(),
            ErrorCode::FlowModFailed(c) => c.spec_name(),
            ErrorCode::GroupModFailed(c) => c.spec_name(),
            ErrorCode::PortModFailed(c) => c.spec_name(),
            ErrorCode::TableModFailed(c) => c.spec_name(),
            ErrorCode::QueueOpFailed(c) => c.spec_name(),
            ErrorCode::SwitchConfigFailed(c) => c.spec_name(),
            ErrorCode::RoleRequestFailed(c) => c.spec_name(),
            ErrorCode::MeterModFailed(c) => c.spec_name(),
            ErrorCode::TableFeaturesFailed(c) => c.spec_name(),
            ErrorCode::Experimenter { .. } | ErrorCode::Other { .. } => None,
        }
    }

    fn from_parts(kind: ErrorType, code: u16, experimenter: u32) -> ErrorCode {
        match kind {
            ErrorType::HelloFailed => ErrorCode::HelloFailed(code.into()),
            ErrorType::BadRequest => ErrorCode::BadRequest(code.into()),
            ErrorType::BadAction => ErrorCode::BadAction(code.into()),
            ErrorType::BadInstruction => ErrorCode::BadInstruction(code.into()),
            ErrorType::BadMatch => ErrorCode::BadMatch(code.into()),
            ErrorType::FlowModFailed => ErrorCode::FlowModFailed(code.into()),
            ErrorType::GroupModFailed => ErrorCode::GroupModFailed(code.into()),
            ErrorType::PortModFailed => ErrorCode::PortModFailed(code.into()),
            ErrorType::TableModFailed => ErrorCode::TableModFailed(code.into()),
            ErrorType::QueueOpFailed => ErrorCode::QueueOpFailed(code.into()),
            ErrorType::SwitchConfigFailed => ErrorCode::SwitchConfigFailed(code.into()),
            ErrorType::RoleRequestFailed => ErrorCode::RoleRequestFailed(code.into()),
            ErrorType::MeterModFailed => ErrorCode::MeterModFailed(code.into()),
            ErrorType::TableFeaturesFailed => ErrorCode::TableFeaturesFailed(code.into()),
            ErrorType::Experimenter => ErrorCode::Experimenter {
                exp_type: code,
                experimenter,
            },
            ErrorType::Other(kind) => ErrorCode::Other { kind, code },
        }
    }
}

impl core::fmt::Display for ErrorCode {
    /// `OFPET_GROUP_MOD_FAILED/OFPGMFC_GROUP_EXISTS`; values without a name in hex.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kind = self.error_type();
        match kind.spec_name() {
            Some(n) => f.write_str(n)?,
            None => write!(f, "OFPET_{:#06x}", kind.value())?,
        }
        match self {
            ErrorCode::Experimenter {
                exp_type,
                experimenter,
            } => write!(
                f,
                "/experimenter={experimenter:#010x},exp_type={exp_type:#06x}"
            ),
            _ => match self.spec_name() {
                Some(n) => write!(f, "/{n}"),
                None => write!(f, "/{:#06x}", self.code()),
            },
        }
    }
}

macro_rules! from_code {
    ($($family:ident($t:ty)),* $(,)?) => {
        $(impl From<$t> for ErrorCode {
            fn from(c: $t) -> ErrorCode {
                ErrorCode::$family(c)
            }
        })*
    };
}

from_code! {
    HelloFailed(HelloFailedCode),
    BadRequest(BadRequestCode),
    BadAction(BadActionCode),
    BadInstruction(BadInstructionCode),
    BadMatch(BadMatchCode),
    FlowModFailed(FlowModFailedCode),
    GroupModFailed(GroupModFailedCode),
    PortModFailed(PortModFailedCode),
    TableModFailed(TableModFailedCode),
    QueueOpFailed(QueueOpFailedCode),
    SwitchConfigFailed(SwitchConfigFailedCode),
    RoleRequestFailed(RoleRequestFailedCode),
    MeterModFailed(MeterModFailedCode),
    TableFeaturesFailed(TableFeaturesFailedCode),
}

/// `OFPT_ERROR` body.
///
/// The common layout (`ofp_error_msg`) is `type`, `code`, `data`. With `type` =
/// `OFPET_EXPERIMENTER` the layout is `ofp_error_experimenter_msg`: `type`, `exp_type`,
/// `experimenter`, `data`; then `code` holds `exp_type` and `experimenter` is `Some`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ErrorMsg {
    /// `type`.
    pub kind: ErrorType,
    /// `code`; for `ErrorType::Experimenter`, the `exp_type`.
    pub code: u16,
    /// `experimenter` id: `Some` exactly when `kind` is `ErrorType::Experimenter`. On emit it
    /// is ignored for other types, and taken as 0 if missing for an experimenter error.
    pub experimenter: Option<u32>,
    /// `data`: for most types the first bytes of the offending request, for
    /// `OFPET_HELLO_FAILED` an ASCII explanation. No padding.
    pub data: Vec<u8>,
}

impl ErrorMsg {
    /// An error with a typed code and the given data (kept whole).
    pub fn new(code: impl Into<ErrorCode>, data: Vec<u8>) -> ErrorMsg {
        let code = code.into();
        let experimenter = match code {
            ErrorCode::Experimenter { experimenter, .. } => Some(experimenter),
            _ => None,
        };
        ErrorMsg {
            kind: code.error_type(),
            code: code.code(),
            experimenter,
            data,
        }
    }

    /// A switch's answer to a bad request: keeps at most the first 64 bytes of the offending
    /// message (OF1.3.5 §7.4.4).
    pub fn for_request(code: impl Into<ErrorCode>, offending: &[u8]) -> ErrorMsg {
        let n = offending.len().min(MAX_OFFENDING_LEN);
        ErrorMsg::new(code, offending.get(..n).unwrap_or_default().to_vec())
    }

    /// `OFPET_BAD_REQUEST` about `offending` (at most 64 bytes kept).
    pub fn bad_request(code: BadRequestCode, offending: &[u8]) -> ErrorMsg {
        ErrorMsg::for_request(code, offending)
    }

    /// `OFPET_HELLO_FAILED` with an ASCII explanation (OF1.3.5 §6.3.1).
    pub fn hello_failed(code: HelloFailedCode, text: &str) -> ErrorMsg {
        ErrorMsg::new(code, text.as_bytes().to_vec())
    }

    /// `OFPET_EXPERIMENTER` error.
    pub fn experimenter(experimenter: u32, exp_type: u16, data: Vec<u8>) -> ErrorMsg {
        ErrorMsg::new(
            ErrorCode::Experimenter {
                exp_type,
                experimenter,
            },
            data,
        )
    }

    /// The type and code, typed by family.
    pub fn typed(&self) -> ErrorCode {
        ErrorCode::from_parts(self.kind, self.code, self.experimenter.unwrap_or(0))
    }

    /// Same as `typed`.
    pub fn code_name(&self) -> ErrorCode {
        self.typed()
    }

    /// The header of the offending request echoed in `data`, when `data` holds one (most
    /// types do; `OFPET_HELLO_FAILED` holds text instead).
    pub fn offending_header(&self) -> Option<crate::header::HeaderRepr> {
        if self.kind == ErrorType::HelloFailed || self.kind == ErrorType::Experimenter {
            return None;
        }
        crate::header::HeaderRepr::parse_bytes(&self.data).ok()
    }

    fn is_experimenter(&self) -> bool {
        self.kind == ErrorType::Experimenter
    }
}

impl core::fmt::Debug for ErrorMsg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("ErrorMsg");
        d.field("kind", &self.kind).field("code", &self.code);
        if let Some(e) = self.experimenter {
            d.field("experimenter", &format_args!("{e:#010x}"));
        }
        d.field("typed", &format_args!("{}", self.typed()))
            .field("data", &self.data)
            .finish()
    }
}

impl core::fmt::Display for ErrorMsg {
    /// The type and code by the spec's names; for `OFPET_HELLO_FAILED` also the text.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.typed())?;
        if self.kind == ErrorType::HelloFailed && !self.data.is_empty() {
            write!(f, " ({:?})", String::from_utf8_lossy(&self.data))?;
        }
        Ok(())
    }
}

impl Wire for ErrorMsg {
    fn wire_len(&self) -> usize {
        let fixed = if self.is_experimenter() { 8 } else { 4 };
        fixed + self.data.len()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u16(self.kind.value());
        w.u16(self.code);
        if self.is_experimenter() {
            w.u32(self.experimenter.unwrap_or(0));
        }
        w.bytes(&self.data);
    }

    /// Parses the rest of the message as the error body.
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let kind = ErrorType::from(r.u16()?);
        let code = r.u16()?;
        let experimenter = if kind == ErrorType::Experimenter {
            Some(r.u32()?)
        } else {
            None
        };
        Ok(ErrorMsg {
            kind,
            code,
            experimenter,
            data: r.rest().to_vec(),
        })
    }
}

/// Proptest strategies.
#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::prelude::*;

    /// Any error type: mostly named ones, sometimes unknown.
    pub fn error_type() -> impl Strategy<Value = ErrorType> {
        prop_oneof![
            4 => proptest::sample::select(ErrorType::KNOWN),
            1 => any::<u16>().prop_map(ErrorType::from),
        ]
    }

    /// Any error message, consistent in its experimenter field.
    pub fn error_msg() -> impl Strategy<Value = ErrorMsg> {
        (
            error_type(),
            any::<u16>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..80),
        )
            .prop_map(|(kind, code, exp, data)| ErrorMsg {
                kind,
                code,
                experimenter: (kind == ErrorType::Experimenter).then_some(exp),
                data,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(bytes: &[u8]) -> Result<ErrorMsg, DecodeError> {
        let mut r = Reader::new(bytes, "error_msg");
        let e = ErrorMsg::parse(&mut r)?;
        r.finish()?;
        Ok(e)
    }

    #[test]
    fn display_uses_spec_names() {
        let e = ErrorMsg::new(GroupModFailedCode::GroupExists, vec![]);
        assert_eq!(e.to_string(), "OFPET_GROUP_MOD_FAILED/OFPGMFC_GROUP_EXISTS");
        assert_eq!(
            e.typed(),
            ErrorCode::GroupModFailed(GroupModFailedCode::GroupExists)
        );
        let unknown = ErrorMsg {
            kind: ErrorType::from(0x30),
            code: 7,
            experimenter: None,
            data: vec![],
        };
        assert_eq!(unknown.to_string(), "OFPET_0x0030/0x0007");
        let unknown_code = ErrorMsg::new(ErrorCode::BadMatch(BadMatchCode::from(99)), vec![]);
        assert_eq!(unknown_code.to_string(), "OFPET_BAD_MATCH/0x0063");
        let exp = ErrorMsg::experimenter(0x00ab_cdef, 3, vec![]);
        assert_eq!(
            exp.to_string(),
            "OFPET_EXPERIMENTER/experimenter=0x00abcdef,exp_type=0x0003"
        );
        let hello = ErrorMsg::hello_failed(HelloFailedCode::Incompatible, "no common version");
        assert_eq!(
            hello.to_string(),
            "OFPET_HELLO_FAILED/OFPHFC_INCOMPATIBLE (\"no common version\")"
        );
    }

    #[test]
    fn bad_request_keeps_64_bytes() {
        let big = vec![7u8; 200];
        let e = ErrorMsg::bad_request(BadRequestCode::BadLen, &big);
        assert_eq!(e.data.len(), 64);
        assert_eq!(e.kind, ErrorType::BadRequest);
        assert_eq!(e.code, 6);
        let small = ErrorMsg::bad_request(BadRequestCode::BadType, &[1, 2, 3]);
        assert_eq!(small.data, vec![1, 2, 3]);
    }

    #[test]
    fn every_named_code_has_a_spec_name() {
        for t in ErrorType::KNOWN {
            assert!(t.spec_name().is_some());
        }
        assert_eq!(GroupModFailedCode::KNOWN.len(), 15);
        assert_eq!(BadRequestCode::KNOWN.len(), 14);
        assert_eq!(BadActionCode::KNOWN.len(), 16);
        assert_eq!(BadMatchCode::KNOWN.len(), 12);
        assert_eq!(MeterModFailedCode::KNOWN.len(), 12);
    }

    #[test]
    fn experimenter_layout() {
        // type 0xffff, exp_type 0x0002, experimenter 0x00001234, data 0xaa 0xbb
        let bytes = [0xff, 0xff, 0x00, 0x02, 0x00, 0x00, 0x12, 0x34, 0xaa, 0xbb];
        let e = parse(&bytes).unwrap();
        assert_eq!(e, ErrorMsg::experimenter(0x1234, 2, vec![0xaa, 0xbb]));
        assert_eq!(e.to_vec(), bytes);
        // Too short for the experimenter id.
        assert!(matches!(
            parse(&bytes[..6]),
            Err(DecodeError::Truncated { .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trip(e in arb::error_msg()) {
            prop_assert_eq!(parse(&e.to_vec()).unwrap(), e);
        }

        #[test]
        fn typed_round_trips_through_parts(e in arb::error_msg()) {
            let t = e.typed();
            prop_assert_eq!(t.error_type(), e.kind);
            prop_assert_eq!(t.code(), e.code);
            prop_assert_eq!(ErrorMsg::new(t, e.data.clone()), e);
        }
    }
}
