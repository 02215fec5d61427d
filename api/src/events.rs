//! `GET /v1/events`: the ordered event stream as Server-Sent Events (WHATWG HTML §9.2), and
//! its client side.
//!
//! - [`Event`]: one change with its sequence number `seq` (one higher than the one before, as
//!   the server's core numbers them) and its time; [`EventKind`] says what changed.
//! - [`EventLog`]: the server's single ordered source. It keeps the newest events in a bounded
//!   ring and wakes every subscriber; each subscriber copies from the ring, so every client
//!   sees the same events in the same order, and a slow client never makes another miss one.
//! - The wire: each event is `id: <seq>`, `event: <type>`, `data: <the Event as JSON>`;
//!   comments (`: keep-alive`) at an interval keep idle connections open. A stream resumes after
//!   the `Last-Event-ID` header (as a browser's `EventSource` sends it) or `?after=N`.
//!   When the resume point is no longer in the ring (or lies ahead of the newest event, as
//!   after a server lost its history), the stream starts with a `gap` event ([`Gap`]) naming
//!   the first available seq, with `id` one below it, then continues from there: the client
//!   must resynchronise (re-read the state it follows).
//! - A token scoped to some groups ([`GroupScope::Only`]) gets only the events it may see
//!   ([`Audience`], decided by [`EventScopes`] when the event is logged): those of its groups
//!   and those that concern no group (fabric, `restored`). Seqs stay the global ones, so
//!   after each run of withheld events the stream sends an `id` without data (the last
//!   withheld seq; [`Item::Position`]): the next event is then always one above the client's
//!   position, and a larger step is a real loss. The typed client exposes that position
//!   ([`EventStream::position_before_last_event`]). The JSON form just omits them.
//! - Without `Accept: text/event-stream` the route answers once with a JSON array of the
//!   buffered events after `after` (or all of them). An explicit `?after=N` that the ring
//!   cannot serve is 410 `events-gone` in both forms.
//! - [`EventStream`] (from [`Client::events`](crate::Client::events)) parses the stream,
//!   remembers the last seq, and reconnects with `Last-Event-ID` after a broken connection.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{header, HeaderMap, Uri};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use utoipa::ToSchema;

use crate::auth::{Audience, EventScopes, GroupScope};
use crate::client::{Client, ClientError};
use crate::error::ApiError;
use crate::rendezvous::{BlockId, ClaimId};
use crate::types::{Dpid, LinkEnd, MacAddr, TraceId};

/// The media type of the stream.
pub const EVENT_STREAM: &str = "text/event-stream";
/// The SSE field a browser resends on reconnect.
pub const LAST_EVENT_ID: &str = "last-event-id";
/// How often an idle stream gets a keep-alive comment, unless configured.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(15);
/// How many events the ring holds, unless configured.
pub const DEFAULT_CAPACITY: usize = 4096;
/// The most events one stream write carries.
const BATCH: usize = 256;

/// One change, numbered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// One higher than the previous event's (across restarts of the server, too).
    pub seq: u64,
    /// When it happened, in ms since the Unix epoch.
    pub at: u64,
    /// What changed.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Why a subset went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// `DELETE /v1/subsets/{address}`.
    Deleted,
    /// Its lease ended.
    Expired,
    /// Its negotiating group was deleted.
    GroupDeleted,
    /// Every member of a snooped group's subset left the group.
    MembersLeft,
}

