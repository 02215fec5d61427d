//! The `members` of a negotiating group as `PUT /v1/groups/{name}` takes it: a list of host
//! addresses (`["10.0.0.2", "10.0.0.3"]`, the original form, unchanged) or the string
//! `"snooped"`: the members are then the hosts that join the group's address through IGMP or
//! MLD, and they follow joins and leaves.
//!
//! Guarantees: any other string is refused naming the one accepted; a list keeps the error
//! paths of its elements (`body.members[1]`) because elements are read one by one.

use std::fmt;
use std::net::IpAddr;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// The word that asks for snooped membership.
pub const SNOOPED: &str = "snooped";

/// Who the members of a group are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupMembers {
    /// These hosts, by IP address (unicast, no duplicates).
    List(Vec<IpAddr>),
    /// The hosts that joined the group's address (IGMP / MLD snooping), as they come and go.
    Snooped,
}

impl GroupMembers {
    /// The listed members (none for a snooped group).
    pub fn listed(&self) -> &[IpAddr] {
        match self {
            GroupMembers::List(l) => l,
            GroupMembers::Snooped => &[],
        }
    }

    pub fn is_snooped(&self) -> bool {
        matches!(self, GroupMembers::Snooped)
    }
}

impl From<Vec<IpAddr>> for GroupMembers {
    fn from(l: Vec<IpAddr>) -> Self {
        GroupMembers::List(l)
    }
}

impl Serialize for GroupMembers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            GroupMembers::List(l) => l.serialize(serializer),
            GroupMembers::Snooped => serializer.serialize_str(SNOOPED),
        }
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = GroupMembers;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of host IP addresses or the string \"{SNOOPED}\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<GroupMembers, E> {
        if v == SNOOPED {
            Ok(GroupMembers::Snooped)
        } else {
            Err(E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GroupMembers, A::Error> {
        let mut l = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(ip) = seq.next_element::<IpAddr>()? {
            l.push(ip);
        }
        Ok(GroupMembers::List(l))
    }
}

impl<'de> Deserialize<'de> for GroupMembers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MembersVisitor)
    }
}

impl PartialSchema for GroupMembers {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ArrayBuilder::new()
                    .items(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .description(Some("a host's IP address (unicast)")),
                    )
                    .description(Some("These hosts, by IP address (no duplicates)")),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([SNOOPED]))
                    .description(Some(
                        "The hosts that join the group's address through IGMP or MLD, as \
                         they join and leave",
                    )),
            )
            .description(Some(
                "The members: a list of host IP addresses, or \"snooped\" (IGMP / MLD \
                 snooping)",
            ))
            .examples([serde_json::json!(["10.0.0.2", "10.0.0.3"])])
            .into()
    }
}

impl ToSchema for GroupMembers {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn both_forms_round_trip_and_other_strings_are_refused() {
        let l: GroupMembers = serde_json::from_str(r#"["10.0.0.1", "fd00::1"]"#).unwrap();
        assert_eq!(
            l,
            GroupMembers::List(vec![
                "10.0.0.1".parse().unwrap(),
                "fd00::1".parse().unwrap()
            ])
        );
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"["10.0.0.1","fd00::1"]"#
        );
        let s: GroupMembers = serde_json::from_str(r#""snooped""#).unwrap();
        assert_eq!(s, GroupMembers::Snooped);
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""snooped""#);
        let e = serde_json::from_str::<GroupMembers>(r#""snooping""#).unwrap_err();
        assert!(e.to_string().contains("\"snooped\""), "{e}");
        assert!(serde_json::from_str::<GroupMembers>("3").is_err());
        assert!(serde_json::from_str::<GroupMembers>(r#"["10.0.0.1", "x"]"#).is_err());
    }

    #[test]
    fn put_bodies_through_the_extractor() {
        use crate::extract::parse_json_body;
        use crate::{ApiError, GroupSpec};
        let spec: GroupSpec =
            parse_json_body(br#"{"address": "239.1.1.2", "members": "snooped"}"#).unwrap();
        assert!(spec.members.is_snooped() && spec.members.listed().is_empty());
        let spec: GroupSpec =
            parse_json_body(br#"{"address": "239.1.1.2", "members": ["10.0.0.1"]}"#).unwrap();
        assert_eq!(
            spec.members.listed(),
            &["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
        let err = parse_json_body::<GroupSpec>(br#"{"address": "239.1.1.2", "members": "all"}"#)
            .unwrap_err();
        assert!(
            matches!(&err, ApiError::InvalidField { path, reason }
                if path == "body.members" && reason.contains("snooped")),
            "{err:?}"
        );
        let err = parse_json_body::<GroupSpec>(
            br#"{"address": "239.1.1.2", "members": ["10.0.0.1", "10.0.0.300"]}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&err, ApiError::InvalidField { path, .. } if path == "body.members[1]"),
            "{err:?}"
        );
    }

    #[test]
    fn the_openapi_document_offers_both_forms() {
        let doc = serde_json::to_value(crate::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let field = &schemas["GroupSpec"]["properties"]["members"];
        assert_eq!(
            field["$ref"], "#/components/schemas/GroupMembers",
            "{field}"
        );
        let members = &schemas["GroupMembers"];
        let text = members.to_string();
        assert!(members["oneOf"].is_array(), "{text}");
        assert!(
            text.contains("\"snooped\"") && text.contains("array"),
            "{text}"
        );
    }
}
