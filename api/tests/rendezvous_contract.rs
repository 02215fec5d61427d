//! The rendezvous part of the HTTP contract (issue 5), end to end: the real router on
//! 127.0.0.1:0 over a small in-memory service, driven by the real `Client` and by raw
//! requests for bodies the typed client cannot send. Every route's happy path with its status
//! and headers; every bad input answered with problem+json naming the culprit and changing
//! nothing; the OpenAPI document lists every route.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use api::{
    ApiError, Block, BlockId, BlockRequest, Claim, ClaimId, ClaimRequest, Client, ClientError,
    Dpid, Group, GroupName, GroupSpec, Health, Host, Limits, Link, PlanProgress, PlanState,
    RendezvousPlan, RendezvousRequest, RenewRequest, RequestMeta, Service, Subset, SubsetRequest,
    Switch, SwitchBudget, Upsert,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MAX_LEASE_MS: u64 = 60_000;
const MEMBERS: [&str; 5] = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn name(s: &str) -> GroupName {
    s.parse().unwrap()
}

#[derive(Default)]
struct State {
    plan: Option<RendezvousPlan>,
    claims: BTreeMap<u64, Claim>,
    blocks: BTreeMap<u64, Block>,
    next: u64,
}

/// Group `g` with five members; a plan over it; claims take the lowest free copy; ids whose
/// number is odd count as expired.
#[derive(Default)]
struct Fake(Mutex<State>);

fn binom(n: u64, k: u64) -> u64 {
    (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
}

impl Fake {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }

    fn check_group(group: &GroupName) -> Result<(), ApiError> {
        if group.as_str() == "g" {
            Ok(())
        } else {
            Err(ApiError::UnknownGroup {
                group: group.to_string(),
            })
        }
    }
}

fn unused() -> ApiError {
    ApiError::Internal {
        reason: "not used by this test".into(),
    }
}

impl Service for Fake {
    fn limits(&self) -> Limits {
        Limits::new(MAX_LEASE_MS)
    }

    async fn health(&self) -> Result<Health, ApiError> {
        Err(unused())
    }

    async fn switches(&self, _: RequestMeta) -> Result<Vec<Switch>, ApiError> {
        Err(unused())
    }

    async fn links(&self, _: RequestMeta) -> Result<Vec<Link>, ApiError> {
        Err(unused())
    }

    async fn hosts(&self, _: RequestMeta) -> Result<Vec<Host>, ApiError> {
        Err(unused())
    }

    async fn put_group(
        &self,
        _: RequestMeta,
        _: GroupName,
        _: GroupSpec,
    ) -> Result<Upsert<Group>, ApiError> {
        Err(unused())
    }

    async fn group(&self, _: RequestMeta, _: GroupName) -> Result<Group, ApiError> {
        Err(unused())
    }

    async fn groups(&self, _: RequestMeta) -> Result<Vec<Group>, ApiError> {
        Err(unused())
    }

    async fn delete_group(&self, _: RequestMeta, _: GroupName) -> Result<(), ApiError> {
        Err(unused())
    }

    async fn create_subset(
        &self,
        _: RequestMeta,
        _: GroupName,
        _: SubsetRequest,
    ) -> Result<Subset, ApiError> {
        Err(unused())
    }

    async fn subsets(&self, _: RequestMeta) -> Result<Vec<Subset>, ApiError> {
        Err(unused())
    }

    async fn subset(&self, _: RequestMeta, _: IpAddr) -> Result<Subset, ApiError> {
        Err(unused())
    }

    async fn delete_subset(&self, _: RequestMeta, _: IpAddr) -> Result<(), ApiError> {
        Err(unused())
    }

