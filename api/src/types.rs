//! The request and response bodies of the HTTP API (the DTOs), exactly as they appear on the
//! wire.
//!
//! Conventions, the same in every body:
//! - JSON member names are `snake_case`.
//! - IP addresses are strings in their usual text form, IPv4 (`"239.1.1.1"`) or IPv6
//!   (`"ff3e::8000:1"`), everywhere an address appears.
//! - 64-bit identifiers (datapath ids, trace ids) are strings of exactly 16 lowercase hex
//!   digits, because a JSON number loses precision above 2^53 in many clients.
//! - Points in time are integers: milliseconds since the Unix epoch (UTC). Durations are
//!   integers in milliseconds and say so in their name (`lease_ms`).
//! - Requests reject unknown members (`deny_unknown_fields`), so a typo is an error that names
//!   the member instead of a silently ignored field. Responses may gain members; clients
//!   ignore what they do not know.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// An identifier that failed to parse: what it was meant to be and why not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?}: {reason}")]
#[non_exhaustive]
pub struct ParseIdError {
    /// What was parsed ("datapath id", "trace id", "MAC address", "group name").
    pub what: &'static str,
    /// The text that was given.
    pub value: String,
    /// Why it is not one.
    pub reason: &'static str,
}

impl ParseIdError {
    fn new(what: &'static str, value: &str, reason: &'static str) -> Self {
        Self {
            what,
            value: value.to_owned(),
            reason,
        }
    }
}

fn parse_hex_u64(s: &str, what: &'static str) -> Result<u64, ParseIdError> {
    if s.is_empty() || s.len() > 16 {
        return Err(ParseIdError::new(what, s, "expected 1 to 16 hex digits"));
    }
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ParseIdError::new(what, s, "expected only hex digits"));
    }
    u64::from_str_radix(s, 16).map_err(|_| ParseIdError::new(what, s, "not a 64-bit number"))
}

fn hex_string_schema(description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[0-9a-f]{16}$"))
        .description(Some(description))
        .examples([example])
        .into()
}

/// An OpenFlow datapath id (`datapath_id` of OFPT_FEATURES_REPLY, OpenFlow 1.3.5 §7.3.1).
///
/// On the wire: 16 lowercase hex digits. Parsing also accepts the colon form that Open vSwitch
/// prints (`00:00:00:00:00:00:00:01`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dpid(pub u64);

impl fmt::Display for Dpid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Dpid {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "datapath id";
        if s.contains(':') {
            let parts: Vec<&str> = s.split(':').collect();
            if parts.len() != 8 || parts.iter().any(|p| p.len() != 2) {
                return Err(ParseIdError::new(
                    WHAT,
                    s,
                    "expected 8 colon-separated pairs of hex digits",
                ));
            }
            return parse_hex_u64(&parts.concat(), WHAT).map(Dpid);
        }
        if s.len() != 16 {
            return Err(ParseIdError::new(WHAT, s, "expected exactly 16 hex digits"));
        }
        parse_hex_u64(s, WHAT).map(Dpid)
    }
}

/// The 64-bit trace id of a transaction. It is also the cookie of the flows installed for it,
/// so a rule on a switch leads back to the request.
///
/// On the wire: 16 lowercase hex digits. Never zero (zero means "no trace id").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TraceId(u64);

impl TraceId {
    /// A trace id, or `None` for zero, which is not one.
    pub fn new(value: u64) -> Option<Self> {
        (value != 0).then_some(Self(value))
    }

    /// The 64-bit value (the flow cookie).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for TraceId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "trace id";
        let value = parse_hex_u64(s, WHAT)?;
        TraceId::new(value).ok_or_else(|| ParseIdError::new(WHAT, s, "zero is not a trace id"))
    }
}

/// An Ethernet MAC address; on the wire `"aa:bb:cc:dd:ee:ff"` (lowercase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "MAC address";
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts
                .next()
                .ok_or_else(|| ParseIdError::new(WHAT, s, "expected 6 colon-separated bytes"))?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ParseIdError::new(WHAT, s, "each byte is 2 hex digits"));
            }
            *byte = u8::from_str_radix(part, 16)
                .map_err(|_| ParseIdError::new(WHAT, s, "each byte is 2 hex digits"))?;
        }
        if parts.next().is_some() {
            return Err(ParseIdError::new(
                WHAT,
                s,
                "expected 6 colon-separated bytes",
            ));
        }
        Ok(MacAddr(out))
    }
}

/// Serde and OpenAPI for the identifiers above, through their text form.
macro_rules! text_form {
    ($ty:ty, $schema:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = Cow::<'de, str>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $ty {}
    };
}

