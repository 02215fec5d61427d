//! Bearer-token authentication and authorisation through the real router on 127.0.0.1:0:
//! requests without a token, with an unknown token, with a token for another group or
//! without the right are refused with 401/403 problems that name what is missing; open
//! routes stay open; allowed requests reach the service.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
mod fake;

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use api::auth::{Authenticator, GroupScope, Right, TokenHash, TokenSpec};
use api::{ApiError, Client, GroupName, GroupSpec, RouterConfig, SubsetRequest};
use fake::Fake;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const OPS: &str = "tsm_ops_0123456789abcdef0123456789abcdef";
const STORAGE: &str = "tsm_storage_0123456789abcdef0123456789ab";
const CLAIMER: &str = "tsm_claimer_0123456789abcdef0123456789ab";

struct Server {
    base: String,
    fake: Arc<Fake>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn token(name: &str, secret: &str, groups: &[&str], rights: &[Right]) -> TokenSpec {
    TokenSpec {
        name: name.to_owned(),
        hash: TokenHash::of(secret),
        groups: GroupScope::from_list(groups).unwrap(),
        rights: rights.iter().copied().collect(),
    }
}

async fn start() -> Server {
    let fake = Arc::new(Fake::new());
    let auth = Authenticator::new([
        token("ops", OPS, &["*"], &[Right::Admin]),
        token("storage-writer", STORAGE, &["storage"], &[Right::Subsets]),
        token(
            "claimer",
            CLAIMER,
            &["storage", "storage6"],
            &[Right::Claims],
        ),
    ])
    .unwrap();
    let app = api::router_with(Arc::clone(&fake), RouterConfig::new().auth(Arc::new(auth)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server { base, fake, task }
}

async fn raw(
    base: &str,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn name(s: &str) -> GroupName {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn define_groups(base: &str) {
    let admin = Client::new(base).unwrap().with_bearer(OPS);
    admin
        .put_group(
            &name("storage"),
            &GroupSpec {
                address: ip("239.1.1.1"),
                members: vec![ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3")].into(),
            },
        )
        .await
        .unwrap();
    admin
        .put_group(
            &name("storage6"),
            &GroupSpec {
                address: ip("ff3e::1:1"),
                members: vec![ip("fd00::1"), ip("fd00::2")].into(),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn no_token_or_unknown_token_is_401_with_the_bearer_challenge() {
    let s = start().await;
    for (method, path) in [
        (Method::GET, "/v1/groups"),
        (Method::GET, "/v1/switches"),
        (Method::GET, "/v1/subsets"),
        (Method::GET, "/v1/events"),
        (Method::GET, "/metrics"),
        (Method::PUT, "/v1/groups/storage"),
        (Method::POST, "/v1/groups/storage/subsets"),
        (Method::DELETE, "/v1/subsets/239.255.0.1"),
        // Unknown routes too: nothing is revealed without a token.
        (Method::GET, "/v1/nowhere"),
    ] {
        let (status, headers, v) = raw(&s.base, method.clone(), path, None, Some("{}")).await;
        assert_eq!(status, 401, "{method} {path}: {v}");
        assert_eq!(
            headers.get("www-authenticate").unwrap(),
            "Bearer realm=\"tsmd\"",
            "{method} {path}"
        );
        assert_eq!(v["type"], "https://tsm.invalid/problems/unauthorized");
        assert!(
            v["reason"].as_str().unwrap().contains("bearer token"),
            "{v}"
        );
        let (status, headers, v) =
            raw(&s.base, method.clone(), path, Some("tsm_guess"), Some("{}")).await;
        assert_eq!(status, 401, "{method} {path}: {v}");
        assert_eq!(
            headers.get("www-authenticate").unwrap(),
            "Bearer realm=\"tsmd\", error=\"invalid_token\""
        );
        assert!(v["reason"].as_str().unwrap().contains("not one of"), "{v}");
    }
    // Nothing reached the service.
    assert_eq!(s.fake.create_calls.load(Ordering::SeqCst), 0);
    // A malformed Authorization header is a bad request.
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/groups", s.base))
        .header("authorization", "Basic dXNlcjpwdw==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn open_routes_need_no_token() {
    let s = start().await;
    for path in ["/healthz", "/v1/openapi.json", "/v1/docs/"] {
        let resp = reqwest::get(format!("{}{path}", s.base)).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    // Reads and metrics: any valid token.
    for secret in [OPS, STORAGE, CLAIMER] {
        let c = Client::new(&s.base).unwrap().with_bearer(secret);
        c.groups().await.unwrap();
        c.subsets().await.unwrap();
        assert!(c.metrics().await.unwrap().contains("fake_subsets_live"));
    }
}

#[tokio::test]
async fn a_token_for_another_group_or_without_the_right_is_403_naming_it() {
    let s = start().await;
    define_groups(&s.base).await;
    let storage = Client::new(&s.base).unwrap().with_bearer(STORAGE);
    let claimer = Client::new(&s.base).unwrap().with_bearer(CLAIMER);
    let req = SubsetRequest {
        members: vec![ip("fd00::1")],
        lease_ms: 1000,
    };
    // Another group.
    let e = storage
        .create_subset(&name("storage6"), &req)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403), "{e}");
    match e.api_error().unwrap() {
        ApiError::Forbidden {
            token,
            group,
            right,
            ..
        } => {
            assert_eq!(token.as_deref(), Some("storage-writer"));
            assert_eq!(group.as_deref(), Some("storage6"));
            assert_eq!(*right, None);
        }
        other => panic!("{other:?}"),
    }
    // Without the right: claims only.
    let e = claimer
        .create_subset(&name("storage6"), &req)
        .await
        .unwrap_err();
    match e.api_error().unwrap() {
        ApiError::Forbidden { right, .. } => assert_eq!(right.as_deref(), Some("subsets")),
        other => panic!("{other:?}"),
    }
    // Group management needs admin.
    let e = storage
        .put_group(
            &name("storage"),
            &GroupSpec {
                address: ip("239.1.1.1"),
                members: api::GroupMembers::List(vec![]),
            },
        )
        .await
        .unwrap_err();
    match e.api_error().unwrap() {
        ApiError::Forbidden { right, .. } => assert_eq!(right.as_deref(), Some("admin")),
        other => panic!("{other:?}"),
    }
    let e = storage.delete_group(&name("storage")).await.unwrap_err();
    assert_eq!(e.status(), Some(403));
    // Reading a group outside the scope.
    let e = storage.group(&name("storage6")).await.unwrap_err();
    assert_eq!(e.status(), Some(403));
    // A route the table does not list needs admin.
    let (status, _, v) = raw(
        &s.base,
        Method::PATCH,
        "/v1/groups/storage",
        Some(STORAGE),
        None,
    )
    .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["right"], "admin");
    // None of these reached the service: the groups are as the admin left them.
    assert_eq!(s.fake.create_calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        storage.group(&name("storage")).await.unwrap().members.len(),
        3
    );
    // The right token for the group gets through.
    let ok = storage
        .create_subset(
            &name("storage"),
            &SubsetRequest {
                members: vec![ip("10.0.0.1")],
                lease_ms: 1000,
            },
        )
        .await
        .unwrap();
    assert_eq!(ok.group, name("storage"));
    assert_eq!(s.fake.create_calls.load(Ordering::SeqCst), 1);
    // Admin may do everything.
    let ops = Client::new(&s.base).unwrap().with_bearer(OPS);
    ops.delete_subset(ok.address).await.unwrap();
}

#[tokio::test]
async fn percent_encoded_group_names_are_checked_as_decoded() {
    let s = start().await;
    define_groups(&s.base).await;
    // `%73torage` is `storage`: allowed for the storage token, refused for others' groups.
    let body = r#"{"members": ["10.0.0.2"], "lease_ms": 1000}"#;
    let (status, _, v) = raw(
        &s.base,
        Method::POST,
        "/v1/groups/%73torage/subsets",
        Some(STORAGE),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, _, v) = raw(
        &s.base,
        Method::POST,
        "/v1/groups/%73torage6/subsets",
        Some(STORAGE),
        Some(body),
    )
    .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["group"], "storage6");
}
