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
//!
//! This crate does not depend on the controller: the controller depends on it.

pub mod client;
pub mod error;
pub mod extract;
pub mod meta;
pub mod router;
pub mod service;
pub mod types;

pub use client::{CallOptions, Client, ClientError};
pub use error::{ApiError, Problem, PROBLEM_JSON, PROBLEM_TYPE_BASE};
pub use meta::{BearerToken, RequestMeta};
pub use router::{openapi, router, DOCS_PATH, OPENAPI_PATH};
pub use service::{Limits, Service};
pub use types::{
    Capabilities, Dpid, Group, GroupName, GroupSpec, Health, Host, Link, LinkEnd, LinkState,
    MacAddr, ParseIdError, Port, Subset, SubsetRequest, Switch, TraceId, Upsert,
};
