//! The HTTP routes over a [`Service`], and the OpenAPI 3.1 document that describes them.
//!
//! | method and path | success |
//! |---|---|
//! | `GET /healthz` | 200 [`Health`] |
//! | `GET /v1/switches`, `/v1/links`, `/v1/hosts` | 200 list |
//! | `PUT /v1/groups/{name}` | 201 (created, `Location`) or 200 (replaced), [`Group`] |
//! | `GET /v1/groups`, `GET /v1/groups/{name}` | 200 |
//! | `DELETE /v1/groups/{name}` | 204 |
//! | `POST /v1/groups/{name}/subsets` | 201 [`Subset`], `Location: /v1/subsets/{address}`, `X-Trace-Id` |
//! | `GET /v1/subsets`, `GET /v1/subsets/{address}` | 200 |
//! | `DELETE /v1/subsets/{address}` | 204 |
//! | `GET /v1/openapi.json` | the OpenAPI 3.1 document |
//! | `GET /v1/docs/` | Swagger UI (served from files built into the binary) |
//!
//! Guarantees: every failure, including unknown paths, wrong methods, bad headers and bodies
//! that axum itself would reject, is answered with `application/problem+json`
//! ([`ApiError`]); the service is called only with requests that passed the checks listed in
//! [`crate::service`].

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{ApiError, Problem, PROBLEM_JSON};
use crate::extract::{AddressParam, GroupNameParam, JsonBody, BODY_LIMIT};
use crate::layers::RouterConfig;
use crate::meta::{RequestMeta, X_TRACE_ID};
use crate::service::{Limits, Service};
use crate::types::{
    Capabilities, Dpid, Group, GroupName, GroupSpec, Health, Host, Link, LinkEnd, LinkState,
    MacAddr, Port, Subset, SubsetRequest, Switch, TraceId, Upsert,
};

/// Path of the OpenAPI document.
pub const OPENAPI_PATH: &str = "/v1/openapi.json";
/// Path of the Swagger UI.
pub const DOCS_PATH: &str = "/v1/docs";

/// The whole HTTP API over `service`: every route, the OpenAPI document and Swagger UI;
/// no authentication, an in-memory idempotency table.
pub fn router<S: Service>(service: Arc<S>) -> Router {
    router_with(service, RouterConfig::default())
}

