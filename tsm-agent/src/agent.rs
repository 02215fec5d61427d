//! [`Agent`]: the sender program's handle on the controllers. It claims addresses over HTTP
//! ([`Agent::claim`]) and holds blocks of them for local claims ([`Agent::hold_block`]),
//! renews every lease in the background and releases it when its handle is dropped, and
//! follows `/v1/events` so that a membership change makes the local claims of an old block
//! fail with [`crate::LocalClaimError::StaleMembers`].
//!
//! Guarantees:
//! - Every request goes through [`Endpoints`]: the next controller when one is unreachable or
//!   answers `5xx`, the leader when a follower names it. Every POST carries one
//!   `Idempotency-Key` for all controllers tried, so a retry never claims twice.
//! - A lease is renewed when a third of it is left (measured from when the request that
//!   granted it was sent, so a slow answer never makes the agent late), and retried while
//!   no controller answers until the lease would have ended; a refusal (expired, unknown)
//!   ends it at once. [`LeaseStatus`] tells the holder.
//! - Dropping a [`Claim`] or [`Block`] stops its renewal and releases it in the background
//!   (best effort: if no controller answers, the lease simply runs out).
//! - The newest membership version of each group, learnt from events, group reads and renew
//!   answers, only grows.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::{BlockId, BlockRequest, CallOptions, ClaimId, ClaimRequest, GroupName, RenewRequest};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::block::{BlockClaimer, BlockState, LocalClaim};
use crate::error::{AgentError, LocalClaimError};
use crate::events::{self, SyncStats};
use crate::failover::{EndpointOptions, Endpoints, CONNECT_TIMEOUT};

/// The lease of [`Agent::claim`] and the default of the CLI.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// How an [`Agent`] is set up.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AgentOptions {
    /// Controller base URLs, tried in order.
    pub urls: Vec<String>,
    /// Sent as `Authorization: Bearer`.
    pub token: Option<String>,
    /// Time limit of one request.
    pub timeout: Duration,
    /// Time limit of a connection attempt.
    pub connect_timeout: Duration,
    /// Follow `/v1/events` in the background (membership versions, resynchronisation).
    pub follow_events: bool,
    /// The lease of [`Agent::claim`].
    pub lease: Duration,
}

impl AgentOptions {
    /// These controllers; 10 s per request, events followed, [`DEFAULT_LEASE`].
    pub fn new<S: AsRef<str>>(urls: &[S]) -> Self {
        Self {
            urls: urls.iter().map(|u| u.as_ref().to_owned()).collect(),
            token: None,
            timeout: Duration::from_secs(10),
            connect_timeout: CONNECT_TIMEOUT,
            follow_events: true,
            lease: DEFAULT_LEASE,
        }
    }

    /// With a bearer token.
    pub fn token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_owned);
        self
    }

    /// With this per-request time limit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether to follow `/v1/events`.
    pub fn follow_events(mut self, follow: bool) -> Self {
        self.follow_events = follow;
        self
    }

    /// The lease of [`Agent::claim`].
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }
}

/// What the agent shares with its lease and event tasks.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) endpoints: Endpoints,
    runtime: tokio::runtime::Handle,
    /// The newest membership version seen per group.
    versions: Mutex<HashMap<String, Arc<AtomicU64>>>,
    /// The blocks held, to end them when a resynchronisation finds them gone.
    blocks: Mutex<HashMap<BlockId, Weak<BlockState>>>,
    pub(crate) sync: SyncStats,
    keys: AtomicU64,
    lease: Duration,
}

impl Inner {
    /// The shared cell of `group`'s newest membership version.
    pub(crate) fn version_cell(&self, group: &str) -> Arc<AtomicU64> {
        let mut versions = match self.versions.lock() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(versions.entry(group.to_owned()).or_default())
    }

    /// Records that `group` has membership version `version` (it never goes back).
    pub(crate) fn observe(&self, group: &str, version: u64) {
        self.version_cell(group)
            .fetch_max(version, Ordering::AcqRel);
    }

