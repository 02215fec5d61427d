//! `Idempotency-Key` through the real router on 127.0.0.1:0: a retry gets the first answer
//! byte for byte and the service runs once (counted in the service and seen in its pool);
//! concurrent duplicates wait for the first; a reused key with another body is 422; a 5xx
//! is not remembered; keys are per token; remembered answers survive a "restart" through
//! the store; the typed client sends a fresh key per call and the same key on its own retry.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
mod fake;

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::auth::{Authenticator, GroupScope, Right, TokenHash, TokenSpec};
use api::idempotency::{persist, Idempotency, IdempotencyConfig, IdempotencyStore, Record};
use api::{ApiError, Client, GroupName, GroupSpec, RouterConfig, SubsetRequest};
use fake::{Fake, NextInstall};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

async fn start_with(fake: Arc<Fake>, config: RouterConfig) -> Server {
    let app = api::router_with(Arc::clone(&fake), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server { base, fake, task }
}

async fn start() -> Server {
    start_with(Arc::new(Fake::new()), RouterConfig::new()).await
}

fn name(s: &str) -> GroupName {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn define_group(base: &str, bearer: Option<&str>) {
    let mut c = Client::new(base).unwrap();
    if let Some(b) = bearer {
        c = c.with_bearer(b);
    }
    c.put_group(
        &name("storage"),
        &GroupSpec {
            address: ip("239.1.1.1"),
            members: vec![ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3")].into(),
        },
    )
    .await
    .unwrap();
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

async fn post(base: &str, path: &str, key: &str, body: &str, bearer: Option<&str>) -> Answer {
    let mut req = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body.to_owned());
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let resp = req.send().await.unwrap();
    Answer {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

const SUBSETS: &str = "/v1/groups/storage/subsets";
const BODY: &str = r#"{"members": ["10.0.0.1", "10.0.0.2"], "lease_ms": 5000}"#;

#[tokio::test]
async fn a_retry_gets_the_first_answer_and_allocates_once() {
    let s = start().await;
    define_group(&s.base, None).await;
    let first = post(&s.base, SUBSETS, "k-1", BODY, None).await;
    assert_eq!(first.status, 201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    for _ in 0..3 {
        let again = post(&s.base, SUBSETS, "k-1", BODY, None).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.body, first.body, "byte for byte");
        assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
        for h in ["location", "x-trace-id", "content-type"] {
            assert_eq!(again.headers.get(h), first.headers.get(h), "{h}");
        }
    }
    assert_eq!(s.fake.create_calls.load(Ordering::SeqCst), 1);
    let c = Client::new(&s.base).unwrap();
    assert_eq!(c.subsets().await.unwrap().len(), 1);
    // The pool (two addresses) still has exactly one left: the retries took nothing.
    let second = post(&s.base, SUBSETS, "k-2", BODY, None).await;
    assert_eq!(second.status, 201);
    let third = post(&s.base, SUBSETS, "k-3", BODY, None).await;
    assert_eq!(
        third.status,
        503,
        "{}",
        String::from_utf8_lossy(&third.body)
    );
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_and_runs_nothing() {
    let s = start().await;
    define_group(&s.base, None).await;
    assert_eq!(post(&s.base, SUBSETS, "k", BODY, None).await.status, 201);
    let other = r#"{"members": ["10.0.0.3"], "lease_ms": 5000}"#;
    let a = post(&s.base, SUBSETS, "k", other, None).await;
    assert_eq!(a.status, 422);
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(
        v["type"],
        "https://tsm.invalid/problems/idempotency-key-reused"
    );
    assert_eq!(v["key"], "k");
    // Another path with the same key is another request too.
    let a = post(&s.base, "/v1/groups/storage6/subsets", "k", BODY, None).await;
    assert_eq!(a.status, 422);
    assert_eq!(s.fake.create_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_duplicates_wait_for_the_first() {
    let s = start().await;
    define_group(&s.base, None).await;
    s.fake.install_delay_ms.store(300, Ordering::SeqCst);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let base = s.base.clone();
            tokio::spawn(async move { post(&base, SUBSETS, "same", BODY, None).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(a.status, 201);
        bodies.push(a.body);
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "every duplicate got the first answer");
    assert_eq!(s.fake.create_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn server_errors_are_not_remembered_client_errors_are() {
    let s = start().await;
    define_group(&s.base, None).await;
    // 504: nothing stays allocated, so the retry runs again and succeeds.
    s.fake.set_next_install(NextInstall::Stalls(api::Dpid(1)));
    assert_eq!(post(&s.base, SUBSETS, "t", BODY, None).await.status, 504);
    assert_eq!(post(&s.base, SUBSETS, "t", BODY, None).await.status, 201);
    assert_eq!(s.fake.create_calls.load(Ordering::SeqCst), 2);
    // 404 (unknown group) is an answer: remembered.
    let path = "/v1/groups/nope/subsets";
    let a = post(&s.base, path, "u", BODY, None).await;
    assert_eq!(a.status, 404);
    let b = post(&s.base, path, "u", BODY, None).await;
    assert_eq!((b.status, b.body), (a.status, a.body));
    assert_eq!(s.fake.create_calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn keys_are_scoped_per_token() {
    let token = |n: &str, secret: &str| TokenSpec {
        name: n.to_owned(),
        hash: TokenHash::of(secret),
        groups: GroupScope::Any,
        rights: [Right::Admin].into_iter().collect(),
    };
    let auth = Authenticator::new([token("a", "secret-a"), token("b", "secret-b")]).unwrap();
    let s = start_with(
        Arc::new(Fake::new()),
        RouterConfig::new().auth(Arc::new(auth)),
    )
    .await;
    define_group(&s.base, Some("secret-a")).await;
    let a = post(&s.base, SUBSETS, "k", BODY, Some("secret-a")).await;
    let b = post(&s.base, SUBSETS, "k", BODY, Some("secret-b")).await;
    assert_eq!(
        (a.status, b.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    // Both reached the service: the key of one principal is not the other's.
    assert_eq!(s.fake.create_calls.load(Ordering::SeqCst), 2);
    assert!(b.headers.get("idempotent-replayed").is_none());
    let a2 = post(&s.base, SUBSETS, "k", BODY, Some("secret-a")).await;
    assert_eq!(a2.body, a.body);
}

/// A store in memory that a "restarted" server can load.
#[derive(Clone, Default)]
struct SharedStore(Arc<Mutex<Vec<Record>>>);

impl IdempotencyStore for SharedStore {
    fn load(&mut self) -> Result<Vec<Record>, String> {
        Ok(self.0.lock().unwrap().clone())
    }
    fn append(&mut self, records: &[Record]) -> Result<(), String> {
        self.0.lock().unwrap().extend_from_slice(records);
        Ok(())
    }
    fn replace(&mut self, records: &[Record]) -> Result<(), String> {
        *self.0.lock().unwrap() = records.to_vec();
        Ok(())
    }
    fn describe(&self) -> String {
        "test".into()
    }
}

#[tokio::test]
async fn remembered_answers_survive_a_restart_through_the_store() {
    let store = SharedStore::default();
    let config = IdempotencyConfig::new(Duration::from_secs(3600), 100);
    let idem = Arc::new(Idempotency::new(config));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let persister = tokio::spawn(persist(idem.clone(), Box::new(store.clone()), async move {
        let _ = stop_rx.await;
    }));
    let fake = Arc::new(Fake::new());
    let s = start_with(fake.clone(), RouterConfig::new().idempotency(idem)).await;
    define_group(&s.base, None).await;
    let first = post(&s.base, SUBSETS, "survives", BODY, None).await;
    assert_eq!(first.status, 201);
    drop(s);
    stop_tx.send(()).unwrap();
    persister.await.unwrap().unwrap();
    assert_eq!(store.0.lock().unwrap().len(), 1);

    // The "restarted" server over the same service state and the stored answers.
    let restored = Idempotency::restore(config, store.clone().load().unwrap());
    let s = start_with(fake, RouterConfig::new().idempotency(Arc::new(restored))).await;
    let again = post(&s.base, SUBSETS, "survives", BODY, None).await;
    assert_eq!((again.status, &again.body), (first.status, &first.body));
    assert_eq!(s.fake.create_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_client_sends_a_fresh_key_per_call() {
    let s = start().await;
    define_group(&s.base, None).await;
    let c = Client::new(&s.base).unwrap();
    let req = SubsetRequest {
        members: vec![ip("10.0.0.1")],
        lease_ms: 5000,
    };
    let a = c.create_subset(&name("storage"), &req).await.unwrap();
    let b = c.create_subset(&name("storage"), &req).await.unwrap();
    assert_ne!(a.address, b.address, "two calls are two operations");
    let e = c.create_subset(&name("storage"), &req).await.unwrap_err();
    assert!(matches!(
        e.api_error(),
        Some(ApiError::PoolExhausted { .. })
    ));
}

/// A proxy that forwards the first connection's request but closes it as soon as the server
/// starts answering (so the client never sees the answer); later connections pass through.
async fn flaky_proxy(upstream: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let server = TcpStream::connect(upstream).await.unwrap();
            if first {
                first = false;
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    });
                    let mut byte = [0u8; 1];
                    let _ = sr.read(&mut byte).await;
                    up.abort();
                    let _ = cw.shutdown().await;
                });
            } else {
                tokio::spawn(async move {
                    let (mut client, mut server) = (client, server);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        }
    });
    addr
}

#[tokio::test]
async fn the_client_retries_a_lost_answer_with_the_same_key() {
    let s = start().await;
    define_group(&s.base, None).await;
    let upstream: std::net::SocketAddr = s.base.trim_start_matches("http://").parse().unwrap();
    let proxy = flaky_proxy(upstream).await;
    let c = Client::new(&format!("http://{proxy}")).unwrap();
    let req = SubsetRequest {
        members: vec![ip("10.0.0.2")],
        lease_ms: 5000,
    };
    let got = c.create_subset(&name("storage"), &req).await.unwrap();
    // The first attempt ran on the server; the retry got its answer: one operation.
    assert_eq!(s.fake.create_calls.load(Ordering::SeqCst), 1);
    let direct = Client::new(&s.base).unwrap();
    assert_eq!(direct.subsets().await.unwrap(), vec![got]);
    // Without retries the lost answer is an error.
    let proxy = flaky_proxy(upstream).await;
    let c = Client::new(&format!("http://{proxy}"))
        .unwrap()
        .with_post_retries(0);
    let e = c.create_subset(&name("storage"), &req).await.unwrap_err();
    assert!(matches!(e, api::ClientError::Transport { .. }), "{e}");
}