/// [`router`] wrapped as `config` says: bearer-token authentication ([`crate::auth`]) and
/// the idempotency table ([`crate::idempotency`]); see [`crate::layers`].
pub fn router_with<S: Service>(service: Arc<S>, config: RouterConfig) -> Router {
    let routes = Router::new()
        .route("/healthz", get(healthz::<S>))
        .route("/metrics", get(crate::layers::get_metrics::<S>))
        .route("/v1/events", get(crate::layers::get_events::<S>))
        .route("/v1/switches", get(list_switches::<S>))
        .route("/v1/links", get(list_links::<S>))
        .route("/v1/hosts", get(list_hosts::<S>))
        .route("/v1/groups", get(list_groups::<S>))
        .route(
            "/v1/groups/{name}",
            put(put_group::<S>)
                .get(get_group::<S>)
                .delete(delete_group::<S>),
        )
        .route("/v1/groups/{name}/subsets", post(create_subset::<S>))
        .route("/v1/subsets", get(list_subsets::<S>))
        .route(
            "/v1/subsets/{address}",
            get(get_subset::<S>).delete(delete_subset::<S>),
        )
        .route(
            "/v1/groups/{name}/bier",
            post(crate::bier::assign_bier::<S>),
        )
        .route(
            "/v1/bier/leases/{address}",
            delete(crate::bier::release_bier::<S>),
        )
        .route("/v1/bier/bfr-ids", get(crate::bier::bfr_ids::<S>))
        .route(
            "/v1/switches/{dpid}/bift",
            get(crate::bier::switch_bift::<S>),
        )
        .route(
            "/v1/switches/{dpid}/rules",
            get(crate::rules::switch_rules::<S>),
        )
        .route(
            "/v1/groups/{name}/rendezvous",
            put(crate::rendezvous_routes::put_rendezvous::<S>)
                .get(crate::rendezvous_routes::get_rendezvous::<S>)
                .delete(crate::rendezvous_routes::delete_rendezvous::<S>),
        )
        .route(
            "/v1/rendezvous",
            get(crate::rendezvous_routes::list_rendezvous::<S>),
        )
        .route(
            "/v1/groups/{name}/claims",
            post(crate::rendezvous_routes::create_claim::<S>),
        )
        .route(
            "/v1/claims",
            get(crate::rendezvous_routes::list_claims::<S>),
        )
        .route(
            "/v1/claims/{id}",
            delete(crate::rendezvous_routes::release_claim::<S>),
        )
        .route(
            "/v1/claims/{id}/renew",
            post(crate::rendezvous_routes::renew_claim::<S>),
        )
        .route(
            "/v1/groups/{name}/blocks",
            post(crate::rendezvous_routes::create_block::<S>),
        )
        .route(
            "/v1/blocks",
            get(crate::rendezvous_routes::list_blocks::<S>),
        )
        .route(
            "/v1/blocks/{id}",
            delete(crate::rendezvous_routes::release_block::<S>),
        )
        .route(
            "/v1/blocks/{id}/renew",
            post(crate::rendezvous_routes::renew_block::<S>),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(service.clone())
        .merge(SwaggerUi::new(DOCS_PATH).url(OPENAPI_PATH, openapi()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    crate::layers::wrap(routes, service, config)
}

/// The OpenAPI 3.1 document of this API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tsmd",
        description = "Transactional subset multicast controller.\n\n\
            Conventions: IP addresses are strings (IPv4 or IPv6); datapath and trace ids are \
            16 lowercase hex digits; times are integers in milliseconds since the Unix epoch; \
            durations are milliseconds (`_ms`). Request bodies reject unknown members. Errors \
            are RFC 9457 `application/problem+json` whose `type` is \
            `https://tsm.invalid/problems/<slug>` (an identifier, not a web page); see the \
            `ApiError` schema for every type and its extension members.\n\n\
            Headers: `X-Trace-Id` (1-16 hex digits) or W3C `traceparent` (its low 64 bits) sets \
            the transaction's trace id, which is the cookie of its flows; `Idempotency-Key` \
            makes a POST safe to retry.\n\n\
            Tokens scoped to some negotiating groups see only those groups: lists hold only \
            their items; a subset, BIER lease, claim or block of another group named by \
            address or id is answered as if it did not exist (404, or 410 for claims and \
            blocks); a claim or block is renewed or released only by the token that took it \
            (or an admin token; 403 otherwise); `GET /v1/events` withholds other groups' \
            events and says where (see its description).",
        license(name = "Apache-2.0")
    ),
    paths(
        healthz,
        crate::rendezvous_routes::put_rendezvous,
        crate::rendezvous_routes::get_rendezvous,
        crate::rendezvous_routes::delete_rendezvous,
        crate::rendezvous_routes::list_rendezvous,
        crate::rendezvous_routes::create_claim,
        crate::rendezvous_routes::renew_claim,
        crate::rendezvous_routes::release_claim,
        crate::rendezvous_routes::list_claims,
        crate::rendezvous_routes::create_block,
        crate::rendezvous_routes::renew_block,
        crate::rendezvous_routes::release_block,
        crate::rendezvous_routes::list_blocks,
        crate::layers::get_metrics,
        crate::layers::get_events,
        crate::bier::assign_bier,
        crate::bier::release_bier,
        crate::bier::switch_bift,
        crate::bier::bfr_ids,
        crate::rules::switch_rules,
        list_switches,
        list_links,
        list_hosts,
        list_groups,
        put_group,
        get_group,
        delete_group,
        create_subset,
        list_subsets,
        get_subset,
        delete_subset
    ),
    components(schemas(
        crate::rendezvous::RendezvousRequest, crate::rendezvous::RendezvousPlan,
        crate::rendezvous::PlanState, crate::rendezvous::PlanProgress,
        crate::rendezvous::SwitchBudget, crate::rendezvous::ClaimRequest,
        crate::rendezvous::RenewRequest, crate::rendezvous::Claim, crate::rendezvous::ClaimId,
        crate::rendezvous::BlockRequest, crate::rendezvous::Block, crate::rendezvous::BlockId,
        crate::bier::BierRequest, crate::bier::BierSubset, crate::bier::BierHeader,
        crate::bier::BierMember, crate::bier::BierPort, crate::bier::SwitchBift,
        crate::bier::Bift, crate::bier::BiftKind, crate::bier::BiftEntry, crate::bier::BiftAction,
        crate::bier::BiftNextHop, crate::bier::BiftAdjacency, crate::bier::LocalBfer,
        crate::bier::BfirFlow, crate::bier::BfrIdEntry,
        crate::rules::SwitchRules, crate::rules::FlowRule, crate::rules::GroupRule,
        Problem, ApiError, Health, Switch, Port, Capabilities, LinkState, Link, LinkEnd, Host,
        Group, GroupSpec, SubsetRequest, Subset, Dpid, TraceId, MacAddr, GroupName,
        crate::events::Event, crate::events::EventKind, crate::events::Gap,
        crate::events::RemovalReason
    )),
    tags(
        (name = "fabric", description = "Switches, links and hosts as the controller sees them"),
        (name = "groups", description = "Negotiating groups"),
        (name = "subsets", description = "On-demand subset groups (the TSM push method)"),
        (name = "bier", description = "BIER: header fields, BFIR leases, BIFTs, BFR-ids"),
        (name = "rendezvous", description = "Rendezvous plans (pre-installed k-subsets), claims \
            and block leases"),
        (name = "meta", description = "Health")
    )
)]
struct ApiDoc;

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound {
        resource: uri.path().to_owned(),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

/// Checks an address list: every entry a unicast host address, no duplicates.
pub(crate) fn check_members(members: &[IpAddr]) -> Result<(), ApiError> {
    let mut seen = HashSet::with_capacity(members.len());
    for (i, member) in members.iter().enumerate() {
        let unicast = !member.is_multicast()
            && !member.is_unspecified()
            && *member != IpAddr::from([255, 255, 255, 255]);
        if !unicast {
            return Err(ApiError::InvalidField {
                path: format!("body.members[{i}]"),
                reason: format!("{member} is not a unicast host address"),
            });
        }
        if !seen.insert(*member) {
            return Err(ApiError::InvalidField {
                path: format!("body.members[{i}]"),
                reason: format!("{member} is listed twice"),
            });
        }
    }
    Ok(())
}

fn check_group_spec(spec: &GroupSpec) -> Result<(), ApiError> {
    if !spec.address.is_multicast() {
        return Err(ApiError::NotMulticast {
            address: spec.address,
        });
    }
    check_members(spec.members.listed())
}

fn check_subset_request(req: &SubsetRequest, limits: Limits) -> Result<(), ApiError> {
    if req.lease_ms == 0 || req.lease_ms > limits.max_lease_ms {
        return Err(ApiError::LeaseOutOfRange {
            lease_ms: req.lease_ms,
            max_lease_ms: limits.max_lease_ms,
        });
    }
    if req.members.is_empty() {
        return Err(ApiError::InvalidField {
            path: "body.members".to_owned(),
            reason: "a subset needs at least one member".to_owned(),
        });
    }
    check_members(&req.members)
}

fn with_location(mut response: Response, location: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Liveness.
#[utoipa::path(
    get, path = "/healthz", tag = "meta",
    responses(
        (status = 200, description = "The server answers requests", body = Health),
        (status = 500, description = "Not healthy", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "Not ready: starting, or no OpenFlow listener, or \
            stopping (not-ready)", body = Problem, content_type = PROBLEM_JSON)
    )
)]
async fn healthz<S: Service>(State(svc): State<Arc<S>>) -> Result<Json<Health>, ApiError> {
    svc.health().await.map(Json)
}