    fn idempotency_key(&self) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = self.keys.fetch_add(1, Ordering::Relaxed);
        format!("tsm-agent-{}-{nanos:x}-{n}", std::process::id())
    }

    /// Re-reads what events would have told: every group's membership version, and which
    /// of our blocks the controller still has (one that is gone ends here too).
    pub(crate) async fn resync(&self) -> Result<(), AgentError> {
        let groups = self
            .endpoints
            .call(|c| async move { c.groups().await })
            .await?;
        for g in &groups {
            self.observe(g.name.as_str(), g.version);
        }
        let held: Vec<(BlockId, Arc<BlockState>)> = match self.blocks.lock() {
            Ok(mut blocks) => {
                blocks.retain(|_, w| w.strong_count() > 0);
                blocks
                    .iter()
                    .filter_map(|(id, w)| w.upgrade().map(|s| (*id, s)))
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        if !held.is_empty() {
            let listed = self
                .endpoints
                .call(|c| async move { c.blocks().await })
                .await?;
            for (id, state) in held {
                if !listed.iter().any(|b| b.id == id) {
                    tracing::warn!(block = %id, "the controller no longer has the block");
                    state.end("the controller no longer has it (found on resynchronisation)");
                }
            }
        }
        Ok(())
    }
}

/// Stops the event follower when the last [`Agent`] clone is dropped.
#[derive(Debug)]
struct FollowerGuard(Option<JoinHandle<()>>);

impl Drop for FollowerGuard {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// A sender's agent. Cheap to clone; see the module docs.
#[derive(Clone, Debug)]
pub struct Agent {
    inner: Arc<Inner>,
    _follower: Arc<FollowerGuard>,
}

impl Agent {
    /// An agent of these controllers (with a bearer token), following events. Must be
    /// called inside a tokio runtime.
    pub fn new<S: AsRef<str>>(urls: &[S], token: Option<&str>) -> Result<Agent, AgentError> {
        Agent::with_options(AgentOptions::new(urls).token(token))
    }

    /// An agent set up by `options`. Must be called inside a tokio runtime.
    pub fn with_options(options: AgentOptions) -> Result<Agent, AgentError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| AgentError::NoRuntime)?;
        let endpoint_options = EndpointOptions::new(options.timeout)
            .token(options.token.as_deref())
            .connect_timeout(options.connect_timeout);
        let endpoints = Endpoints::new(&options.urls, &endpoint_options)?;
        let inner = Arc::new(Inner {
            endpoints,
            runtime: runtime.clone(),
            versions: Mutex::new(HashMap::new()),
            blocks: Mutex::new(HashMap::new()),
            sync: SyncStats::default(),
            keys: AtomicU64::new(0),
            lease: options.lease,
        });
        let follower = options
            .follow_events
            .then(|| runtime.spawn(events::follow(Arc::downgrade(&inner))));
        Ok(Agent {
            inner,
            _follower: Arc::new(FollowerGuard(follower)),
        })
    }

    /// The controllers.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// Claims an address that reaches exactly `members` of `group` for the agent's default
    /// lease, renewed in the background until the [`Claim`] is dropped or released.
    pub async fn claim(&self, group: &str, members: &[IpAddr]) -> Result<Claim, AgentError> {
        self.claim_for(group, members, self.inner.lease).await
    }

    /// [`claim`](Self::claim) with this lease (renewed by this much each time).
    pub async fn claim_for(
        &self,
        group: &str,
        members: &[IpAddr],
        lease: Duration,
    ) -> Result<Claim, AgentError> {
        let name = group_name(group)?;
        let req = ClaimRequest {
            members: members.to_vec(),
            lease_ms: lease_ms(lease)?,
        };
        let options = CallOptions::new().idempotency_key(self.inner.idempotency_key());
        let sent = Instant::now();
        let (name, req, options) = (&name, &req, &options);
        let info = self
            .inner
            .endpoints
            .call(|c| async move { c.claim_with(name, req, options).await })
            .await?;
        self.inner
            .observe(info.group.as_str(), info.members_version);
        tracing::debug!(claim = %info.id, address = %info.address, "claimed");
        let lease = Lease::start(
            Arc::clone(&self.inner),
            LeaseId::Claim(info.id),
            info.group.to_string(),
            lease,
            sent,
            (info.expires_at, info.members_version),
            None,
        );
        Ok(Claim { info, lease })
    }

    /// Holds `copies` whole copies of `group`'s rendezvous plan for `lease` (renewed in the
    /// background): its addresses are then claimed locally ([`Block::claim`]).
    pub async fn hold_block(
        &self,
        group: &str,
        copies: u32,
        lease: Duration,
    ) -> Result<Block, AgentError> {
        let name = group_name(group)?;
        let req = BlockRequest {
            copies,
            lease_ms: lease_ms(lease)?,
        };
        let options = CallOptions::new().idempotency_key(self.inner.idempotency_key());
        let sent = Instant::now();
        let (name, req, options) = (&name, &req, &options);
        let info = self
            .inner
            .endpoints
            .call(|c| async move { c.take_block_with(name, req, options).await })
            .await?;
        let group = info.group.to_string();
        let claimer = BlockClaimer::with_latest(&info, self.inner.version_cell(&group))
            .map_err(|e| AgentError::Invalid(format!("block {}: {e}", info.id)))?;
        if let Ok(mut blocks) = self.inner.blocks.lock() {
            blocks.retain(|_, w| w.strong_count() > 0);
            blocks.insert(info.id, Arc::downgrade(claimer.state()));
        }
        tracing::debug!(block = %info.id, copies = ?info.copies, "block held");
        let lease = Lease::start(
            Arc::clone(&self.inner),
            LeaseId::Block(info.id),
            group,
            lease,
            sent,
            (info.expires_at, info.members_version),
            Some(Arc::clone(claimer.state())),
        );
        Ok(Block {
            info,
            claimer,
            lease,
            lease_ms: req.lease_ms,
        })
    }

    /// A new block of the same group, copy count and lease in place of `old` (after a
    /// membership change). The new one is taken first, then `old` is released, so claims
    /// never pause; when the plan has no copies free for that (`409`), `old` is released
    /// first and its copies taken again.
    pub async fn refresh_block(&self, old: Block) -> Result<Block, AgentError> {
        let copies = u32::try_from(old.info.copies.len()).unwrap_or(u32::MAX);
        let lease = Duration::from_millis(old.lease_ms);
        let group = old.info.group.to_string();
        match self.hold_block(&group, copies, lease).await {
            Ok(new) => {
                if let Err(e) = old.release().await {
                    tracing::debug!(error = %e, "releasing the old block failed; it runs out");
                }
                Ok(new)
            }
            Err(AgentError::Refused { status: 409, .. }) => {
                old.release().await?;
                self.hold_block(&group, copies, lease).await
            }
            Err(e) => Err(e),
        }
    }

    /// `group` as the controller has it now (its membership version is recorded).
    pub async fn group(&self, group: &str) -> Result<api::Group, AgentError> {
        let name = group_name(group)?;
        let name = &name;
        let g = self
            .inner
            .endpoints
            .call(|c| async move { c.group(name).await })
            .await?;
        self.inner.observe(g.name.as_str(), g.version);
        Ok(g)
    }

    /// Re-reads every group's membership version and checks the blocks held (what the
    /// event follower does on a gap).
    pub async fn resync(&self) -> Result<(), AgentError> {
        self.inner.resync().await
    }

    /// The newest membership version seen for `group`, if any.
    pub fn members_version(&self, group: &str) -> Option<u64> {
        let versions = self.inner.versions.lock().ok()?;
        versions.get(group).map(|v| v.load(Ordering::Acquire))
    }

    /// What the event follower has done so far.
    pub fn sync_status(&self) -> crate::events::SyncStatus {
        self.inner.sync.status()
    }
}

