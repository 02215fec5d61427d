//! BIER in the HTTP API (RFC 8279 / RFC 8296 / RFC 9262): the DTOs, the handlers (their
//! routes are in [`crate::router()`]) and their OpenAPI entries.
//!
//! | method and path | success |
//! |---|---|
//! | `POST /v1/groups/{name}/bier` | 200 [`BierSubset`]: the header fields for members of the group; with `lease_ms`, also an `address` that the senders' edge switches encapsulate |
//! | `DELETE /v1/bier/leases/{address}` | 204: the lease's encapsulation flows are gone |
//! | `GET /v1/switches/{dpid}/bift` | 200 [`SwitchBift`]: the switch's BIFTs as the controller installed them |
//! | `GET /v1/bier/bfr-ids` | 200 list of [`BfrIdEntry`] |
//!
//! BitStrings are hex strings of BSL/8 bytes in RFC 8296 order: the first byte holds bit
//! positions BSL…BSL-7, the last byte positions 8…1 (bit position 1 is the lowest bit of the
//! last byte, RFC 8279 §3). A BFR-id `n` is SI `(n-1) div BSL`, bit `(n-1) mod BSL + 1`.
//!
//! How to use a lease: `POST /v1/groups/storage/bier {"members": [...], "lease_ms": 5000}`
//! answers with `address`; a plain UDP datagram from a member of the group (or from `sender`,
//! when one was given) to `address` is encapsulated by its edge switch (`bier_encap` with the
//! answered header, then `bier_forward`) and reaches exactly the members, decapsulated. The
//! answer comes when every switch acknowledged the flows. Without `lease_ms` nothing is
//! installed: a sender that encapsulates itself (a BFIR host) uses the header fields.
//! BIER-TE (`"te": true`) needs `sender`: its BitString is the tree from the sender's switch
//! (one bit per tree link, one per member) and is valid until the fabric changes; a lease's
//! flow is recomputed by the controller when it does.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Problem, PROBLEM_JSON};
use crate::extract::{AddressParam, GroupNameParam, JsonBody};
use crate::meta::RequestMeta;
use crate::service::Service;
use crate::types::{Dpid, MacAddr};

/// The body of `POST /v1/groups/{name}/bier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"members": ["10.0.0.2", "10.0.0.3"], "lease_ms": 5000})))]
pub struct BierRequest {
    /// The receivers: members of the group, by host IP (at least one; unicast; no duplicates).
    #[schema(value_type = Vec<String>)]
    pub members: Vec<IpAddr>,
    /// With a lease: an address from the subset pool, encapsulated by the senders' edge
    /// switches for this long (1 to the controller's maximum lease, ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
    /// BIER-TE (sub-domain 1, the tree from `sender`'s switch) instead of BIER (sub-domain 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub te: bool,
    /// The one sender (a known host; its BFR-id is the header's BFIR-id). Required with `te`;
    /// without it, a lease lets every member of the group send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub sender: Option<IpAddr>,
}

impl BierRequest {
    /// BIER header fields for these members, no lease, no sender.
    pub fn new(members: Vec<IpAddr>) -> Self {
        BierRequest {
            members,
            lease_ms: None,
            te: false,
            sender: None,
        }
    }
}

/// One RFC 8296 header: one per SI that has members (RFC 8279 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BierHeader {
    /// Set Identifier.
    pub si: u16,
    /// The header's 20-bit BIFT-id (BSL code << 16 | sub-domain << 8 | SI).
    pub bift_id: u32,
    /// The BitString, hex, RFC 8296 byte order.
    #[schema(examples("0000000000000000000000000000000000000000000000000000000000000016"))]
    pub bitstring: String,
}

/// A member and its BFR-id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BierMember {
    /// The member's IP.
    #[schema(value_type = String)]
    pub ip: IpAddr,
    /// Its BFR-id (1…65535).
    pub bfr_id: u16,
}

