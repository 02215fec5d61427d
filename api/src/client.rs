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
            base,
            bearer: None,
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_bearer(mut self, token: impl Into<String>) -> Self {
        self.bearer = Some(token.into());
        self
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
        let url = self.url(segments)?;
        let request = format!("{method} {url}");
        let mut builder = self.http.request(method, url);
        if let Some(token) = &self.bearer {
            builder = builder.bearer_auth(token);
        }
        if let Some(trace_id) = options.trace_id {
            builder = builder.header(X_TRACE_ID, trace_id.to_string());
        }
        if let Some(key) = &options.idempotency_key {
            builder = builder.header(IDEMPOTENCY_KEY, key.as_str());
        }
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let transport = |source| ClientError::Transport {
            request: request.clone(),
            source,
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            Ok((request, status, bytes))
        } else {
            Err(error_answer(request, status, &headers, &bytes))
        }
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

/// The error for a non-success answer.
fn error_answer(
    request: String,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ClientError {
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
