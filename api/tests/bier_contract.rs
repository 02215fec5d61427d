//! The BIER part of the HTTP contract end to end: the real router on 127.0.0.1:0 over a small
//! in-memory BIER service, driven by the real `Client` and by raw reqwest for the JSON shape
//! and for bodies the typed client cannot send. Checks the four routes' happy paths, the wire
//! form of the header fields (hex BitStrings in RFC 8296 order), every bad input as a
//! problem+json naming the culprit (members without a BFR-id, unknown group, unknown or
//! malformed switch, BIER-TE without a sender, leases out of range), the OpenAPI entries, and
//! that a service without BIER answers "not implemented".
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use api::{
    ApiError, BfrIdEntry, BierHeader, BierMember, BierPort, BierRequest, BierSubset, Bift,
    BiftAction, BiftEntry, BiftKind, BiftNextHop, Client, ClientError, Dpid, Group, GroupName,
    GroupSpec, Health, Host, Limits, Link, LocalBfer, RequestMeta, Service, Subset, SubsetRequest,
    Switch, SwitchBift, Upsert,
};
use serde_json::{json, Value};

const MAX_LEASE_MS: u64 = 60_000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Hosts 10.0.0.1..=4 have BFR-ids 1..=4 (two per switch, ports 1 and 2); group "g" also
/// lists 10.0.0.9 and 10.0.0.10, never learned. BSL 64 so the BitString is 8 bytes.
struct BierFake {
    leases: Mutex<BTreeMap<IpAddr, BierSubset>>,
    next: Mutex<u8>,
}

fn bfr_id(a: IpAddr) -> Option<u16> {
    match a {
        IpAddr::V4(v) if v.octets()[..3] == [10, 0, 0] && (1..=4).contains(&v.octets()[3]) => {
            Some(u16::from(v.octets()[3]))
        }
        _ => None,
    }
}

fn group_members() -> Vec<IpAddr> {
    [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "10.0.0.4",
        "10.0.0.9",
        "10.0.0.10",
    ]
    .iter()
    .map(|s| ip(s))
    .collect()
}

fn hex_bits(ids: &[u16]) -> String {
    let mut b = [0u8; 8];
    for id in ids {
        let i = usize::from(id - 1);
        b[7 - i / 8] |= 1 << (i % 8);
    }
    api::bier::hex(&b)
}

async fn not_here<T>() -> Result<T, ApiError> {
    Err(ApiError::NotFound {
        resource: "nothing".into(),
    })
}

macro_rules! plain_service {
    () => {
        fn limits(&self) -> Limits {
            Limits::new(MAX_LEASE_MS)
        }
        async fn health(&self) -> Result<Health, ApiError> {
            Ok(Health {
                status: "ok".into(),
                version: "test".into(),
            })
        }
        async fn switches(&self, _m: RequestMeta) -> Result<Vec<Switch>, ApiError> {
            Ok(Vec::new())
        }
        async fn links(&self, _m: RequestMeta) -> Result<Vec<Link>, ApiError> {
            Ok(Vec::new())
        }
        async fn hosts(&self, _m: RequestMeta) -> Result<Vec<Host>, ApiError> {
            Ok(Vec::new())
        }
        async fn put_group(
            &self,
            _m: RequestMeta,
            _n: GroupName,
            _s: GroupSpec,
        ) -> Result<Upsert<Group>, ApiError> {
            not_here().await
        }
        async fn group(&self, _m: RequestMeta, _n: GroupName) -> Result<Group, ApiError> {
            not_here().await
        }
        async fn groups(&self, _m: RequestMeta) -> Result<Vec<Group>, ApiError> {
            Ok(Vec::new())
        }
        async fn delete_group(&self, _m: RequestMeta, _n: GroupName) -> Result<(), ApiError> {
            not_here().await
        }
        async fn create_subset(
            &self,
            _m: RequestMeta,
            _g: GroupName,
            _r: SubsetRequest,
        ) -> Result<Subset, ApiError> {
            not_here().await
        }
        async fn subsets(&self, _m: RequestMeta) -> Result<Vec<Subset>, ApiError> {
            Ok(Vec::new())
        }
        async fn subset(&self, _m: RequestMeta, _a: IpAddr) -> Result<Subset, ApiError> {
            not_here().await
        }
        async fn delete_subset(&self, _m: RequestMeta, _a: IpAddr) -> Result<(), ApiError> {
            not_here().await
        }
    };
}