/// The connected switches.
#[utoipa::path(
    get, path = "/v1/switches", tag = "fabric",
    responses((status = 200, description = "Every connected switch", body = Vec<Switch>))
)]
async fn list_switches<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
) -> Result<Json<Vec<Switch>>, ApiError> {
    svc.switches(meta).await.map(Json)
}

/// The links between switches.
#[utoipa::path(
    get, path = "/v1/links", tag = "fabric",
    responses((status = 200, description = "Every known link", body = Vec<Link>))
)]
async fn list_links<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
) -> Result<Json<Vec<Link>>, ApiError> {
    svc.links(meta).await.map(Json)
}

/// The learned hosts (one entry per host IP address).
#[utoipa::path(
    get, path = "/v1/hosts", tag = "fabric",
    responses((status = 200, description = "Every learned host address", body = Vec<Host>))
)]
async fn list_hosts<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
) -> Result<Json<Vec<Host>>, ApiError> {
    svc.hosts(meta).await.map(Json)
}

/// Every negotiating group.
#[utoipa::path(
    get, path = "/v1/groups", tag = "groups",
    responses((status = 200, description = "Every group (in the token's scope)",
        body = Vec<Group>))
)]
async fn list_groups<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
) -> Result<Json<Vec<Group>>, ApiError> {
    svc.groups(meta).await.map(Json)
}

