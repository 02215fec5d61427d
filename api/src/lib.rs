//! The HTTP API contract of tsmd: request and response types, the routes over a [`Service`]
//! trait with their OpenAPI 3.1 document, RFC 9457 errors, and a typed client.
//!
//! - [`types`]: the DTOs and their wire conventions (IPv4 and IPv6 everywhere; 64-bit ids as
//!   16 hex digits; times in ms since the Unix epoch; requests reject unknown members).
//! - [`error`]: [`ApiError`], one variant per failure, as `application/problem+json`.
//! - [`meta`]: [`RequestMeta`] from headers (`X-Trace-Id`, `traceparent`, `Idempotency-Key`,
//!   `Authorization`).
//! - [`service`]: the [`Service`] trait tsmd implements; [`router()`] serves it.
//! - [`client`]: [`Client`], used by `tsm-agent` and `tsmctl`.
//! - [`auth`]: bearer tokens and the route → right table; [`idempotency`]: `Idempotency-Key`;
//!   [`events`]: `GET /v1/events` (SSE); [`layers`]: how they wrap the routes, `GET /metrics`.
//!
//! This crate does not depend on the controller: the controller depends on it.

pub mod auth;
pub mod bier;
pub mod client;
pub mod error;
pub mod events;
pub mod extract;
pub mod idempotency;
pub mod layers;
pub mod members;
pub mod meta;
pub mod rendezvous;
pub mod rendezvous_routes;
pub mod router;
pub mod rules;
pub mod service;
pub mod types;

pub use auth::{Authenticator, GroupScope, Principal, Right, TokenHash, TokenSpec};
pub use bier::{
    BfirFlow, BfrIdEntry, BierHeader, BierMember, BierPort, BierRequest, BierSubset, Bift,
    BiftAction, BiftAdjacency, BiftEntry, BiftKind, BiftNextHop, LocalBfer, SwitchBift,
};
pub use client::{CallOptions, Client, ClientError};
pub use error::{ApiError, Problem, PROBLEM_JSON, PROBLEM_TYPE_BASE};
pub use events::{EventLog, EventStream, Received};
pub use idempotency::{Idempotency, IdempotencyConfig};
pub use layers::RouterConfig;
pub use members::GroupMembers;
pub use meta::{BearerToken, RequestMeta};
pub use rendezvous::{
    Block, BlockId, BlockRequest, Claim, ClaimId, ClaimRequest, PlanProgress, PlanState,
    RendezvousPlan, RendezvousRequest, RenewRequest, SwitchBudget,
};
pub use router::{openapi, router, router_with, DOCS_PATH, OPENAPI_PATH};
pub use rules::{FlowRule, GroupRule, SwitchRules};
pub use service::{Limits, Service};
pub use types::{
    Capabilities, Dpid, Group, GroupName, GroupSpec, Health, Host, Link, LinkEnd, LinkState,
    MacAddr, ParseIdError, Port, Subset, SubsetRequest, Switch, TraceId, Upsert,
};
