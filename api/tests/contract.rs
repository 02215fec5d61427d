//! The HTTP contract end to end: the real router on a real TCP listener (127.0.0.1:0) over an
//! in-memory `Service`, driven by the real `Client` (and by raw reqwest for bodies the typed
//! client cannot send). Checks every route's happy path, every bad input of the issues as a
//! problem+json answer naming the culprit, the OpenAPI document against the router, and
//! Swagger UI.
#![allow(clippy::unwrap_used)]

mod fake;

use std::net::IpAddr;
use std::sync::Arc;

use api::{
    ApiError, CallOptions, Client, ClientError, Dpid, GroupName, GroupSpec, LinkState,
    SubsetRequest, TraceId, Upsert,
};
use fake::{Fake, NextInstall, MAX_LEASE_MS, POOL4};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Server {
    base: String,
    client: Client,
    fake: Arc<Fake>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start() -> Server {
    let fake = Arc::new(Fake::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = api::router(Arc::clone(&fake));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        client: Client::new(&base).unwrap(),
        base,
        fake,
        task,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| ip(s)).collect()
}

fn name(s: &str) -> GroupName {
    s.parse().unwrap()
}

/// Defines `storage` (IPv4: 10.0.0.1-4 and 10.0.0.9, which no switch has seen) and
/// `storage6` (IPv6: fd00::1, fd00::2).
async fn define_groups(client: &Client) {
    let spec = GroupSpec {
        address: ip("239.1.1.1"),
        members: ips(&["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.9"]).into(),
    };
    client.put_group(&name("storage"), &spec).await.unwrap();
    let spec6 = GroupSpec {
        address: ip("ff3e::1:1"),
        members: ips(&["fd00::1", "fd00::2"]).into(),
    };
    client.put_group(&name("storage6"), &spec6).await.unwrap();
}

fn subset_req(members: &[&str], lease_ms: u64) -> SubsetRequest {
    SubsetRequest {
        members: ips(members),
        lease_ms,
    }
}

/// A raw request; returns status, headers and body.
async fn raw(
    base: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.body(body.to_vec());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

/// A raw JSON request that must fail; checks the problem+json shape and returns the body.
async fn problem(
    base: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    status: u16,
    slug: &str,
) -> Value {
    let (got, hdrs, bytes) = raw(base, method, path, headers, body).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert_eq!(got.as_u16(), status, "{path}: {text}");
    assert_eq!(
        hdrs.get("content-type").unwrap(),
        "application/problem+json",
        "{path}: {text}"
    );
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        v["type"],
        format!("https://tsm.invalid/problems/{slug}"),
        "{text}"
    );
    assert_eq!(v["status"], status, "{text}");
    assert!(!v["title"].as_str().unwrap().is_empty(), "{text}");
    assert!(!v["detail"].as_str().unwrap().is_empty(), "{text}");
    v
}

fn api_error(result: Result<impl std::fmt::Debug, ClientError>, status: u16) -> ApiError {
    let err = result.unwrap_err();
    assert_eq!(err.status(), Some(status), "{err}");
    err.api_error().cloned().unwrap_or_else(|| panic!("{err}"))
}

const JSON: (&str, &str) = ("content-type", "application/json");

// ---------------------------------------------------------------- happy paths

#[tokio::test]
async fn healthz_answers() {
    let s = start().await;
    let health = s.client.healthz().await.unwrap();
    assert_eq!(health.status, "ok");
}

#[tokio::test]
async fn fabric_lists_switches_links_and_hosts() {
    let s = start().await;
    let switches = s.client.switches().await.unwrap();
    assert_eq!(
        switches.iter().map(|s| s.dpid).collect::<Vec<_>>(),
        [Dpid(1), Dpid(2)]
    );
    assert_eq!(switches[0].ports.len(), 3);
    assert_eq!(switches[0].capabilities.max_groups, Some(4096));
    assert!(!switches[0].capabilities.bier);

    let links = s.client.links().await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!((links[0].a.dpid, links[0].a.port), (Dpid(1), 3));
    assert_eq!(links[0].state, LinkState::Up);

    let hosts = s.client.hosts().await.unwrap();
    assert_eq!(hosts.len(), 6);
    let h = hosts.iter().find(|h| h.ip == ip("fd00::2")).unwrap();
    assert_eq!((h.dpid, h.port), (Dpid(1), 2));

    // The wire form: dpids as 16 hex digits, times as integers.
    let (status, _, body) = raw(&s.base, Method::GET, "/v1/switches", &[], None).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v[1]["dpid"], "0000000000000002");
    assert_eq!(v[0]["connected_since"], 1_700_000_000_000u64);
    assert_eq!(v[0]["ports"][0]["state"], "up");
    let (_, _, body) = raw(&s.base, Method::GET, "/v1/hosts", &[], None).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v[0],
        json!({"mac": "02:00:00:00:00:01", "ip": "10.0.0.1", "dpid": "0000000000000001", "port": 1})
    );
}

