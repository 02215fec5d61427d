//! The bodies of the rendezvous routes (issue 5, design "Rendezvous groups"): plans, claims
//! and block leases, exactly as they appear on the wire. The wire conventions of
//! [`crate::types`] hold here too (IP addresses as strings, ids as text, times in ms since the
//! Unix epoch, durations in `_ms`, requests reject unknown members).
//!
//! Addressing (`controller::rank`): member indices are positions in the group's member list in
//! ascending IP order; copy `c` of subset `S` has the address `base + c·C(n,k) + rank(S)`, so an
//! agent that holds a [`Block`] computes every address of it locally.
//!
//! | method and path | success |
//! |---|---|
//! | `PUT /v1/groups/{name}/rendezvous` | 202 [`RendezvousPlan`] (installing in the background) |
//! | `GET`, `DELETE /v1/groups/{name}/rendezvous` | 200 [`RendezvousPlan`], 204 |
//! | `GET /v1/rendezvous` | 200 every plan |
//! | `POST /v1/groups/{name}/claims` | 201 [`Claim`] |
//! | `POST /v1/claims/{id}/renew`, `DELETE /v1/claims/{id}`, `GET /v1/claims` | 200, 204, 200 |
//! | `POST /v1/groups/{name}/blocks` | 201 [`Block`] |
//! | `POST /v1/blocks/{id}/renew`, `DELETE /v1/blocks/{id}`, `GET /v1/blocks` | 200, 204, 200 |
//!
//! Guarantees of the contract: two holders never get the same address at once; the copies of
//! a block are never handed out by per-address claims and a claim's copy is never in a block;
//! an answered claim survives a restart of the server.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::types::{Dpid, GroupName, ParseIdError};

/// The body of `PUT /v1/groups/{name}/rendezvous`: enumerate every `k`-subset of the group's
/// members, `copies` times, at addresses from `base` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"k": 3, "copies": 2, "base": "239.2.0.0"})))]
pub struct RendezvousRequest {
    /// The subset size: 1 ≤ k ≤ the group's member count.
    #[schema(minimum = 1, examples(3))]
    pub k: u32,
    /// How many addresses each subset gets (each one claimable by a different holder).
    #[schema(minimum = 1, examples(2))]
    pub copies: u32,
    /// The first address of the plan's range (multicast, the group's address family). The
    /// range is `base .. base + copies·C(n,k) - 1`.
    #[schema(value_type = String, examples("239.2.0.0"))]
    pub base: IpAddr,
}

/// Where a plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanState {
    /// Rules are being sent and acknowledged; see `progress`.
    Installing,
    /// Every switch acknowledged every rule of the current version: every address delivers.
    Ready,
    /// A switch refused; `error` says which and why. Nothing of the plan stays installed.
    Failed,
    /// The plan does not fit the switches' budgets (see `budget`); nothing was installed.
    OverBudget,
    /// A state this client does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}

/// How far an install has come, over every switch of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct PlanProgress {
    /// Switches that get messages for this version.
    pub switches_total: u64,
    /// Switches that acknowledged all of theirs.
    pub switches_done: u64,
    /// Messages (group and flow mods) to send for this version.
    pub messages_total: u64,
    /// Messages acknowledged (covered by a barrier reply).
    pub messages_done: u64,
}

/// One switch's share of a plan and what it can hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SwitchBudget {
    /// The switch.
    pub dpid: Dpid,
    /// Groups the plan puts on it.
    pub groups_needed: u64,
    /// Groups it can take for this plan (its limit minus what else of ours it holds); absent
    /// when unlimited (no limit reported nor configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_available: Option<u64>,
    /// Flows the plan puts on it.
    pub flows_needed: u64,
    /// Flows it can take for this plan; absent when unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows_available: Option<u64>,
}

impl SwitchBudget {
    /// Whether the plan's share fits.
    pub fn fits(&self) -> bool {
        self.groups_available
            .is_none_or(|a| self.groups_needed <= a)
            && self.flows_available.is_none_or(|a| self.flows_needed <= a)
    }
}

/// A rendezvous plan of a group: every k-subset of its members enumerated and installed ahead
/// of time, `copies` addresses per subset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RendezvousPlan {
    /// The negotiating group.
    pub group: GroupName,
    /// The plan's version: it grows by one with every re-plan (a membership change, a new
    /// request).
    pub version: u64,
    /// The group's membership version the plan enumerates (`Group::version`).
    pub members_version: u64,
    /// The subset size.
    pub k: u32,
    /// Addresses per subset.
    pub copies: u32,
    /// The first address.
    #[schema(value_type = String, examples("239.2.0.0"))]
    pub base: IpAddr,
    /// The members enumerated, ascending (index i is `members[i]`).
    #[schema(value_type = Vec<String>)]
    pub members: Vec<IpAddr>,
    /// C(n, k).
    pub subsets: u64,
    /// copies · C(n, k).
    pub addresses: u64,
    /// Where the install stands.
    pub state: PlanState,
    /// How far the install of this version has come.
    pub progress: PlanProgress,
    /// Why the plan failed (or what degraded it), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per switch: what the plan needs and what the switch can hold.
    pub budget: Vec<SwitchBudget>,
}

