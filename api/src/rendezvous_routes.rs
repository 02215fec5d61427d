//! The rendezvous routes (see [`crate::rendezvous`] for the bodies): handlers over a
//! [`Service`], with their OpenAPI entries, and the checks the router makes before calling
//! the service.
//!
//! What the router refuses before calling the service: malformed bodies and unknown members
//! (as every route), `k` or `copies` of 0, a base that is not multicast, claim members that
//! are not unicast, listed twice or empty, a lease of 0 or above `Service::limits()`, a claim
//! or block id that is not `c-`/`b-` and 16 hex digits. The service reports what needs state:
//! `k` above the member count, budgets, members outside the group, exhausted copies, expired
//! claims.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::{ApiError, Problem, PROBLEM_JSON};
use crate::extract::{GroupNameParam, JsonBody};
use crate::meta::RequestMeta;
use crate::rendezvous::{
    Block, BlockId, BlockRequest, Claim, ClaimId, ClaimRequest, RendezvousPlan, RendezvousRequest,
    RenewRequest,
};
use crate::router::check_members;
use crate::service::Service;
use crate::types::GroupName;

async fn id_param<S: Send + Sync, T: std::str::FromStr<Err = crate::types::ParseIdError>>(
    parts: &mut Parts,
    state: &S,
) -> Result<T, ApiError> {
    let raw = Path::<String>::from_request_parts(parts, state)
        .await
        .map(|Path(v)| v)
        .map_err(|e| ApiError::BadPathParameter {
            parameter: "id".to_owned(),
            value: parts.uri.path().to_owned(),
            reason: e.body_text(),
        })?;
    raw.parse()
        .map_err(|e: crate::types::ParseIdError| ApiError::BadPathParameter {
            parameter: "id".to_owned(),
            value: raw.clone(),
            reason: e.reason.to_owned(),
        })
}

/// The `{id}` path parameter of a claim route.
#[derive(Debug, Clone, Copy)]
pub struct ClaimIdParam(pub ClaimId);

impl<S: Send + Sync> FromRequestParts<S> for ClaimIdParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        id_param(parts, state).await.map(ClaimIdParam)
    }
}

/// The `{id}` path parameter of a block route.
#[derive(Debug, Clone, Copy)]
pub struct BlockIdParam(pub BlockId);

impl<S: Send + Sync> FromRequestParts<S> for BlockIdParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        id_param(parts, state).await.map(BlockIdParam)
    }
}

fn check_lease(lease_ms: u64, max_lease_ms: u64) -> Result<(), ApiError> {
    if lease_ms == 0 || lease_ms > max_lease_ms {
        return Err(ApiError::LeaseOutOfRange {
            lease_ms,
            max_lease_ms,
        });
    }
    Ok(())
}