/// Creates or replaces a negotiating group.
#[utoipa::path(
    put, path = "/v1/groups/{name}", tag = "groups",
    params(("name" = GroupName, Path, description = "Group name")),
    request_body = GroupSpec,
    responses(
        (status = 201, description = "Created", body = Group,
            headers(("Location" = String, description = "/v1/groups/{name}"))),
        (status = 200, description = "Replaced", body = Group),
        (status = 400, description = "Malformed body or name (malformed-json, unknown-field, \
            missing-field, invalid-field, bad-path-parameter)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 409, description = "The address belongs to another group (conflict)",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "The address is not multicast (not-multicast)",
            body = Problem, content_type = PROBLEM_JSON)
    )
)]
async fn put_group<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    GroupNameParam(name): GroupNameParam,
    JsonBody(spec): JsonBody<GroupSpec>,
) -> Result<Response, ApiError> {
    check_group_spec(&spec)?;
    let location = format!("/v1/groups/{name}");
    Ok(match svc.put_group(meta, name, spec).await? {
        Upsert::Created(group) => with_location(
            (StatusCode::CREATED, Json(group)).into_response(),
            &location,
        ),
        Upsert::Replaced(group) => (StatusCode::OK, Json(group)).into_response(),
    })
}

/// One negotiating group.
#[utoipa::path(
    get, path = "/v1/groups/{name}", tag = "groups",
    params(("name" = GroupName, Path, description = "Group name")),
    responses(
        (status = 200, description = "The group", body = Group),
        (status = 404, description = "No such group (unknown-group)", body = Problem,
            content_type = PROBLEM_JSON)
    )
)]
async fn get_group<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    GroupNameParam(name): GroupNameParam,
) -> Result<Json<Group>, ApiError> {
    svc.group(meta, name).await.map(Json)
}

/// Deletes a negotiating group.
#[utoipa::path(
    delete, path = "/v1/groups/{name}", tag = "groups",
    params(("name" = GroupName, Path, description = "Group name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such group (unknown-group)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 409, description = "The group cannot be deleted now (conflict)",
            body = Problem, content_type = PROBLEM_JSON)
    )
)]
async fn delete_group<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    GroupNameParam(name): GroupNameParam,
) -> Result<StatusCode, ApiError> {
    svc.delete_group(meta, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Installs a subset group; answers when every switch on its tree acknowledged the rules.
#[utoipa::path(
    post, path = "/v1/groups/{name}/subsets", tag = "subsets",
    params(
        ("name" = GroupName, Path, description = "Negotiating group name"),
        ("X-Trace-Id" = Option<String>, Header,
            description = "Trace id (1-16 hex digits, not 0); becomes the flow cookie"),
        ("traceparent" = Option<String>, Header,
            description = "W3C Trace Context; its trace-id's low 64 bits become the trace id"),
        ("Idempotency-Key" = Option<String>, Header,
            description = "A retry with the same key returns the first result")
    ),
    request_body = SubsetRequest,
    responses(
        (status = 201, description = "Installed and acknowledged by every switch", body = Subset,
            headers(
                ("Location" = String, description = "/v1/subsets/{address}"),
                ("X-Trace-Id" = String, description = "The transaction's trace id")
            )),
        (status = 400, description = "Malformed request (malformed-json, unknown-field, \
            missing-field, invalid-field, bad-path-parameter, bad-header)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 404, description = "No such group (unknown-group)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 415, description = "Not JSON", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Members outside the group (not-group-members), unknown \
            hosts (unknown-host), lease 0 or above the maximum (lease-out-of-range)",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 502, description = "A switch refused with OFPT_ERROR; rolled back \
            (switch-refused)", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "No transactional address free (pool-exhausted)",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 504, description = "Switches did not acknowledge in time; rolled back \
            (timeout)", body = Problem, content_type = PROBLEM_JSON)
    )
)]
async fn create_subset<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    GroupNameParam(name): GroupNameParam,
    JsonBody(req): JsonBody<SubsetRequest>,
) -> Result<Response, ApiError> {
    check_subset_request(&req, svc.limits())?;
    let subset = svc.create_subset(meta, name, req).await?;
    let location = format!("/v1/subsets/{}", subset.address);
    let trace = subset.trace_id.to_string();
    let mut response = with_location(
        (StatusCode::CREATED, Json(subset)).into_response(),
        &location,
    );
    if let Ok(value) = HeaderValue::from_str(&trace) {
        response.headers_mut().insert(X_TRACE_ID, value);
    }
    Ok(response)
}