/// A service that does not implement BIER: the trait's defaults answer.
struct NoBier;

impl Service for NoBier {
    plain_service!();
}

impl Service for BierFake {
    plain_service!();

    async fn assign_bier(
        &self,
        _meta: RequestMeta,
        group: GroupName,
        req: BierRequest,
    ) -> Result<BierSubset, ApiError> {
        if group.as_str() != "g" {
            return Err(ApiError::UnknownGroup {
                group: group.to_string(),
            });
        }
        let outside: Vec<IpAddr> = req
            .members
            .iter()
            .filter(|m| !group_members().contains(m))
            .copied()
            .collect();
        if !outside.is_empty() {
            return Err(ApiError::NotGroupMembers {
                group: "g".into(),
                members: outside,
            });
        }
        let missing: Vec<IpAddr> = req
            .members
            .iter()
            .filter(|m| bfr_id(**m).is_none())
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::UnknownHosts { hosts: missing });
        }
        let ids: Vec<u16> = req.members.iter().filter_map(|m| bfr_id(*m)).collect();
        let bits = hex_bits(&ids);
        let mut s = BierSubset {
            group: "g".into(),
            sub_domain: u8::from(req.te),
            bsl: 64,
            si: 0,
            bitstring: bits.clone(),
            bift_id: 1 << 16 | u32::from(req.te) << 8,
            headers: vec![BierHeader {
                si: 0,
                bift_id: 1 << 16 | u32::from(req.te) << 8,
                bitstring: bits,
            }],
            members: req
                .members
                .iter()
                .map(|m| BierMember {
                    ip: *m,
                    bfr_id: bfr_id(*m).unwrap(),
                })
                .collect(),
            te: req.te,
            bfir_id: req.sender.and_then(bfr_id),
            tree: Vec::new(),
            address: None,
            lease_ms: None,
            expires_at: None,
            bfirs: Vec::new(),
            owner: None,
        };
        if let Some(ms) = req.lease_ms {
            let mut n = self.next.lock().unwrap();
            *n += 1;
            let addr = ip(&format!("239.255.0.{n}"));
            s.address = Some(addr);
            s.lease_ms = Some(ms);
            s.expires_at = Some(1_700_000_000_000 + ms);
            s.bfirs = vec![BierPort {
                dpid: Dpid(1),
                port: 1,
            }];
            self.leases.lock().unwrap().insert(addr, s.clone());
        }
        Ok(s)
    }

    async fn release_bier(&self, _meta: RequestMeta, address: IpAddr) -> Result<(), ApiError> {
        self.leases
            .lock()
            .unwrap()
            .remove(&address)
            .map(|_| ())
            .ok_or(ApiError::NotFound {
                resource: format!("BIER lease {address}"),
            })
    }

    async fn switch_bift(&self, _meta: RequestMeta, dpid: Dpid) -> Result<SwitchBift, ApiError> {
        if dpid != Dpid(1) {
            return Err(ApiError::NotFound {
                resource: format!("switch {dpid}"),
            });
        }
        Ok(SwitchBift {
            dpid,
            bier: true,
            te: false,
            reason: None,
            tables: vec![Bift {
                bift_id: 1 << 16,
                sub_domain: 0,
                bsl: 64,
                si: 0,
                kind: BiftKind::Bier,
                entries: vec![
                    BiftEntry {
                        bit: 1,
                        bfr_id: Some(1),
                        action: BiftAction::LocalDecap,
                        next_hops: Vec::new(),
                        adjacencies: Vec::new(),
                    },
                    BiftEntry {
                        bit: 3,
                        bfr_id: Some(3),
                        action: BiftAction::Forward,
                        next_hops: vec![BiftNextHop {
                            port: 3,
                            fbm: hex_bits(&[3, 4]),
                        }],
                        adjacencies: Vec::new(),
                    },
                ],
            }],
            bfers: vec![LocalBfer {
                bfr_id: 1,
                port: 1,
                decap: true,
            }],
            bfirs: Vec::new(),
        })
    }

    async fn bfr_ids(&self, _meta: RequestMeta) -> Result<Vec<BfrIdEntry>, ApiError> {
        Ok((1..=4u8)
            .map(|i| BfrIdEntry {
                bfr_id: u16::from(i),
                si: 0,
                bit: u16::from(i),
                mac: format!("02:00:00:00:00:0{i}").parse().unwrap(),
                ips: vec![ip(&format!("10.0.0.{i}"))],
                at: Some(BierPort {
                    dpid: Dpid(1 + u64::from(i > 2)),
                    port: 1 + u32::from(i % 2 == 0),
                }),
            })
            .collect())
    }
}