    async fn put_rendezvous(
        &self,
        _: RequestMeta,
        group: GroupName,
        req: RendezvousRequest,
    ) -> Result<RendezvousPlan, ApiError> {
        Fake::check_group(&group)?;
        let n = MEMBERS.len() as u64;
        if u64::from(req.k) > n {
            return Err(ApiError::KOutOfRange {
                group: group.to_string(),
                k: req.k.into(),
                n,
            });
        }
        let subsets = binom(n, req.k.into());
        let needed = subsets * u64::from(req.copies);
        if needed > 100 {
            return Err(ApiError::OverBudget {
                group: group.to_string(),
                switches: vec![SwitchBudget {
                    dpid: Dpid(3),
                    groups_needed: needed,
                    groups_available: Some(100),
                    flows_needed: needed,
                    flows_available: None,
                }],
            });
        }
        Ok(self.with(|s| {
            let version = s.plan.as_ref().map_or(1, |p| p.version + 1);
            let plan = RendezvousPlan {
                group,
                version,
                members_version: 1,
                k: req.k,
                copies: req.copies,
                base: req.base,
                members: MEMBERS.iter().map(|m| ip(m)).collect(),
                subsets,
                addresses: needed,
                state: PlanState::Installing,
                progress: PlanProgress {
                    switches_total: 3,
                    switches_done: 0,
                    messages_total: 2 * needed,
                    messages_done: 0,
                },
                error: None,
                budget: vec![],
            };
            s.plan = Some(RendezvousPlan {
                state: PlanState::Ready,
                ..plan.clone()
            });
            plan
        }))
    }

    async fn rendezvous(
        &self,
        _: RequestMeta,
        group: GroupName,
    ) -> Result<RendezvousPlan, ApiError> {
        Fake::check_group(&group)?;
        self.with(|s| s.plan.clone()).ok_or(ApiError::NotFound {
            resource: "rendezvous plan of group g".into(),
        })
    }

    async fn rendezvous_plans(&self, _: RequestMeta) -> Result<Vec<RendezvousPlan>, ApiError> {
        Ok(self.with(|s| s.plan.iter().cloned().collect()))
    }

    async fn delete_rendezvous(&self, _: RequestMeta, group: GroupName) -> Result<(), ApiError> {
        Fake::check_group(&group)?;
        self.with(|s| {
            s.claims.clear();
            s.blocks.clear();
            s.plan.take().map(|_| ())
        })
        .ok_or(ApiError::NotFound {
            resource: "rendezvous plan of group g".into(),
        })
    }

    async fn claim(
        &self,
        _: RequestMeta,
        group: GroupName,
        req: ClaimRequest,
    ) -> Result<Claim, ApiError> {
        Fake::check_group(&group)?;
        self.with(|s| {
            let plan = s.plan.clone().ok_or(ApiError::NotFound {
                resource: "rendezvous plan of group g".into(),
            })?;
            let outside: Vec<IpAddr> = req
                .members
                .iter()
                .filter(|m| !plan.members.contains(m))
                .copied()
                .collect();
            if !outside.is_empty() {
                return Err(ApiError::NotGroupMembers {
                    group: "g".into(),
                    members: outside,
                });
            }
            if req.members.len() != plan.k as usize {
                return Err(ApiError::WrongSubsetSize {
                    group: "g".into(),
                    size: req.members.len() as u64,
                    k: plan.k.into(),
                });
            }
            let mut members = req.members.clone();
            members.sort();
            let copy = (0..plan.copies).find(|c| {
                !s.claims
                    .values()
                    .any(|x| x.members == members && x.copy == *c)
            });
            let Some(copy) = copy else {
                return Err(ApiError::RendezvousExhausted {
                    group: "g".into(),
                    members,
                    copies: plan.copies,
                });
            };
            s.next += 2; // even ids are live
            let c = Claim {
                id: ClaimId(s.next),
                group: plan.group.clone(),
                address: ip("239.2.0.9"),
                members,
                copy,
                plan_version: plan.version,
                members_version: 1,
                expires_at: 1_000 + req.lease_ms,
                owner: None,
            };
            s.claims.insert(s.next, c.clone());
            Ok(c)
        })
    }

    async fn renew_claim(
        &self,
        _: RequestMeta,
        id: ClaimId,
        req: RenewRequest,
    ) -> Result<Claim, ApiError> {
        self.with(|s| match s.claims.get_mut(&id.0) {
            Some(c) => {
                c.expires_at = 2_000 + req.lease_ms;
                c.members_version = 2;
                Ok(c.clone())
            }
            None => Err(ApiError::ClaimExpired { id: id.to_string() }),
        })
    }

    async fn release_claim(&self, _: RequestMeta, id: ClaimId) -> Result<(), ApiError> {
        self.with(|s| s.claims.remove(&id.0).map(|_| ()))
            .ok_or(ApiError::ClaimExpired { id: id.to_string() })
    }