#[tokio::test]
async fn groups_create_replace_read_delete() {
    let s = start().await;
    let spec = GroupSpec {
        address: ip("239.1.1.1"),
        members: ips(&["10.0.0.1", "10.0.0.2"]).into(),
    };
    let created = s.client.put_group(&name("g1"), &spec).await.unwrap();
    assert!(created.created());
    assert_eq!(created.clone().into_inner().version, 1);

    // Replacing answers 200 and bumps the membership version.
    let spec2 = GroupSpec {
        members: ips(&["10.0.0.1", "10.0.0.2", "10.0.0.3"]).into(),
        ..spec.clone()
    };
    let Upsert::Replaced(g) = s.client.put_group(&name("g1"), &spec2).await.unwrap() else {
        panic!("expected a replace");
    };
    assert_eq!((g.version, g.members.len()), (2, 3));

    // An IPv6 group, created with a raw PUT to see the 201 and its Location.
    let body = br#"{"address": "ff3e::1:1", "members": ["fd00::1", "fd00::2"]}"#;
    let (status, headers, bytes) =
        raw(&s.base, Method::PUT, "/v1/groups/g6", &[JSON], Some(body)).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers.get("location").unwrap(), "/v1/groups/g6");

    let g6 = s.client.group(&name("g6")).await.unwrap();
    assert_eq!(g6.address, ip("ff3e::1:1"));
    assert_eq!(g6.members, ips(&["fd00::1", "fd00::2"]));
    let all = s.client.groups().await.unwrap();
    assert_eq!(
        all.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["g1", "g6"]
    );

    s.client.delete_group(&name("g1")).await.unwrap();
    let err = api_error(s.client.group(&name("g1")).await, 404);
    assert_eq!(err, ApiError::UnknownGroup { group: "g1".into() });
    assert_eq!(s.client.groups().await.unwrap().len(), 1);
}