struct Server {
    base: String,
    client: Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<S: Service>(svc: S) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = api::router(Arc::new(svc));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        client: Client::new(&base).unwrap(),
        base,
        task,
    }
}

async fn start() -> Server {
    serve(BierFake {
        leases: Mutex::new(BTreeMap::new()),
        next: Mutex::new(0),
    })
    .await
}

fn g() -> GroupName {
    "g".parse().unwrap()
}

/// Sends raw JSON; returns the status and the parsed body.
async fn raw(s: &Server, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = reqwest::Client::new().request(method, format!("{}{path}", s.base));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn api_err(e: ClientError) -> ApiError {
    match e {
        ClientError::Api { error, .. } => *error,
        other => panic!("not a typed problem: {other:?}"),
    }
}

#[tokio::test]
async fn header_fields_have_the_documented_shape() {
    let s = start().await;
    let (status, body) = raw(
        &s,
        reqwest::Method::POST,
        "/v1/groups/g/bier",
        Some(json!({"members": ["10.0.0.2", "10.0.0.4"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // RFC 8296 order: BFR-ids 2 and 4 are bits 2 and 4 of the last byte.
    assert_eq!(body["bitstring"], "000000000000000a");
    assert_eq!(body["sub_domain"], 0);
    assert_eq!(body["bsl"], 64);
    assert_eq!(body["si"], 0);
    assert_eq!(body["bift_id"], 65536);
    assert_eq!(
        body["members"],
        json!([{"ip": "10.0.0.2", "bfr_id": 2}, {"ip": "10.0.0.4", "bfr_id": 4}])
    );
    assert!(
        body.get("address").is_none(),
        "no lease, no address: {body}"
    );
    // The typed client reads the same.
    let sub = s
        .client
        .assign_bier(
            &g(),
            &BierRequest::new(vec![ip("10.0.0.2"), ip("10.0.0.4")]),
        )
        .await
        .unwrap();
    assert_eq!(sub.bitstring, "000000000000000a");
    assert_eq!(sub.headers.len(), 1);
}

#[tokio::test]
async fn a_lease_gives_an_address_and_ends_on_delete() {
    let s = start().await;
    let req = BierRequest {
        lease_ms: Some(5000),
        sender: Some(ip("10.0.0.1")),
        ..BierRequest::new(vec![ip("10.0.0.3")])
    };
    let sub = s.client.assign_bier(&g(), &req).await.unwrap();
    let addr = sub.address.unwrap();
    assert_eq!(sub.lease_ms, Some(5000));
    assert_eq!(sub.bfir_id, Some(1));
    assert_eq!(
        sub.bfirs,
        vec![BierPort {
            dpid: Dpid(1),
            port: 1
        }]
    );
    s.client.release_bier(addr).await.unwrap();
    let e = api_err(s.client.release_bier(addr).await.unwrap_err());
    assert!(matches!(e, ApiError::NotFound { .. }), "{e:?}");
    let (status, body) = raw(&s, reqwest::Method::DELETE, "/v1/bier/leases/nope", None).await;
    assert_eq!(status, 400);
    assert_eq!(body["parameter"], "address");
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_culprit() {
    let s = start().await;
    // Members without a BFR-id: every one named.
    let req = BierRequest::new(vec![ip("10.0.0.9"), ip("10.0.0.1"), ip("10.0.0.10")]);
    let e = s.client.assign_bier(&g(), &req).await.unwrap_err();
    assert_eq!(e.status(), Some(422));
    assert_eq!(
        api_err(e),
        ApiError::UnknownHosts {
            hosts: vec![ip("10.0.0.9"), ip("10.0.0.10")]
        }
    );
    // Unknown group.
    let e = s
        .client
        .assign_bier(
            &"other".parse().unwrap(),
            &BierRequest::new(vec![ip("10.0.0.1")]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert!(matches!(api_err(e), ApiError::UnknownGroup { group } if group == "other"));
    // Outside the group.
    let e = s
        .client
        .assign_bier(&g(), &BierRequest::new(vec![ip("10.0.0.77")]))
        .await
        .unwrap_err();
    assert!(
        matches!(api_err(e), ApiError::NotGroupMembers { members, .. } if members == vec![ip("10.0.0.77")])
    );
    // Checked by the router before the service is called.
    for (body, status, slug, culprit) in [
        (json!({"members": []}), 400, "invalid-field", "body.members"),
        (
            json!({"members": ["10.0.0.1", "10.0.0.1"]}),
            400,
            "invalid-field",
            "body.members[1]",
        ),
        (
            json!({"members": ["239.1.1.1"]}),
            400,
            "invalid-field",
            "body.members[0]",
        ),
        (
            json!({"members": ["10.0.0.1"], "te": true}),
            400,
            "missing-field",
            "sender",
        ),
        (
            json!({"members": ["10.0.0.1"], "sender": "239.0.0.1"}),
            400,
            "invalid-field",
            "body.sender",
        ),
        (
            json!({"members": ["10.0.0.1"], "lease_ms": 0}),
            422,
            "lease-out-of-range",
            "0",
        ),
        (
            json!({"members": ["10.0.0.1"], "lease_ms": MAX_LEASE_MS + 1}),
            422,
            "lease-out-of-range",
            "60001",
        ),
        (
            json!({"members": ["10.0.0.1"], "ttl": 3}),
            400,
            "unknown-field",
            "ttl",
        ),
    ] {
        let (st, p) = raw(
            &s,
            reqwest::Method::POST,
            "/v1/groups/g/bier",
            Some(body.clone()),
        )
        .await;
        assert_eq!(st, status, "{body}: {p}");
        assert!(p["type"].as_str().unwrap().ends_with(slug), "{body}: {p}");
        assert!(
            p.to_string().contains(culprit),
            "{body}: {p} names {culprit}"
        );
    }
}

#[tokio::test]
async fn bift_and_bfr_ids_read_back() {
    let s = start().await;
    let t = s.client.switch_bift(Dpid(1)).await.unwrap();
    assert!(t.bier);
    assert_eq!(t.tables[0].entries[1].next_hops[0].fbm, "000000000000000c");
    let (status, body) = raw(
        &s,
        reqwest::Method::GET,
        "/v1/switches/0000000000000001/bift",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["tables"][0]["kind"], "bier");
    assert_eq!(body["tables"][0]["entries"][0]["action"], "local_decap");
    assert_eq!(body["tables"][0]["entries"][1]["action"], "forward");
    // Unknown and malformed switches.
    let e = s.client.switch_bift(Dpid(0xff)).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert!(
        matches!(api_err(e), ApiError::NotFound { resource } if resource.contains("00000000000000ff"))
    );
    let (status, p) = raw(&s, reqwest::Method::GET, "/v1/switches/xyz/bift", None).await;
    assert_eq!(status, 400);
    assert_eq!(p["parameter"], "dpid");
    assert_eq!(p["value"], "xyz");
    // BFR-ids.
    let ids = s.client.bfr_ids().await.unwrap();
    assert_eq!(
        ids.iter().map(|i| i.bfr_id).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    let (_, body) = raw(&s, reqwest::Method::GET, "/v1/bier/bfr-ids", None).await;
    assert_eq!(body[0]["at"]["dpid"], "0000000000000001");
    assert_eq!(body[0]["mac"], "02:00:00:00:00:01");
}

#[tokio::test]
async fn openapi_lists_the_bier_routes_and_a_service_without_bier_says_so() {
    let s = start().await;
    let doc = s.client.openapi().await.unwrap();
    for (path, method) in [
        ("/v1/groups/{name}/bier", "post"),
        ("/v1/bier/leases/{address}", "delete"),
        ("/v1/switches/{dpid}/bift", "get"),
        ("/v1/bier/bfr-ids", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} not documented"
        );
    }
    for schema in [
        "BierRequest",
        "BierSubset",
        "SwitchBift",
        "BfrIdEntry",
        "Bift",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} not documented"
        );
    }
    let plain = serve(NoBier).await;
    let e = plain
        .client
        .assign_bier(&g(), &BierRequest::new(vec![ip("10.0.0.1")]))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert!(
        matches!(api_err(e), ApiError::Internal { reason } if reason.contains("not implemented"))
    );
    let e = plain.client.bfr_ids().await.unwrap_err();
    assert_eq!(e.status(), Some(500));
    let (status, _) = raw(
        &plain,
        reqwest::Method::GET,
        "/v1/switches/0000000000000001/bift",
        None,
    )
    .await;
    assert_eq!(status, 500);
}