fn group_name(group: &str) -> Result<GroupName, AgentError> {
    group
        .parse()
        .map_err(|e| AgentError::Invalid(format!("group name {group:?}: {e}")))
}

fn lease_ms(lease: Duration) -> Result<u64, AgentError> {
    match u64::try_from(lease.as_millis()) {
        Ok(0) | Err(_) => Err(AgentError::Invalid(format!(
            "a lease of {lease:?} is not a whole number of milliseconds from 1 to 2^64-1"
        ))),
        Ok(ms) => Ok(ms),
    }
}

/// Where a lease stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseStatus {
    /// Held until `expires_at` (ms since the Unix epoch, the controller's clock).
    Held {
        /// When the lease ends unless renewed.
        expires_at: u64,
        /// The group's membership version in the last answer.
        members_version: u64,
        /// Renewals so far.
        renewals: u64,
    },
    /// No longer held.
    Lost {
        /// Why: refused (expired, unknown), released, or no controller answered in time.
        reason: String,
    },
}

impl LeaseStatus {
    /// Whether the lease is held.
    pub fn is_held(&self) -> bool {
        matches!(self, LeaseStatus::Held { .. })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeaseId {
    Claim(ClaimId),
    Block(BlockId),
}

impl std::fmt::Display for LeaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeaseId::Claim(id) => id.fmt(f),
            LeaseId::Block(id) => id.fmt(f),
        }
    }
}

