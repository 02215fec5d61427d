//! `Idempotency-Key` on `POST` (draft-ietf-httpapi-idempotency-key-header): a retry gets the
//! first answer and never runs the operation twice.
//!
//! The router runs [`middleware`] after authentication on every `POST` that carries the
//! header. Keys are scoped by principal (the token's name; one shared scope without tokens),
//! so two clients cannot see each other's answers or collide.
//!
//! Guarantees:
//! - The first request with a key runs; its answer (status, headers, body) is remembered
//!   when it is a success or a client error (`< 500`). A retry with the same key, method,
//!   path and body gets that answer byte for byte, with `Idempotent-Replayed: true`, and the
//!   service is not called again.
//! - A duplicate that arrives while the first still runs waits for it and then gets its answer.
//!   If the first ends without a remembered answer (a `5xx`, after which nothing of it stays
//!   allocated, or the first client went away), the waiting duplicate runs instead.
//! - The same key with a different method, path or body is refused: 422
//!   `idempotency-key-reused`, and nothing runs.
//! - Remembered answers expire after [`IdempotencyConfig::ttl`] (default 24 h), and at most
//!   [`IdempotencyConfig::max_keys`] are kept (the oldest go first).
//! - With an [`IdempotencyStore`] and [`persist`], remembered answers survive a restart: the
//!   persister appends new answers to the store off the request path (coalesced: one write in
//!   flight), rewrites it whole when the journal grows past twice the bound, and flushes at
//!   stop. An answer given just before a crash may be lost; its retry then runs again.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::BODY_LIMIT;
use crate::meta::RequestMeta;

/// Header set on a replayed answer.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The largest answer that is remembered (larger ones are passed on, not remembered).
const ANSWER_LIMIT: usize = 4 << 20;

/// How long answers are kept, and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdempotencyConfig {
    /// A remembered answer is forgotten this long after it was given.
    pub ttl: Duration,
    /// At most this many answers are remembered; the oldest are forgotten first.
    pub max_keys: usize,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        IdempotencyConfig {
            ttl: Duration::from_secs(24 * 3600),
            max_keys: 65_536,
        }
    }
}

impl IdempotencyConfig {
    /// A config with this time to live and bound.
    pub fn new(ttl: Duration, max_keys: usize) -> Self {
        IdempotencyConfig { ttl, max_keys }
    }
}

/// One remembered answer, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The principal's name (empty without tokens).
    pub scope: String,
    /// The client's key.
    pub key: String,
    /// SHA-256 (hex) of method, path with query, and body of the first request.
    pub fingerprint: String,
    /// When the answer was given, in ms since the Unix epoch.
    pub stored_at_ms: u64,
    /// The answer's status.
    pub status: u16,
    /// The answer's headers (without `content-length`, `date` and hop-by-hop headers).
    pub headers: Vec<(String, String)>,
    /// The answer's body (JSON text).
    pub body: String,
}

type Slot = (String, String);

enum Entry {
    Running {
        fingerprint: String,
        id: u64,
        // Dropped when the first request ends: waiters wake up.
        _done: watch::Sender<()>,
        done_rx: watch::Receiver<()>,
    },
    Done {
        record: Arc<Record>,
        order: u64,
    },
}

#[derive(Default)]
struct Table {
    entries: HashMap<Slot, Entry>,
    /// Remembered answers, oldest first (entries may be stale: checked against `order`).
    order: VecDeque<(u64, Slot)>,
    next_order: u64,
    done: usize,
    next_id: u64,
    /// Answers the persister has not written yet.
    unsaved: Vec<Arc<Record>>,
    /// `unsaved` overflowed and was dropped: the persister must rewrite everything.
    overflowed: bool,
}

/// What [`Idempotency::begin`] decided.
enum Begin {
    Run(Ticket),
    Replay(Arc<Record>),
    Wait(watch::Receiver<()>),
    Mismatch(String),
}