/// A switch port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BierPort {
    /// The switch.
    pub dpid: Dpid,
    /// The port.
    pub port: u32,
}

/// The answer of `POST /v1/groups/{name}/bier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BierSubset {
    /// The group.
    pub group: String,
    /// BIER sub-domain: 0 (BIER) or 1 (BIER-TE).
    pub sub_domain: u8,
    /// BitString length in bits (64…4096).
    pub bsl: u16,
    /// The SI of the first header (the only one unless the members span several SIs).
    pub si: u16,
    /// The first header's BitString (hex, RFC 8296 order).
    pub bitstring: String,
    /// The first header's BIFT-id.
    pub bift_id: u32,
    /// Every header, in SI order: a sender sends one copy per header.
    pub headers: Vec<BierHeader>,
    /// The members with their BFR-ids, in the request's order.
    pub members: Vec<BierMember>,
    /// BIER-TE.
    pub te: bool,
    /// The sender's BFR-id (the header's BFIR-id), when a sender was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfir_id: Option<u16>,
    /// BIER-TE: the tree, as the ports a copy leaves by (in order from the sender's switch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tree: Vec<BierPort>,
    /// With a lease: datagrams to this address become BIER at the senders' edge switches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub address: Option<IpAddr>,
    /// With a lease: the lease as granted, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
    /// With a lease: when it ends, ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// With a lease: the host ports whose datagrams to `address` are encapsulated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bfirs: Vec<BierPort>,
    /// With a lease: the name of the token that took it (absent when tsmd runs without tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// The kind of a BIFT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BiftKind {
    /// RFC 8279.
    Bier,
    /// RFC 9262.
    BierTe,
}

/// What a BIER entry does with its bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BiftAction {
    /// To a neighbour (one of `next_hops`: ECMP by entropy).
    Forward,
    /// Delivered here (to the BFER's port, decapsulated).
    LocalDecap,
    /// BIER-TE: by its `adjacencies`.
    Adjacencies,
}

/// A next hop of a BIER entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BiftNextHop {
    /// The port the copy leaves by.
    pub port: u32,
    /// The neighbour's Forwarding Bit Mask (hex, RFC 8296 order).
    pub fbm: String,
}

/// A BIER-TE adjacency (RFC 9262 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BiftAdjacency {
    /// `forward_connected`, `forward_routed`, `local_decap` or `ecmp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The port (connected, local_decap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Do-not-clear (connected).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dnc: bool,
    /// ECMP members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub members: Vec<BiftAdjacency>,
}

/// One bit position's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BiftEntry {
    /// Bit position (1…BSL).
    pub bit: u16,
    /// BIER: the BFR-id of the bit (in this table's SI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfr_id: Option<u16>,
    /// What happens to the bit.
    pub action: BiftAction,
    /// BIER forward: the next hops.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_hops: Vec<BiftNextHop>,
    /// BIER-TE: the adjacencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adjacencies: Vec<BiftAdjacency>,
}

/// One BIFT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Bift {
    /// BIFT-id.
    pub bift_id: u32,
    /// Sub-domain.
    pub sub_domain: u8,
    /// BitString length in bits.
    pub bsl: u16,
    /// Set Identifier.
    pub si: u16,
    /// BIER or BIER-TE.
    pub kind: BiftKind,
    /// By bit position.
    pub entries: Vec<BiftEntry>,
}

/// A BFER of the switch: where a local BFR-id's packets leave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LocalBfer {
    /// The BFR-id.
    pub bfr_id: u16,
    /// The host port.
    pub port: u32,
    /// Decapsulated before output.
    pub decap: bool,
}

/// A BFIR flow: datagrams from `port` to `address` are encapsulated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BfirFlow {
    /// The sender's host port.
    pub port: u32,
    /// The lease's address.
    #[schema(value_type = String)]
    pub address: IpAddr,
}