/// What changed; `type` on the wire. Clients ignore types they do not know (`Unknown`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The server restored its state from its store: resynchronise.
    Restored,
    /// A switch connected and its tables were reconciled.
    SwitchUp {
        /// The switch.
        dpid: Dpid,
    },
    /// A switch disconnected.
    SwitchDown {
        /// The switch.
        dpid: Dpid,
        /// Why.
        reason: String,
    },
    /// A switch port came up.
    PortUp {
        /// The switch and port.
        end: LinkEnd,
    },
    /// A switch port went down.
    PortDown {
        /// The switch and port.
        end: LinkEnd,
    },
    /// A link between two switches was discovered or came back.
    LinkUp {
        /// One end.
        a: LinkEnd,
        /// The other end.
        b: LinkEnd,
    },
    /// A link went down.
    LinkDown {
        /// One end.
        a: LinkEnd,
        /// The other end.
        b: LinkEnd,
    },
    /// A host was learned.
    HostAdded {
        /// Its MAC address.
        mac: MacAddr,
        /// The switch port it is attached to.
        attached: LinkEnd,
        /// Its addresses.
        #[schema(value_type = Vec<String>)]
        ips: Vec<IpAddr>,
    },
    /// A host moved to another port.
    HostMoved {
        /// Its MAC address.
        mac: MacAddr,
        /// Where it was.
        from: LinkEnd,
        /// Where it is.
        to: LinkEnd,
    },
    /// A host's addresses changed.
    HostAddrs {
        /// Its MAC address.
        mac: MacAddr,
        /// Its addresses now.
        #[schema(value_type = Vec<String>)]
        ips: Vec<IpAddr>,
    },
    /// A host was forgotten.
    HostRemoved {
        /// Its MAC address.
        mac: MacAddr,
    },
    /// A negotiating group was created or its address or members changed.
    GroupPut {
        /// The group.
        group: String,
        /// Its address.
        #[schema(value_type = String)]
        address: IpAddr,
        /// Its members now.
        #[schema(value_type = Vec<String>)]
        members: Vec<IpAddr>,
    },
    /// A negotiating group was deleted.
    GroupDeleted {
        /// The group.
        group: String,
    },
    /// A snooped group's members changed (IGMP / MLD joins, leaves, timeouts).
    GroupMembers {
        /// The group.
        group: String,
        /// Its address.
        #[schema(value_type = String)]
        address: IpAddr,
        /// Who joined.
        #[schema(value_type = Vec<String>)]
        joined: Vec<IpAddr>,
        /// Who left.
        #[schema(value_type = Vec<String>)]
        left: Vec<IpAddr>,
        /// Every member now.
        #[schema(value_type = Vec<String>)]
        members: Vec<IpAddr>,
    },
    /// A rendezvous plan was put, re-planned, rerouted, became ready, failed or went over
    /// budget.
    PlanChanged {
        /// The group.
        group: String,
        /// The plan's version.
        version: u64,
        /// The member list version the plan is for.
        members_version: u64,
        /// `installing`, `ready`, `failed` or `over_budget`.
        state: String,
    },
    /// A rendezvous plan was deleted.
    PlanDeleted {
        /// The group.
        group: String,
    },
    /// A claim was taken.
    ClaimTaken {
        /// The claim.
        id: ClaimId,
        /// Its group.
        group: String,
        /// Its address.
        #[schema(value_type = String)]
        address: IpAddr,
        /// The member list version it was taken against.
        members_version: u64,
    },
    /// A claim was renewed.
    ClaimRenewed {
        /// The claim.
        id: ClaimId,
        /// Its new end, in ms since the Unix epoch.
        expires_at: u64,
    },
    /// A claim ended.
    ClaimEnded {
        /// The claim.
        id: ClaimId,
        /// Its group.
        group: String,
        /// Its address.
        #[schema(value_type = String)]
        address: IpAddr,
        /// `released`, `expired`, `plan_deleted` or `plan_failed`.
        reason: String,
    },
    /// A block was taken.
    BlockTaken {
        /// The block.
        id: BlockId,
        /// Its group.
        group: String,
        /// The plan copies it holds.
        copies: Vec<u32>,
    },
    /// A block was renewed.
    BlockRenewed {
        /// The block.
        id: BlockId,
        /// Its new end, in ms since the Unix epoch.
        expires_at: u64,
    },
    /// A block ended.
    BlockEnded {
        /// The block.
        id: BlockId,
        /// Its group.
        group: String,
        /// `released`, `expired`, `plan_deleted` or `plan_failed`.
        reason: String,
    },
    /// A subset is installed and acknowledged by every switch on its tree.
    SubsetReady {
        /// Its address.
        #[schema(value_type = String)]
        address: IpAddr,
        /// Its negotiating group.
        group: String,
        /// Its trace id (the cookie of its flows).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace_id: Option<TraceId>,
    },
    /// A subset's rules were removed.
    SubsetRemoved {
        /// Its address.
        #[schema(value_type = String)]
        address: IpAddr,
        /// Why.
        reason: RemovalReason,
    },
    /// A fabric change moved a subset's rules to a new tree.
    SubsetRerouted {
        /// Its address.
        #[schema(value_type = String)]
        address: IpAddr,
    },
    /// A fabric change left a subset without a full tree; its old rules stay.
    SubsetDegraded {
        /// Its address.
        #[schema(value_type = String)]
        address: IpAddr,
        /// Why.
        reason: String,
    },
    /// A switch refused a message outside a subset install (an update, a removal,
    /// reconciliation).
    SwitchError {
        /// The switch.
        dpid: Dpid,
        /// OFPT_ERROR `type`.
        error_type: u16,
        /// OFPT_ERROR `code`.
        error_code: u16,
        /// Their spec names.
        error: String,
    },
    /// A change of a kind this version of the server does not describe in detail yet:
    /// `name` says what, `detail` how.
    Other {
        /// The kind of change, `snake_case`.
        name: String,
        /// What changed, as text.
        detail: String,
    },
    /// A kind this client does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}

