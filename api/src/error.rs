//! Every failure the API reports, and its RFC 9457 problem-details form
//! (`application/problem+json`).
//!
//! Each [`ApiError`] variant has one HTTP status, one stable `type` URI, one `title`, a `detail`
//! (the variant's `Display`), and extension members that name the culprit (`"members"`,
//! `"dpid"`, `"field"`, ...). The members of a variant are exactly its fields, in `snake_case`.
//!
//! Problem type URIs are `https://tsm.invalid/problems/<slug>` (see [`PROBLEM_TYPE_BASE`]).
//! The `.invalid` top-level domain never resolves (RFC 2606 §2), so the URIs are identifiers
//! only (RFC 9457 §3.1.1 allows a type URI that is not dereferenceable); clients compare them
//! as strings. A slug never changes meaning once published; new failures get new slugs.
//!
//! Guarantees: serialising an `ApiError` to a [`Problem`] and reading it back
//! ([`ApiError::from_problem`]) gives the same `ApiError`; a problem whose `type` this crate
//! does not know stays a plain [`Problem`] for the client.

use std::net::IpAddr;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::rendezvous::SwitchBudget;
use crate::types::{Dpid, TraceId};

/// The common prefix of every problem `type` URI this API emits.
pub const PROBLEM_TYPE_BASE: &str = "https://tsm.invalid/problems/";