impl LeaseId {
    /// Renews for `lease_ms`: the new end and the group's membership version.
    async fn renew(&self, inner: &Inner, lease_ms: u64) -> Result<(u64, u64), AgentError> {
        let req = &RenewRequest { lease_ms };
        Ok(match *self {
            LeaseId::Claim(id) => {
                let c = inner
                    .endpoints
                    .call(|c| async move { c.renew_claim(id, req).await })
                    .await?;
                (c.expires_at, c.members_version)
            }
            LeaseId::Block(id) => {
                let b = inner
                    .endpoints
                    .call(|c| async move { c.renew_block(id, req).await })
                    .await?;
                (b.expires_at, b.members_version)
            }
        })
    }

    async fn release(&self, inner: &Inner) -> Result<(), AgentError> {
        match *self {
            LeaseId::Claim(id) => {
                inner
                    .endpoints
                    .call(|c| async move { c.release_claim(id).await })
                    .await?
            }
            LeaseId::Block(id) => {
                inner
                    .endpoints
                    .call(|c| async move { c.release_block(id).await })
                    .await?
            }
        }
        Ok(())
    }
}

/// Whether a controller refused for good (the lease is gone), as opposed to failing.
fn is_refusal(e: &AgentError) -> bool {
    match e {
        AgentError::Refused { status, .. } => *status < 500,
        AgentError::Answer { source, .. } => source.status().is_some_and(|s| s < 500),
        _ => false,
    }
}

/// A lease and its renewal task.
#[derive(Debug)]
struct Lease {
    inner: Arc<Inner>,
    id: LeaseId,
    status: watch::Receiver<LeaseStatus>,
    task: Option<JoinHandle<()>>,
    block: Option<Arc<BlockState>>,
    /// Released or detached: nothing to do on drop.
    done: bool,
}

impl Lease {
    fn start(
        inner: Arc<Inner>,
        id: LeaseId,
        group: String,
        lease: Duration,
        sent: Instant,
        (expires_at, members_version): (u64, u64),
        block: Option<Arc<BlockState>>,
    ) -> Lease {
        let (tx, status) = watch::channel(LeaseStatus::Held {
            expires_at,
            members_version,
            renewals: 0,
        });
        let task = inner.runtime.spawn(renew_loop(
            Arc::clone(&inner),
            id,
            group,
            lease,
            sent,
            tx,
            block.clone(),
        ));
        Lease {
            inner,
            id,
            status,
            task: Some(task),
            block,
            done: false,
        }
    }

    fn status(&self) -> LeaseStatus {
        self.status.borrow().clone()
    }

