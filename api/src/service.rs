//! The [`Service`] trait: what tsmd does for each API call. The router ([`crate::router()`])
//! turns HTTP into calls of this trait; tsmd implements it over its core task.
//!
//! What the router guarantees before it calls a method, so an implementation need not check
//! again:
//! - every body parsed, without unknown members; path parameters valid ([`GroupName`], IP);
//! - `put_group`: `spec.address` is multicast; `spec.members` are unicast, without duplicates;
//! - `create_subset`: `req.members` is not empty, unicast, without duplicates;
//!   `1 <= req.lease_ms <= limits().max_lease_ms`.
//!
//! What an implementation checks and reports with the matching [`ApiError`]: unknown groups
//! and hosts, members outside the group, pool exhaustion, switch refusals, timeouts, conflicts.
//! Every future must be `Send` (axum runs handlers on any worker thread).

use std::future::Future;
use std::net::IpAddr;

use crate::error::ApiError;
use crate::meta::RequestMeta;
use crate::types::{
    Group, GroupName, GroupSpec, Health, Host, Link, Subset, SubsetRequest, Switch, Upsert,
};

/// Limits the router enforces on behalf of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The longest subset lease granted, in ms.
    pub max_lease_ms: u64,
}

impl Limits {
    /// Limits with this maximum lease.
    pub fn new(max_lease_ms: u64) -> Self {
        Self { max_lease_ms }
    }
}

/// The operations behind the HTTP API. See the module docs for the division of checks.
pub trait Service: Send + Sync + 'static {
    /// The limits the router enforces (read on every request, so they may change at run time).
    fn limits(&self) -> Limits;

    /// Liveness: `Ok` when the service answers requests.
    fn health(&self) -> impl Future<Output = Result<Health, ApiError>> + Send;

    /// The connected switches.
    fn switches(
        &self,
        meta: RequestMeta,
    ) -> impl Future<Output = Result<Vec<Switch>, ApiError>> + Send;

    /// The links between switches.
    fn links(&self, meta: RequestMeta) -> impl Future<Output = Result<Vec<Link>, ApiError>> + Send;

    /// The learned hosts, one entry per host IP address.
    fn hosts(&self, meta: RequestMeta) -> impl Future<Output = Result<Vec<Host>, ApiError>> + Send;

    /// Creates or replaces a negotiating group.
    fn put_group(
        &self,
        meta: RequestMeta,
        name: GroupName,
        spec: GroupSpec,
    ) -> impl Future<Output = Result<Upsert<Group>, ApiError>> + Send;

    /// One group ([`ApiError::UnknownGroup`] if there is none by that name).
    fn group(
        &self,
        meta: RequestMeta,
        name: GroupName,
    ) -> impl Future<Output = Result<Group, ApiError>> + Send;

    /// Every group.
    fn groups(
        &self,
        meta: RequestMeta,
    ) -> impl Future<Output = Result<Vec<Group>, ApiError>> + Send;

    /// Deletes a group ([`ApiError::UnknownGroup`] if there is none by that name).
    fn delete_group(
        &self,
        meta: RequestMeta,
        name: GroupName,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Installs a subset group and answers once every switch on its tree acknowledged it;
    /// on any failure nothing of it stays installed.
    fn create_subset(
        &self,
        meta: RequestMeta,
        group: GroupName,
        req: SubsetRequest,
    ) -> impl Future<Output = Result<Subset, ApiError>> + Send;

    /// Every live subset.
    fn subsets(
        &self,
        meta: RequestMeta,
    ) -> impl Future<Output = Result<Vec<Subset>, ApiError>> + Send;

    /// One live subset by its address ([`ApiError::NotFound`] if none).
    fn subset(
        &self,
        meta: RequestMeta,
        address: IpAddr,
    ) -> impl Future<Output = Result<Subset, ApiError>> + Send;

    /// Removes a live subset before its lease ends ([`ApiError::NotFound`] if none).
    fn delete_subset(
        &self,
        meta: RequestMeta,
        address: IpAddr,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}