/// The answer of `GET /v1/switches/{dpid}/bift`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SwitchBift {
    /// The switch.
    pub dpid: Dpid,
    /// BIER-capable on its current connection.
    pub bier: bool,
    /// BIER-TE tables are installed too.
    pub te: bool,
    /// Why it is not BIER-capable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its BIFTs (both sub-domains), by BIFT-id.
    pub tables: Vec<Bift>,
    /// Its BFERs (sub-domain 0).
    pub bfers: Vec<LocalBfer>,
    /// Its BFIR flows.
    pub bfirs: Vec<BfirFlow>,
}

/// A BFER host's BFR-id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BfrIdEntry {
    /// The BFR-id.
    pub bfr_id: u16,
    /// Its SI at the controller's BSL.
    pub si: u16,
    /// Its bit position in that SI.
    pub bit: u16,
    /// The host.
    pub mac: MacAddr,
    /// The host's addresses.
    #[schema(value_type = Vec<String>)]
    pub ips: Vec<IpAddr>,
    /// Where the host is attached (absent while it is not known, e.g. after a restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<BierPort>,
}

/// Lowercase hex of bytes (BitStrings and F-BMs).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The answer of a BIER method a service does not implement.
pub(crate) fn not_implemented() -> ApiError {
    ApiError::Internal {
        reason: "BIER is not implemented by this service".to_owned(),
    }
}

/// The `{dpid}` path parameter.
#[derive(Debug, Clone, Copy)]
pub struct DpidParam(pub Dpid);

impl<S: Send + Sync> FromRequestParts<S> for DpidParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| v)
            .map_err(|e| ApiError::BadPathParameter {
                parameter: "dpid".to_owned(),
                value: parts.uri.path().to_owned(),
                reason: e.body_text(),
            })?;
        raw.parse()
            .map(DpidParam)
            .map_err(|e: crate::types::ParseIdError| ApiError::BadPathParameter {
                parameter: "dpid".to_owned(),
                value: raw.clone(),
                reason: e.reason.to_owned(),
            })
    }
}

fn check_bier_request(req: &BierRequest, max_lease_ms: u64) -> Result<(), ApiError> {
    if req.members.is_empty() {
        return Err(ApiError::InvalidField {
            path: "body.members".to_owned(),
            reason: "at least one member is needed".to_owned(),
        });
    }
    crate::router::check_members(&req.members)?;
    if let Some(lease_ms) = req.lease_ms {
        if lease_ms == 0 || lease_ms > max_lease_ms {
            return Err(ApiError::LeaseOutOfRange {
                lease_ms,
                max_lease_ms,
            });
        }
    }
    if let Some(s) = req.sender {
        if s.is_multicast() || s.is_unspecified() {
            return Err(ApiError::InvalidField {
                path: "body.sender".to_owned(),
                reason: format!("{s} is not a unicast host address"),
            });
        }
    }
    if req.te && req.sender.is_none() {
        return Err(ApiError::MissingField {
            field: "sender".to_owned(),
            path: "body".to_owned(),
        });
    }
    Ok(())
}