/// The media type of every error body (RFC 9457 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A failure of an API request. `Display` is the problem's `detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum ApiError {
    /// The named negotiating group does not exist.
    #[serde(rename = "https://tsm.invalid/problems/unknown-group")]
    #[schema(title = "unknown-group")]
    #[error("there is no group named {group:?}")]
    UnknownGroup {
        /// The group name that was asked for.
        group: String,
    },

    /// Some requested subset members are not members of the group.
    #[serde(rename = "https://tsm.invalid/problems/not-group-members")]
    #[schema(title = "not-group-members")]
    #[error("{} not member(s) of group {group:?}", list(members))]
    NotGroupMembers {
        /// The group.
        group: String,
        /// The requested members that are not in the group.
        #[schema(value_type = Vec<String>)]
        members: Vec<IpAddr>,
    },

    /// Some hosts are not known to the controller (never seen on any edge port).
    #[serde(rename = "https://tsm.invalid/problems/unknown-host")]
    #[schema(title = "unknown-host")]
    #[error("unknown host(s) {}: not seen on any edge port", list(hosts))]
    UnknownHosts {
        /// The unknown host addresses.
        #[schema(value_type = Vec<String>)]
        hosts: Vec<IpAddr>,
    },

    /// A unicast (or otherwise non-multicast) address was given as a group address.
    #[serde(rename = "https://tsm.invalid/problems/not-multicast")]
    #[schema(title = "not-multicast")]
    #[error("{address} is not a multicast address (IPv4 224.0.0.0/4 or IPv6 ff00::/8)")]
    NotMulticast {
        /// The address given.
        #[schema(value_type = String)]
        address: IpAddr,
    },

    /// The lease is 0 or longer than the configured maximum.
    #[serde(rename = "https://tsm.invalid/problems/lease-out-of-range")]
    #[schema(title = "lease-out-of-range")]
    #[error("lease_ms {lease_ms} is out of range: it must be from 1 to {max_lease_ms}")]
    LeaseOutOfRange {
        /// The lease asked for, in ms.
        lease_ms: u64,
        /// The longest lease the controller grants, in ms.
        max_lease_ms: u64,
    },

    /// No transactional address is free.
    #[serde(rename = "https://tsm.invalid/problems/pool-exhausted")]
    #[schema(title = "pool-exhausted")]
    #[error("the address pool {pool} is exhausted: all {size} addresses are leased")]
    PoolExhausted {
        /// The pool (an address range such as `239.255.0.0/16`).
        pool: String,
        /// How many addresses the pool holds.
        size: u64,
    },

    /// A switch answered the installation with OFPT_ERROR; everything was rolled back.
    #[serde(rename = "https://tsm.invalid/problems/switch-refused")]
    #[schema(title = "switch-refused")]
    #[error(
        "switch {dpid} refused the rules with OFPT_ERROR type {error_type} code {error_code} \
         ({error}); the subset was rolled back"
    )]
    SwitchRefused {
        /// The refusing switch.
        dpid: Dpid,
        /// OFPT_ERROR `type` (`ofp_error_type`, OpenFlow 1.3.5 §7.4.4).
        error_type: u16,
        /// OFPT_ERROR `code` within that type.
        error_code: u16,
        /// The spec names of type and code, e.g. `OFPET_GROUP_MOD_FAILED/OFPGMFC_OUT_OF_GROUPS`.
        error: String,
        /// The transaction's trace id (the cookie of the refused flows).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace_id: Option<TraceId>,
    },

    /// The request body is not JSON.
    #[serde(rename = "https://tsm.invalid/problems/malformed-json")]
    #[schema(title = "malformed-json")]
    #[error("the body is not valid JSON at line {line} column {column}: {reason}")]
    MalformedJson {
        /// Line of the error (1-based).
        line: u64,
        /// Column of the error (1-based; 0 when the body ends before its first character,
        /// as an empty body does).
        column: u64,
        /// What the parser found wrong.
        reason: String,
    },

    /// The request body has a member the request type does not have.
    #[serde(rename = "https://tsm.invalid/problems/unknown-field")]
    #[schema(title = "unknown-field")]
    #[error("unknown field {field:?} in {path}; expected one of: {}", expected.join(", "))]
    UnknownField {
        /// The unknown member's name.
        field: String,
        /// Where it is: `body`, or a path such as `body.members[1]`.
        path: String,
        /// The members allowed there.
        expected: Vec<String>,
    },

    /// The request body lacks a required member.
    #[serde(rename = "https://tsm.invalid/problems/missing-field")]
    #[schema(title = "missing-field")]
    #[error("missing field {field:?} in {path}")]
    MissingField {
        /// The missing member's name.
        field: String,
        /// Where it is missing.
        path: String,
    },

    /// A member of the request body has a wrong type or value.
    #[serde(rename = "https://tsm.invalid/problems/invalid-field")]
    #[schema(title = "invalid-field")]
    #[error("invalid value at {path}: {reason}")]
    InvalidField {
        /// The member, e.g. `body.members[1]`.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The body is not declared as JSON.
    #[serde(rename = "https://tsm.invalid/problems/unsupported-media-type")]
    #[schema(title = "unsupported-media-type")]
    #[error("the body must be application/json, not {}", content_type.as_deref().unwrap_or("(no Content-Type)"))]
    UnsupportedMediaType {
        /// The Content-Type that was sent, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
    },

    /// The body is longer than the server accepts.
    #[serde(rename = "https://tsm.invalid/problems/body-too-large")]
    #[schema(title = "body-too-large")]
    #[error("the body is longer than {limit} bytes")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },

    /// The resource does not exist.
    #[serde(rename = "https://tsm.invalid/problems/not-found")]
    #[schema(title = "not-found")]
    #[error("{resource} does not exist")]
    NotFound {
        /// What was looked for, e.g. `subset 239.255.0.1` or a path.
        resource: String,
    },

    /// The route exists but not with this method.
    #[serde(rename = "https://tsm.invalid/problems/method-not-allowed")]
    #[schema(title = "method-not-allowed")]
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The path.
        path: String,
    },

    /// The request conflicts with the current state.
    #[serde(rename = "https://tsm.invalid/problems/conflict")]
    #[schema(title = "conflict")]
    #[error("{resource}: {reason}")]
    Conflict {
        /// The resource that conflicts, e.g. `group storage-b`.
        resource: String,
        /// Why.
        reason: String,
    },

    /// A path parameter is malformed.
    #[serde(rename = "https://tsm.invalid/problems/bad-path-parameter")]
    #[schema(title = "bad-path-parameter")]
    #[error("path parameter {parameter} = {value:?} is invalid: {reason}")]
    BadPathParameter {
        /// The parameter's name (`name`, `address`).
        parameter: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A request header is malformed.
    #[serde(rename = "https://tsm.invalid/problems/bad-header")]
    #[schema(title = "bad-header")]
    #[error("header {header} is invalid: {reason}")]
    BadHeader {
        /// The header's name.
        header: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The operation did not finish in time; nothing of it stays installed.
    #[serde(rename = "https://tsm.invalid/problems/timeout")]
    #[schema(title = "timeout")]
    #[error(
        "{operation} did not finish within {after_ms} ms{}",
        pending_note(switches)
    )]
    Timeout {
        /// What timed out.
        operation: String,
        /// The time limit, in ms.
        after_ms: u64,
        /// The switches that had not answered.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        switches: Vec<Dpid>,
    },

    /// No valid credentials.
    #[serde(rename = "https://tsm.invalid/problems/unauthorized")]
    #[schema(title = "unauthorized")]
    #[error("not authenticated: {reason}")]
    Unauthorized {
        /// Why.
        reason: String,
    },

    /// The credentials do not allow this request.
    #[serde(rename = "https://tsm.invalid/problems/forbidden")]
    #[schema(title = "forbidden")]
    #[error("forbidden: {reason}")]
    Forbidden {
        /// Why.
        reason: String,
        /// The name of the token that was presented.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// The right the token lacks (`subsets`, `claims`, `admin`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        right: Option<String>,
        /// The negotiating group the token may not use.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
    },

    /// An `Idempotency-Key` was used again for a different request (method, path or body).
    #[serde(rename = "https://tsm.invalid/problems/idempotency-key-reused")]
    #[schema(title = "idempotency-key-reused")]
    #[error("Idempotency-Key {key:?} was used for a different request: {reason}")]
    IdempotencyKeyReused {
        /// The key.
        key: String,
        /// What differs.
        reason: String,
    },

    /// The events after the requested seq are no longer held: resynchronise.
    #[serde(rename = "https://tsm.invalid/problems/events-gone")]
    #[schema(title = "events-gone")]
    #[error(
        "the events after seq {after} are not available: the server holds {first_available} \
         to {last}; re-read the state and follow the stream from there"
    )]
    EventsGone {
        /// The resume point asked for.
        after: u64,
        /// The oldest event held.
        first_available: u64,
        /// The newest event issued.
        last: u64,
    },

    /// The server is not ready to serve (starting or stopping).
    #[serde(rename = "https://tsm.invalid/problems/not-ready")]
    #[schema(title = "not-ready")]
    #[error("not ready: {reason}")]
    NotReady {
        /// Why.
        reason: String,
    },

    /// Every copy of the requested subset is claimed or held by a block.
    #[serde(rename = "https://tsm.invalid/problems/rendezvous-exhausted")]
    #[schema(title = "rendezvous-exhausted")]
    #[error(
        "all {copies} copies of subset {} of group {group:?} are taken; use an on-demand \
         subset (POST /v1/groups/{group}/subsets)",
        list(members)
    )]
    RendezvousExhausted {
        /// The group.
        group: String,
        /// The subset asked for.
        #[schema(value_type = Vec<String>)]
        members: Vec<IpAddr>,
        /// How many copies the plan has.
        copies: u32,
    },

    /// The claim or block has ended (expired or released) or never existed.
    #[serde(rename = "https://tsm.invalid/problems/claim-expired")]
    #[schema(title = "claim-expired")]
    #[error("{id} has expired, was released, or never existed")]
    ClaimExpired {
        /// The claim (`c-…`) or block (`b-…`) id.
        id: String,
    },

    /// A rendezvous plan does not fit the switches' group or flow budgets; nothing was
    /// installed.
    #[serde(rename = "https://tsm.invalid/problems/over-budget")]
    #[schema(title = "over-budget")]
    #[error(
        "the rendezvous plan of group {group:?} does not fit: {}",
        over_note(switches)
    )]
    OverBudget {
        /// The group.
        group: String,
        /// The switches that cannot hold their share, with the numbers.
        switches: Vec<SwitchBudget>,
    },

    /// The subset size `k` of a rendezvous plan is 0 or larger than the group.
    #[serde(rename = "https://tsm.invalid/problems/k-out-of-range")]
    #[schema(title = "k-out-of-range")]
    #[error("k = {k} is out of range: group {group:?} has {n} members (1 <= k <= n)")]
    KOutOfRange {
        /// The group.
        group: String,
        /// The subset size asked for.
        k: u64,
        /// The group's member count.
        n: u64,
    },

    /// A claim names a number of members other than the plan's `k`.
    #[serde(rename = "https://tsm.invalid/problems/wrong-subset-size")]
    #[schema(title = "wrong-subset-size")]
    #[error("a claim on group {group:?} needs exactly k = {k} members, not {size}")]
    WrongSubsetSize {
        /// The group.
        group: String,
        /// How many members were named.
        size: u64,
        /// The plan's subset size.
        k: u64,
    },

    /// A fault of the server itself.
    #[serde(rename = "https://tsm.invalid/problems/internal")]
    #[schema(title = "internal")]
    #[error("internal error: {reason}")]
    Internal {
        /// What went wrong.
        reason: String,
    },
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn over_note(switches: &[SwitchBudget]) -> String {
    let one = |b: &SwitchBudget| {
        let avail = |a: Option<u64>| a.map_or_else(|| "unlimited".to_owned(), |a| a.to_string());
        format!(
            "switch {} needs {} groups ({} available) and {} flows ({} available)",
            b.dpid,
            b.groups_needed,
            avail(b.groups_available),
            b.flows_needed,
            avail(b.flows_available)
        )
    };
    switches.iter().map(one).collect::<Vec<_>>().join("; ")
}

