//! A typed async client of the API (reqwest), for `tsm-agent`, `tsmctl` and tests.
//!
//! Every method returns the response DTO or a [`ClientError`]. An error answer in
//! `application/problem+json` whose type this crate knows becomes [`ClientError::Api`] with
//! the typed [`ApiError`] (so a caller matches on `ApiError::NotGroupMembers { members, .. }`
//! rather than on text); one it does not know stays a [`Problem`].

use std::net::IpAddr;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ApiError, Problem};
use crate::meta::{IDEMPOTENCY_KEY, X_TRACE_ID};
use crate::rendezvous::{
    Block, BlockId, BlockRequest, Claim, ClaimId, ClaimRequest, RendezvousPlan, RendezvousRequest,
    RenewRequest,
};
use crate::types::{
    Group, GroupName, GroupSpec, Health, Host, Link, Subset, SubsetRequest, Switch, TraceId, Upsert,
};

/// How much of an unexpected body an error keeps.
const BODY_EXCERPT: usize = 512;

/// A failed API call. Each variant names the request (`"POST http://…/v1/…"`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The base URL cannot be used.
    #[error("base URL {url:?} is unusable: {reason}")]
    BaseUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },

    /// The request did not get a response (connect, send, or read failed).
    #[error("{request}: {source}")]
    Transport {
        /// Method and URL.
        request: String,
        /// The transport's error.
        #[source]
        source: reqwest::Error,
    },

    /// The server answered with a problem this crate knows.
    #[error("{request}: {status}: {error}")]
    Api {
        /// Method and URL.
        request: String,
        /// The HTTP status.
        status: u16,
        /// The typed problem, with the members that name the culprit.
        error: Box<ApiError>,
    },

    /// The server answered with problem details of a type this crate does not know.
    #[error("{request}: {}: {} ({})", problem.status, problem.detail, problem.type_uri)]
    Problem {
        /// Method and URL.
        request: String,
        /// The problem as sent.
        problem: Box<Problem>,
    },

    /// The server answered with an error status but no problem details.
    #[error("{request}: unexpected status {status}: {body}")]
    UnexpectedStatus {
        /// Method and URL.
        request: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },

    /// The server answered with a redirection (`3xx` with `Location`), e.g. a follower
    /// pointing to the leader; seen only by a client whose reqwest client does not follow
    /// redirects itself (reqwest drops `Authorization` when it follows one to another host).
    #[error("{request}: redirected ({status}) to {location}")]
    Redirect {
        /// Method and URL.
        request: String,
        /// The HTTP status (301, 302, 303, 307 or 308).
        status: u16,
        /// The `Location` header as sent (possibly relative to the request URL).
        location: String,
    },

    /// A success answer whose body is not the expected type.
    #[error("{request}: cannot decode the {status} answer: {reason}")]
    Decode {
        /// Method and URL.
        request: String,
        /// The HTTP status.
        status: u16,
        /// What did not fit.
        reason: String,
    },
}

impl ClientError {
    /// The typed problem, if the server answered with one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The HTTP status of the answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. }
            | ClientError::UnexpectedStatus { status, .. }
            | ClientError::Redirect { status, .. }
            | ClientError::Decode { status, .. } => Some(*status),
            ClientError::Problem { problem, .. } => Some(problem.status),
            _ => None,
        }
    }
}

/// Per-call options carried in headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// Sent as `X-Trace-Id`: becomes the transaction's trace id and flow cookie.
    pub trace_id: Option<TraceId>,
    /// Sent as `Idempotency-Key`: a retry with the same key gets the first result.
    pub idempotency_key: Option<String>,
}

impl CallOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// With this trace id.
    pub fn trace_id(mut self, trace_id: TraceId) -> Self {
        self.trace_id = Some(trace_id);
        self
    }

    /// With this idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// A client of one tsmd API endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    post_retries: u32,
    base: Url,
    bearer: Option<String>,
}