/// Every live subset.
#[utoipa::path(
    get, path = "/v1/subsets", tag = "subsets",
    responses((status = 200, description = "Every live subset (of the token's groups)",
        body = Vec<Subset>))
)]
async fn list_subsets<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
) -> Result<Json<Vec<Subset>>, ApiError> {
    svc.subsets(meta).await.map(Json)
}

/// One live subset.
#[utoipa::path(
    get, path = "/v1/subsets/{address}", tag = "subsets",
    params(("address" = String, Path, description = "The subset's address (IPv4 or IPv6)")),
    responses(
        (status = 200, description = "The subset", body = Subset),
        (status = 400, description = "Not an IP address (bad-path-parameter)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 404, description = "No live subset at this address, or one of a group \
            outside the token's scope (not-found)", body = Problem, content_type = PROBLEM_JSON)
    )
)]
async fn get_subset<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    AddressParam(address): AddressParam,
) -> Result<Json<Subset>, ApiError> {
    svc.subset(meta, address).await.map(Json)
}

/// Removes a live subset before its lease ends.
#[utoipa::path(
    delete, path = "/v1/subsets/{address}", tag = "subsets",
    params(("address" = String, Path, description = "The subset's address (IPv4 or IPv6)")),
    responses(
        (status = 204, description = "Removed from every switch"),
        (status = 400, description = "Not an IP address (bad-path-parameter)", body = Problem,
            content_type = PROBLEM_JSON),
        (status = 404, description = "No live subset at this address, or one of a group \
            outside the token's scope (not-found)", body = Problem, content_type = PROBLEM_JSON)
    )
)]
async fn delete_subset<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    AddressParam(address): AddressParam,
) -> Result<StatusCode, ApiError> {
    svc.delete_subset(meta, address).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn group_address_must_be_multicast() {
        for (addr, ok) in [
            ("239.1.1.1", true),
            ("ff3e::8000:1", true),
            ("10.0.0.1", false),
            ("fd00::1", false),
            ("255.255.255.255", false),
        ] {
            let spec = GroupSpec {
                address: addr.parse().unwrap(),
                members: crate::GroupMembers::List(vec![]),
            };
            assert_eq!(check_group_spec(&spec).is_ok(), ok, "{addr}");
        }
    }

    #[test]
    fn members_are_unicast_and_distinct() {
        assert!(check_members(&ips(&["10.0.0.1", "fd00::1"])).is_ok());
        for (list, at) in [
            (&["10.0.0.1", "239.1.1.1"][..], "body.members[1]"),
            (&["0.0.0.0"][..], "body.members[0]"),
            (&["::"][..], "body.members[0]"),
            (&["10.0.0.1", "10.0.0.2", "10.0.0.1"][..], "body.members[2]"),
        ] {
            let err = check_members(&ips(list)).unwrap_err();
            assert!(
                matches!(&err, ApiError::InvalidField { path, .. } if path == at),
                "{list:?}: {err:?}"
            );
        }
    }

    #[test]
    fn lease_bounds() {
        let limits = Limits::new(10_000);
        let req = |lease_ms| SubsetRequest {
            members: ips(&["10.0.0.1"]),
            lease_ms,
        };
        assert!(check_subset_request(&req(1), limits).is_ok());
        assert!(check_subset_request(&req(10_000), limits).is_ok());
        for bad in [0, 10_001, u64::MAX] {
            assert_eq!(
                check_subset_request(&req(bad), limits),
                Err(ApiError::LeaseOutOfRange {
                    lease_ms: bad,
                    max_lease_ms: 10_000
                })
            );
        }
        let empty = SubsetRequest {
            members: vec![],
            lease_ms: 5,
        };
        assert!(check_subset_request(&empty, limits).is_err());
    }
}