impl EventKind {
    /// The `type` member (the SSE `event` field).
    pub fn type_name(&self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or("unknown")
                .to_owned(),
            _ => "unknown".to_owned(),
        }
    }
}

/// The first item of a stream whose resume point the server can no longer serve: events after
/// `after` up to `first_available - 1` are lost to this client. Resynchronise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Gap {
    /// The resume point asked for.
    pub after: u64,
    /// The oldest event the server still has (the stream goes on from here).
    pub first_available: u64,
}

/// One item of an [`EventStream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// An event, in order.
    Event(Event),
    /// Events were lost to this client: resynchronise, then go on with the next events.
    Gap(Gap),
}

// ---------------------------------------------------------------------------------------------
// The server side.

struct Ring {
    events: VecDeque<Arc<Event>>,
    /// Who may see each event of `events` (same order, same length).
    audiences: VecDeque<Audience>,
    /// Which group each event concerns (the scope filter).
    scopes: EventScopes,
    capacity: usize,
    /// The seq the next event gets.
    next: u64,
    closed: bool,
}

impl Ring {
    /// The oldest seq the ring can serve (`next` when it is empty).
    fn first(&self) -> u64 {
        self.events.front().map_or(self.next, |e| e.seq)
    }

    fn after(&self, cursor: u64, limit: usize) -> Vec<Arc<Event>> {
        let start = self.events.partition_point(|e| e.seq <= cursor);
        self.events
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .collect()
    }

    /// Up to `limit` events after `cursor` into `items`, without those `scope` may not see;
    /// a run of withheld events is told as an [`Item::Position`] at its last seq, so the
    /// client's position (its `Last-Event-ID`) moves past them and the next event's seq is
    /// one above it. The seq of the last event looked at, if any.
    fn after_scoped(
        &self,
        cursor: u64,
        limit: usize,
        scope: &GroupScope,
        items: &mut Vec<Item>,
    ) -> Option<u64> {
        let start = self.events.partition_point(|e| e.seq <= cursor);
        let mut withheld = None;
        let mut last = None;
        for (e, a) in self
            .events
            .iter()
            .zip(self.audiences.iter())
            .skip(start)
            .take(limit)
        {
            last = Some(e.seq);
            if scope.sees(a) {
                if let Some(w) = withheld.take() {
                    items.push(Item::Position(w));
                }
                items.push(Item::Event(e.clone()));
            } else {
                withheld = Some(e.seq);
            }
        }
        if let Some(w) = withheld {
            items.push(Item::Position(w));
        }
        last
    }

    /// `Err(first)` when the events after `after` are not all here (or `after` is ahead).
    fn check(&self, after: u64) -> Result<(), u64> {
        let first = self.first();
        if after.saturating_add(1) < first || after >= self.next {
            Err(first)
        } else {
            Ok(())
        }
    }
}

/// The ordered source of events: a bounded ring of the newest, and their subscribers.
pub struct EventLog {
    ring: Mutex<Ring>,
    wake: watch::Sender<u64>,
    keepalive: Duration,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self.lock();
        f.debug_struct("EventLog")
            .field("held", &r.events.len())
            .field("capacity", &r.capacity)
            .field("next", &r.next)
            .finish()
    }
}

impl EventLog {
    /// A log holding up to `capacity` events, whose first event will be `next_seq`.
    pub fn new(capacity: usize, next_seq: u64) -> Self {
        let (wake, _) = watch::channel(0);
        EventLog {
            ring: Mutex::new(Ring {
                events: VecDeque::with_capacity(capacity.min(65_536)),
                audiences: VecDeque::with_capacity(capacity.min(65_536)),
                scopes: EventScopes::default(),
                capacity: capacity.max(1),
                next: next_seq.max(1),
                closed: false,
            }),
            wake,
            keepalive: DEFAULT_KEEPALIVE,
        }
    }