#[tokio::test]
async fn subsets_create_list_read_delete_ipv4_and_ipv6() {
    let s = start().await;
    define_groups(&s.client).await;

    let sub = s
        .client
        .create_subset(
            &name("storage"),
            &subset_req(&["10.0.0.1", "10.0.0.3"], 5000),
        )
        .await
        .unwrap();
    assert!(sub.address.is_multicast() && sub.address.is_ipv4());
    assert_eq!(sub.group.as_str(), "storage");
    assert_eq!(sub.switches, [Dpid(1), Dpid(2)]);
    assert_eq!(sub.lease_ms, 5000);
    assert!(sub.expires_at > 1_700_000_000_000);

    let sub6 = s
        .client
        .create_subset(&name("storage6"), &subset_req(&["fd00::2"], 100))
        .await
        .unwrap();
    assert!(sub6.address.is_ipv6() && sub6.address.is_multicast());
    assert_eq!(sub6.switches, [Dpid(1)]);

    let all = s.client.subsets().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(s.client.subset(sub6.address).await.unwrap(), sub6);

    // The 201 carries Location and X-Trace-Id, and the body's required members.
    let (status, headers, bytes) = raw(
        &s.base,
        Method::POST,
        "/v1/groups/storage/subsets",
        &[JSON],
        Some(br#"{"members": ["10.0.0.2"], "lease_ms": 1000}"#),
    )
    .await;
    assert_eq!(status, 201);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    for member in ["address", "expires_at", "switches", "trace_id"] {
        assert!(v.get(member).is_some(), "{member} missing in {v}");
    }
    assert_eq!(
        headers.get("location").unwrap().to_str().unwrap(),
        format!("/v1/subsets/{}", v["address"].as_str().unwrap())
    );
    assert_eq!(
        headers.get("x-trace-id").unwrap(),
        v["trace_id"].as_str().unwrap()
    );

    s.client.delete_subset(sub6.address).await.unwrap();
    let err = api_error(s.client.subset(sub6.address).await, 404);
    assert!(matches!(err, ApiError::NotFound { .. }), "{err:?}");
    let err = api_error(s.client.delete_subset(sub6.address).await, 404);
    assert_eq!(
        err,
        ApiError::NotFound {
            resource: format!("subset {}", sub6.address)
        }
    );
    assert_eq!(s.client.subsets().await.unwrap().len(), 2);
}

#[tokio::test]
async fn trace_headers_become_the_trace_id() {
    let s = start().await;
    define_groups(&s.client).await;
    let g = name("storage");

    let chosen = TraceId::new(0xfeed_f00d).unwrap();
    let opts = CallOptions::new().trace_id(chosen);
    let sub = s
        .client
        .create_subset_with(&g, &subset_req(&["10.0.0.1"], 1000), &opts)
        .await
        .unwrap();
    assert_eq!(sub.trace_id, chosen);

    // traceparent: the low 64 bits of the W3C trace-id.
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (status, _, bytes) = raw(
        &s.base,
        Method::POST,
        "/v1/groups/storage/subsets",
        &[JSON, ("traceparent", tp)],
        Some(br#"{"members": ["10.0.0.2"], "lease_ms": 1000}"#),
    )
    .await;
    assert_eq!(status, 201);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["trace_id"], "a3ce929d0e0e4736");
}

#[tokio::test]
async fn idempotency_key_reaches_the_service() {
    let s = start().await;
    define_groups(&s.client).await;
    let g = name("storage");
    let opts = CallOptions::new().idempotency_key("retry-1");
    let req = subset_req(&["10.0.0.1"], 1000);
    let first = s.client.create_subset_with(&g, &req, &opts).await.unwrap();
    let again = s.client.create_subset_with(&g, &req, &opts).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(s.client.subsets().await.unwrap().len(), 1);
}

// ---------------------------------------------------------------- bad input, typed

#[tokio::test]
async fn member_not_in_group_is_named() {
    let s = start().await;
    define_groups(&s.client).await;
    let err = api_error(
        s.client
            .create_subset(
                &name("storage"),
                &subset_req(&["10.0.0.1", "10.0.0.7", "fd00::1"], 1000),
            )
            .await,
        422,
    );
    assert_eq!(
        err,
        ApiError::NotGroupMembers {
            group: "storage".into(),
            members: ips(&["10.0.0.7", "fd00::1"]),
        }
    );
    assert!(err.to_string().contains("10.0.0.7, fd00::1"), "{err}");
    assert!(s.client.subsets().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_host_is_named() {
    let s = start().await;
    define_groups(&s.client).await;
    let err = api_error(
        s.client
            .create_subset(
                &name("storage"),
                &subset_req(&["10.0.0.1", "10.0.0.9"], 1000),
            )
            .await,
        422,
    );
    assert_eq!(
        err,
        ApiError::UnknownHosts {
            hosts: ips(&["10.0.0.9"])
        }
    );
    assert!(s.client.subsets().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_group_is_named() {
    let s = start().await;
    let err = api_error(
        s.client
            .create_subset(&name("nope"), &subset_req(&["10.0.0.1"], 1000))
            .await,
        404,
    );
    assert_eq!(
        err,
        ApiError::UnknownGroup {
            group: "nope".into()
        }
    );
    let err = api_error(s.client.delete_group(&name("nope")).await, 404);
    assert!(matches!(err, ApiError::UnknownGroup { .. }));
}

#[tokio::test]
async fn unicast_group_address_is_refused() {
    let s = start().await;
    for unicast in ["10.0.0.1", "fd00::1"] {
        let spec = GroupSpec {
            address: ip(unicast),
            members: ips(&["10.0.0.2"]).into(),
        };
        let err = api_error(s.client.put_group(&name("g"), &spec).await, 422);
        assert_eq!(
            err,
            ApiError::NotMulticast {
                address: ip(unicast)
            }
        );
    }
    let v = problem(
        &s.base,
        Method::PUT,
        "/v1/groups/g",
        &[JSON],
        Some(br#"{"address": "192.168.1.1", "members": []}"#),
        422,
        "not-multicast",
    )
    .await;
    assert_eq!(v["address"], "192.168.1.1");
    assert!(s.client.groups().await.unwrap().is_empty());
}

#[tokio::test]
async fn lease_zero_or_above_maximum_states_the_maximum() {
    let s = start().await;
    define_groups(&s.client).await;
    for lease in [0, MAX_LEASE_MS + 1] {
        let err = api_error(
            s.client
                .create_subset(&name("storage"), &subset_req(&["10.0.0.1"], lease))
                .await,
            422,
        );
        assert_eq!(
            err,
            ApiError::LeaseOutOfRange {
                lease_ms: lease,
                max_lease_ms: MAX_LEASE_MS
            }
        );
        assert!(err.to_string().contains("60000"), "{err}");
    }
    let v = problem(
        &s.base,
        Method::POST,
        "/v1/groups/storage/subsets",
        &[JSON],
        Some(br#"{"members": ["10.0.0.1"], "lease_ms": 0}"#),
        422,
        "lease-out-of-range",
    )
    .await;
    assert_eq!(
        (v["lease_ms"].as_u64(), v["max_lease_ms"].as_u64()),
        (Some(0), Some(MAX_LEASE_MS))
    );
    assert!(s.client.subsets().await.unwrap().is_empty());
}

#[tokio::test]
async fn pool_exhausted_names_the_pool() {
    let s = start().await;
    define_groups(&s.client).await;
    let g = name("storage");
    for m in ["10.0.0.1", "10.0.0.2"] {
        s.client
            .create_subset(&g, &subset_req(&[m], 1000))
            .await
            .unwrap();
    }
    let err = api_error(
        s.client
            .create_subset(&g, &subset_req(&["10.0.0.3"], 1000))
            .await,
        503,
    );
    assert_eq!(
        err,
        ApiError::PoolExhausted {
            pool: POOL4.into(),
            size: 2
        }
    );
    assert_eq!(s.client.subsets().await.unwrap().len(), 2);
}

#[tokio::test]
async fn switch_refusal_names_the_switch_and_error() {
    let s = start().await;
    define_groups(&s.client).await;
    s.fake.set_next_install(NextInstall::Refused(Dpid(2), 6, 8));
    let opts = CallOptions::new().trace_id(TraceId::new(0xabc).unwrap());
    let err = api_error(
        s.client
            .create_subset_with(&name("storage"), &subset_req(&["10.0.0.3"], 1000), &opts)
            .await,
        502,
    );
    let ApiError::SwitchRefused {
        dpid,
        error_type,
        error_code,
        trace_id,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((*dpid, *error_type, *error_code), (Dpid(2), 6, 8));
    assert_eq!(*trace_id, TraceId::new(0xabc));
    assert!(err.to_string().contains("0000000000000002"), "{err}");
    // Rolled back: nothing listed, and the address is free again.
    assert!(s.client.subsets().await.unwrap().is_empty());
    s.client
        .create_subset(&name("storage"), &subset_req(&["10.0.0.3"], 1000))
        .await
        .unwrap();

    // On the wire: the culprit's dpid as 16 hex digits.
    s.fake.set_next_install(NextInstall::Refused(Dpid(1), 6, 8));
    let v = problem(
        &s.base,
        Method::POST,
        "/v1/groups/storage/subsets",
        &[JSON],
        Some(br#"{"members": ["10.0.0.1"], "lease_ms": 10}"#),
        502,
        "switch-refused",
    )
    .await;
    assert_eq!(v["dpid"], "0000000000000001");
    assert_eq!(
        (v["error_type"].as_u64(), v["error_code"].as_u64()),
        (Some(6), Some(8))
    );
}

#[tokio::test]
async fn timeout_names_the_silent_switch() {
    let s = start().await;
    define_groups(&s.client).await;
    s.fake.set_next_install(NextInstall::Stalls(Dpid(2)));
    let err = api_error(
        s.client
            .create_subset(&name("storage"), &subset_req(&["10.0.0.4"], 1000))
            .await,
        504,
    );
    assert!(
        matches!(&err, ApiError::Timeout { switches, .. } if switches == &[Dpid(2)]),
        "{err:?}"
    );
}

#[tokio::test]
async fn conflicts_are_409() {
    let s = start().await;
    define_groups(&s.client).await;
    // Another group already has this address.
    let spec = GroupSpec {
        address: ip("239.1.1.1"),
        members: api::GroupMembers::List(vec![]),
    };
    let err = api_error(s.client.put_group(&name("other"), &spec).await, 409);
    assert!(
        matches!(&err, ApiError::Conflict { resource, .. } if resource == "group storage"),
        "{err:?}"
    );
    // A group with live subsets cannot be deleted.
    s.client
        .create_subset(&name("storage6"), &subset_req(&["fd00::1"], 1000))
        .await
        .unwrap();
    let err = api_error(s.client.delete_group(&name("storage6")).await, 409);
    assert!(matches!(err, ApiError::Conflict { .. }), "{err:?}");
}

// ---------------------------------------------------------------- bad input, on the wire

#[tokio::test]
async fn malformed_json_gets_position() {
    let s = start().await;
    define_groups(&s.client).await;
    let v = problem(
        &s.base,
        Method::POST,
        "/v1/groups/storage/subsets",
        &[JSON],
        Some(b"{\"members\": [\"10.0.0.1\",\n  \"lease_ms\": 5"),
        400,
        "malformed-json",
    )
    .await;
    assert_eq!(v["line"], 2, "{v}");
    assert!(v["column"].as_u64().unwrap() > 0);
    let v = problem(
        &s.base,
        Method::PUT,
        "/v1/groups/g",
        &[JSON],
        Some(b""),
        400,
        "malformed-json",
    )
    .await;
    assert!(v["reason"].as_str().unwrap().contains("EOF"), "{v}");
}

#[tokio::test]
async fn unknown_field_is_named() {
    let s = start().await;
    define_groups(&s.client).await;
    let v = problem(
        &s.base,
        Method::POST,
        "/v1/groups/storage/subsets",
        &[JSON],
        Some(br#"{"members": ["10.0.0.1"], "lease_ms": 5, "priority": 1}"#),
        400,
        "unknown-field",
    )
    .await;
    assert_eq!(v["field"], "priority");
    assert_eq!(v["expected"], json!(["members", "lease_ms"]));
    assert!(v["detail"].as_str().unwrap().contains("priority"));
    let v = problem(
        &s.base,
        Method::PUT,
        "/v1/groups/g",
        &[JSON],
        Some(br#"{"address": "239.9.9.9", "members": [], "adress": "x"}"#),
        400,
        "unknown-field",
    )
    .await;
    assert_eq!(v["field"], "adress");
    assert!(s.client.groups().await.unwrap().len() == 2);
}

#[tokio::test]
async fn missing_and_invalid_fields_are_named() {
    let s = start().await;
    define_groups(&s.client).await;
    let path = "/v1/groups/storage/subsets";
    let v = problem(
        &s.base,
        Method::POST,
        path,
        &[JSON],
        Some(br#"{"members": ["10.0.0.1"]}"#),
        400,
        "missing-field",
    )
    .await;
    assert_eq!(v["field"], "lease_ms");
    let v = problem(
        &s.base,
        Method::POST,
        path,
        &[JSON],
        Some(br#"{"members": ["10.0.0.1", "10.0.0.256"], "lease_ms": 5}"#),
        400,
        "invalid-field",
    )
    .await;
    assert_eq!(v["path"], "body.members[1]");
    let v = problem(
        &s.base,
        Method::POST,
        path,
        &[JSON],
        Some(br#"{"members": ["10.0.0.1"], "lease_ms": "soon"}"#),
        400,
        "invalid-field",
    )
    .await;
    assert_eq!(v["path"], "body.lease_ms");
    let v = problem(
        &s.base,
        Method::POST,
        path,
        &[JSON],
        Some(br#"{"members": [], "lease_ms": 5}"#),
        400,
        "invalid-field",
    )
    .await;
    assert_eq!(v["path"], "body.members");
    let v = problem(
        &s.base,
        Method::POST,
        path,
        &[JSON],
        Some(br#"{"members": ["10.0.0.1", "10.0.0.1"], "lease_ms": 5}"#),
        400,
        "invalid-field",
    )
    .await;
    assert_eq!(v["path"], "body.members[1]");
    let v = problem(
        &s.base,
        Method::PUT,
        "/v1/groups/g",
        &[JSON],
        Some(br#"{"address": "239.9.9.9", "members": ["239.9.9.8"]}"#),
        400,
        "invalid-field",
    )
    .await;
    assert_eq!(v["path"], "body.members[0]");
    assert!(s.client.subsets().await.unwrap().is_empty());
}

#[tokio::test]
async fn body_must_be_json_and_not_huge() {
    let s = start().await;
    let body = br#"{"address": "239.9.9.9", "members": []}"#;
    let v = problem(
        &s.base,
        Method::PUT,
        "/v1/groups/g",
        &[],
        Some(body),
        415,
        "unsupported-media-type",
    )
    .await;
    assert!(v.get("content_type").is_none());
    let v = problem(
        &s.base,
        Method::PUT,
        "/v1/groups/g",
        &[("content-type", "text/plain")],
        Some(body),
        415,
        "unsupported-media-type",
    )
    .await;
    assert_eq!(v["content_type"], "text/plain");
    let huge = vec![b' '; api::extract::BODY_LIMIT + 1];
    let v = problem(
        &s.base,
        Method::PUT,
        "/v1/groups/g",
        &[JSON],
        Some(&huge),
        413,
        "body-too-large",
    )
    .await;
    assert_eq!(v["limit"], api::extract::BODY_LIMIT as u64);
}

#[tokio::test]
async fn bad_path_parameters_are_named() {
    let s = start().await;
    let body: &[u8] = br#"{"address": "239.9.9.9", "members": []}"#;
    for (path, value) in [
        ("/v1/groups/.hidden", ".hidden"),
        ("/v1/groups/a%20b", "a b"),
        (&format!("/v1/groups/{}", "x".repeat(65)), &"x".repeat(65)),
    ] {
        let v = problem(
            &s.base,
            Method::PUT,
            path,
            &[JSON],
            Some(body),
            400,
            "bad-path-parameter",
        )
        .await;
        assert_eq!(
            (v["parameter"].as_str(), v["value"].as_str()),
            (Some("name"), Some(value))
        );
    }
    let v = problem(
        &s.base,
        Method::POST,
        "/v1/groups/.x/subsets",
        &[JSON],
        Some(br#"{"members": ["10.0.0.1"], "lease_ms": 5}"#),
        400,
        "bad-path-parameter",
    )
    .await;
    assert_eq!(v["value"], ".x");
    for method in [Method::GET, Method::DELETE] {
        let v = problem(
            &s.base,
            method,
            "/v1/subsets/239.1.1.300",
            &[],
            None,
            400,
            "bad-path-parameter",
        )
        .await;
        assert_eq!(
            (v["parameter"].as_str(), v["value"].as_str()),
            (Some("address"), Some("239.1.1.300"))
        );
    }
}

#[tokio::test]
async fn bad_headers_are_named() {
    let s = start().await;
    define_groups(&s.client).await;
    let body: &[u8] = br#"{"members": ["10.0.0.1"], "lease_ms": 5}"#;
    let path = "/v1/groups/storage/subsets";
    for (header, value) in [
        ("x-trace-id", "0"),
        ("x-trace-id", "not-hex"),
        ("idempotency-key", "\"unterminated"),
        ("authorization", "Basic eDp5"),
    ] {
        let v = problem(
            &s.base,
            Method::POST,
            path,
            &[JSON, (header, value)],
            Some(body),
            400,
            "bad-header",
        )
        .await;
        assert_eq!(v["header"], header);
    }
    assert!(s.client.subsets().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let s = start().await;
    let v = problem(
        &s.base,
        Method::GET,
        "/v1/nothing",
        &[],
        None,
        404,
        "not-found",
    )
    .await;
    assert_eq!(v["resource"], "/v1/nothing");
    let v = problem(
        &s.base,
        Method::PATCH,
        "/v1/groups/g",
        &[],
        None,
        405,
        "method-not-allowed",
    )
    .await;
    assert_eq!(
        (v["method"].as_str(), v["path"].as_str()),
        (Some("PATCH"), Some("/v1/groups/g"))
    );
    // The client sees the same as typed errors.
    let err = api_error(s.client.subset(ip("239.1.2.3")).await, 404);
    assert!(matches!(err, ApiError::NotFound { .. }));
}

#[tokio::test]
async fn transport_failure_names_the_request() {
    // Bind and drop a listener to get a port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = Client::new(&base).unwrap().healthz().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains("GET http://127.0.0.1:"), "{err}");
}

// ---------------------------------------------------------------- OpenAPI and Swagger UI

const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/v1/events"),
    ("get", "/v1/switches"),
    ("get", "/v1/links"),
    ("get", "/v1/hosts"),
    ("get", "/v1/groups"),
    ("put", "/v1/groups/{name}"),
    ("get", "/v1/groups/{name}"),
    ("delete", "/v1/groups/{name}"),
    ("post", "/v1/groups/{name}/subsets"),
    ("get", "/v1/subsets"),
    ("get", "/v1/subsets/{address}"),
    ("delete", "/v1/subsets/{address}"),
    // BIER (`api::bier`, tests/bier_contract.rs).
    ("post", "/v1/groups/{name}/bier"),
    ("delete", "/v1/bier/leases/{address}"),
    ("get", "/v1/switches/{dpid}/bift"),
    ("get", "/v1/bier/bfr-ids"),
    // A switch's rules (`api::rules`, tsmctl rules).
    ("get", "/v1/switches/{dpid}/rules"),
    // Rendezvous plans, claims and blocks (`api::rendezvous`, tests/rendezvous_contract.rs).
    ("put", "/v1/groups/{name}/rendezvous"),
    ("get", "/v1/groups/{name}/rendezvous"),
    ("delete", "/v1/groups/{name}/rendezvous"),
    ("get", "/v1/rendezvous"),
    ("post", "/v1/groups/{name}/claims"),
    ("get", "/v1/claims"),
    ("delete", "/v1/claims/{id}"),
    ("post", "/v1/claims/{id}/renew"),
    ("post", "/v1/groups/{name}/blocks"),
    ("get", "/v1/blocks"),
    ("delete", "/v1/blocks/{id}"),
    ("post", "/v1/blocks/{id}/renew"),
];

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let s = start().await;
    let doc = s.client.openapi().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                documented.push((method.clone(), path.clone()));
            }
        }
    }
    let mut expected: Vec<_> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    documented.sort();
    assert_eq!(documented, expected);

    // Every documented operation is served by the router (never the 404/405 fallback).
    for (method, path) in &documented {
        let concrete = path
            .replace("{name}", "storage")
            .replace("{address}", "239.255.0.1");
        let method: Method = method.to_uppercase().parse().unwrap();
        let (status, _, bytes) =
            raw(&s.base, method.clone(), &concrete, &[JSON], Some(b"{}")).await;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_ne!(status, 405, "{method} {concrete}");
        assert!(
            !(status == 404 && v["resource"] == concrete.as_str()),
            "{method} {concrete} is not routed"
        );
    }

    // Errors are documented as problem+json, and the problem types are in the schemas.
    let create = &paths["/v1/groups/{name}/subsets"]["post"];
    assert!(create["responses"]["422"]["content"]["application/problem+json"].is_object());
    assert!(create["responses"]["201"]["content"]["application/json"].is_object());
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "Problem",
        "ApiError",
        "Subset",
        "SubsetRequest",
        "Group",
        "GroupSpec",
        "Switch",
        "Host",
        "Link",
        "Health",
        "Dpid",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} missing");
    }
    let problem_types = serde_json::to_string(&schemas["ApiError"]).unwrap();
    for slug in [
        "unknown-host",
        "not-group-members",
        "switch-refused",
        "lease-out-of-range",
    ] {
        assert!(
            problem_types.contains(&format!("https://tsm.invalid/problems/{slug}")),
            "{slug}"
        );
    }
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let s = start().await;
    // /v1/docs redirects to /v1/docs/ (reqwest follows it).
    let (status, headers, bytes) = raw(&s.base, Method::GET, "/v1/docs", &[], None).await;
    assert_eq!(status, 200);
    assert!(headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = String::from_utf8(bytes).unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // The script bundle is embedded (vendored), and the UI points at our document.
    let (status, _, bundle) = raw(
        &s.base,
        Method::GET,
        "/v1/docs/swagger-ui-bundle.js",
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(bundle.len() > 100_000, "bundle is {} bytes", bundle.len());
    let (status, _, init) = raw(
        &s.base,
        Method::GET,
        "/v1/docs/swagger-initializer.js",
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(init)
        .unwrap()
        .contains("/v1/openapi.json"));
}

/// The `(method, path)` of every `.route(..)` call of `router_with`, read from the router's
/// source: the router cannot list its routes, and a hand-kept list misses a new route.
fn routes_in_router_source() -> Vec<(String, String)> {
    let src = include_str!("../src/router.rs");
    let start = src.find("let routes = Router::new()").unwrap();
    let end = start + src[start..].find(".layer(").unwrap();
    let mut out = Vec::new();
    for call in src[start..end].split(".route(").skip(1) {
        let path = call.split('"').nth(1).unwrap().to_owned();
        let bytes = call.as_bytes();
        for method in ["get", "put", "post", "delete", "patch"] {
            let pat = format!("{method}(");
            // `get(` as a word: not the tail of `budget(` or a handler name.
            let found = call.match_indices(&pat).any(|(i, _)| {
                i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
            });
            if found {
                out.push((method.to_owned(), path.clone()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn every_routed_operation_is_documented_and_has_an_auth_rule() {
    let routed = routes_in_router_source();
    // The reader works: it sees routes with one method and with several.
    for known in [
        ("get", "/healthz"),
        ("put", "/v1/groups/{name}"),
        ("delete", "/v1/groups/{name}"),
        ("post", "/v1/claims/{id}/renew"),
    ] {
        assert!(
            routed.contains(&(known.0.to_owned(), known.1.to_owned())),
            "{known:?} not found in {routed:?}"
        );
    }
    // Routed == documented (the OpenAPI document the server serves).
    let doc = serde_json::to_value(api::openapi()).unwrap();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                documented.push((method.clone(), path.clone()));
            }
        }
    }
    documented.sort();
    assert_eq!(routed, documented, "router vs OpenAPI document");
    // Every routed operation has its row in auth::ROUTE_RULES (an unlisted route would need
    // `admin`); a write has a row of its own, not a wildcard's.
    let mut missing = Vec::new();
    for (method, path) in &routed {
        let concrete = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let m: Method = method.to_uppercase().parse().unwrap();
        match api::auth::rule_for(api::auth::ROUTE_RULES, &m, &concrete) {
            None => missing.push(format!("{m} {path}")),
            Some((rule, _)) if m != Method::GET && rule.pattern != path => missing.push(format!(
                "{m} {path} (only {} {})",
                rule.method, rule.pattern
            )),
            Some(_) => {}
        }
    }
    // The document and Swagger UI (merged, not `.route` calls) are open.
    for path in [api::OPENAPI_PATH, "/v1/docs/", "/v1/docs/index.html"] {
        if api::auth::rule_for(api::auth::ROUTE_RULES, &Method::GET, path).is_none() {
            missing.push(format!("GET {path}"));
        }
    }
    assert!(
        missing.is_empty(),
        "no auth::ROUTE_RULES row for {missing:?}"
    );
}

#[tokio::test]
async fn groups_say_whether_snooping_decides_their_members() {
    let s = start().await;
    let snooped = GroupSpec {
        address: ip("239.1.1.9"),
        members: api::GroupMembers::Snooped,
    };
    let created = s.client.put_group(&name("tv"), &snooped).await.unwrap();
    assert!(created.into_inner().snooped);
    define_groups(&s.client).await;
    let (status, _, bytes) = raw(&s.base, Method::GET, "/v1/groups", &[], None).await;
    assert_eq!(status, 200);
    let list: Value = serde_json::from_slice(&bytes).unwrap();
    let flags: Vec<(&str, &Value)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap(), &g["snooped"]))
        .collect();
    assert_eq!(
        flags,
        [
            ("storage", &json!(false)),
            ("storage6", &json!(false)),
            ("tv", &json!(true))
        ]
    );
    // An answer from a server without the field still reads (as a listed group).
    let old: api::Group = serde_json::from_value(
        json!({"name": "g", "address": "239.1.1.1", "members": [], "version": 1}),
    )
    .unwrap();
    assert!(!old.snooped);
    // The OpenAPI document describes it, as optional.
    let doc = s.client.openapi().await.unwrap();
    let group = &doc["components"]["schemas"]["Group"];
    assert_eq!(group["properties"]["snooped"]["type"], "boolean", "{group}");
    let required = group["required"].as_array().unwrap();
    assert!(!required.contains(&json!("snooped")), "{group}");
}