/// Serde and OpenAPI of a lease id through its text form.
macro_rules! lease_id {
    ($ty:ident, $prefix:literal, $what:literal, $example:literal) => {
        #[doc = concat!("The id of a ", $what, ": `", $prefix, "` followed by 16 lowercase hex digits.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(pub u64);

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{:016x}"), self.0)
            }
        }

        impl FromStr for $ty {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let bad = |reason| ParseIdError {
                    what: concat!($what, " id"),
                    value: s.to_owned(),
                    reason,
                };
                let hex = s
                    .strip_prefix($prefix)
                    .ok_or_else(|| bad(concat!("expected `", $prefix, "` and 16 hex digits")))?;
                if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad(concat!("expected `", $prefix, "` and 16 hex digits")));
                }
                u64::from_str_radix(hex, 16)
                    .map($ty)
                    .map_err(|_| bad("not a 64-bit number"))
            }
        }

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
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(concat!("^", $prefix, "[0-9a-f]{16}$")))
                    .description(Some(concat!("Id of a ", $what)))
                    .examples([$example])
                    .into()
            }
        }

        impl ToSchema for $ty {}
    };
}

lease_id!(ClaimId, "c-", "claim", "c-00000000000000a1");
lease_id!(BlockId, "b-", "block", "b-00000000000000b2");

/// The body of `POST /v1/groups/{name}/claims`: an exclusive lease on one address of the
/// group's plan that reaches exactly `members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"members": ["10.0.0.2", "10.0.0.3", "10.0.0.5"], "lease_ms": 5000})))]
pub struct ClaimRequest {
    /// The subset: exactly `k` members of the group (unicast, no duplicates).
    #[schema(value_type = Vec<String>)]
    pub members: Vec<IpAddr>,
    /// The lease in ms: at least 1, at most the controller's maximum.
    #[schema(minimum = 1, examples(5000))]
    pub lease_ms: u64,
}

/// The body of `POST /v1/claims/{id}/renew` and `POST /v1/blocks/{id}/renew`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"lease_ms": 5000})))]
pub struct RenewRequest {
    /// The new lease from now, in ms: at least 1, at most the controller's maximum.
    #[schema(minimum = 1, examples(5000))]
    pub lease_ms: u64,
}

/// A claim: `address` reaches exactly `members` and is this holder's until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Claim {
    /// The claim's id (renew, release).
    pub id: ClaimId,
    /// The negotiating group.
    pub group: GroupName,
    /// The address to send to.
    #[schema(value_type = String, examples("239.2.0.1"))]
    pub address: IpAddr,
    /// The subset, ascending.
    #[schema(value_type = Vec<String>)]
    pub members: Vec<IpAddr>,
    /// Which copy of the subset the address is.
    pub copy: u32,
    /// The plan version the claim was taken on.
    pub plan_version: u64,
    /// The group's current membership version (a renew answer shows a newer one after a
    /// membership change: re-fetch the group).
    pub members_version: u64,
    /// When the lease ends, in ms since the Unix epoch.
    pub expires_at: u64,
    /// The name of the token that took it, who alone (or an admin) may renew or release it; absent when
    /// tsmd runs without tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// The body of `POST /v1/groups/{name}/blocks`: hold `copies` whole copies of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"copies": 1, "lease_ms": 60000})))]
pub struct BlockRequest {
    /// How many whole copies to hold (at least 1).
    #[schema(minimum = 1, examples(1))]
    pub copies: u32,
    /// The lease in ms: at least 1, at most the controller's maximum.
    #[schema(minimum = 1, examples(60000))]
    pub lease_ms: u64,
}

/// A block lease: every address of each copy in `copies` is this holder's until
/// `expires_at`, so the holder claims locally: the address of subset `S` in copy `c` is
/// `base + c·C(n,k) + rank(S)` over `members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Block {
    /// The block's id (renew, release).
    pub id: BlockId,
    /// The negotiating group.
    pub group: GroupName,
    /// The plan's first address.
    #[schema(value_type = String, examples("239.2.0.0"))]
    pub base: IpAddr,
    /// The plan's subset size.
    pub k: u32,
    /// The members the plan enumerates, ascending (index i is `members[i]`).
    #[schema(value_type = Vec<String>)]
    pub members: Vec<IpAddr>,
    /// The group's current membership version (a newer one than the plan's means: re-fetch).
    pub members_version: u64,
    /// The plan version the block was taken on.
    pub plan_version: u64,
    /// The copies held, ascending.
    pub copies: Vec<u32>,
    /// When the lease ends, in ms since the Unix epoch.
    pub expires_at: u64,
    /// The name of the token that took it, who alone (or an admin) may renew or release it; absent when
    /// tsmd runs without tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_a_text_form() {
        let c = ClaimId(0xa1);
        assert_eq!(c.to_string(), "c-00000000000000a1");
        assert_eq!("c-00000000000000a1".parse::<ClaimId>().unwrap(), c);
        assert!("b-00000000000000a1".parse::<ClaimId>().is_err());
        assert!("c-a1".parse::<ClaimId>().is_err());
        assert!("c-00000000000000g1".parse::<ClaimId>().is_err());
        assert_eq!(
            serde_json::to_string(&BlockId(2)).unwrap(),
            "\"b-0000000000000002\""
        );
    }

    #[test]
    fn requests_reject_unknown_fields() {
        let err = serde_json::from_str::<RendezvousRequest>(
            r#"{"k":3,"copies":2,"base":"239.2.0.0","x":1}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `x`"), "{err}");
        assert!(serde_json::from_str::<RenewRequest>(r#"{"lease":5}"#).is_err());
    }

    #[test]
    fn unknown_states_are_kept_apart() {
        let s: PlanState = serde_json::from_str("\"paused\"").unwrap();
        assert_eq!(s, PlanState::Unknown);
        assert_eq!(
            serde_json::to_string(&PlanState::OverBudget).unwrap(),
            "\"over_budget\""
        );
    }

    #[test]
    fn budget_fits() {
        let mut b = SwitchBudget {
            dpid: Dpid(1),
            groups_needed: 10,
            groups_available: Some(10),
            flows_needed: 10,
            flows_available: None,
        };
        assert!(b.fits());
        b.groups_available = Some(9);
        assert!(!b.fits());
    }
}