    /// With this keep-alive interval for streams.
    pub fn with_keepalive(mut self, every: Duration) -> Self {
        self.keepalive = every;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an event. Its seq must be above every earlier one; an event that is not is
    /// dropped (and logged), so the stream stays strictly increasing.
    pub fn push(&self, event: Event) {
        let mut r = self.lock();
        if let Some(last) = r.events.back() {
            if event.seq <= last.seq {
                tracing::error!(
                    seq = event.seq,
                    last = last.seq,
                    "event out of order dropped"
                );
                return;
            }
        }
        r.next = event.seq + 1;
        if r.events.len() == r.capacity {
            r.events.pop_front();
            r.audiences.pop_front();
        }
        let audience = r.scopes.attribute(&event.kind);
        r.audiences.push_back(audience);
        r.events.push_back(Arc::new(event));
        let next = r.next;
        // Under the lock, so a subscriber that read the ring before this sees the change.
        self.wake.send_replace(next);
    }

    /// Ends every stream (at shutdown: an open stream would hold the server's drain).
    pub fn close(&self) {
        let mut r = self.lock();
        r.closed = true;
        self.wake.send_modify(|_| {});
    }

    /// The seq range held: `(first, last)`; `last < first` when empty.
    pub fn range(&self) -> (u64, u64) {
        let r = self.lock();
        (r.first(), r.next - 1)
    }

    /// Tells the scope filter about live resources the log never saw start (at start, the
    /// subsets, claims and blocks restored from the store), so their later events reach the
    /// tokens of their group.
    pub fn learn(&self, f: impl FnOnce(&mut EventScopes)) {
        f(&mut self.lock().scopes);
    }

    /// [`after`](Self::after) without the events a token with `scope` may not see (their
    /// seqs are simply absent).
    pub fn after_scoped(
        &self,
        after: Option<u64>,
        scope: &GroupScope,
    ) -> Result<Vec<Event>, ApiError> {
        let r = self.lock();
        let cursor = match after {
            Some(a) => {
                r.check(a).map_err(|first| gone(a, first, r.next - 1))?;
                a
            }
            None => r.first().saturating_sub(1),
        };
        let mut items = Vec::new();
        r.after_scoped(cursor, usize::MAX, scope, &mut items);
        Ok(items
            .into_iter()
            .filter_map(|i| match i {
                Item::Event(e) => Some((*e).clone()),
                Item::Position(_) | Item::Gap(_) => None,
            })
            .collect())
    }

    /// The buffered events after `after` (all when `None`); 410 `events-gone` when the ring
    /// no longer holds them all or `after` is ahead of the newest.
    pub fn after(&self, after: Option<u64>) -> Result<Vec<Event>, ApiError> {
        let r = self.lock();
        let cursor = match after {
            Some(a) => {
                r.check(a).map_err(|first| gone(a, first, r.next - 1))?;
                a
            }
            None => r.first().saturating_sub(1),
        };
        Ok(r.after(cursor, usize::MAX)
            .into_iter()
            .map(|e| (*e).clone())
            .collect())
    }

    /// A subscription from `after` (or from now, when `None`). With `strict`, a resume point
    /// the ring cannot serve is a 410 now; without, the stream starts with a [`Gap`].
    pub fn subscribe(
        self: &Arc<Self>,
        after: Option<u64>,
        strict: bool,
    ) -> Result<Subscription, ApiError> {
        let r = self.lock();
        let rx = self.wake.subscribe();
        let (cursor, gap) = match after {
            None => (r.next - 1, None),
            Some(a) => match r.check(a) {
                Ok(()) => (a, None),
                Err(first) if strict => return Err(gone(a, first, r.next - 1)),
                Err(first) => (
                    first.saturating_sub(1),
                    Some(Gap {
                        after: a,
                        first_available: first,
                    }),
                ),
            },
        };
        drop(r);
        Ok(Subscription {
            log: Arc::clone(self),
            rx,
            cursor,
            gap,
            announce: true,
            scope: None,
        })
    }
}

fn gone(after: u64, first: u64, last: u64) -> ApiError {
    ApiError::EventsGone {
        after,
        first_available: first,
        last,
    }
}

/// One client's place in the log.
pub struct Subscription {
    log: Arc<EventLog>,
    rx: watch::Receiver<u64>,
    cursor: u64,
    gap: Option<Gap>,
    /// Tell the client where it starts (an `id` without data), so a stream "from now" can
    /// resume too.
    announce: bool,
    /// Only the events a token with this scope may see (`None`: every event).
    scope: Option<GroupScope>,
}

/// An item a subscription yields.
#[derive(Debug, Clone)]
pub enum Item {
    /// An event.
    Event(Arc<Event>),
    /// Where the stream starts: the seq after which events follow.
    Position(u64),
    /// The events after `after` up to `first_available - 1` were lost.
    Gap(Gap),
}

impl Subscription {
    /// Only the events a token with `scope` may see; each run of withheld events is told as
    /// an [`Item::Position`] (see [`serve`]).
    pub fn scoped(mut self, scope: GroupScope) -> Self {
        self.scope = (scope != GroupScope::Any).then_some(scope);
        self
    }