/// BIER header fields for members of a group; with `lease_ms`, an encapsulated address.
#[utoipa::path(
    post, path = "/v1/groups/{name}/bier", tag = "bier",
    params(("name" = crate::types::GroupName, Path, description = "Negotiating group name")),
    request_body = BierRequest,
    responses(
        (status = 200, description = "The header fields (and, with a lease, the address, \
            acknowledged by every switch)", body = BierSubset),
        (status = 400, description = "Malformed request (malformed-json, unknown-field, \
            missing-field: `sender` with `te`, invalid-field)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 404, description = "No such group (unknown-group)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 409, description = "Members or sender not behind a BIER-capable switch, \
            BIER-TE unavailable (conflict)", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Members outside the group (not-group-members), \
            members without a BFR-id, i.e. hosts never learned (unknown-host), lease out of \
            range (lease-out-of-range)", body = Problem, content_type = PROBLEM_JSON),
        (status = 502, description = "A switch refused the flows; rolled back \
            (switch-refused)", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "No address free (pool-exhausted)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 504, description = "Switches did not acknowledge in time (timeout)",
            body = Problem, content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn assign_bier<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    GroupNameParam(name): GroupNameParam,
    JsonBody(req): JsonBody<BierRequest>,
) -> Result<Json<BierSubset>, ApiError> {
    check_bier_request(&req, svc.limits().max_lease_ms)?;
    svc.assign_bier(meta, name, req).await.map(Json)
}

/// Ends a BIER lease early.
#[utoipa::path(
    delete, path = "/v1/bier/leases/{address}", tag = "bier",
    params(("address" = String, Path, description = "The lease's address")),
    responses(
        (status = 204, description = "Its encapsulation flows are gone"),
        (status = 400, description = "Not an IP address (bad-path-parameter)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 404, description = "No lease at this address (not-found)", body = Problem,
            content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn release_bier<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    AddressParam(address): AddressParam,
) -> Result<StatusCode, ApiError> {
    svc.release_bier(meta, address).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A switch's BIFTs, BFERs and BFIR flows as the controller installed them.
#[utoipa::path(
    get, path = "/v1/switches/{dpid}/bift", tag = "bier",
    params(("dpid" = Dpid, Path, description = "Datapath id")),
    responses(
        (status = 200, description = "The switch's BIER state", body = SwitchBift),
        (status = 400, description = "Not a datapath id (bad-path-parameter)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 404, description = "No such switch (not-found)", body = Problem,
            content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn switch_bift<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    DpidParam(dpid): DpidParam,
) -> Result<Json<SwitchBift>, ApiError> {
    svc.switch_bift(meta, dpid).await.map(Json)
}

/// Every BFER host's BFR-id.
#[utoipa::path(
    get, path = "/v1/bier/bfr-ids", tag = "bier",
    responses((status = 200, description = "Every BFR-id, in id order", body = Vec<BfrIdEntry>))
)]
pub(crate) async fn bfr_ids<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
) -> Result<Json<Vec<BfrIdEntry>>, ApiError> {
    svc.bfr_ids(meta).await.map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> Result<BierRequest, ApiError> {
        crate::extract::parse_json_body(json.as_bytes())
    }

    #[test]
    fn requests_parse_with_defaults_and_refuse_unknown_members() {
        let r = req(r#"{"members": ["10.0.0.1"]}"#).unwrap();
        assert_eq!(r, BierRequest::new(vec!["10.0.0.1".parse().unwrap()]));
        let r =
            req(r#"{"members": ["10.0.0.1"], "lease_ms": 5, "te": true, "sender": "10.0.0.2"}"#)
                .unwrap();
        assert_eq!((r.lease_ms, r.te), (Some(5), true));
        assert!(matches!(
            req(r#"{"members": [], "leese": 1}"#),
            Err(ApiError::UnknownField { .. })
        ));
    }

    #[test]
    fn checks_name_the_field() {
        let ok = BierRequest::new(vec!["10.0.0.1".parse().unwrap()]);
        assert_eq!(check_bier_request(&ok, 10), Ok(()));
        let empty = BierRequest::new(vec![]);
        assert!(matches!(
            check_bier_request(&empty, 10),
            Err(ApiError::InvalidField { path, .. }) if path == "body.members"
        ));
        let long = BierRequest {
            lease_ms: Some(11),
            ..ok.clone()
        };
        assert_eq!(
            check_bier_request(&long, 10),
            Err(ApiError::LeaseOutOfRange {
                lease_ms: 11,
                max_lease_ms: 10
            })
        );
        let te = BierRequest {
            te: true,
            ..ok.clone()
        };
        assert!(matches!(
            check_bier_request(&te, 10),
            Err(ApiError::MissingField { field, .. }) if field == "sender"
        ));
        let twice = BierRequest::new(vec!["10.0.0.1".parse().unwrap(); 2]);
        assert!(check_bier_request(&twice, 10).is_err());
    }

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0x00, 0x16, 0xab]), "0016ab");
    }
}