/// The table of remembered answers, shared by every request.
pub struct Idempotency {
    config: IdempotencyConfig,
    table: Mutex<Table>,
    changed: watch::Sender<u64>,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("config", &self.config)
            .field("remembered", &self.len())
            .finish()
    }
}

impl Default for Idempotency {
    fn default() -> Self {
        Idempotency::new(IdempotencyConfig::default())
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Idempotency {
    /// An empty table.
    pub fn new(config: IdempotencyConfig) -> Self {
        let (changed, _) = watch::channel(0);
        Idempotency {
            config,
            table: Mutex::new(Table::default()),
            changed,
        }
    }

    /// A table holding `records` (from a store), minus the expired ones and beyond the bound.
    pub fn restore(config: IdempotencyConfig, mut records: Vec<Record>) -> Self {
        let me = Idempotency::new(config);
        records.sort_by_key(|r| r.stored_at_ms);
        let now = now_ms();
        {
            let mut t = me.lock();
            for r in records {
                if me.expired(&r, now) {
                    continue;
                }
                let slot = (r.scope.clone(), r.key.clone());
                // The journal may hold a key twice: the later answer wins.
                if let Some(Entry::Done { .. }) = t.entries.remove(&slot) {
                    t.done -= 1;
                }
                me.insert_done(&mut t, slot, Arc::new(r));
            }
            me.evict(&mut t, now);
            // What was loaded is in the store already.
            t.unsaved.clear();
        }
        me
    }

    /// The configuration.
    pub fn config(&self) -> IdempotencyConfig {
        self.config
    }

    /// How many answers are remembered.
    pub fn len(&self) -> usize {
        self.lock().done
    }

    /// Whether no answer is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every remembered answer, oldest first.
    pub fn records(&self) -> Vec<Record> {
        let t = self.lock();
        t.order
            .iter()
            .filter_map(|(order, slot)| match t.entries.get(slot) {
                Some(Entry::Done { record, order: o }) if o == order => Some((**record).clone()),
                _ => None,
            })
            .collect()
    }

    /// A receiver that sees a change whenever an answer is remembered.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The answers remembered since the last call, and whether some were dropped from this
    /// list (then the store must be rewritten from [`records`](Self::records)).
    pub fn take_unsaved(&self) -> (Vec<Record>, bool) {
        let mut t = self.lock();
        let overflowed = std::mem::take(&mut t.overflowed);
        let unsaved = std::mem::take(&mut t.unsaved);
        (unsaved.iter().map(|r| (**r).clone()).collect(), overflowed)
    }

    /// Whether answers wait to be saved.
    fn has_unsaved(&self) -> bool {
        let t = self.lock();
        t.overflowed || !t.unsaved.is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock cannot leave the table half-changed in a way that
        // matters more than refusing every POST would.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expired(&self, r: &Record, now: u64) -> bool {
        let ttl = u64::try_from(self.config.ttl.as_millis()).unwrap_or(u64::MAX);
        r.stored_at_ms.saturating_add(ttl) <= now
    }

    fn insert_done(&self, t: &mut Table, slot: Slot, record: Arc<Record>) {
        let order = t.next_order;
        t.next_order += 1;
        t.order.push_back((order, slot.clone()));
        t.done += 1;
        t.entries.insert(slot, Entry::Done { record, order });
    }

    /// Forgets expired answers and the oldest beyond the bound.
    fn evict(&self, t: &mut Table, now: u64) {
        while let Some((order, slot)) = t.order.front().cloned() {
            let over = t.done > self.config.max_keys;
            let current = match t.entries.get(&slot) {
                Some(Entry::Done { record, order: o }) if *o == order => Some(record.clone()),
                _ => None,
            };
            match current {
                None => {
                    // Stale position (the key was answered again or forgotten).
                    t.order.pop_front();
                }
                Some(r) if over || self.expired(&r, now) => {
                    t.order.pop_front();
                    t.entries.remove(&slot);
                    t.done -= 1;
                }
                Some(_) => break,
            }
        }
    }

    fn begin(self: &Arc<Self>, scope: &str, key: &str, fingerprint: &str, now: u64) -> Begin {
        let mut t = self.lock();
        self.evict(&mut t, now);
        let slot = (scope.to_owned(), key.to_owned());
        match t.entries.get(&slot) {
            Some(Entry::Running {
                fingerprint: f,
                done_rx,
                ..
            }) => {
                if f == fingerprint {
                    Begin::Wait(done_rx.clone())
                } else {
                    Begin::Mismatch(
                        "a request with this key and a different method, path or \
                                     body is still running"
                            .to_owned(),
                    )
                }
            }
            Some(Entry::Done { record, .. }) if !self.expired(record, now) => {
                if record.fingerprint == fingerprint {
                    Begin::Replay(record.clone())
                } else {
                    Begin::Mismatch(format!(
                        "the key was first used with a different method, path or body (answered \
                         {} at {} ms since the epoch)",
                        record.status, record.stored_at_ms
                    ))
                }
            }
            _ => {
                if let Some(Entry::Done { .. }) = t.entries.remove(&slot) {
                    t.done -= 1;
                }
                let id = t.next_id;
                t.next_id += 1;
                let (tx, rx) = watch::channel(());
                t.entries.insert(
                    slot.clone(),
                    Entry::Running {
                        fingerprint: fingerprint.to_owned(),
                        id,
                        _done: tx,
                        done_rx: rx,
                    },
                );
                Begin::Run(Ticket {
                    idem: Arc::clone(self),
                    slot: Some(slot),
                    id,
                })
            }
        }
    }

    fn finish(&self, slot: Slot, id: u64, record: Option<Record>) {
        let mut t = self.lock();
        let ours = matches!(t.entries.get(&slot), Some(Entry::Running { id: i, .. }) if *i == id);
        if !ours {
            return;
        }
        // Removing the running entry drops its sender: every waiter wakes.
        t.entries.remove(&slot);
        let Some(record) = record else {
            return;
        };
        let record = Arc::new(record);
        self.insert_done(&mut t, slot, record.clone());
        if t.unsaved.len() >= self.config.max_keys {
            t.unsaved.clear();
            t.overflowed = true;
        } else {
            t.unsaved.push(record);
        }
        self.evict(&mut t, now_ms());
        drop(t);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The right to run the first request of a key. Dropped without an answer (the request
/// failed with a 5xx, or its client went away), it frees the key for a retry.
struct Ticket {
    idem: Arc<Idempotency>,
    slot: Option<Slot>,
    id: u64,
}

impl Ticket {
    fn complete(mut self, record: Option<Record>) {
        if let Some(slot) = self.slot.take() {
            self.idem.finish(slot, self.id, record);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.idem.finish(slot, self.id, None);
        }
    }
}

fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    let digest: [u8; 32] = h.finalize().into();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Headers that describe the connection or the moment rather than the answer.
fn kept(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "content-length" | "date" | "connection" | "transfer-encoding" | "keep-alive"
    )
}

fn replay(record: &Record) -> Response {
    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK);
    let mut response = (status, record.body.clone()).into_response();
    let headers = response.headers_mut();
    headers.remove(axum::http::header::CONTENT_TYPE);
    for (name, value) in &record.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(n, v);
        }
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// The middleware (see the module docs).
pub(crate) async fn middleware(
    State(idem): State<Arc<Idempotency>>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let key = match RequestMeta::from_headers(req.headers()) {
        Ok(meta) => meta.idempotency_key,
        Err(e) => return e.into_response(),
    };
    let Some(key) = key else {
        return next.run(req).await;
    };
    let scope = req
        .extensions()
        .get::<Arc<Principal>>()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return ApiError::BodyTooLarge {
            limit: BODY_LIMIT as u64,
        }
        .into_response();
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let fp = fingerprint(&parts.method, &path, &bytes);
    let ticket = loop {
        match idem.begin(&scope, &key, &fp, now_ms()) {
            Begin::Run(ticket) => break ticket,
            Begin::Replay(record) => return replay(&record),
            Begin::Mismatch(reason) => {
                return ApiError::IdempotencyKeyReused { key, reason }.into_response()
            }
            Begin::Wait(mut rx) => {
                // Ends when the first request finishes (its sender is dropped).
                while rx.changed().await.is_ok() {}
            }
        }
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (rparts, rbody) = response.into_parts();
    let Ok(rbytes) = axum::body::to_bytes(rbody, ANSWER_LIMIT).await else {
        ticket.complete(None);
        return ApiError::Internal {
            reason: "the answer could not be read for the idempotency record".to_owned(),
        }
        .into_response();
    };
    let text = std::str::from_utf8(&rbytes).ok();
    let record = match text {
        Some(body) if rparts.status.as_u16() < 500 => Some(Record {
            scope,
            key,
            fingerprint: fp,
            stored_at_ms: now_ms(),
            status: rparts.status.as_u16(),
            headers: rparts
                .headers
                .iter()
                .filter(|(n, _)| kept(n))
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
            body: body.to_owned(),
        }),
        _ => None,
    };
    ticket.complete(record);
    Response::from_parts(rparts, Body::from(rbytes))
}

/// Durable storage of remembered answers. Calls block (the persister runs them on a
/// blocking thread).
pub trait IdempotencyStore: Send + 'static {
    /// Every stored answer (later entries for the same key win).
    fn load(&mut self) -> Result<Vec<Record>, String>;
    /// Adds answers after the stored ones.
    fn append(&mut self, records: &[Record]) -> Result<(), String>;
    /// Replaces everything stored with `records`, atomically.
    fn replace(&mut self, records: &[Record]) -> Result<(), String>;
    /// Where it stores (for logs).
    fn describe(&self) -> String;
}

/// The shortest time between two writes of remembered answers.
const SAVE_GAP: std::time::Duration = std::time::Duration::from_millis(5);

/// Writes what `idem` remembers to `store` until `stop` resolves, then writes the rest.
/// Appends new answers (one write in flight, later ones coalesced); rewrites the store
/// from the table at start and whenever the appended entries pass twice the bound.
pub async fn persist(
    idem: Arc<Idempotency>,
    store: Box<dyn IdempotencyStore>,
    stop: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    let mut rx = idem.subscribe();
    let mut store = Some(store);
    let mut journal = usize::MAX; // unknown: rewrite first
    let limit = idem.config.max_keys.saturating_mul(2).max(64);
    let mut stop = std::pin::pin!(stop);
    let mut stopping = false;
    let mut last = Ok(());
    let mut next_write = tokio::time::Instant::now();
    loop {
        if !stopping && idem.has_unsaved() {
            // Group commit: answers of a busy spell share one write and fdatasync instead
            // of one each (a sync per claim was most of tsmd's disk traffic under load).
            tokio::select! {
                () = tokio::time::sleep_until(next_write) => {}
                () = &mut stop => stopping = true,
            }
        }
        let (batch, overflowed) = idem.take_unsaved();
        let rewrite = overflowed || journal.saturating_add(batch.len()) > limit;
        if rewrite || !batch.is_empty() {
            let Some(mut s) = store.take() else {
                return Err("the idempotency store was lost".to_owned());
            };
            let records = if rewrite { idem.records() } else { batch };
            let n = records.len();
            next_write = tokio::time::Instant::now() + SAVE_GAP;
            let r = tokio::task::spawn_blocking(move || {
                let r = if rewrite {
                    s.replace(&records)
                } else {
                    s.append(&records)
                };
                (s, r)
            })
            .await;
            let (s, r) = r.map_err(|e| format!("the idempotency save thread failed: {e}"))?;
            match &r {
                Ok(()) => {
                    journal = if rewrite { n } else { journal + n };
                }
                Err(e) => {
                    tracing::error!(store = %s.describe(), error = %e, "saving idempotency answers failed");
                    // Rewrite everything next time: the journal may be torn.
                    journal = usize::MAX;
                }
            }
            store = Some(s);
            last = r;
            continue;
        }
        if stopping {
            return last;
        }
        tokio::select! {
            r = rx.changed() => {
                if r.is_err() {
                    stopping = true;
                }
            }
            () = &mut stop => stopping = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(scope: &str, key: &str, at: u64) -> Record {
        Record {
            scope: scope.into(),
            key: key.into(),
            fingerprint: "f".into(),
            stored_at_ms: at,
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: "{}".into(),
        }
    }

    fn run(idem: &Arc<Idempotency>, key: &str, fp: &str, now: u64) -> Ticket {
        match idem.begin("", key, fp, now) {
            Begin::Run(t) => t,
            _ => panic!("{key} does not run"),
        }
    }

    #[test]
    fn replay_mismatch_wait_and_free_on_failure() {
        let idem = Arc::new(Idempotency::new(IdempotencyConfig::new(
            Duration::from_secs(10),
            100,
        )));
        let t = run(&idem, "k", "f", 1000);
        assert!(matches!(idem.begin("", "k", "f", 1000), Begin::Wait(_)));
        assert!(matches!(idem.begin("", "k", "g", 1000), Begin::Mismatch(_)));
        // Another scope is another key.
        assert!(matches!(idem.begin("other", "k", "f", 1000), Begin::Run(_)));
        t.complete(Some(record("", "k", now_ms())));
        assert!(matches!(idem.begin("", "k", "f", 1000), Begin::Replay(_)));
        assert!(matches!(idem.begin("", "k", "g", 1000), Begin::Mismatch(_)));
        // A failed first attempt frees the key.
        let t = run(&idem, "k2", "f", 1000);
        drop(t);
        drop(run(&idem, "k2", "f", 1000));
        assert_eq!(idem.len(), 1);
    }

    #[test]
    fn expiry_and_bound() {
        let idem = Arc::new(Idempotency::new(IdempotencyConfig::new(
            Duration::from_millis(100),
            3,
        )));
        let now = now_ms();
        for i in 0..5 {
            let key = format!("k{i}");
            run(&idem, &key, "f", now).complete(Some(record("", &key, now + i)));
        }
        // Only the newest 3 stay.
        let keys: Vec<String> = idem.records().into_iter().map(|r| r.key).collect();
        assert_eq!(keys, ["k2", "k3", "k4"]);
        // Past the time to live, a key runs again.
        assert!(matches!(
            idem.begin("", "k4", "f", now + 4),
            Begin::Replay(_)
        ));
        assert!(matches!(
            idem.begin("", "k4", "f", now + 104),
            Begin::Run(_)
        ));
        assert_eq!(idem.len(), 0);
    }

    #[test]
    fn restore_drops_expired_and_keeps_the_last_answer() {
        let now = now_ms();
        let mut newer = record("", "a", now - 10);
        newer.status = 409;
        let idem = Idempotency::restore(
            IdempotencyConfig::new(Duration::from_secs(60), 10),
            vec![
                record("", "old", now - 120_000),
                record("", "a", now - 20),
                newer.clone(),
            ],
        );
        assert_eq!(idem.records(), vec![newer]);
        assert_eq!(idem.take_unsaved(), (vec![], false));
    }

    #[test]
    fn fingerprints_cover_method_path_and_body() {
        let a = fingerprint(&Method::POST, "/v1/x", b"{}");
        assert_eq!(a.len(), 64);
        assert_ne!(a, fingerprint(&Method::POST, "/v1/y", b"{}"));
        assert_ne!(a, fingerprint(&Method::POST, "/v1/x", b"{ }"));
        assert_ne!(a, fingerprint(&Method::PUT, "/v1/x", b"{}"));
    }
}