    /// The next items in order; `None` once the log is closed.
    pub async fn next_batch(&mut self) -> Option<Vec<Item>> {
        loop {
            {
                let r = self.log.lock();
                if r.closed {
                    return None;
                }
                // Seen now: a push after this wakes `changed` below.
                self.rx.borrow_and_update();
                let mut items = Vec::new();
                if let Some(gap) = self.gap.take() {
                    items.push(Item::Gap(gap));
                } else if std::mem::take(&mut self.announce) {
                    items.push(Item::Position(self.cursor));
                }
                self.announce = false;
                let first = r.first();
                if self.cursor.saturating_add(1) < first {
                    // This subscriber fell behind the ring (a very slow client).
                    items.push(Item::Gap(Gap {
                        after: self.cursor,
                        first_available: first,
                    }));
                    self.cursor = first - 1;
                }
                if let Some(scope) = &self.scope {
                    if let Some(last) = r.after_scoped(self.cursor, BATCH, scope, &mut items) {
                        self.cursor = last;
                    }
                } else {
                    let events = r.after(self.cursor, BATCH);
                    if let Some(last) = events.last() {
                        self.cursor = last.seq;
                    }
                    items.extend(events.into_iter().map(Item::Event));
                }
                if !items.is_empty() {
                    return Some(items);
                }
            }
            if self.rx.changed().await.is_err() {
                return None;
            }
        }
    }
}

fn sse_item(item: &Item) -> sse::Event {
    match item {
        Item::Event(e) => {
            let data = serde_json::to_string(&**e).unwrap_or_else(|_| "{}".to_owned());
            sse::Event::default()
                .id(e.seq.to_string())
                .event(e.kind.type_name())
                .data(data)
        }
        Item::Position(n) => sse::Event::default().id(n.to_string()),
        Item::Gap(g) => {
            let data = serde_json::to_string(g).unwrap_or_else(|_| "{}".to_owned());
            sse::Event::default()
                // The client's resume point moves to just before what is available.
                .id(g.first_available.saturating_sub(1).to_string())
                .event("gap")
                .data(data)
        }
    }
}

/// The `after` query parameter, if given.
fn after_param(uri: &Uri) -> Result<Option<u64>, ApiError> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "after" {
            return v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| ApiError::InvalidField {
                    path: "query.after".to_owned(),
                    reason: format!("{v:?} is not a sequence number (a non-negative integer)"),
                });
        }
    }
    Ok(None)
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case(EVENT_STREAM)
        })
}

/// Serves `GET /v1/events` from `log` (see the module docs); with `scope`, only the events
/// a token with that scope may see.
pub(crate) fn serve(
    log: &Arc<EventLog>,
    uri: &Uri,
    headers: &HeaderMap,
    scope: Option<&GroupScope>,
) -> Result<Response, ApiError> {
    let after = after_param(uri)?;
    let last_event_id = match headers.get(LAST_EVENT_ID) {
        None => None,
        Some(v) => {
            let text = v.to_str().unwrap_or_default().trim();
            // An empty Last-Event-ID is what a browser sends before it saw an id.
            if text.is_empty() {
                None
            } else {
                Some(text.parse::<u64>().map_err(|_| ApiError::BadHeader {
                    header: LAST_EVENT_ID.to_owned(),
                    reason: format!("{text:?} is not a sequence number"),
                })?)
            }
        }
    };
    if !wants_stream(headers) {
        let events = match scope {
            Some(scope) => log.after_scoped(after.or(last_event_id), scope)?,
            None => log.after(after.or(last_event_id))?,
        };
        return Ok(Json(events).into_response());
    }
    // An explicit `after` is checked now (410); a reconnect's Last-Event-ID gets a gap event.
    let sub = match after {
        Some(a) => log.subscribe(Some(a), true)?,
        None => log.subscribe(last_event_id, false)?,
    };
    let sub = match scope {
        Some(scope) => sub.scoped(scope.clone()),
        None => sub,
    };
    let stream = futures_util::stream::unfold(sub, |mut sub| async move {
        let batch = sub.next_batch().await?;
        Some((batch, sub))
    })
    .flat_map(|batch| {
        futures_util::stream::iter(
            batch
                .iter()
                .map(|i| Ok::<_, Infallible>(sse_item(i)))
                .collect::<Vec<_>>(),
        )
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(log.keepalive).text("keep-alive"))
        .into_response();
    // Proxies must not buffer the stream.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

use futures_util::StreamExt as _;

// ---------------------------------------------------------------------------------------------
// The client side.

/// An SSE parser (WHATWG HTML §9.2.6): bytes in, dispatched messages out.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
    /// The last `retry` value the server sent, in ms.
    pub retry_ms: Option<u64>,
}

/// One dispatched SSE message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseMessage {
    /// The `event` field (`message` when absent; empty for an `id` without data, which
    /// only moves the resume point).
    pub event: String,
    /// The `data` lines, joined with `\n`.
    pub data: String,
    /// The `id` field, if this message had one.
    pub id: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the messages they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseMessage> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if let Some(m) = self.line_done(&line) {
                    out.push(m);
                }
            } else {
                self.line.push(b);
            }
        }
        out
    }

    fn line_done(&mut self, line: &[u8]) -> Option<SseMessage> {
        if line.is_empty() {
            if !self.has_data {
                self.event.clear();
                // An id without data moves the resume point only: an empty `event`.
                return self.id.take().map(|id| SseMessage {
                    event: String::new(),
                    data: String::new(),
                    id: Some(id),
                });
            }
            let event = std::mem::take(&mut self.event);
            self.has_data = false;
            return Some(SseMessage {
                event: if event.is_empty() {
                    "message".to_owned()
                } else {
                    event
                },
                data: std::mem::take(&mut self.data),
                id: self.id.take(),
            });
        }
        if line.first() == Some(&b':') {
            return None; // a comment (keep-alive)
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f.to_owned(), v.strip_prefix(' ').unwrap_or(v).to_owned()),
            None => (text.into_owned(), String::new()),
        };
        match field.as_str() {
            "event" => self.event = value,
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id = Some(value),
            "retry" => self.retry_ms = value.parse().ok().or(self.retry_ms),
            _ => {}
        }
        None
    }
}