fn invalid(path: &str, reason: &str) -> ApiError {
    ApiError::InvalidField {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The router's checks of a plan request.
pub fn check_plan_request(req: &RendezvousRequest) -> Result<(), ApiError> {
    if req.k == 0 {
        return Err(invalid("body.k", "k must be at least 1"));
    }
    if req.copies == 0 {
        return Err(invalid("body.copies", "copies must be at least 1"));
    }
    if !req.base.is_multicast() {
        return Err(ApiError::NotMulticast { address: req.base });
    }
    Ok(())
}

/// The router's checks of a claim request.
pub fn check_claim_request(req: &ClaimRequest, max_lease_ms: u64) -> Result<(), ApiError> {
    check_lease(req.lease_ms, max_lease_ms)?;
    if req.members.is_empty() {
        return Err(invalid("body.members", "a claim names at least one member"));
    }
    check_members(&req.members)
}

fn with_location(mut response: Response, location: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Creates or replaces the group's rendezvous plan; answers at once while it installs.
#[utoipa::path(
    put, path = "/v1/groups/{name}/rendezvous", tag = "rendezvous",
    params(("name" = GroupName, Path, description = "Negotiating group name")),
    request_body = RendezvousRequest,
    responses(
        (status = 202, description = "Accepted: installing (or already installed); poll GET \
            for progress", body = RendezvousPlan),
        (status = 400, description = "Malformed body (malformed-json, unknown-field, \
            missing-field, invalid-field)", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such group (unknown-group)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 409, description = "Over a switch's budget, with the numbers (over-budget); \
            the range overlaps the pool, a group or another plan, or the plan has holders and \
            would change shape (conflict)", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "k above the member count (k-out-of-range), a base that \
            is not multicast (not-multicast), members not seen (unknown-host)", body = Problem,
            content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn put_rendezvous<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    GroupNameParam(name): GroupNameParam,
    JsonBody(req): JsonBody<RendezvousRequest>,
) -> Result<Response, ApiError> {
    check_plan_request(&req)?;
    let plan = svc.put_rendezvous(meta, name, req).await?;
    Ok((StatusCode::ACCEPTED, Json(plan)).into_response())
}

/// The group's rendezvous plan and its install progress.
#[utoipa::path(
    get, path = "/v1/groups/{name}/rendezvous", tag = "rendezvous",
    params(("name" = GroupName, Path, description = "Negotiating group name")),
    responses(
        (status = 200, description = "The plan", body = RendezvousPlan),
        (status = 404, description = "No such group (unknown-group) or no plan (not-found)",
            body = Problem, content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn get_rendezvous<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    GroupNameParam(name): GroupNameParam,
) -> Result<Json<RendezvousPlan>, ApiError> {
    svc.rendezvous(meta, name).await.map(Json)
}

/// Removes the group's plan and its rules; its claims and blocks end.
#[utoipa::path(
    delete, path = "/v1/groups/{name}/rendezvous", tag = "rendezvous",
    params(("name" = GroupName, Path, description = "Negotiating group name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such group (unknown-group) or no plan (not-found)",
            body = Problem, content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn delete_rendezvous<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    GroupNameParam(name): GroupNameParam,
) -> Result<StatusCode, ApiError> {
    svc.delete_rendezvous(meta, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every rendezvous plan.
#[utoipa::path(
    get, path = "/v1/rendezvous", tag = "rendezvous",
    responses((status = 200, description = "Every plan", body = Vec<RendezvousPlan>))
)]
pub(crate) async fn list_rendezvous<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
) -> Result<Json<Vec<RendezvousPlan>>, ApiError> {
    svc.rendezvous_plans(meta).await.map(Json)
}

/// Claims one free address of the subset: an exclusive lease.
#[utoipa::path(
    post, path = "/v1/groups/{name}/claims", tag = "rendezvous",
    params(
        ("name" = GroupName, Path, description = "Negotiating group name"),
        ("Idempotency-Key" = Option<String>, Header,
            description = "A retry with the same key returns the first result")
    ),
    request_body = ClaimRequest,
    responses(
        (status = 201, description = "Claimed", body = Claim,
            headers(("Location" = String, description = "/v1/claims/{id}"))),
        (status = 400, description = "Malformed request", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 404, description = "No such group (unknown-group) or no plan (not-found)",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "Every copy of the subset is held \
            (rendezvous-exhausted: use an on-demand subset), or the plan is not ready \
            (conflict)", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Members outside the group (not-group-members), not k \
            members (wrong-subset-size), lease out of range (lease-out-of-range)",
            body = Problem, content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn create_claim<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    GroupNameParam(name): GroupNameParam,
    JsonBody(req): JsonBody<ClaimRequest>,
) -> Result<Response, ApiError> {
    check_claim_request(&req, svc.limits().max_lease_ms)?;
    let claim = svc.claim(meta, name, req).await?;
    let location = format!("/v1/claims/{}", claim.id);
    Ok(with_location(
        (StatusCode::CREATED, Json(claim)).into_response(),
        &location,
    ))
}

/// Extends a live claim to `lease_ms` from now.
#[utoipa::path(
    post, path = "/v1/claims/{id}/renew", tag = "rendezvous",
    params(("id" = ClaimId, Path, description = "The claim's id")),
    request_body = RenewRequest,
    responses(
        (status = 200, description = "Renewed; `members_version` is the group's current one",
            body = Claim),
        (status = 400, description = "Malformed request or id", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 410, description = "Expired, released or unknown (claim-expired); nothing \
            changed", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Lease out of range (lease-out-of-range)", body = Problem,
            content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn renew_claim<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    ClaimIdParam(id): ClaimIdParam,
    JsonBody(req): JsonBody<RenewRequest>,
) -> Result<Json<Claim>, ApiError> {
    check_lease(req.lease_ms, svc.limits().max_lease_ms)?;
    svc.renew_claim(meta, id, req).await.map(Json)
}

/// Ends a claim.
#[utoipa::path(
    delete, path = "/v1/claims/{id}", tag = "rendezvous",
    params(("id" = ClaimId, Path, description = "The claim's id")),
    responses(
        (status = 204, description = "Released"),
        (status = 410, description = "Expired, released or unknown (claim-expired)",
            body = Problem, content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn release_claim<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    ClaimIdParam(id): ClaimIdParam,
) -> Result<StatusCode, ApiError> {
    svc.release_claim(meta, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every live claim.
#[utoipa::path(
    get, path = "/v1/claims", tag = "rendezvous",
    responses((status = 200, description = "Every live claim", body = Vec<Claim>))
)]
pub(crate) async fn list_claims<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
) -> Result<Json<Vec<Claim>>, ApiError> {
    svc.claims(meta).await.map(Json)
}

/// Takes whole copies of the plan: every address of them, for local claims.
#[utoipa::path(
    post, path = "/v1/groups/{name}/blocks", tag = "rendezvous",
    params(
        ("name" = GroupName, Path, description = "Negotiating group name"),
        ("Idempotency-Key" = Option<String>, Header,
            description = "A retry with the same key returns the first result")
    ),
    request_body = BlockRequest,
    responses(
        (status = 201, description = "Taken", body = Block,
            headers(("Location" = String, description = "/v1/blocks/{id}"))),
        (status = 400, description = "Malformed request", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 404, description = "No such group (unknown-group) or no plan (not-found)",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "Not enough whole copies free, or the plan is not ready \
            (conflict)", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Lease out of range (lease-out-of-range)", body = Problem,
            content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn create_block<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    GroupNameParam(name): GroupNameParam,
    JsonBody(req): JsonBody<BlockRequest>,
) -> Result<Response, ApiError> {
    check_lease(req.lease_ms, svc.limits().max_lease_ms)?;
    if req.copies == 0 {
        return Err(invalid("body.copies", "copies must be at least 1"));
    }
    let block = svc.take_block(meta, name, req).await?;
    let location = format!("/v1/blocks/{}", block.id);
    Ok(with_location(
        (StatusCode::CREATED, Json(block)).into_response(),
        &location,
    ))
}

/// Extends a live block to `lease_ms` from now.
#[utoipa::path(
    post, path = "/v1/blocks/{id}/renew", tag = "rendezvous",
    params(("id" = BlockId, Path, description = "The block's id")),
    request_body = RenewRequest,
    responses(
        (status = 200, description = "Renewed; `members_version` is the group's current one",
            body = Block),
        (status = 400, description = "Malformed request or id", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 410, description = "Expired, released or unknown (claim-expired); nothing \
            changed", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Lease out of range (lease-out-of-range)", body = Problem,
            content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn renew_block<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    BlockIdParam(id): BlockIdParam,
    JsonBody(req): JsonBody<RenewRequest>,
) -> Result<Json<Block>, ApiError> {
    check_lease(req.lease_ms, svc.limits().max_lease_ms)?;
    svc.renew_block(meta, id, req).await.map(Json)
}

/// Ends a block.
#[utoipa::path(
    delete, path = "/v1/blocks/{id}", tag = "rendezvous",
    params(("id" = BlockId, Path, description = "The block's id")),
    responses(
        (status = 204, description = "Released"),
        (status = 410, description = "Expired, released or unknown (claim-expired)",
            body = Problem, content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn release_block<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    BlockIdParam(id): BlockIdParam,
) -> Result<StatusCode, ApiError> {
    svc.release_block(meta, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every live block.
#[utoipa::path(
    get, path = "/v1/blocks", tag = "rendezvous",
    responses((status = 200, description = "Every live block", body = Vec<Block>))
)]
pub(crate) async fn list_blocks<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
) -> Result<Json<Vec<Block>>, ApiError> {
    svc.blocks(meta).await.map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_requests_are_checked() {
        let ok = RendezvousRequest {
            k: 3,
            copies: 2,
            base: "239.2.0.0".parse().unwrap(),
        };
        assert!(check_plan_request(&ok).is_ok());
        let zero_k = RendezvousRequest { k: 0, ..ok.clone() };
        assert!(matches!(
            check_plan_request(&zero_k),
            Err(ApiError::InvalidField { path, .. }) if path == "body.k"
        ));
        let unicast = RendezvousRequest {
            base: "10.0.0.1".parse().unwrap(),
            ..ok
        };
        assert!(matches!(
            check_plan_request(&unicast),
            Err(ApiError::NotMulticast { .. })
        ));
    }

    #[test]
    fn claim_requests_are_checked() {
        let req = |members: &[&str], lease_ms| ClaimRequest {
            members: members.iter().map(|s| s.parse().unwrap()).collect(),
            lease_ms,
        };
        assert!(check_claim_request(&req(&["10.0.0.1"], 5), 10).is_ok());
        assert!(matches!(
            check_claim_request(&req(&["10.0.0.1"], 11), 10),
            Err(ApiError::LeaseOutOfRange { .. })
        ));
        assert!(check_claim_request(&req(&[], 5), 10).is_err());
        assert!(check_claim_request(&req(&["10.0.0.1", "10.0.0.1"], 5), 10).is_err());
    }
}