impl Client {
    /// A client of the API at `base_url` (`http://127.0.0.1:8080`, or with a path prefix).
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::BaseUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(base_url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if base.cannot_be_a_base() {
            return Err(bad("cannot hold a path"));
        }
        Ok(Self {
            http: reqwest::Client::new(),
            post_retries: 2,
            base,
            bearer: None,
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_bearer(mut self, token: impl Into<String>) -> Self {
        self.bearer = Some(token.into());
        self
    }

    /// How often a `POST` is sent again (with the same `Idempotency-Key`) after a transport
    /// failure that may have reached the server (default 2; a refused connection is never
    /// retried, so a failover moves on at once).
    pub fn with_post_retries(mut self, retries: u32) -> Self {
        self.post_retries = retries;
        self
    }

    /// `GET /v1/events` as a typed stream from `after` (or from now), resumed with
    /// `Last-Event-ID` after a broken connection (see [`crate::events`]). An `after` the
    /// server no longer holds is [`ApiError::EventsGone`] (410).
    pub async fn events(
        &self,
        after: Option<u64>,
    ) -> Result<crate::events::EventStream, ClientError> {
        self.events_with(after, crate::events::Reconnect::default())
            .await
    }

    /// [`events`](Self::events) with another reconnect policy.
    pub async fn events_with(
        &self,
        after: Option<u64>,
        reconnect: crate::events::Reconnect,
    ) -> Result<crate::events::EventStream, ClientError> {
        crate::events::EventStream::open(self, after, reconnect).await
    }

    /// `GET /v1/events` as JSON: the buffered events after `after` (all when `None`).
    pub async fn events_after(
        &self,
        after: Option<u64>,
    ) -> Result<Vec<crate::events::Event>, ClientError> {
        let after_text = after.map(|a| a.to_string());
        let query: Vec<(&str, &str)> = after_text
            .as_deref()
            .map(|a| vec![("after", a)])
            .unwrap_or_default();
        let (request, builder) = self.builder(Method::GET, &["v1", "events"], &query)?;
        let transport = |source| ClientError::Transport {
            request: request.clone(),
            source,
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(error_answer(request, status, &headers, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            request,
            status: status.as_u16(),
            reason: e.to_string(),
        })
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let (request, builder) = self.builder(Method::GET, &["metrics"], &[])?;
        let transport = |source| ClientError::Transport {
            request: request.clone(),
            source,
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(error_answer(request, status, &headers, &bytes));
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Uses this reqwest client (timeouts, pools, TLS settings).
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /healthz`.
    pub async fn healthz(&self) -> Result<Health, ClientError> {
        self.json(Method::GET, &["healthz"], None::<&()>, &CallOptions::new())
            .await
    }

    /// `GET /v1/switches`.
    pub async fn switches(&self) -> Result<Vec<Switch>, ClientError> {
        self.json(
            Method::GET,
            &["v1", "switches"],
            None::<&()>,
            &CallOptions::new(),
        )
        .await
    }

    /// `GET /v1/links`.
    pub async fn links(&self) -> Result<Vec<Link>, ClientError> {
        self.json(
            Method::GET,
            &["v1", "links"],
            None::<&()>,
            &CallOptions::new(),
        )
        .await
    }

    /// `GET /v1/hosts`.
    pub async fn hosts(&self) -> Result<Vec<Host>, ClientError> {
        self.json(
            Method::GET,
            &["v1", "hosts"],
            None::<&()>,
            &CallOptions::new(),
        )
        .await
    }

    /// `GET /v1/groups`.
    pub async fn groups(&self) -> Result<Vec<Group>, ClientError> {
        self.json(
            Method::GET,
            &["v1", "groups"],
            None::<&()>,
            &CallOptions::new(),
        )
        .await
    }

    /// `GET /v1/groups/{name}`.
    pub async fn group(&self, name: &GroupName) -> Result<Group, ClientError> {
        let path = ["v1", "groups", name.as_str()];
        self.json(Method::GET, &path, None::<&()>, &CallOptions::new())
            .await
    }

    /// `PUT /v1/groups/{name}`: creates or replaces the group.
    pub async fn put_group(
        &self,
        name: &GroupName,
        spec: &GroupSpec,
    ) -> Result<Upsert<Group>, ClientError> {
        let path = ["v1", "groups", name.as_str()];
        let (status, group) = self
            .call(Method::PUT, &path, Some(spec), &CallOptions::new())
            .await?;
        Ok(if status == StatusCode::CREATED {
            Upsert::Created(group)
        } else {
            Upsert::Replaced(group)
        })
    }

    /// `DELETE /v1/groups/{name}`.
    pub async fn delete_group(&self, name: &GroupName) -> Result<(), ClientError> {
        let path = ["v1", "groups", name.as_str()];
        self.no_content(Method::DELETE, &path).await
    }

    /// `POST /v1/groups/{name}/subsets`: installs a subset; returns when it is ready.
    pub async fn create_subset(
        &self,
        group: &GroupName,
        req: &SubsetRequest,
    ) -> Result<Subset, ClientError> {
        self.create_subset_with(group, req, &CallOptions::new())
            .await
    }

    /// [`create_subset`](Self::create_subset) with a trace id or idempotency key.
    pub async fn create_subset_with(
        &self,
        group: &GroupName,
        req: &SubsetRequest,
        options: &CallOptions,
    ) -> Result<Subset, ClientError> {
        let path = ["v1", "groups", group.as_str(), "subsets"];
        self.json(Method::POST, &path, Some(req), options).await
    }

    /// `GET /v1/subsets`.
    pub async fn subsets(&self) -> Result<Vec<Subset>, ClientError> {
        self.json(
            Method::GET,
            &["v1", "subsets"],
            None::<&()>,
            &CallOptions::new(),
        )
        .await
    }

    /// `GET /v1/subsets/{address}`.
    pub async fn subset(&self, address: IpAddr) -> Result<Subset, ClientError> {
        let addr = address.to_string();
        let path = ["v1", "subsets", addr.as_str()];
        self.json(Method::GET, &path, None::<&()>, &CallOptions::new())
            .await
    }

    /// `DELETE /v1/subsets/{address}`.
    pub async fn delete_subset(&self, address: IpAddr) -> Result<(), ClientError> {
        let addr = address.to_string();
        let path = ["v1", "subsets", addr.as_str()];
        self.no_content(Method::DELETE, &path).await
    }

    /// `PUT /v1/groups/{name}/rendezvous`: creates or replaces the plan; answers at once
    /// (`installing`); poll [`rendezvous`](Self::rendezvous) for progress.
    pub async fn put_rendezvous(
        &self,
        group: &GroupName,
        req: &RendezvousRequest,
    ) -> Result<RendezvousPlan, ClientError> {
        let path = ["v1", "groups", group.as_str(), "rendezvous"];
        self.json(Method::PUT, &path, Some(req), &CallOptions::new())
            .await
    }

    /// `GET /v1/groups/{name}/rendezvous`.
    pub async fn rendezvous(&self, group: &GroupName) -> Result<RendezvousPlan, ClientError> {
        let path = ["v1", "groups", group.as_str(), "rendezvous"];
        self.json(Method::GET, &path, None::<&()>, &CallOptions::new())
            .await
    }

    /// `DELETE /v1/groups/{name}/rendezvous`.
    pub async fn delete_rendezvous(&self, group: &GroupName) -> Result<(), ClientError> {
        let path = ["v1", "groups", group.as_str(), "rendezvous"];
        self.no_content(Method::DELETE, &path).await
    }

    /// `GET /v1/rendezvous`: every plan.
    pub async fn rendezvous_plans(&self) -> Result<Vec<RendezvousPlan>, ClientError> {
        self.json(
            Method::GET,
            &["v1", "rendezvous"],
            None::<&()>,
            &CallOptions::new(),
        )
        .await
    }

    /// `POST /v1/groups/{name}/claims`: an exclusive lease on one address of the plan.
    pub async fn claim(&self, group: &GroupName, req: &ClaimRequest) -> Result<Claim, ClientError> {
        self.claim_with(group, req, &CallOptions::new()).await
    }

    /// [`claim`](Self::claim) with a trace id or idempotency key.
    pub async fn claim_with(
        &self,
        group: &GroupName,
        req: &ClaimRequest,
        options: &CallOptions,
    ) -> Result<Claim, ClientError> {
        let path = ["v1", "groups", group.as_str(), "claims"];
        self.json(Method::POST, &path, Some(req), options).await
    }

    /// `POST /v1/claims/{id}/renew`.
    pub async fn renew_claim(&self, id: ClaimId, req: &RenewRequest) -> Result<Claim, ClientError> {
        let id = id.to_string();
        let path = ["v1", "claims", id.as_str(), "renew"];
        self.json(Method::POST, &path, Some(req), &CallOptions::new())
            .await
    }

    /// `DELETE /v1/claims/{id}`.
    pub async fn release_claim(&self, id: ClaimId) -> Result<(), ClientError> {
        let id = id.to_string();
        let path = ["v1", "claims", id.as_str()];
        self.no_content(Method::DELETE, &path).await
    }

    /// `GET /v1/claims`.
    pub async fn claims(&self) -> Result<Vec<Claim>, ClientError> {
        self.json(
            Method::GET,
            &["v1", "claims"],
            None::<&()>,
            &CallOptions::new(),
        )
        .await
    }

    /// `POST /v1/groups/{name}/blocks`: whole copies of the plan for local claims.
    pub async fn take_block(
        &self,
        group: &GroupName,
        req: &BlockRequest,
    ) -> Result<Block, ClientError> {
        self.take_block_with(group, req, &CallOptions::new()).await
    }

    /// [`take_block`](Self::take_block) with a trace id or idempotency key.
    pub async fn take_block_with(
        &self,
        group: &GroupName,
        req: &BlockRequest,
        options: &CallOptions,
    ) -> Result<Block, ClientError> {
        let path = ["v1", "groups", group.as_str(), "blocks"];
        self.json(Method::POST, &path, Some(req), options).await
    }

    /// `POST /v1/blocks/{id}/renew`.
    pub async fn renew_block(&self, id: BlockId, req: &RenewRequest) -> Result<Block, ClientError> {
        let id = id.to_string();
        let path = ["v1", "blocks", id.as_str(), "renew"];
        self.json(Method::POST, &path, Some(req), &CallOptions::new())
            .await
    }

    /// `DELETE /v1/blocks/{id}`.
    pub async fn release_block(&self, id: BlockId) -> Result<(), ClientError> {
        let id = id.to_string();
        let path = ["v1", "blocks", id.as_str()];
        self.no_content(Method::DELETE, &path).await
    }

    /// `GET /v1/blocks`.
    pub async fn blocks(&self) -> Result<Vec<Block>, ClientError> {
        self.json(
            Method::GET,
            &["v1", "blocks"],
            None::<&()>,
            &CallOptions::new(),
        )
        .await
    }

    /// `POST /v1/groups/{name}/bier`: header fields for members of the group; with
    /// `lease_ms`, an address the senders' edge switches encapsulate (returns when every
    /// switch acknowledged).
    pub async fn assign_bier(
        &self,
        group: &GroupName,
        req: &crate::bier::BierRequest,
    ) -> Result<crate::bier::BierSubset, ClientError> {
        let path = ["v1", "groups", group.as_str(), "bier"];
        self.json(Method::POST, &path, Some(req), &CallOptions::new())
            .await
    }

    /// `DELETE /v1/bier/leases/{address}`.
    pub async fn release_bier(&self, address: IpAddr) -> Result<(), ClientError> {
        let addr = address.to_string();
        let path = ["v1", "bier", "leases", addr.as_str()];
        self.no_content(Method::DELETE, &path).await
    }

    /// `GET /v1/switches/{dpid}/rules`: the flows and groups tsmd keeps on the switch.
    pub async fn switch_rules(
        &self,
        dpid: crate::types::Dpid,
    ) -> Result<crate::rules::SwitchRules, ClientError> {
        let dpid = dpid.to_string();
        let path = ["v1", "switches", dpid.as_str(), "rules"];
        self.json(Method::GET, &path, None::<&()>, &CallOptions::new())
            .await
    }

    /// `GET /v1/switches/{dpid}/bift`.
    pub async fn switch_bift(
        &self,
        dpid: crate::types::Dpid,
    ) -> Result<crate::bier::SwitchBift, ClientError> {
        let dpid = dpid.to_string();
        let path = ["v1", "switches", dpid.as_str(), "bift"];
        self.json(Method::GET, &path, None::<&()>, &CallOptions::new())
            .await
    }

    /// `GET /v1/bier/bfr-ids`.
    pub async fn bfr_ids(&self) -> Result<Vec<crate::bier::BfrIdEntry>, ClientError> {
        self.json(
            Method::GET,
            &["v1", "bier", "bfr-ids"],
            None::<&()>,
            &CallOptions::new(),
        )
        .await
    }

    /// `GET /v1/openapi.json`, as JSON.
    pub async fn openapi(&self) -> Result<serde_json::Value, ClientError> {
        self.json(
            Method::GET,
            &["v1", "openapi.json"],
            None::<&()>,
            &CallOptions::new(),
        )
        .await
    }

    fn url(&self, segments: &[&str]) -> Result<Url, ClientError> {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| ClientError::BaseUrl {
                url: self.base.to_string(),
                reason: "cannot hold a path".to_owned(),
            })?;
            // Percent-encodes each segment, so a name can never add a path level.
            path.pop_if_empty().extend(segments);
        }
        Ok(url)
    }

    async fn json<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
        options: &CallOptions,
    ) -> Result<T, ClientError> {
        self.call(method, segments, body, options)
            .await
            .map(|(_, value)| value)
    }

    async fn no_content(&self, method: Method, segments: &[&str]) -> Result<(), ClientError> {
        self.send(method, segments, None::<&()>, &CallOptions::new())
            .await
            .map(|_| ())
    }

    async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
        options: &CallOptions,
    ) -> Result<(StatusCode, T), ClientError> {
        let (request, status, bytes) = self.send(method, segments, body, options).await?;
        let value = serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            request,
            status: status.as_u16(),
            reason: e.to_string(),
        })?;
        Ok((status, value))
    }

    /// Sends one request; a success status gives its body, any other status an error.
    async fn send<B: Serialize>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
        options: &CallOptions,
    ) -> Result<(String, StatusCode, bytes::Bytes), ClientError> {
        // Every POST carries an Idempotency-Key (the caller's or a fresh one); a retry sends
        // the same key, so the server runs the operation at most once.
        let post = method == Method::POST;
        let key = match &options.idempotency_key {
            Some(k) => Some(k.clone()),
            None if post => Some(new_idempotency_key()),
            None => None,
        };
        let mut attempt = 0;
        loop {
            let (request, mut builder) = self.builder(method.clone(), segments, &[])?;
            if let Some(trace_id) = options.trace_id {
                builder = builder.header(X_TRACE_ID, trace_id.to_string());
            }
            if let Some(key) = &key {
                builder = builder.header(IDEMPOTENCY_KEY, key.as_str());
            }
            if let Some(body) = body {
                builder = builder.json(body);
            }
            let sent = match builder.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    response.bytes().await.map(|b| (status, headers, b))
                }
                Err(e) => Err(e),
            };
            match sent {
                Ok((status, _, bytes)) if status.is_success() => {
                    return Ok((request, status, bytes))
                }
                Ok((status, headers, bytes)) => {
                    return Err(error_answer(request, status, &headers, &bytes))
                }
                // The request may have reached the server: only a keyed POST is safe to
                // send again. A refused connection never reached it: fail fast (failover).
                Err(source)
                    if post
                        && key.is_some()
                        && attempt < self.post_retries
                        && !source.is_connect() =>
                {
                    attempt += 1;
                    tracing::debug!(%request, attempt, error = %source, "retrying with the same Idempotency-Key");
                    tokio::time::sleep(std::time::Duration::from_millis(
                        50 << (2 * attempt.min(4)),
                    ))
                    .await;
                }
                Err(source) => return Err(ClientError::Transport { request, source }),
            }
        }
    }

    /// A request to `segments` (with `query`) carrying the bearer token; with its
    /// `"METHOD URL"` text for errors.
    pub(crate) fn builder(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<(String, reqwest::RequestBuilder), ClientError> {
        let mut url = self.url(segments)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let request = format!("{method} {url}");
        let mut builder = self.http.request(method, url);
        if let Some(token) = &self.bearer {
            builder = builder.bearer_auth(token);
        }
        Ok((request, builder))
    }
}

fn is_problem_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case(crate::error::PROBLEM_JSON)
        })
        .unwrap_or(false)
}

/// A fresh idempotency key: 128 random bits as 32 hex digits.
pub fn new_idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No system randomness: time and a process-wide counter still make keys unique.
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes[..8].copy_from_slice(&t.to_le_bytes());
        bytes[8..].copy_from_slice(
            &(COUNTER.fetch_add(1, Ordering::Relaxed) ^ u64::from(std::process::id()) << 32)
                .to_le_bytes(),
        );
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The error for a non-success answer.
pub(crate) fn error_answer(
    request: String,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ClientError {
    if status.is_redirection() {
        let location = headers.get(reqwest::header::LOCATION);
        if let Some(location) = location.and_then(|v| v.to_str().ok()) {
            return ClientError::Redirect {
                request,
                status: status.as_u16(),
                location: location.to_owned(),
            };
        }
    }
    if is_problem_json(headers) {
        if let Ok(problem) = serde_json::from_slice::<Problem>(body) {
            return match ApiError::from_problem(&problem) {
                Some(error) => ClientError::Api {
                    request,
                    status: status.as_u16(),
                    error: Box::new(error),
                },
                None => ClientError::Problem {
                    request,
                    problem: Box::new(problem),
                },
            };
        }
    }
    let text = String::from_utf8_lossy(body);
    let excerpt: String = text.chars().take(BODY_EXCERPT).collect();
    ClientError::UnexpectedStatus {
        request,
        status: status.as_u16(),
        body: excerpt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert!(Client::new("http://127.0.0.1:8080").is_ok());
        assert!(Client::new("ftp://127.0.0.1").is_err());
        assert!(Client::new("not a url").is_err());
        assert!(Client::new("mailto:x@y").is_err());
    }

    #[test]
    fn urls_are_built_by_segment() {
        let c = Client::new("http://127.0.0.1:8080/prefix/").unwrap();
        assert_eq!(
            c.url(&["v1", "groups", "a/b"]).unwrap().as_str(),
            "http://127.0.0.1:8080/prefix/v1/groups/a%2Fb"
        );
        let c = Client::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            c.url(&["v1", "subsets", "ff3e::1"]).unwrap().as_str(),
            "http://127.0.0.1:8080/v1/subsets/ff3e::1"
        );
    }
}