    async fn claims(&self, _: RequestMeta) -> Result<Vec<Claim>, ApiError> {
        Ok(self.with(|s| s.claims.values().cloned().collect()))
    }

    async fn take_block(
        &self,
        _: RequestMeta,
        group: GroupName,
        req: BlockRequest,
    ) -> Result<Block, ApiError> {
        Fake::check_group(&group)?;
        self.with(|s| {
            let plan = s.plan.clone().ok_or(ApiError::NotFound {
                resource: "rendezvous plan of group g".into(),
            })?;
            s.next += 2;
            let b = Block {
                id: BlockId(s.next),
                group: plan.group.clone(),
                base: plan.base,
                k: plan.k,
                members: plan.members.clone(),
                members_version: 1,
                plan_version: plan.version,
                copies: (0..req.copies).collect(),
                expires_at: 1_000 + req.lease_ms,
                owner: None,
            };
            s.blocks.insert(s.next, b.clone());
            Ok(b)
        })
    }

    async fn renew_block(
        &self,
        _: RequestMeta,
        id: BlockId,
        req: RenewRequest,
    ) -> Result<Block, ApiError> {
        self.with(|s| match s.blocks.get_mut(&id.0) {
            Some(b) => {
                b.expires_at = 2_000 + req.lease_ms;
                Ok(b.clone())
            }
            None => Err(ApiError::ClaimExpired { id: id.to_string() }),
        })
    }

    async fn release_block(&self, _: RequestMeta, id: BlockId) -> Result<(), ApiError> {
        self.with(|s| s.blocks.remove(&id.0).map(|_| ()))
            .ok_or(ApiError::ClaimExpired { id: id.to_string() })
    }

    async fn blocks(&self, _: RequestMeta) -> Result<Vec<Block>, ApiError> {
        Ok(self.with(|s| s.blocks.values().cloned().collect()))
    }
}

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
    let fake = Arc::new(Fake::default());
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

fn api_err(e: &ClientError) -> &ApiError {
    e.api_error()
        .unwrap_or_else(|| panic!("not a typed problem: {e}"))
}