text_form!(
    Dpid,
    hex_string_schema(
        "OpenFlow datapath id: 16 lowercase hex digits (input also accepts \
         00:00:00:00:00:00:00:01)",
        "0000000000000001"
    )
);
text_form!(
    TraceId,
    hex_string_schema(
        "Trace id of a transaction and cookie of its flows: 16 lowercase hex digits, never zero",
        "4bf92f3577b34da6"
    )
);
text_form!(
    MacAddr,
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"))
        .description(Some("Ethernet MAC address"))
        .examples(["02:00:00:00:00:01"])
        .into()
);

/// A negotiating group's name: 1 to 64 characters from `A-Z a-z 0-9 . _ -`, not starting with
/// `.` (so it is safe in a URL path and a file name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupName(String);

impl GroupName {
    /// The longest name accepted.
    pub const MAX_LEN: usize = 64;

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for GroupName {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "group name";
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(ParseIdError::new(WHAT, s, "expected 1 to 64 characters"));
        }
        if s.starts_with('.') {
            return Err(ParseIdError::new(WHAT, s, "must not start with '.'"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(ParseIdError::new(
                WHAT,
                s,
                "only letters, digits, '.', '_' and '-' are allowed",
            ));
        }
        Ok(GroupName(s.to_owned()))
    }
}

text_form!(
    GroupName,
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$"))
        .description(Some("Negotiating group name"))
        .examples(["storage-a"])
        .into()
);

/// Whether a port or link carries traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Up: the port's link is up and it is not administratively down (OFPPS_LINK_DOWN and
    /// OFPPC_PORT_DOWN both clear).
    Up,
    /// Down.
    Down,
    /// A state this client does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}

/// One port of a switch (from OFPMP_PORT_DESC and OFPT_PORT_STATUS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Port {
    /// The OpenFlow port number (`port_no`).
    pub number: u32,
    /// The port's name as the switch reports it.
    pub name: String,
    /// Up or down.
    pub state: LinkState,
    /// The port's hardware address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hw_addr: Option<MacAddr>,
}

/// What a switch can do, as far as the controller uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Capabilities {
    /// Number of flow tables (`n_tables` of OFPT_FEATURES_REPLY).
    pub n_tables: u8,
    /// Most groups of type ALL the switch holds (`max_groups[OFPGT_ALL]` of
    /// OFPMP_GROUP_FEATURES, or configured); absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_groups: Option<u32>,
    /// Whether the switch forwards BIER (RFC 8279) with our experimenter extension.
    pub bier: bool,
}

/// A connected switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Switch {
    /// Datapath id.
    pub dpid: Dpid,
    /// The switch's OpenFlow connection, `address:port` as seen by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// When the session became ready, in ms since the Unix epoch.
    pub connected_since: u64,
    /// The switch's ports, by number.
    pub ports: Vec<Port>,
    /// What the switch can do.
    pub capabilities: Capabilities,
}

/// One end of a link: a switch port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LinkEnd {
    /// Datapath id of the switch.
    pub dpid: Dpid,
    /// Port number on that switch.
    pub port: u32,
}

/// A link between two switch ports, learned by LLDP (or configured).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Link {
    /// One end (the lower `(dpid, port)` of the two).
    pub a: LinkEnd,
    /// The other end.
    pub b: LinkEnd,
    /// Up only when both ends are up and LLDP is seen both ways.
    pub state: LinkState,
}

/// A learned host address. A host with several addresses (IPv4 and IPv6) appears once per
/// address: the IP is what group members are named by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Host {
    /// The host's MAC address.
    pub mac: MacAddr,
    /// One IP address of the host.
    #[schema(value_type = String, examples("10.0.0.2"))]
    pub ip: IpAddr,
    /// The switch the host is attached to.
    pub dpid: Dpid,
    /// The edge port of that switch.
    pub port: u32,
}

/// The body of `PUT /v1/groups/{name}`: a negotiating group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(
    json!({"address": "239.1.1.1", "members": ["10.0.0.2", "10.0.0.3", "10.0.0.4"]}),
    json!({"address": "239.1.1.2", "members": "snooped"})
))]
pub struct GroupSpec {
    /// The group's multicast address (IPv4 224.0.0.0/4 or IPv6 ff00::/8).
    #[schema(value_type = String, examples("239.1.1.1"))]
    pub address: IpAddr,
    /// The members: host IP addresses (unicast; no duplicates), or "snooped" for the hosts
    /// that join `address` through IGMP / MLD and leave it.
    pub members: crate::members::GroupMembers,
}

