//! Groups: `ofp_group_mod` (OF1.3.5 §7.3.4.2).

use crate::error::DecodeError;
use crate::group::{parse_buckets, Bucket};
use crate::macros::open_enum;
use crate::types::{GroupId, GroupType};
use crate::wire::{emit_list, list_len, Reader, Wire, Writer};

open_enum! {
    /// Group mod command — `ofp_group_mod_command` (OF1.3.5 §7.3.4.2).
    pub enum GroupModCommand: u16 {
        /// `OFPGC_ADD`: new group.
        Add = 0,
        /// `OFPGC_MODIFY`: replace the group's type and buckets.
        Modify = 1,
        /// `OFPGC_DELETE`: delete the group (`GroupId::ALL`: every group).
        Delete = 2,
    }
}

/// `OFPT_GROUP_MOD` body: an 8-byte fixed part, then the buckets to the end of the message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupMod {
    /// `command`.
    pub command: GroupModCommand,
    /// `type`.
    pub group_type: GroupType,
    /// `group_id`.
    pub group_id: GroupId,
    /// `buckets`.
    pub buckets: Vec<Bucket>,
}

impl GroupMod {
    /// `OFPGC_ADD` of a group.
    pub fn add(group_type: GroupType, group_id: GroupId, buckets: Vec<Bucket>) -> GroupMod {
        GroupMod {
            command: GroupModCommand::Add,
            group_type,
            group_id,
            buckets,
        }
    }

    /// `OFPGC_MODIFY` of a group: its type and buckets are replaced.
    pub fn modify(group_type: GroupType, group_id: GroupId, buckets: Vec<Bucket>) -> GroupMod {
        GroupMod {
            command: GroupModCommand::Modify,
            ..GroupMod::add(group_type, group_id, buckets)
        }
    }

    /// `OFPGC_DELETE` of a group (`GroupId::ALL` for every group). The type is ignored by the
    /// switch; `ALL` (0) is sent.
    pub fn delete(group_id: GroupId) -> GroupMod {
        GroupMod {
            command: GroupModCommand::Delete,
            group_type: GroupType::All,
            group_id,
            buckets: Vec::new(),
        }
    }
}

impl Wire for GroupMod {
    fn wire_len(&self) -> usize {
        8 + list_len(&self.buckets)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let [c0, c1] = self.command.value().to_be_bytes();
        let [g0, g1, g2, g3] = self.group_id.0.to_be_bytes();
        // command, type, pad, group_id.
        *w.take_array() = [c0, c1, self.group_type.value(), 0, g0, g1, g2, g3];
        emit_list(&self.buckets, w);
    }

    /// Parses the rest of the message as a group mod body.
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // As for the flow mod: with the fixed part all there, it is decoded last, straight
        // into the result; cut short, it is read field by field from `r`, which fails where
        // that reading fails.
        let Some(mut fixed) = r.split_fixed::<8>() else {
            return with_fixed(r, Vec::new());
        };
        let buckets = parse_buckets(r)?;
        with_fixed(&mut fixed, buckets)
    }
}

/// A group mod from its 8-byte fixed part, read field by field from `r`, and its buckets
/// (always inlined, for `Reader::split_fixed`).
#[inline(always)]
fn with_fixed(r: &mut Reader<'_>, buckets: Vec<Bucket>) -> Result<GroupMod, DecodeError> {
    let command = GroupModCommand::from(r.u16()?);
    let group_type = GroupType::from(r.u8()?);
    r.skip(1)?; // pad
    Ok(GroupMod {
        command,
        group_type,
        group_id: GroupId(r.u32()?),
        buckets,
    })
}

#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::prelude::*;

    pub fn group_mod() -> impl Strategy<Value = GroupMod> {
        (
            any::<u16>(),
            any::<u8>(),
            any::<u32>(),
            crate::group::arb::buckets(),
        )
            .prop_map(|(c, t, g, buckets)| GroupMod {
                command: GroupModCommand::from(c),
                group_type: GroupType::from(t),
                group_id: GroupId(g),
                buckets,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::parse_all;
    use proptest::prelude::*;

    #[test]
    fn delete_has_no_buckets() {
        let d = GroupMod::delete(GroupId::ALL);
        assert_eq!(d.to_vec(), [0, 2, 0, 0, 0xff, 0xff, 0xff, 0xfc]);
    }

    #[test]
    fn truncated_fixed_part_names_the_field_that_does_not_fit() {
        // command (2), type (1), pad (1), group_id (4): cut inside each, the error names it.
        let b = GroupMod::delete(GroupId(9)).to_vec();
        for (n, offset, need) in [
            (0, 0, 2),
            (1, 0, 2),
            (2, 2, 1),
            (3, 3, 1),
            (4, 4, 4),
            (7, 4, 4),
        ] {
            assert_eq!(
                parse_all::<GroupMod>(&b[..n]),
                Err(DecodeError::Truncated {
                    ctx: "test",
                    offset,
                    need,
                    have: n - offset,
                }),
                "cut at {n}"
            );
        }
        assert_eq!(
            parse_all::<GroupMod>(&b).unwrap(),
            GroupMod::delete(GroupId(9))
        );
    }

    proptest! {
        #[test]
        fn round_trip(v in arb::group_mod()) {
            prop_assert_eq!(parse_all::<GroupMod>(&v.to_vec()).unwrap(), v);
        }
    }
}