fn pending_note(switches: &[Dpid]) -> String {
    if switches.is_empty() {
        String::new()
    } else {
        format!("; no answer from {}", list(switches))
    }
}

impl ApiError {
    /// The last segment of the problem `type` URI.
    pub fn slug(&self) -> &'static str {
        match self {
            ApiError::UnknownGroup { .. } => "unknown-group",
            ApiError::NotGroupMembers { .. } => "not-group-members",
            ApiError::UnknownHosts { .. } => "unknown-host",
            ApiError::NotMulticast { .. } => "not-multicast",
            ApiError::LeaseOutOfRange { .. } => "lease-out-of-range",
            ApiError::PoolExhausted { .. } => "pool-exhausted",
            ApiError::SwitchRefused { .. } => "switch-refused",
            ApiError::MalformedJson { .. } => "malformed-json",
            ApiError::UnknownField { .. } => "unknown-field",
            ApiError::MissingField { .. } => "missing-field",
            ApiError::InvalidField { .. } => "invalid-field",
            ApiError::UnsupportedMediaType { .. } => "unsupported-media-type",
            ApiError::BodyTooLarge { .. } => "body-too-large",
            ApiError::NotFound { .. } => "not-found",
            ApiError::MethodNotAllowed { .. } => "method-not-allowed",
            ApiError::Conflict { .. } => "conflict",
            ApiError::BadPathParameter { .. } => "bad-path-parameter",
            ApiError::BadHeader { .. } => "bad-header",
            ApiError::Timeout { .. } => "timeout",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::IdempotencyKeyReused { .. } => "idempotency-key-reused",
            ApiError::EventsGone { .. } => "events-gone",
            ApiError::NotReady { .. } => "not-ready",
            ApiError::RendezvousExhausted { .. } => "rendezvous-exhausted",
            ApiError::ClaimExpired { .. } => "claim-expired",
            ApiError::OverBudget { .. } => "over-budget",
            ApiError::KOutOfRange { .. } => "k-out-of-range",
            ApiError::WrongSubsetSize { .. } => "wrong-subset-size",
            ApiError::Internal { .. } => "internal",
        }
    }

    /// The problem `type` URI: [`PROBLEM_TYPE_BASE`] followed by [`slug`](Self::slug).
    pub fn type_uri(&self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.slug())
    }

    /// The HTTP status. Malformed requests are 400; well-formed requests that the current
    /// state or configuration cannot satisfy are 422; failures of the switches behind the
    /// controller are 502/504.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownGroup { .. } | ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::NotGroupMembers { .. }
            | ApiError::UnknownHosts { .. }
            | ApiError::NotMulticast { .. }
            | ApiError::LeaseOutOfRange { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PoolExhausted { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::SwitchRefused { .. } => StatusCode::BAD_GATEWAY,
            ApiError::MalformedJson { .. }
            | ApiError::UnknownField { .. }
            | ApiError::MissingField { .. }
            | ApiError::InvalidField { .. }
            | ApiError::BadPathParameter { .. }
            | ApiError::BadHeader { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::IdempotencyKeyReused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::EventsGone { .. } => StatusCode::GONE,
            ApiError::NotReady { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RendezvousExhausted { .. } | ApiError::OverBudget { .. } => {
                StatusCode::CONFLICT
            }
            ApiError::ClaimExpired { .. } => StatusCode::GONE,
            ApiError::KOutOfRange { .. } | ApiError::WrongSubsetSize { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem's short, fixed summary (RFC 9457 §3.1.3).
    pub fn title(&self) -> &'static str {
        match self {
            ApiError::UnknownGroup { .. } => "Unknown group",
            ApiError::NotGroupMembers { .. } => "Not members of the group",
            ApiError::UnknownHosts { .. } => "Unknown host",
            ApiError::NotMulticast { .. } => "Not a multicast address",
            ApiError::LeaseOutOfRange { .. } => "Lease out of range",
            ApiError::PoolExhausted { .. } => "Address pool exhausted",
            ApiError::SwitchRefused { .. } => "Switch refused the rules",
            ApiError::MalformedJson { .. } => "Malformed JSON body",
            ApiError::UnknownField { .. } => "Unknown field",
            ApiError::MissingField { .. } => "Missing field",
            ApiError::InvalidField { .. } => "Invalid field value",
            ApiError::UnsupportedMediaType { .. } => "Unsupported media type",
            ApiError::BodyTooLarge { .. } => "Body too large",
            ApiError::NotFound { .. } => "Not found",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::BadPathParameter { .. } => "Bad path parameter",
            ApiError::BadHeader { .. } => "Bad header",
            ApiError::Timeout { .. } => "Timeout",
            ApiError::Unauthorized { .. } => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::IdempotencyKeyReused { .. } => "Idempotency key reused",
            ApiError::EventsGone { .. } => "Events no longer available",
            ApiError::NotReady { .. } => "Not ready",
            ApiError::RendezvousExhausted { .. } => "Rendezvous subset exhausted",
            ApiError::ClaimExpired { .. } => "Claim expired",
            ApiError::OverBudget { .. } => "Plan over budget",
            ApiError::KOutOfRange { .. } => "Subset size out of range",
            ApiError::WrongSubsetSize { .. } => "Wrong subset size",
            ApiError::Internal { .. } => "Internal error",
        }
    }

    /// The problem-details object for this error.
    pub fn to_problem(&self) -> Problem {
        let extensions = match serde_json::to_value(self) {
            Ok(Value::Object(mut map)) => {
                map.remove("type");
                map
            }
            // Serialising these plain fields cannot fail; keep the error usable if it does.
            _ => Map::new(),
        };
        Problem {
            type_uri: self.type_uri(),
            title: self.title().to_owned(),
            status: self.status().as_u16(),
            detail: self.to_string(),
            instance: None,
            extensions,
        }
    }

    /// The `ApiError` a problem-details object stands for, or `None` when its `type` is not
    /// one of ours (or its members do not fit the type, as from a newer server).
    pub fn from_problem(problem: &Problem) -> Option<ApiError> {
        if !problem.type_uri.starts_with(PROBLEM_TYPE_BASE) {
            return None;
        }
        let mut object = problem.extensions.clone();
        object.insert("type".to_owned(), Value::String(problem.type_uri.clone()));
        serde_json::from_value(Value::Object(object)).ok()
    }
}

/// An RFC 9457 problem-details object, as sent with `Content-Type: application/problem+json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// The problem type URI, `https://tsm.invalid/problems/<slug>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the problem type.
    #[serde(default)]
    pub title: String,
    /// The HTTP status code.
    #[serde(default)]
    pub status: u16,
    /// What went wrong in this occurrence.
    #[serde(default)]
    pub detail: String,
    /// The request path this occurrence concerns, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Extension members naming the culprit (`members`, `dpid`, `field`, ...).
    #[serde(flatten)]
    #[schema(value_type = Object, additional_properties)]
    pub extensions: Map<String, Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, status = status.as_u16(), "request failed");
        } else {
            tracing::debug!(error = %self, status = status.as_u16(), "request rejected");
        }
        let body = match serde_json::to_vec(&self.to_problem()) {
            Ok(body) => body,
            Err(_) => b"{\"type\":\"about:blank\",\"status\":500}".to_vec(),
        };
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: say which scheme is expected (the auth layer may refine it).
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tsmd\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn one_of_each() -> Vec<ApiError> {
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        vec![
            ApiError::UnknownGroup { group: "g".into() },
            ApiError::NotGroupMembers {
                group: "g".into(),
                members: vec![ip],
            },
            ApiError::UnknownHosts { hosts: vec![ip] },
            ApiError::NotMulticast { address: ip },
            ApiError::LeaseOutOfRange {
                lease_ms: 0,
                max_lease_ms: 60_000,
            },
            ApiError::PoolExhausted {
                pool: "239.255.0.0/30".into(),
                size: 4,
            },
            ApiError::SwitchRefused {
                dpid: Dpid(3),
                error_type: 6,
                error_code: 8,
                error: "OFPET_GROUP_MOD_FAILED/OFPGMFC_OUT_OF_GROUPS".into(),
                trace_id: TraceId::new(7),
            },
            ApiError::MalformedJson {
                line: 1,
                column: 2,
                reason: "EOF".into(),
            },
            ApiError::UnknownField {
                field: "x".into(),
                path: "body".into(),
                expected: vec!["members".into()],
            },
            ApiError::MissingField {
                field: "members".into(),
                path: "body".into(),
            },
            ApiError::InvalidField {
                path: "body.members[0]".into(),
                reason: "bad".into(),
            },
            ApiError::UnsupportedMediaType { content_type: None },
            ApiError::BodyTooLarge { limit: 10 },
            ApiError::NotFound {
                resource: "subset 239.255.0.1".into(),
            },
            ApiError::MethodNotAllowed {
                method: "PATCH".into(),
                path: "/v1/groups/g".into(),
            },
            ApiError::Conflict {
                resource: "group h".into(),
                reason: "same address".into(),
            },
            ApiError::BadPathParameter {
                parameter: "name".into(),
                value: ".x".into(),
                reason: "dot".into(),
            },
            ApiError::BadHeader {
                header: "x-trace-id".into(),
                reason: "hex".into(),
            },
            ApiError::Timeout {
                operation: "install".into(),
                after_ms: 3000,
                switches: vec![Dpid(1)],
            },
            ApiError::Unauthorized {
                reason: "no token".into(),
            },
            ApiError::Forbidden {
                reason: "group".into(),
                token: Some("t".into()),
                right: None,
                group: Some("g".into()),
            },
            ApiError::IdempotencyKeyReused {
                key: "k".into(),
                reason: "other body".into(),
            },
            ApiError::EventsGone {
                after: 1,
                first_available: 9,
                last: 20,
            },
            ApiError::NotReady {
                reason: "starting".into(),
            },
            ApiError::RendezvousExhausted {
                group: "g".into(),
                members: vec![ip],
                copies: 2,
            },
            ApiError::ClaimExpired {
                id: "c-0000000000000001".into(),
            },
            ApiError::OverBudget {
                group: "g".into(),
                switches: vec![SwitchBudget {
                    dpid: Dpid(2),
                    groups_needed: 112,
                    groups_available: Some(100),
                    flows_needed: 112,
                    flows_available: None,
                }],
            },
            ApiError::KOutOfRange {
                group: "g".into(),
                k: 9,
                n: 8,
            },
            ApiError::WrongSubsetSize {
                group: "g".into(),
                size: 2,
                k: 3,
            },
            ApiError::Internal {
                reason: "bug".into(),
            },
        ]
    }

    #[test]
    fn every_variant_round_trips_through_problem_json() {
        let all = one_of_each();
        let mut slugs: Vec<_> = all.iter().map(ApiError::slug).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), all.len(), "slugs are unique");
        for err in all {
            let problem = err.to_problem();
            // The serde tag and the slug table agree.
            let tagged = serde_json::to_value(&err).unwrap();
            assert_eq!(tagged["type"], Value::String(err.type_uri()), "{err:?}");
            assert_eq!(problem.status, err.status().as_u16());
            let text = serde_json::to_string(&problem).unwrap();
            let back: Problem = serde_json::from_str(&text).unwrap();
            assert_eq!(ApiError::from_problem(&back), Some(err.clone()), "{text}");
        }
    }

    #[test]
    fn problem_names_the_culprit() {
        let err = ApiError::NotGroupMembers {
            group: "g".into(),
            members: vec!["10.0.0.9".parse().unwrap(), "fd00::9".parse().unwrap()],
        };
        let v = serde_json::to_value(err.to_problem()).unwrap();
        assert_eq!(v["members"], serde_json::json!(["10.0.0.9", "fd00::9"]));
        assert_eq!(v["group"], "g");
        assert_eq!(v["status"], 422);
        assert!(v["detail"].as_str().unwrap().contains("10.0.0.9, fd00::9"));
    }

    #[test]
    fn foreign_problem_types_stay_plain() {
        let p: Problem = serde_json::from_str(
            r#"{"type": "https://example.invalid/x", "title": "t", "status": 418}"#,
        )
        .unwrap();
        assert_eq!(ApiError::from_problem(&p), None);
        let p: Problem =
            serde_json::from_str(r#"{"type": "https://tsm.invalid/problems/from-the-future"}"#)
                .unwrap();
        assert_eq!(ApiError::from_problem(&p), None);
    }
}