/// A negotiating group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Group {
    /// The group's name.
    pub name: GroupName,
    /// The group's multicast address.
    #[schema(value_type = String, examples("239.1.1.1"))]
    pub address: IpAddr,
    /// The members, by host IP address.
    #[schema(value_type = Vec<String>)]
    pub members: Vec<IpAddr>,
    /// The membership version: it grows by one with every change of `members`.
    pub version: u64,
    /// Whether IGMP / MLD snooping decides `members` (the group was put with
    /// `"members": "snooped"`); false for a listed group. Absent means false.
    #[serde(default)]
    pub snooped: bool,
}

/// The body of `POST /v1/groups/{name}/subsets`: deliver to these members of the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"members": ["10.0.0.2", "10.0.0.3"], "lease_ms": 5000})))]
pub struct SubsetRequest {
    /// The subset's members (host IPs, each a member of the group; at least one, no
    /// duplicates).
    #[schema(value_type = Vec<String>)]
    pub members: Vec<IpAddr>,
    /// The lease in milliseconds: at least 1, at most the controller's maximum.
    #[schema(minimum = 1, examples(5000))]
    pub lease_ms: u64,
}

/// An installed subset group: `address` reaches exactly `members` until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Subset {
    /// The transactional multicast address to send to.
    #[schema(value_type = String, examples("239.255.0.1"))]
    pub address: IpAddr,
    /// The negotiating group the subset belongs to.
    pub group: GroupName,
    /// The subset's members.
    #[schema(value_type = Vec<String>)]
    pub members: Vec<IpAddr>,
    /// The lease that was granted, in milliseconds.
    pub lease_ms: u64,
    /// When the lease ends, in ms since the Unix epoch.
    pub expires_at: u64,
    /// The switches that hold the subset's rules, each of which acknowledged them.
    pub switches: Vec<Dpid>,
    /// The transaction's trace id (the cookie of its flows).
    pub trace_id: TraceId,
    /// The name of the token that created it, who alone (or an admin) may delete it; absent when
    /// tsmd runs without tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// The answer of `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `"ok"` when the server serves requests.
    pub status: String,
    /// The server's version.
    pub version: String,
}

/// The result of a create-or-replace (`PUT`): which one happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upsert<T> {
    /// It did not exist and was created (`201 Created`).
    Created(T),
    /// It existed and was replaced (`200 OK`).
    Replaced(T),
}

impl<T> Upsert<T> {
    /// The resource, whichever happened.
    pub fn into_inner(self) -> T {
        match self {
            Upsert::Created(t) | Upsert::Replaced(t) => t,
        }
    }

    /// Whether it was created.
    pub fn created(&self) -> bool {
        matches!(self, Upsert::Created(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpid_text_forms() {
        let d: Dpid = "00000000000000ab".parse().unwrap();
        assert_eq!(d, Dpid(0xab));
        assert_eq!(d.to_string(), "00000000000000ab");
        assert_eq!("00:00:00:00:00:00:00:AB".parse::<Dpid>().unwrap(), d);
        assert!("ab".parse::<Dpid>().is_err());
        assert!("000000000000000g".parse::<Dpid>().is_err());
        assert!("00:00:00:00:00:00:00".parse::<Dpid>().is_err());
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"00000000000000ab\"");
    }

    #[test]
    fn trace_id_is_never_zero() {
        assert!("0".parse::<TraceId>().is_err());
        assert!(TraceId::new(0).is_none());
        let t: TraceId = "4bf92f3577b34da6".parse().unwrap();
        assert_eq!(t.get(), 0x4bf9_2f35_77b3_4da6);
        assert_eq!(t.to_string(), "4bf92f3577b34da6");
    }

    #[test]
    fn mac_text_form() {
        let m: MacAddr = "02:00:00:0A:0b:01".parse().unwrap();
        assert_eq!(m.to_string(), "02:00:00:0a:0b:01");
        assert!("02:00:00:0a:0b".parse::<MacAddr>().is_err());
        assert!("02:00:00:0a:0b:01:02".parse::<MacAddr>().is_err());
        assert!("02:00:00:0a:0b:1".parse::<MacAddr>().is_err());
    }

    #[test]
    fn group_names() {
        for ok in ["a", "storage-a", "A.b_c-9", &"x".repeat(64)] {
            assert!(ok.parse::<GroupName>().is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "a b", "ü", &"x".repeat(65)] {
            assert!(bad.parse::<GroupName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn requests_reject_unknown_fields() {
        let err = serde_json::from_str::<SubsetRequest>(
            r#"{"members": ["10.0.0.1"], "lease_ms": 5, "lease": 5}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `lease`"), "{err}");
    }
}
