//! What wraps every route: request accounting, authentication, idempotency; and the
//! observability routes (`GET /v1/events`, `GET /metrics`).
//!
//! Order, outermost first: accounting ([`Service::observe_request`] sees every answer,
//! refusals included, with the route pattern rather than the concrete path, so labels stay
//! bounded) → authentication ([`crate::auth`], when tokens are configured) → idempotency
//! ([`crate::idempotency`], keyed per principal) → the route.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::auth::Authenticator;
use crate::error::{ApiError, Problem, PROBLEM_JSON};
use crate::events::{self, Event};
use crate::idempotency::Idempotency;
use crate::meta::RequestMeta;
use crate::service::Service;

/// The media type of `GET /metrics` (Prometheus text exposition format 0.0.4).
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How the router is wrapped.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RouterConfig {
    /// The token table; `None`: no authentication (loopback-only deployments).
    pub auth: Option<Arc<Authenticator>>,
    /// The idempotency table (in memory unless the caller persists it).
    pub idempotency: Arc<Idempotency>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            auth: None,
            idempotency: Arc::new(Idempotency::default()),
        }
    }
}

impl RouterConfig {
    /// No authentication, a fresh in-memory idempotency table.
    pub fn new() -> Self {
        Self::default()
    }

    /// With this token table.
    pub fn auth(mut self, auth: Arc<Authenticator>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// With this idempotency table.
    pub fn idempotency(mut self, idempotency: Arc<Idempotency>) -> Self {
        self.idempotency = idempotency;
        self
    }
}

/// Wraps every route of `router` (call it last, after routes, merges and fallbacks).
pub(crate) fn wrap<S: Service>(router: Router, service: Arc<S>, config: RouterConfig) -> Router {
    let mut router = router.layer(middleware::from_fn_with_state(
        config.idempotency,
        crate::idempotency::middleware,
    ));
    if let Some(auth) = config.auth {
        router = router.layer(middleware::from_fn_with_state(
            auth,
            crate::auth::middleware,
        ));
    }
    router.layer(middleware::from_fn_with_state(service, observe::<S>))
}

async fn observe<S: Service>(State(svc): State<Arc<S>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    svc.observe_request(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The ordered event stream: Server-Sent Events, or the buffered events as JSON.
#[utoipa::path(
    get, path = "/v1/events", tag = "meta",
    params(
        ("after" = Option<u64>, Query,
            description = "Resume after this seq; 410 events-gone when it is no longer held"),
        ("Last-Event-ID" = Option<String>, Header,
            description = "Resume after this seq (sent by EventSource on reconnect); when it is \
                no longer held the stream starts with a `gap` event")
    ),
    responses(
        (status = 200, description = "With `Accept: text/event-stream`: the stream (`id: seq`, \
            `event: type`, `data: Event`; `gap` events; keep-alive comments). Otherwise the \
            buffered events after `after`, as JSON. A token scoped to some groups gets only \
            the events of those groups and the fabric's (switches, ports, links, hosts, \
            switch errors, `restored`); seqs stay the server's, so its events are not \
            consecutive. The stream says so: after each run of withheld events it sends a \
            message with only `id: <last withheld seq>` (no data; an `EventSource` moves its \
            Last-Event-ID and dispatches nothing), so the next event's seq is always one above \
            the last `id` the client got. A seq more than one above it means events were \
            lost; the server reports losses it knows of with a `gap` event or 410.",
            content(
                (Vec<Event> = "application/json"),
                (String = "text/event-stream")
            )),
        (status = 400, description = "Bad `after` or `Last-Event-ID` (invalid-field, bad-header)",
            body = Problem, content_type = PROBLEM_JSON),
        (status = 410, description = "The events after `after` are no longer held \
            (events-gone): resynchronise", body = Problem, content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn get_events<S: Service>(
    State(svc): State<Arc<S>>,
    meta: RequestMeta,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let log = svc.events().ok_or_else(|| ApiError::NotFound {
        resource: "the event stream of this server".to_owned(),
    })?;
    // A token scoped to some groups sees only their events (and the fabric's).
    let scope = meta.principal.as_ref().map(|p| &p.groups);
    events::serve(&log, &uri, &headers, scope)
}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(
    get, path = "/metrics", tag = "meta",
    responses(
        (status = 200, description = "Counters, gauges and histograms",
            body = String, content_type = "text/plain; version=0.0.4"),
        (status = 404, description = "This server has no metrics (not-found)", body = Problem,
            content_type = PROBLEM_JSON)
    )
)]
pub(crate) async fn get_metrics<S: Service>(
    State(svc): State<Arc<S>>,
    _meta: RequestMeta,
) -> Result<Response, ApiError> {
    let text = svc.metrics().await?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(METRICS_CONTENT_TYPE),
    );
    Ok(response)
}