/// A raw request; the answer's status, content type and JSON body.
async fn raw(method: reqwest::Method, url: String, body: &str) -> (StatusCode, String, Value) {
    let r = reqwest::Client::new()
        .request(method, url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    (
        status,
        ct,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn plan_req(k: u32, copies: u32) -> RendezvousRequest {
    RendezvousRequest {
        k,
        copies,
        base: ip("239.2.0.0"),
    }
}

#[tokio::test]
async fn plans_claims_and_blocks_round_trip_with_their_statuses() {
    let s = start().await;
    let g = name("g");
    // PUT answers 202 with the plan installing.
    let (status, _, body) = raw(
        reqwest::Method::PUT,
        format!("{}/v1/groups/g/rendezvous", s.base),
        r#"{"k": 3, "copies": 2, "base": "239.2.0.0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["state"], "installing");
    assert_eq!(body["subsets"], 10);
    assert_eq!(body["addresses"], 20);
    assert_eq!(body["progress"]["messages_total"], 40);
    let p = s.client.put_rendezvous(&g, &plan_req(3, 2)).await.unwrap();
    assert_eq!(p.version, 2);
    let got = s.client.rendezvous(&g).await.unwrap();
    assert_eq!(got.state, PlanState::Ready);
    assert_eq!(s.client.rendezvous_plans().await.unwrap(), vec![got]);

    // A claim: 201, Location, the fields of the contract.
    let req = ClaimRequest {
        members: vec![ip("10.0.0.4"), ip("10.0.0.1"), ip("10.0.0.2")],
        lease_ms: 5000,
    };
    let r = reqwest::Client::new()
        .post(format!("{}/v1/groups/g/claims", s.base))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let c: Value = r.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/claims/{}", c["id"].as_str().unwrap())
    );
    for field in [
        "id",
        "group",
        "address",
        "members",
        "copy",
        "plan_version",
        "members_version",
        "expires_at",
    ] {
        assert!(c.get(field).is_some(), "claim without {field}: {c}");
    }
    assert!(c["id"].as_str().unwrap().starts_with("c-"));
    assert!(c["expires_at"].is_u64());
    // The second copy, then exhausted (409, typed).
    let c2 = s.client.claim(&g, &req).await.unwrap();
    assert_eq!(c2.copy, 1);
    let e = s.client.claim(&g, &req).await.unwrap_err();
    assert_eq!(e.status(), Some(409));
    assert!(matches!(
        api_err(&e),
        ApiError::RendezvousExhausted { copies: 2, .. }
    ));
    // Renew shows the group's current membership version.
    let renewed = s
        .client
        .renew_claim(c2.id, &RenewRequest { lease_ms: 7000 })
        .await
        .unwrap();
    assert_eq!((renewed.expires_at, renewed.members_version), (9000, 2));
    assert_eq!(s.client.claims().await.unwrap().len(), 2);
    s.client.release_claim(c2.id).await.unwrap();
    assert_eq!(s.client.claims().await.unwrap().len(), 1);

    // Blocks.
    let b = s
        .client
        .take_block(
            &g,
            &BlockRequest {
                copies: 2,
                lease_ms: 60_000,
            },
        )
        .await
        .unwrap();
    assert!(b.id.to_string().starts_with("b-"));
    assert_eq!(b.copies, vec![0, 1]);
    let b2 = s
        .client
        .renew_block(b.id, &RenewRequest { lease_ms: 1000 })
        .await
        .unwrap();
    assert_eq!(b2.expires_at, 3000);
    assert_eq!(s.client.blocks().await.unwrap(), vec![b2]);
    s.client.release_block(b.id).await.unwrap();
    assert!(s.client.blocks().await.unwrap().is_empty());
    s.client.delete_rendezvous(&g).await.unwrap();
    let e = s.client.rendezvous(&g).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
}

#[tokio::test]
async fn bad_input_is_a_problem_that_names_it_and_changes_nothing() {
    let s = start().await;
    let g = name("g");
    let base = s.base.clone();
    let expect = |status: u16, slug: &'static str| {
        move |(st, ct, body): (StatusCode, String, Value)| {
            assert_eq!(st.as_u16(), status, "{body}");
            assert!(ct.starts_with("application/problem+json"), "{ct}");
            assert_eq!(
                body["type"],
                format!("https://tsm.invalid/problems/{slug}"),
                "{body}"
            );
            body
        }
    };
    let put = |body: &'static str| {
        raw(
            reqwest::Method::PUT,
            format!("{base}/v1/groups/g/rendezvous"),
            body,
        )
    };
    // k larger than the group: 422 naming k and n.
    let body =
        expect(422, "k-out-of-range")(put(r#"{"k": 6, "copies": 1, "base": "239.2.0.0"}"#).await);
    assert_eq!((body["k"].as_u64(), body["n"].as_u64()), (Some(6), Some(5)));
    // Over budget: 409 with the numbers per switch.
    let e = s
        .client
        .put_rendezvous(&g, &plan_req(3, 20))
        .await
        .unwrap_err();
    match api_err(&e) {
        ApiError::OverBudget { switches, .. } => {
            assert_eq!(switches[0].dpid, Dpid(3));
            assert_eq!(
                (switches[0].groups_needed, switches[0].groups_available),
                (200, Some(100))
            );
        }
        other => panic!("{other:?}"),
    }
    let body =
        expect(409, "over-budget")(put(r#"{"k": 3, "copies": 20, "base": "239.2.0.0"}"#).await);
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("needs 200 groups (100 available)"));
    // Unknown field, malformed JSON, zero k, unicast base.
    let body = expect(400, "unknown-field")(
        put(r#"{"k": 3, "copies": 1, "base": "239.2.0.0", "kk": 1}"#).await,
    );
    assert_eq!(body["field"], "kk");
    expect(400, "malformed-json")(put(r#"{"k": 3, "copies": 1,"#).await);
    let body =
        expect(400, "invalid-field")(put(r#"{"k": 0, "copies": 1, "base": "239.2.0.0"}"#).await);
    assert_eq!(body["path"], "body.k");
    expect(422, "not-multicast")(put(r#"{"k": 1, "copies": 1, "base": "10.0.0.1"}"#).await);
    assert!(
        s.fake.with(|st| st.plan.is_none()),
        "a refused plan changed state"
    );

    s.client.put_rendezvous(&g, &plan_req(2, 1)).await.unwrap();
    let claim = |body: &'static str| {
        raw(
            reqwest::Method::POST,
            format!("{base}/v1/groups/g/claims"),
            body,
        )
    };
    // Members outside the group, named; wrong size; duplicates; lease 0 and too long.
    let body = expect(422, "not-group-members")(
        claim(r#"{"members": ["10.0.0.1", "10.0.0.77"], "lease_ms": 10}"#).await,
    );
    assert_eq!(body["members"], json!(["10.0.0.77"]));
    let body = expect(422, "wrong-subset-size")(
        claim(r#"{"members": ["10.0.0.1"], "lease_ms": 10}"#).await,
    );
    assert_eq!(
        (body["size"].as_u64(), body["k"].as_u64()),
        (Some(1), Some(2))
    );
    expect(400, "invalid-field")(
        claim(r#"{"members": ["10.0.0.1", "10.0.0.1"], "lease_ms": 10}"#).await,
    );
    expect(422, "lease-out-of-range")(
        claim(r#"{"members": ["10.0.0.1", "10.0.0.2"], "lease_ms": 0}"#).await,
    );
    expect(422, "lease-out-of-range")(
        claim(r#"{"members": ["10.0.0.1", "10.0.0.2"], "lease_ms": 60001}"#).await,
    );
    expect(400, "unknown-field")(
        claim(r#"{"members": ["10.0.0.1", "10.0.0.2"], "lease_ms": 10, "copy": 1}"#).await,
    );
    expect(400, "malformed-json")(claim("{").await);
    let e = s
        .client
        .claim(
            &name("other"),
            &ClaimRequest {
                members: vec![ip("10.0.0.1")],
                lease_ms: 10,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(api_err(&e), ApiError::UnknownGroup { .. }));
    assert!(
        s.fake.with(|st| st.claims.is_empty()),
        "a refused claim changed state"
    );

    // Renewing an expired (unknown) claim: 410 naming the id; bad ids: 400.
    let e = s
        .client
        .renew_claim(ClaimId(7), &RenewRequest { lease_ms: 10 })
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(410));
    assert_eq!(
        api_err(&e),
        &ApiError::ClaimExpired {
            id: "c-0000000000000007".into()
        }
    );
    let body = expect(400, "bad-path-parameter")(
        raw(
            reqwest::Method::POST,
            format!("{base}/v1/claims/b-0000000000000007/renew"),
            r#"{"lease_ms": 10}"#,
        )
        .await,
    );
    assert_eq!(body["parameter"], "id");
    expect(400, "bad-path-parameter")(
        raw(reqwest::Method::DELETE, format!("{base}/v1/blocks/12"), "").await,
    );
    expect(410, "claim-expired")(
        raw(
            reqwest::Method::DELETE,
            format!("{base}/v1/blocks/b-0000000000000003"),
            "",
        )
        .await,
    );
    expect(400, "invalid-field")(
        raw(
            reqwest::Method::POST,
            format!("{base}/v1/groups/g/blocks"),
            r#"{"copies": 0, "lease_ms": 10}"#,
        )
        .await,
    );
    assert!(s
        .fake
        .with(|st| st.blocks.is_empty() && st.claims.is_empty()));
}

#[tokio::test]
async fn the_openapi_document_lists_every_rendezvous_route() {
    let s = start().await;
    let doc = s.client.openapi().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        (
            "/v1/groups/{name}/rendezvous",
            &["put", "get", "delete"][..],
        ),
        ("/v1/rendezvous", &["get"][..]),
        ("/v1/groups/{name}/claims", &["post"][..]),
        ("/v1/claims", &["get"][..]),
        ("/v1/claims/{id}", &["delete"][..]),
        ("/v1/claims/{id}/renew", &["post"][..]),
        ("/v1/groups/{name}/blocks", &["post"][..]),
        ("/v1/blocks", &["get"][..]),
        ("/v1/blocks/{id}", &["delete"][..]),
        ("/v1/blocks/{id}/renew", &["post"][..]),
    ] {
        let p = paths.get(path).unwrap_or_else(|| panic!("{path} missing"));
        for m in methods {
            assert!(p.get(*m).is_some(), "{m} {path} missing");
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "RendezvousRequest",
        "RendezvousPlan",
        "Claim",
        "Block",
        "ClaimRequest",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
    assert_eq!(
        schemas["RendezvousRequest"]["additionalProperties"],
        json!(false)
    );
}
