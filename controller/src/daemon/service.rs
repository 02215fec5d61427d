//! The HTTP API's [`Service`] over the core task: every call becomes a command or a query on
//! the core task's channel, answered through a oneshot; the core's views become the API's
//! DTOs (times in ms since the UNIX epoch, ids as hex).
//!
//! Guarantees:
//! - `POST /v1/groups/{name}/subsets` answers only when every switch acknowledged (the core
//!   completes the command after the last barrier reply), or after `request_timeout` with
//!   `timeout` — and then the subset is removed (rolled back if still installing), so a
//!   timed-out request leaves nothing behind.
//! - Every transaction runs in an `api` span carrying its `trace_id`: the client's
//!   (`X-Trace-Id` / `traceparent`) or one made here, which becomes the flows' cookie.
//! - Listings show what can be used: connected switches, ready subsets.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::{
    ApiError, Capabilities, Dpid as ApiDpid, Group, GroupName, GroupSpec, Health, Host, Limits,
    Link, LinkEnd, LinkState, MacAddr as ApiMac, Port, RequestMeta, Service, Subset, SubsetRequest,
    Switch, TraceId, Upsert,
};
use tokio::sync::{mpsc, oneshot};
use tracing::{info_span, Instrument, Span};

use super::clock::Clock;
use super::driver::{is_ready, Done, ToCore, View};
use crate::command::{Command, SubsetInfo};

/// BIER's part of the service (a child module: it uses the core channel).
#[path = "bier.rs"]
pub(super) mod bier;

/// Rendezvous plans, claims, blocks and the claim journal (a child module: it uses the core
/// channel).
#[path = "rendezvous.rs"]
pub(super) mod rendezvous;

/// What a token scoped to some groups may see and touch (a child module: it uses the core
/// channel).
#[path = "scope.rs"]
pub(super) mod scope;

/// The API service of one tsmd.
#[derive(Debug)]
pub struct TsmdService {
    core: mpsc::Sender<ToCore>,
    max_lease_ms: u64,
    timeout: Duration,
    ids: TraceIds,
    /// Metrics, the event log, readiness (issue 5); `None` in a bare service.
    obs: Option<super::observe::Observability>,
}

/// Trace ids for requests that bring none: splitmix64 over a counter seeded from the clock
/// and the pid, so two daemons (or two runs) do not repeat each other's.
#[derive(Debug)]
struct TraceIds(AtomicU64);

impl TraceIds {
    fn new() -> TraceIds {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        TraceIds(AtomicU64::new(t ^ (u64::from(std::process::id()) << 40)))
    }

    fn next(&self) -> u64 {
        loop {
            let x = self.0.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
            let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            // 0 and all-ones are not valid cookies.
            if z != 0 && z != u64::MAX {
                return z;
            }
        }
    }
}