/// How an [`EventStream`] reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reconnect {
    /// Consecutive failed reconnects before the stream gives up with the error.
    pub attempts: u32,
    /// The first wait; doubles per failure up to `max_delay`.
    pub delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            attempts: 10,
            delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl Reconnect {
    /// Up to `attempts` consecutive reconnects, waiting `delay` doubled per failure up to
    /// `max_delay`.
    pub fn new(attempts: u32, delay: Duration, max_delay: Duration) -> Self {
        Reconnect {
            attempts,
            delay,
            max_delay,
        }
    }

    /// Never reconnect: a broken connection ends the stream with its error.
    pub fn never() -> Self {
        Reconnect {
            attempts: 0,
            ..Reconnect::default()
        }
    }
}

/// The typed stream of `GET /v1/events`, resumed with `Last-Event-ID` after a broken
/// connection. Items come strictly in seq order; a [`Received::Gap`] says events were lost.
#[derive(Debug)]
pub struct EventStream {
    client: Client,
    response: Option<reqwest::Response>,
    parser: SseParser,
    pending: VecDeque<SseMessage>,
    last_id: Option<u64>,
    /// `last_id` just before the last event was decoded.
    before_event: Option<u64>,
    reconnect: Reconnect,
    ended: bool,
}

impl EventStream {
    pub(crate) async fn open(
        client: &Client,
        after: Option<u64>,
        reconnect: Reconnect,
    ) -> Result<EventStream, ClientError> {
        let mut s = EventStream {
            client: client.clone(),
            response: None,
            parser: SseParser::new(),
            pending: VecDeque::new(),
            last_id: None,
            before_event: None,
            reconnect,
            ended: false,
        };
        s.response = Some(s.connect(after, None).await?);
        Ok(s)
    }

