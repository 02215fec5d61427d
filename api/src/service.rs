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
use crate::rendezvous::{
    Block, BlockId, BlockRequest, Claim, ClaimId, ClaimRequest, RendezvousPlan, RendezvousRequest,
    RenewRequest,
};
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

    // Rendezvous groups (issue 5; see `crate::rendezvous`). The defaults answer `internal`
    // ("not implemented"), so a service without rendezvous support still compiles.

    /// Creates or replaces the group's rendezvous plan and starts installing it (the answer
    /// shows `installing`; poll [`Service::rendezvous`] for progress). Over budget:
    /// [`ApiError::OverBudget`] and nothing installed; `k` above the member count:
    /// [`ApiError::KOutOfRange`].
    fn put_rendezvous(
        &self,
        meta: RequestMeta,
        group: GroupName,
        req: RendezvousRequest,
    ) -> impl Future<Output = Result<RendezvousPlan, ApiError>> + Send {
        let _ = (meta, group, req);
        async { Err(not_implemented()) }
    }

    /// The group's plan ([`ApiError::NotFound`] if it has none).
    fn rendezvous(
        &self,
        meta: RequestMeta,
        group: GroupName,
    ) -> impl Future<Output = Result<RendezvousPlan, ApiError>> + Send {
        let _ = (meta, group);
        async { Err(not_implemented()) }
    }

    /// Every plan.
    fn rendezvous_plans(
        &self,
        meta: RequestMeta,
    ) -> impl Future<Output = Result<Vec<RendezvousPlan>, ApiError>> + Send {
        let _ = meta;
        async { Err(not_implemented()) }
    }

    /// Removes the group's plan and its rules; its claims and blocks end.
    fn delete_rendezvous(
        &self,
        meta: RequestMeta,
        group: GroupName,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        let _ = (meta, group);
        async { Err(not_implemented()) }
    }

    /// Claims one free address of the subset (`req.members`: exactly k members of the group,
    /// unicast and distinct, lease within the limits: checked by the router).
    fn claim(
        &self,
        meta: RequestMeta,
        group: GroupName,
        req: ClaimRequest,
    ) -> impl Future<Output = Result<Claim, ApiError>> + Send {
        let _ = (meta, group, req);
        async { Err(not_implemented()) }
    }

    /// Extends a live claim to `lease_ms` from now ([`ApiError::ClaimExpired`] otherwise).
    fn renew_claim(
        &self,
        meta: RequestMeta,
        id: ClaimId,
        req: RenewRequest,
    ) -> impl Future<Output = Result<Claim, ApiError>> + Send {
        let _ = (meta, id, req);
        async { Err(not_implemented()) }
    }

    /// Ends a claim ([`ApiError::ClaimExpired`] if it is not live).
    fn release_claim(
        &self,
        meta: RequestMeta,
        id: ClaimId,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        let _ = (meta, id);
        async { Err(not_implemented()) }
    }

    /// Every live claim.
    fn claims(
        &self,
        meta: RequestMeta,
    ) -> impl Future<Output = Result<Vec<Claim>, ApiError>> + Send {
        let _ = meta;
        async { Err(not_implemented()) }
    }

    /// Takes `req.copies` whole copies of the group's plan for the holder.
    fn take_block(
        &self,
        meta: RequestMeta,
        group: GroupName,
        req: BlockRequest,
    ) -> impl Future<Output = Result<Block, ApiError>> + Send {
        let _ = (meta, group, req);
        async { Err(not_implemented()) }
    }

    /// Extends a live block to `lease_ms` from now ([`ApiError::ClaimExpired`] otherwise).
    fn renew_block(
        &self,
        meta: RequestMeta,
        id: BlockId,
        req: RenewRequest,
    ) -> impl Future<Output = Result<Block, ApiError>> + Send {
        let _ = (meta, id, req);
        async { Err(not_implemented()) }
    }

    /// Ends a block ([`ApiError::ClaimExpired`] if it is not live).
    fn release_block(
        &self,
        meta: RequestMeta,
        id: BlockId,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        let _ = (meta, id);
        async { Err(not_implemented()) }
    }

    /// Every live block.
    fn blocks(
        &self,
        meta: RequestMeta,
    ) -> impl Future<Output = Result<Vec<Block>, ApiError>> + Send {
        let _ = meta;
        async { Err(not_implemented()) }
    }

    // Observability (issue 5, `crate::layers`). The defaults have none.

    /// The ordered event stream behind `GET /v1/events` (`None`: the route answers 404).
    fn events(&self) -> Option<std::sync::Arc<crate::events::EventLog>> {
        None
    }

    /// `GET /metrics`: the Prometheus text exposition (format 0.0.4).
    fn metrics(&self) -> impl Future<Output = Result<String, ApiError>> + Send {
        async {
            Err(ApiError::NotFound {
                resource: "the metrics of this server".to_owned(),
            })
        }
    }

    // BIER (issue 6; see `crate::bier`). The defaults answer `internal` ("not implemented").

    /// The header fields for `req.members` of the group; with `req.lease_ms`, an address the
    /// senders' edge switches encapsulate, answered once every switch acknowledged (members
    /// checked by the router: not empty, unicast, distinct; lease within the limits; `sender`
    /// given with `te`).
    fn assign_bier(
        &self,
        meta: RequestMeta,
        group: GroupName,
        req: crate::bier::BierRequest,
    ) -> impl Future<Output = Result<crate::bier::BierSubset, ApiError>> + Send {
        let _ = (meta, group, req);
        async { Err(crate::bier::not_implemented()) }
    }

    /// Ends a BIER lease ([`ApiError::NotFound`] if there is none at `address`).
    fn release_bier(
        &self,
        meta: RequestMeta,
        address: IpAddr,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        let _ = (meta, address);
        async { Err(crate::bier::not_implemented()) }
    }

    /// A switch's BIER state ([`ApiError::NotFound`] for an unknown switch).
    fn switch_bift(
        &self,
        meta: RequestMeta,
        dpid: crate::types::Dpid,
    ) -> impl Future<Output = Result<crate::bier::SwitchBift, ApiError>> + Send {
        let _ = (meta, dpid);
        async { Err(crate::bier::not_implemented()) }
    }

    /// Every BFR-id.
    fn bfr_ids(
        &self,
        meta: RequestMeta,
    ) -> impl Future<Output = Result<Vec<crate::bier::BfrIdEntry>, ApiError>> + Send {
        let _ = meta;
        async { Err(crate::bier::not_implemented()) }
    }

    /// The flows and groups tsmd keeps on a switch (`GET /v1/switches/{dpid}/rules`;
    /// [`ApiError::NotFound`] for an unknown switch).
    fn switch_rules(
        &self,
        meta: RequestMeta,
        dpid: crate::types::Dpid,
    ) -> impl Future<Output = Result<crate::rules::SwitchRules, ApiError>> + Send {
        let _ = (meta, dpid);
        async { Err(crate::rules::not_implemented()) }
    }

    /// Called after every HTTP request with its route pattern (`unmatched` for none), its
    /// answer's status and how long it took. Must be quick (it runs on the request's task).
    fn observe_request(
        &self,
        method: &str,
        route: &str,
        status: u16,
        elapsed: std::time::Duration,
    ) {
        let _ = (method, route, status, elapsed);
    }
}

/// The answer of a rendezvous method a service does not implement.
fn not_implemented() -> ApiError {
    ApiError::Internal {
        reason: "rendezvous groups are not implemented by this service".to_owned(),
    }
}