fn stopping() -> ApiError {
    ApiError::Internal {
        reason: "tsmd is shutting down".to_owned(),
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl TsmdService {
    pub(crate) fn new(core: mpsc::Sender<ToCore>, max_lease: Duration, timeout: Duration) -> Self {
        TsmdService {
            core,
            max_lease_ms: ms(max_lease),
            timeout,
            ids: TraceIds::new(),
            obs: None,
        }
    }

    /// With metrics, the event log and the readiness flag.
    pub(crate) fn with_observability(mut self, obs: super::observe::Observability) -> Self {
        self.obs = Some(obs);
        self
    }

    /// The metrics (the claims code records claim latency with `observe_claim`).
    pub(crate) fn metrics(&self) -> Option<&std::sync::Arc<super::metrics::Metrics>> {
        self.obs.as_ref().map(|o| &o.metrics)
    }

    async fn query<R, F>(&self, f: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&View<'_>) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job = Box::new(move |v: &View<'_>| {
            let _ = tx.send(f(v));
        });
        self.core
            .send(ToCore::Query(job))
            .await
            .map_err(|_| stopping())?;
        rx.await.map_err(|_| stopping())
    }

    /// Runs a command in the core; `Err(None)` when the time limit passed.
    async fn command(&self, command: Command) -> Result<Result<Done, ApiError>, ()> {
        let (tx, rx) = oneshot::channel();
        let msg = ToCore::Command {
            command,
            span: Span::current(),
            reply: tx,
        };
        if self.core.send(msg).await.is_err() {
            return Ok(Err(stopping()));
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Ok(Err(stopping())),
            Err(_) => Err(()),
        }
    }

    async fn command_or_timeout(&self, command: Command, what: &str) -> Result<Done, ApiError> {
        match self.command(command).await {
            Ok(r) => r,
            Err(()) => Err(ApiError::Timeout {
                operation: what.to_owned(),
                after_ms: ms(self.timeout),
                switches: Vec::new(),
            }),
        }
    }
}

fn api_subset(s: SubsetInfo) -> Result<Subset, ApiError> {
    let group = s
        .group
        .parse::<GroupName>()
        .map_err(|e| ApiError::Internal {
            reason: format!(
                "subset {} has a group name the API cannot show: {e}",
                s.addr
            ),
        })?;
    Ok(Subset {
        address: s.addr,
        group,
        members: s.members,
        lease_ms: ms(s.lease),
        expires_at: Clock::unix_ms(s.expires_at),
        switches: s.switches.iter().map(|d| ApiDpid(d.0)).collect(),
        trace_id: TraceId::new(s.trace_id).ok_or_else(|| ApiError::Internal {
            reason: format!("subset {} has trace id 0", s.addr),
        })?,
        owner: s.owner,
    })
}

fn api_group(info: crate::command::GroupInfo, version: u64) -> Result<Group, ApiError> {
    Ok(Group {
        name: info.name.parse().map_err(|e| ApiError::Internal {
            reason: format!("group {:?} cannot be shown: {e}", info.name),
        })?,
        address: info.addr,
        members: info.members,
        version,
        snooped: info.snooped,
    })
}

fn switches(v: &View<'_>) -> Vec<Switch> {
    v.ctl
        .switches()
        .into_iter()
        .filter(|s| s.connected)
        .map(|s| Switch {
            dpid: ApiDpid(s.dpid.0),
            peer: v.peer(s.dpid).map(|p| p.to_string()),
            connected_since: s.connected_since.map_or(0, Clock::unix_ms),
            ports: s
                .ports
                .into_iter()
                .map(|p| Port {
                    number: p.port.0,
                    name: p.name,
                    state: if p.up { LinkState::Up } else { LinkState::Down },
                    hw_addr: Some(ApiMac(p.hw_addr.0)),
                })
                .collect(),
            capabilities: Capabilities {
                n_tables: s.n_tables,
                max_groups: s.max_groups,
                bier: s.bier,
            },
        })
        .collect()
}

impl Service for TsmdService {
    fn limits(&self) -> Limits {
        Limits::new(self.max_lease_ms)
    }

    async fn health(&self) -> Result<Health, ApiError> {
        let accepting = self
            .obs
            .as_ref()
            .is_none_or(|o| o.ready.load(Ordering::Acquire));
        if !accepting {
            return Err(ApiError::NotReady {
                reason: "the OpenFlow listener is not accepting switches (starting or stopping)"
                    .to_owned(),
            });
        }
        // The core task answers: it runs.
        self.query(|_| Health {
            status: "ok".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        })
        .await
        .map_err(|e| ApiError::NotReady {
            reason: format!("the core task does not answer: {e}"),
        })
    }

    fn events(&self) -> Option<std::sync::Arc<api::events::EventLog>> {
        self.obs.as_ref().map(|o| o.events.clone())
    }

    async fn metrics(&self) -> Result<String, ApiError> {
        let Some(obs) = &self.obs else {
            return Err(ApiError::NotFound {
                resource: "the metrics of this server".to_owned(),
            });
        };
        let mut gauges = self
            .query(|v| super::metrics::Gauges {
                switches_connected: v.ctl.switches().iter().filter(|s| s.connected).count() as u64,
                subsets_live: v.ctl.subsets().iter().filter(|s| is_ready(s)).count() as u64,
                groups: v.ctl.groups().len() as u64,
                snoop: super::metrics::SnoopGauges::read(v.ctl.snooper()),
                ..Default::default()
            })
            .await?;
        gauges.events_last_seq = obs.events.range().1;
        gauges.idempotency_keys = obs.idempotency.len() as u64;
        Ok(obs.metrics.render(&gauges))
    }

    fn observe_request(&self, method: &str, route: &str, status: u16, _elapsed: Duration) {
        if let Some(o) = &self.obs {
            o.metrics.http(method, route, status);
        }
    }

    async fn switches(&self, _meta: RequestMeta) -> Result<Vec<Switch>, ApiError> {
        self.query(switches).await
    }

    async fn links(&self, _meta: RequestMeta) -> Result<Vec<Link>, ApiError> {
        self.query(|v| {
            v.ctl
                .links()
                .into_iter()
                .map(|l| {
                    let end = |e: crate::topology::Endpoint| LinkEnd {
                        dpid: ApiDpid(e.dpid.0),
                        port: e.port.0,
                    };
                    Link {
                        a: end(l.a),
                        b: end(l.b),
                        state: if l.live {
                            LinkState::Up
                        } else {
                            LinkState::Down
                        },
                    }
                })
                .collect()
        })
        .await
    }

    async fn hosts(&self, _meta: RequestMeta) -> Result<Vec<Host>, ApiError> {
        self.query(|v| {
            v.ctl
                .hosts()
                .into_iter()
                .flat_map(|h| {
                    h.ips.into_iter().map(move |ip| Host {
                        mac: ApiMac(h.mac.0),
                        ip,
                        dpid: ApiDpid(h.dpid.0),
                        port: h.port.0,
                    })
                })
                .collect()
        })
        .await
    }

    async fn put_group(
        &self,
        _meta: RequestMeta,
        name: GroupName,
        spec: GroupSpec,
    ) -> Result<Upsert<Group>, ApiError> {
        let span =
            info_span!("api", op = "put_group", group = %name, trace_id = tracing::field::Empty);
        async move {
            let command = match spec.members {
                api::GroupMembers::List(members) => Command::PutGroup {
                    name: name.to_string(),
                    addr: spec.address,
                    members,
                },
                // IGMP / MLD snooping decides the members (`snoop`).
                api::GroupMembers::Snooped => Command::PutSnoopedGroup {
                    name: name.to_string(),
                    addr: spec.address,
                },
            };
            match self.command_or_timeout(command, "group update").await? {
                Done::Group {
                    info,
                    created,
                    version,
                } => {
                    let g = api_group(info, version)?;
                    Ok(if created {
                        Upsert::Created(g)
                    } else {
                        Upsert::Replaced(g)
                    })
                }
                other => Err(ApiError::Internal {
                    reason: format!("unexpected answer to a group update: {other:?}"),
                }),
            }
        }
        .instrument(span)
        .await
    }

    async fn group(&self, _meta: RequestMeta, name: GroupName) -> Result<Group, ApiError> {
        let n = name.to_string();
        self.query(move |v| {
            v.ctl
                .group(&n)
                .map(|g| api_group(g, v.version(&n)))
                .unwrap_or(Err(ApiError::UnknownGroup { group: n }))
        })
        .await?
    }

    async fn groups(&self, meta: RequestMeta) -> Result<Vec<Group>, ApiError> {
        let mut groups = self
            .query(|v| {
                v.ctl
                    .groups()
                    .into_iter()
                    .map(|g| {
                        let version = v.version(&g.name);
                        api_group(g, version)
                    })
                    .collect::<Result<Vec<Group>, ApiError>>()
            })
            .await??;
        scope::retain(&meta, &mut groups, |g| g.name.as_str());
        Ok(groups)
    }

    async fn delete_group(&self, _meta: RequestMeta, name: GroupName) -> Result<(), ApiError> {
        let span =
            info_span!("api", op = "delete_group", group = %name, trace_id = tracing::field::Empty);
        async move {
            let command = Command::DeleteGroup {
                name: name.to_string(),
            };
            self.command_or_timeout(command, "group deletion")
                .await
                .map(|_| ())
        }
        .instrument(span)
        .await
    }

    async fn create_subset(
        &self,
        meta: RequestMeta,
        group: GroupName,
        req: SubsetRequest,
    ) -> Result<Subset, ApiError> {
        let trace = meta.trace_id.map_or_else(|| self.ids.next(), TraceId::get);
        let span = info_span!(
            "api",
            op = "create_subset",
            group = %group,
            trace_id = %format!("{trace:016x}"),
        );
        async move {
            let started = std::time::Instant::now();
            let command = Command::CreateSubset {
                group: group.to_string(),
                members: req.members,
                lease: Duration::from_millis(req.lease_ms),
                trace_id: Some(trace),
                owner: scope::owner(&meta),
            };
            match self.command(command).await {
                Ok(Ok(Done::Subset(s))) => {
                    if let Some(m) = self.metrics() {
                        m.observe_install(started.elapsed());
                    }
                    api_subset(s)
                }
                Ok(Ok(other)) => Err(ApiError::Internal {
                    reason: format!("unexpected answer to a subset install: {other:?}"),
                }),
                Ok(Err(e)) => Err(e),
                Err(()) => {
                    // Give up: the core removes whatever of it exists, now or when ready.
                    let (tx, rx) = oneshot::channel();
                    let _ = self
                        .core
                        .send(ToCore::Cancel {
                            trace_id: trace,
                            span: Span::current(),
                            reply: tx,
                        })
                        .await;
                    let switches = rx.await.unwrap_or_default();
                    Err(ApiError::Timeout {
                        operation: format!("subset install (trace id {trace:016x}); rolled back"),
                        after_ms: ms(self.timeout),
                        switches: switches.iter().map(|d| ApiDpid(d.0)).collect(),
                    })
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn subsets(&self, meta: RequestMeta) -> Result<Vec<Subset>, ApiError> {
        let mut subsets = self
            .query(|v| {
                v.ctl
                    .subsets()
                    .into_iter()
                    .filter(is_ready)
                    .map(api_subset)
                    .collect::<Result<Vec<Subset>, ApiError>>()
            })
            .await??;
        scope::retain(&meta, &mut subsets, |s| s.group.as_str());
        Ok(subsets)
    }

    async fn subset(&self, meta: RequestMeta, address: IpAddr) -> Result<Subset, ApiError> {
        let s = self
            .query(move |v| match v.ctl.subset(address) {
                Some(s) if is_ready(&s) => api_subset(s),
                _ => Err(scope::no_subset(address)),
            })
            .await??;
        // Another group's subset is answered as no subset (`scope`).
        if !scope::visible(&meta, s.group.as_str()) {
            return Err(scope::no_subset(address));
        }
        Ok(s)
    }

    async fn delete_subset(&self, meta: RequestMeta, address: IpAddr) -> Result<(), ApiError> {
        let span = info_span!("api", op = "delete_subset", addr = %address, trace_id = tracing::field::Empty);
        async move {
            let found = self
                .query(move |v| {
                    v.ctl
                        .subset(address)
                        .map(|s| (s.trace_id, s.group, s.owner))
                })
                .await?;
            if let Some((t, group, owner)) = found {
                // The route names no group: another group's subset is answered as no subset
                // (`scope`), so its existence does not show.
                if !scope::visible(&meta, &group) {
                    return Err(scope::no_subset(address));
                }
                meta.authorize(Some(api::Right::Subsets), &group)?;
                // Another token's subset: 403, unless admin (`scope::check_owner`).
                scope::check_owner(
                    &meta,
                    &format!("subset {address}"),
                    &group,
                    owner.as_deref(),
                )?;
                Span::current().record("trace_id", tracing::field::display(format!("{t:016x}")));
            }
            self.command_or_timeout(Command::DeleteSubset { addr: address }, "subset removal")
                .await
                .map(|_| ())
        }
        .instrument(span)
        .await
    }

    async fn assign_bier(
        &self,
        meta: RequestMeta,
        group: GroupName,
        req: api::BierRequest,
    ) -> Result<api::BierSubset, ApiError> {
        bier::assign(self, meta, group, req).await
    }

    async fn release_bier(&self, meta: RequestMeta, address: IpAddr) -> Result<(), ApiError> {
        bier::release(self, meta, address).await
    }

    async fn switch_bift(
        &self,
        meta: RequestMeta,
        dpid: ApiDpid,
    ) -> Result<api::SwitchBift, ApiError> {
        bier::switch_bift(self, meta, dpid).await
    }

    async fn switch_rules(
        &self,
        meta: RequestMeta,
        dpid: ApiDpid,
    ) -> Result<api::SwitchRules, ApiError> {
        scope::require_every_group(&meta, "the rules of a switch")?;
        self.query(move |v| super::rules_view::switch_rules(v, dpid))
            .await?
    }

    async fn bfr_ids(&self, meta: RequestMeta) -> Result<Vec<api::BfrIdEntry>, ApiError> {
        bier::bfr_ids(self, meta).await
    }

    async fn put_rendezvous(
        &self,
        meta: RequestMeta,
        group: GroupName,
        req: api::RendezvousRequest,
    ) -> Result<api::RendezvousPlan, ApiError> {
        rendezvous::put_plan(self, meta, group, req).await
    }

    async fn rendezvous(
        &self,
        _meta: RequestMeta,
        group: GroupName,
    ) -> Result<api::RendezvousPlan, ApiError> {
        rendezvous::plan(self, group).await
    }

    async fn rendezvous_plans(
        &self,
        meta: RequestMeta,
    ) -> Result<Vec<api::RendezvousPlan>, ApiError> {
        let mut plans = rendezvous::plans(self).await?;
        scope::retain(&meta, &mut plans, |p| p.group.as_str());
        Ok(plans)
    }

    async fn delete_rendezvous(
        &self,
        _meta: RequestMeta,
        group: GroupName,
    ) -> Result<(), ApiError> {
        rendezvous::delete_plan(self, group).await
    }

    async fn claim(
        &self,
        meta: RequestMeta,
        group: GroupName,
        req: api::ClaimRequest,
    ) -> Result<api::Claim, ApiError> {
        rendezvous::claim(self, group, req, scope::owner(&meta)).await
    }

    async fn renew_claim(
        &self,
        meta: RequestMeta,
        id: api::ClaimId,
        req: api::RenewRequest,
    ) -> Result<api::Claim, ApiError> {
        scope::guard_lease(self, &meta, scope::Lease::Claim(id.0)).await?;
        rendezvous::renew_claim(self, id, req).await
    }

    async fn release_claim(&self, meta: RequestMeta, id: api::ClaimId) -> Result<(), ApiError> {
        scope::guard_lease(self, &meta, scope::Lease::Claim(id.0)).await?;
        rendezvous::release_claim(self, id).await
    }

    async fn claims(&self, meta: RequestMeta) -> Result<Vec<api::Claim>, ApiError> {
        let mut claims = rendezvous::claims(self).await?;
        scope::retain(&meta, &mut claims, |c| c.group.as_str());
        Ok(claims)
    }

    async fn take_block(
        &self,
        meta: RequestMeta,
        group: GroupName,
        req: api::BlockRequest,
    ) -> Result<api::Block, ApiError> {
        rendezvous::take_block(self, group, req, scope::owner(&meta)).await
    }

    async fn renew_block(
        &self,
        meta: RequestMeta,
        id: api::BlockId,
        req: api::RenewRequest,
    ) -> Result<api::Block, ApiError> {
        scope::guard_lease(self, &meta, scope::Lease::Block(id.0)).await?;
        rendezvous::renew_block(self, id, req).await
    }

    async fn release_block(&self, meta: RequestMeta, id: api::BlockId) -> Result<(), ApiError> {
        scope::guard_lease(self, &meta, scope::Lease::Block(id.0)).await?;
        rendezvous::release_block(self, id).await
    }

    async fn blocks(&self, meta: RequestMeta) -> Result<Vec<api::Block>, ApiError> {
        let mut blocks = rendezvous::blocks(self).await?;
        scope::retain(&meta, &mut blocks, |b| b.group.as_str());
        Ok(blocks)
    }
}