    fn stop(&mut self, reason: &str) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(block) = &self.block {
            block.end(reason);
        }
    }

    async fn release(mut self) -> Result<(), AgentError> {
        self.stop("released");
        self.done = true;
        self.id.release(&self.inner).await
    }

    fn detach(mut self) {
        self.stop("detached: no longer renewed by this agent");
        self.done = true;
    }

    async fn lost(&mut self) -> String {
        loop {
            if let LeaseStatus::Lost { reason } = &*self.status.borrow_and_update() {
                return reason.clone();
            }
            if self.status.changed().await.is_err() {
                return "the renewal task stopped".to_owned();
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop("dropped");
        if self.done {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let id = self.id;
        // Best effort: if no controller answers, the lease runs out on its own.
        self.inner.runtime.spawn(async move {
            match id.release(&inner).await {
                Ok(()) => tracing::debug!(lease = %id, "released on drop"),
                Err(e) => tracing::debug!(lease = %id, error = %e, "release on drop failed"),
            }
        });
    }
}

/// Renews `id` whenever a third of the lease is left, until refused or stopped.
async fn renew_loop(
    inner: Arc<Inner>,
    id: LeaseId,
    group: String,
    lease: Duration,
    granted: Instant,
    tx: watch::Sender<LeaseStatus>,
    block: Option<Arc<BlockState>>,
) {
    let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
    // The end as this process sees it: from when the granting request was sent.
    let mut deadline = granted + lease;
    let mut next = granted + lease * 2 / 3;
    let retry = (lease / 10).clamp(Duration::from_millis(20), Duration::from_secs(1));
    let mut renewals = 0;
    let lose = |reason: String| {
        tracing::warn!(lease = %id, %reason, "lease lost");
        if let Some(b) = &block {
            b.end(&reason);
        }
        let _ = tx.send(LeaseStatus::Lost { reason });
    };
    loop {
        tokio::time::sleep_until(next).await;
        let sent = Instant::now();
        match id.renew(&inner, lease_ms).await {
            Ok((expires_at, members_version)) => {
                renewals += 1;
                deadline = sent + lease;
                next = sent + lease * 2 / 3;
                inner.observe(&group, members_version);
                tracing::trace!(lease = %id, expires_at, "renewed");
                let _ = tx.send(LeaseStatus::Held {
                    expires_at,
                    members_version,
                    renewals,
                });
            }
            Err(e) if is_refusal(&e) => {
                lose(format!("renewal refused: {e}"));
                return;
            }
            Err(e) => {
                let now = Instant::now();
                if now + retry >= deadline {
                    lose(format!("no controller renewed it before it ended: {e}"));
                    return;
                }
                tracing::debug!(lease = %id, error = %e, "renewal failed; retrying");
                next = now + retry;
            }
        }
    }
}

/// An address claimed over HTTP, renewed in the background, released when dropped.
#[derive(Debug)]
pub struct Claim {
    info: api::Claim,
    lease: Lease,
}

impl Claim {
    /// The claim's id.
    pub fn id(&self) -> ClaimId {
        self.info.id
    }

    /// The address to send to.
    pub fn address(&self) -> IpAddr {
        self.info.address
    }

    /// The claim as the controller answered it, with the end and membership version of the
    /// last renewal.
    pub fn info(&self) -> api::Claim {
        let mut info = self.info.clone();
        if let LeaseStatus::Held {
            expires_at,
            members_version,
            ..
        } = self.lease.status()
        {
            info.expires_at = expires_at;
            info.members_version = members_version;
        }
        info
    }

    /// Where the lease stands.
    pub fn status(&self) -> LeaseStatus {
        self.lease.status()
    }

    /// Resolves when the lease is lost (refused, or not renewed in time), with why.
    pub async fn lost(&mut self) -> String {
        self.lease.lost().await
    }

    /// Releases the claim now.
    pub async fn release(self) -> Result<(), AgentError> {
        self.lease.release().await
    }

    /// Stops renewing and keeps the claim on the controller until its lease ends (the CLI
    /// prints it and exits).
    pub fn detach(self) -> api::Claim {
        let info = self.info();
        self.lease.detach();
        info
    }
}

/// A held block of whole copies of a plan: claim its addresses locally with
/// [`claim`](Self::claim) or a [`BlockClaimer`]. Renewed in the background, released when
/// dropped (its claimers then refuse).
#[derive(Debug)]
pub struct Block {
    info: api::Block,
    claimer: BlockClaimer,
    lease: Lease,
    /// The lease asked for (and renewed by), in ms.
    lease_ms: u64,
}

impl Block {
    /// The block's id.
    pub fn id(&self) -> BlockId {
        self.info.id
    }

    /// The block as the controller answered it, with the end and membership version of the
    /// last renewal.
    pub fn info(&self) -> api::Block {
        let mut info = self.info.clone();
        if let LeaseStatus::Held {
            expires_at,
            members_version,
            ..
        } = self.lease.status()
        {
            info.expires_at = expires_at;
            info.members_version = members_version;
        }
        info
    }

    /// A claimer of this block, for any thread (shares the block's state).
    pub fn claimer(&self) -> BlockClaimer {
        self.claimer.clone()
    }

    /// Claims an address reaching exactly `members`, locally (see [`BlockClaimer::claim`]).
    pub fn claim(&self, members: &[IpAddr]) -> Result<LocalClaim, LocalClaimError> {
        self.claimer.claim(members)
    }

    /// Where the lease stands.
    pub fn status(&self) -> LeaseStatus {
        self.lease.status()
    }

    /// Resolves when the lease is lost, with why.
    pub async fn lost(&mut self) -> String {
        self.lease.lost().await
    }

    /// Releases the block now; its claimers refuse from now on.
    pub async fn release(self) -> Result<(), AgentError> {
        self.lease.release().await
    }

    /// Stops renewing and keeps the block on the controller until its lease ends; local
    /// claims are refused from now on (this agent no longer vouches for it).
    pub fn detach(self) -> api::Block {
        let info = self.info();
        self.lease.detach();
        info
    }
}