    /// The seq of the last event (or gap) received: where a reconnect resumes.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_id
    }

    /// The stream's position just before the event [`next`](Self::next) returned last: the
    /// seq of the item before it, or a later one the server moved the position to with an
    /// `id`-only message (at the start of a stream, and after events a token scoped to some
    /// groups may not see were withheld). When the event's seq is one above it, nothing this
    /// client may see was skipped; above that, events were lost. `None` before any position.
    pub fn position_before_last_event(&self) -> Option<u64> {
        self.before_event
    }

    async fn connect(
        &self,
        after: Option<u64>,
        last_event_id: Option<u64>,
    ) -> Result<reqwest::Response, ClientError> {
        let after_text = after.map(|a| a.to_string());
        let query: Vec<(&str, &str)> = after_text
            .as_deref()
            .map(|a| vec![("after", a)])
            .unwrap_or_default();
        let (request, mut builder) =
            self.client
                .builder(reqwest::Method::GET, &["v1", "events"], &query)?;
        builder = builder.header(header::ACCEPT.as_str(), EVENT_STREAM);
        if let Some(id) = last_event_id {
            builder = builder.header(LAST_EVENT_ID, id.to_string());
        }
        let response = builder
            .send()
            .await
            .map_err(|source| ClientError::Transport {
                request: request.clone(),
                source,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        Err(crate::client::error_answer(
            request, status, &headers, &body,
        ))
    }

    fn decode(&mut self, m: SseMessage) -> Result<Received, ClientError> {
        let bad = |reason: String| ClientError::Decode {
            request: "GET /v1/events".to_owned(),
            status: 200,
            reason,
        };
        let before = self.last_id;
        if let Some(id) = m.id.as_deref().and_then(|i| i.parse::<u64>().ok()) {
            self.last_id = Some(id);
        }
        if m.event == "gap" {
            let g: Gap = serde_json::from_str(&m.data).map_err(|e| bad(format!("gap: {e}")))?;
            return Ok(Received::Gap(g));
        }
        let e: Event =
            serde_json::from_str(&m.data).map_err(|e| bad(format!("event {:?}: {e}", m.event)))?;
        self.before_event = before;
        self.last_id = Some(e.seq);
        Ok(Received::Event(e))
    }

    /// The next item; `None` when the stream ended for good (the server closed it and did
    /// not come back, with reconnects off) or after an error was returned.
    pub async fn next(&mut self) -> Option<Result<Received, ClientError>> {
        loop {
            if let Some(m) = self.pending.pop_front() {
                if m.event.is_empty() {
                    // The server's position at the start of a stream "from now".
                    if let Some(id) = m.id.as_deref().and_then(|i| i.parse().ok()) {
                        self.last_id = Some(id);
                    }
                    continue;
                }
                return Some(self.decode(m));
            }
            if self.ended {
                return None;
            }
            let chunk = match self.response.as_mut() {
                Some(r) => r.chunk().await,
                None => Ok(None),
            };
            let cause = match chunk {
                Ok(Some(bytes)) => {
                    let ms = self.parser.feed(&bytes);
                    self.pending.extend(ms);
                    continue;
                }
                Ok(None) => None,
                Err(source) => Some(ClientError::Transport {
                    request: "GET /v1/events".to_owned(),
                    source,
                }),
            };
            // The connection ended: resume after the last id.
            self.response = None;
            self.parser = SseParser::new();
            match self.resume(cause).await {
                Ok(()) => {}
                Err(e) => {
                    self.ended = true;
                    return e.map(Err);
                }
            }
        }
    }

    /// Reconnects with `Last-Event-ID`; `Err` with the last error (if any) when it gives up.
    async fn resume(&mut self, mut cause: Option<ClientError>) -> Result<(), Option<ClientError>> {
        let mut delay = self.reconnect.delay;
        for _ in 0..self.reconnect.attempts {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.reconnect.max_delay);
            match self.connect(None, self.last_id).await {
                Ok(r) => {
                    self.response = Some(r);
                    return Ok(());
                }
                Err(e @ ClientError::Transport { .. }) => cause = Some(e),
                // The server answered with an error it will repeat.
                Err(e) => return Err(Some(e)),
            }
        }
        Err(cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64) -> Event {
        Event {
            seq,
            at: 1_700_000_000_000 + seq,
            kind: EventKind::GroupDeleted {
                group: format!("g{seq}"),
            },
        }
    }

    #[test]
    fn wire_form() {
        let e = Event {
            seq: 7,
            at: 1,
            kind: EventKind::SubsetReady {
                address: "239.1.1.1".parse().unwrap(),
                group: "g".into(),
                trace_id: TraceId::new(0xab),
            },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"seq": 7, "at": 1, "type": "subset_ready",
                "address": "239.1.1.1", "group": "g", "trace_id": "00000000000000ab"})
        );
        assert_eq!(e.kind.type_name(), "subset_ready");
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
        let future: Event =
            serde_json::from_str(r#"{"seq": 1, "at": 2, "type": "from_the_future", "x": 1}"#)
                .unwrap();
        assert_eq!(future.kind, EventKind::Unknown);
    }

    #[test]
    fn kinds_do_not_clash_with_the_event_members() {
        let end = LinkEnd {
            dpid: Dpid(1),
            port: 2,
        };
        for kind in [
            EventKind::PortUp { end },
            EventKind::HostAdded {
                mac: MacAddr([2, 0, 0, 0, 0, 1]),
                attached: end,
                ips: vec!["10.0.0.1".parse().unwrap()],
            },
            EventKind::Restored,
            EventKind::Other {
                name: "x".into(),
                detail: "y".into(),
            },
        ] {
            let e = Event {
                seq: 1,
                at: 2,
                kind,
            };
            let text = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e, "{text}");
        }
    }

    #[test]
    fn parser_follows_the_spec() {
        let mut p = SseParser::new();
        let mut got = p.feed(b": keep-alive\n\nid: 3\nevent: x\ndata: a\r\ndata:b\n");
        assert!(got.is_empty());
        got = p.feed(b"\nretry: 50\ndata: c\n\nid: 9\n\n");
        assert_eq!(
            got,
            vec![
                SseMessage {
                    event: "x".into(),
                    data: "a\nb".into(),
                    id: Some("3".into())
                },
                SseMessage {
                    event: "message".into(),
                    data: "c".into(),
                    id: None
                },
                SseMessage {
                    event: String::new(),
                    data: String::new(),
                    id: Some("9".into())
                }
            ]
        );
        assert_eq!(p.retry_ms, Some(50));
    }

    #[tokio::test]
    async fn a_scoped_subscription_tells_where_it_skipped() {
        let log = Arc::new(EventLog::new(16, 1));
        let group = |seq: u64, g: &str| Event {
            seq,
            at: 0,
            kind: EventKind::GroupDeleted { group: g.into() },
        };
        let switch = |seq: u64| Event {
            seq,
            at: 0,
            kind: EventKind::SwitchUp { dpid: Dpid(1) },
        };
        for e in [
            group(1, "g1"),
            group(2, "g2"),
            group(3, "g2"),
            switch(4),
            group(5, "g2"),
        ] {
            log.push(e);
        }
        let scope = GroupScope::from_list(["g1"]).unwrap();
        let mut sub = log.subscribe(Some(0), true).unwrap().scoped(scope.clone());
        let items = sub.next_batch().await.unwrap();
        let shown: Vec<String> = items
            .iter()
            .map(|i| match i {
                Item::Event(e) => format!("e{}", e.seq),
                Item::Position(p) => format!("p{p}"),
                Item::Gap(g) => format!("{g:?}"),
            })
            .collect();
        // Each visible event is one above the position before it.
        assert_eq!(shown, ["p0", "e1", "p3", "e4", "p5"]);
        let json: Vec<u64> = log
            .after_scoped(None, &scope)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(json, [1, 4]);
        // Every group: nothing withheld.
        let mut all = log
            .subscribe(Some(0), true)
            .unwrap()
            .scoped(GroupScope::Any);
        let n = all
            .next_batch()
            .await
            .unwrap()
            .iter()
            .filter(|i| matches!(i, Item::Event(_)))
            .count();
        assert_eq!(n, 5);
    }

    #[tokio::test]
    async fn ring_resume_gap_and_gone() {
        let log = Arc::new(EventLog::new(4, 1));
        for s in 1..=6 {
            log.push(ev(s));
        }
        assert_eq!(log.range(), (3, 6));
        // The ring holds 3..=6: after 2 is fine, after 1 is gone, after 7 is ahead.
        assert_eq!(log.after(Some(2)).unwrap().len(), 4);
        assert!(matches!(
            log.after(Some(1)),
            Err(ApiError::EventsGone {
                first_available: 3,
                ..
            })
        ));
        assert!(log.after(Some(7)).is_err());
        assert!(log.subscribe(Some(1), true).is_err());
        let mut sub = log.subscribe(Some(1), false).unwrap();
        let items = sub.next_batch().await.unwrap();
        assert!(matches!(
            items[0],
            Item::Gap(Gap {
                after: 1,
                first_available: 3
            })
        ));
        let seqs: Vec<u64> = items
            .iter()
            .filter_map(|i| match i {
                Item::Event(e) => Some(e.seq),
                Item::Gap(_) | Item::Position(_) => None,
            })
            .collect();
        assert_eq!(seqs, [3, 4, 5, 6]);
        // Out-of-order pushes are dropped.
        log.push(ev(6));
        assert_eq!(log.range(), (3, 6));
        // A live subscriber wakes for the next push and ends at close.
        let mut live = log.subscribe(None, false).unwrap();
        // It starts by saying where it is.
        let first = live.next_batch().await.unwrap();
        assert!(matches!(first[..], [Item::Position(6)]), "{first:?}");
        let waiter = tokio::spawn(async move {
            let b = live.next_batch().await.unwrap();
            let end = live.next_batch().await;
            (b.len(), end.is_none())
        });
        tokio::task::yield_now().await;
        log.push(ev(7));
        tokio::time::sleep(Duration::from_millis(20)).await;
        log.close();
        assert_eq!(waiter.await.unwrap(), (1, true));
    }
}
