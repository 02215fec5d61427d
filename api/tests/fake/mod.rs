//! An in-memory `Service` with the behaviour the issues ask of tsmd, small enough to read:
//! two switches, one link, six host addresses, a tiny address pool per family (so exhaustion
//! is easy to reach), and switches that can be told to refuse or to stall the next install.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use api::events::{Event, EventKind, EventLog};
use api::{
    ApiError, Capabilities, Dpid, Group, GroupName, GroupSpec, Health, Host, Limits, Link, LinkEnd,
    LinkState, Port, RequestMeta, Service, Subset, SubsetRequest, Switch, TraceId, Upsert,
};

pub const MAX_LEASE_MS: u64 = 60_000;
/// IPv4 transactional pool: 239.255.0.0/31, two addresses.
pub const POOL4: &str = "239.255.0.0/31";
/// IPv6 transactional pool: ff3e::8000:0/127, two addresses.
pub const POOL6: &str = "ff3e::8000:0/127";

/// What the next install does on the switches.
#[derive(Debug, Clone, Copy)]
pub enum NextInstall {
    Acknowledged,
    /// The switch answers OFPT_ERROR with this type and code.
    Refused(Dpid, u16, u16),
    /// These switches never answer the barrier.
    Stalls(Dpid),
}

pub struct Fake {
    state: Mutex<State>,
    /// Every change as an event (`GET /v1/events`).
    pub events: Arc<EventLog>,
    /// How many times `create_subset` ran (the idempotency tests count it).
    pub create_calls: AtomicU64,
    /// Each install waits this long first (to overlap concurrent duplicates).
    pub install_delay_ms: AtomicU64,
}

struct State {
    switches: Vec<Switch>,
    links: Vec<Link>,
    hosts: Vec<Host>,
    groups: BTreeMap<GroupName, Group>,
    subsets: BTreeMap<IpAddr, Subset>,
    free4: Vec<IpAddr>,
    free6: Vec<IpAddr>,
    next_trace: u64,
    next_install: NextInstall,
    by_idempotency_key: HashMap<String, Subset>,
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn port(number: u32, name: &str) -> Port {
    Port {
        number,
        name: name.to_owned(),
        state: LinkState::Up,
        hw_addr: Some(format!("02:00:00:00:0{number}:00").parse().unwrap()),
    }
}

impl Fake {
    pub fn new() -> Self {
        let sw = |dpid: u64| Switch {
            dpid: Dpid(dpid),
            peer: Some(format!("127.0.0.1:{}", 40000 + dpid)),
            connected_since: 1_700_000_000_000,
            ports: vec![
                port(1, &format!("s{dpid}-eth1")),
                port(2, &format!("s{dpid}-eth2")),
                port(3, &format!("s{dpid}-eth3")),
            ],
            capabilities: Capabilities {
                n_tables: 254,
                max_groups: Some(4096),
                bier: false,
            },
        };
        let host = |mac: &str, addr: &str, dpid: u64, port: u32| Host {
            mac: mac.parse().unwrap(),
            ip: ip(addr),
            dpid: Dpid(dpid),
            port,
        };
        Fake {
            state: Mutex::new(State {
                switches: vec![sw(1), sw(2)],
                links: vec![Link {
                    a: LinkEnd {
                        dpid: Dpid(1),
                        port: 3,
                    },
                    b: LinkEnd {
                        dpid: Dpid(2),
                        port: 3,
                    },
                    state: LinkState::Up,
                }],
                hosts: vec![
                    host("02:00:00:00:00:01", "10.0.0.1", 1, 1),
                    host("02:00:00:00:00:01", "fd00::1", 1, 1),
                    host("02:00:00:00:00:02", "10.0.0.2", 1, 2),
                    host("02:00:00:00:00:02", "fd00::2", 1, 2),
                    host("02:00:00:00:00:03", "10.0.0.3", 2, 1),
                    host("02:00:00:00:00:04", "10.0.0.4", 2, 2),
                ],
                groups: BTreeMap::new(),
                subsets: BTreeMap::new(),
                free4: vec![ip("239.255.0.1"), ip("239.255.0.0")],
                free6: vec![ip("ff3e::8000:1"), ip("ff3e::8000:0")],
                next_trace: 1,
                next_install: NextInstall::Acknowledged,
                by_idempotency_key: HashMap::new(),
            }),
            events: Arc::new(EventLog::new(64, 1)),
            create_calls: AtomicU64::new(0),
            install_delay_ms: AtomicU64::new(0),
        }
    }

    /// With this event log (another capacity or keep-alive interval).
    #[allow(dead_code)]
    pub fn with_event_log(mut self, log: EventLog) -> Self {
        self.events = Arc::new(log);
        self
    }

    /// Appends an event with the next seq.
    pub fn emit(&self, kind: EventKind) {
        let (_, last) = self.events.range();
        self.events.push(Event {
            seq: last + 1,
            at: now_ms(),
            kind,
        });
    }

    pub fn set_next_install(&self, next: NextInstall) {
        self.state.lock().unwrap().next_install = next;
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

impl State {
    fn group(&self, name: &GroupName) -> Result<&Group, ApiError> {
        self.groups.get(name).ok_or_else(|| ApiError::UnknownGroup {
            group: name.to_string(),
        })
    }

    fn create_subset(
        &mut self,
        meta: RequestMeta,
        name: GroupName,
        req: SubsetRequest,
    ) -> Result<Subset, ApiError> {
        if let Some(key) = &meta.idempotency_key {
            if let Some(first) = self.by_idempotency_key.get(key) {
                return Ok(first.clone());
            }
        }
        let group = self.group(&name)?.clone();
        let outside: Vec<IpAddr> = req
            .members
            .iter()
            .filter(|m| !group.members.contains(m))
            .copied()
            .collect();
        if !outside.is_empty() {
            return Err(ApiError::NotGroupMembers {
                group: name.to_string(),
                members: outside,
            });
        }
        let mut switches = Vec::new();
        let mut unknown = Vec::new();
        for member in &req.members {
            match self.hosts.iter().find(|h| h.ip == *member) {
                Some(h) if !switches.contains(&h.dpid) => switches.push(h.dpid),
                Some(_) => {}
                None => unknown.push(*member),
            }
        }
        if !unknown.is_empty() {
            return Err(ApiError::UnknownHosts { hosts: unknown });
        }
        switches.sort();
        let trace_id = meta.trace_id.unwrap_or_else(|| {
            self.next_trace += 1;
            TraceId::new(self.next_trace).unwrap()
        });
        let (pool, free) = if group.address.is_ipv4() {
            (POOL4, &mut self.free4)
        } else {
            (POOL6, &mut self.free6)
        };
        let address = free.pop().ok_or_else(|| ApiError::PoolExhausted {
            pool: pool.to_owned(),
            size: 2,
        })?;
        match std::mem::replace(&mut self.next_install, NextInstall::Acknowledged) {
            NextInstall::Acknowledged => {}
            NextInstall::Refused(dpid, error_type, error_code) => {
                free.push(address); // rolled back: the address goes back to the pool
                return Err(ApiError::SwitchRefused {
                    dpid,
                    error_type,
                    error_code,
                    error: "OFPET_GROUP_MOD_FAILED/OFPGMFC_OUT_OF_GROUPS".to_owned(),
                    trace_id: Some(trace_id),
                });
            }
            NextInstall::Stalls(dpid) => {
                free.push(address);
                return Err(ApiError::Timeout {
                    operation: format!("installing subset of {name}"),
                    after_ms: 3000,
                    switches: vec![dpid],
                });
            }
        }
        let subset = Subset {
            address,
            group: name,
            members: req.members,
            lease_ms: req.lease_ms,
            expires_at: now_ms() + req.lease_ms,
            switches,
            trace_id,
            owner: None,
        };
        self.subsets.insert(address, subset.clone());
        if let Some(key) = meta.idempotency_key {
            self.by_idempotency_key.insert(key, subset.clone());
        }
        Ok(subset)
    }

    fn put_group(&mut self, name: GroupName, spec: GroupSpec) -> Result<Upsert<Group>, ApiError> {
        if let Some(other) = self
            .groups
            .values()
            .find(|g| g.address == spec.address && g.name != name)
        {
            return Err(ApiError::Conflict {
                resource: format!("group {}", other.name),
                reason: format!("address {} already belongs to it", spec.address),
            });
        }
        Ok(match self.groups.get_mut(&name) {
            Some(group) => {
                if group.members != spec.members.listed() {
                    group.version += 1;
                }
                group.address = spec.address;
                group.members = spec.members.listed().to_vec();
                group.snooped = spec.members.is_snooped();
                Upsert::Replaced(group.clone())
            }
            None => {
                let group = Group {
                    name: name.clone(),
                    address: spec.address,
                    members: spec.members.listed().to_vec(),
                    version: 1,
                    snooped: spec.members.is_snooped(),
                };
                self.groups.insert(name, group.clone());
                Upsert::Created(group)
            }
        })
    }

    fn delete_group(&mut self, name: &GroupName) -> Result<(), ApiError> {
        self.group(name)?;
        let live = self.subsets.values().filter(|s| s.group == *name).count();
        if live > 0 {
            return Err(ApiError::Conflict {
                resource: format!("group {name}"),
                reason: format!("{live} live subset(s) use it"),
            });
        }
        self.groups.remove(name);
        Ok(())
    }

    fn delete_subset(&mut self, address: IpAddr) -> Result<(), ApiError> {
        let not_found = || ApiError::NotFound {
            resource: format!("subset {address}"),
        };
        self.subsets.remove(&address).ok_or_else(not_found)?;
        if address.is_ipv4() {
            self.free4.push(address);
        } else {
            self.free6.push(address);
        }
        Ok(())
    }
}

// `async fn` in the impl satisfies the trait's `impl Future + Send` as long as the future is
// `Send`, which the compiler checks here: the lock is never held across an await.
impl Service for Fake {
    fn limits(&self) -> Limits {
        Limits::new(MAX_LEASE_MS)
    }

    async fn health(&self) -> Result<Health, ApiError> {
        Ok(Health {
            status: "ok".into(),
            version: "test".into(),
        })
    }

    async fn switches(&self, _meta: RequestMeta) -> Result<Vec<Switch>, ApiError> {
        Ok(self.with(|s| s.switches.clone()))
    }

    async fn links(&self, _meta: RequestMeta) -> Result<Vec<Link>, ApiError> {
        Ok(self.with(|s| s.links.clone()))
    }

    async fn hosts(&self, _meta: RequestMeta) -> Result<Vec<Host>, ApiError> {
        Ok(self.with(|s| s.hosts.clone()))
    }

    async fn put_group(
        &self,
        _meta: RequestMeta,
        name: GroupName,
        spec: GroupSpec,
    ) -> Result<Upsert<Group>, ApiError> {
        let r = self.with(|s| s.put_group(name, spec));
        if let Ok(Upsert::Created(g) | Upsert::Replaced(g)) = &r {
            self.emit(EventKind::GroupPut {
                group: g.name.to_string(),
                address: g.address,
                members: g.members.clone(),
            });
        }
        r
    }

    async fn group(&self, _meta: RequestMeta, name: GroupName) -> Result<Group, ApiError> {
        self.with(|s| s.group(&name).cloned())
    }

    async fn groups(&self, _meta: RequestMeta) -> Result<Vec<Group>, ApiError> {
        Ok(self.with(|s| s.groups.values().cloned().collect()))
    }

    async fn delete_group(&self, _meta: RequestMeta, name: GroupName) -> Result<(), ApiError> {
        self.with(|s| s.delete_group(&name))?;
        self.emit(EventKind::GroupDeleted {
            group: name.to_string(),
        });
        Ok(())
    }

    async fn create_subset(
        &self,
        meta: RequestMeta,
        group: GroupName,
        req: SubsetRequest,
    ) -> Result<Subset, ApiError> {
        // A real install waits for barriers; yield once so the call is truly asynchronous.
        tokio::task::yield_now().await;
        self.create_calls.fetch_add(1, Ordering::SeqCst);
        let delay = self.install_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        self.with(|s| s.create_subset(meta, group, req))
    }

    async fn subsets(&self, _meta: RequestMeta) -> Result<Vec<Subset>, ApiError> {
        Ok(self.with(|s| s.subsets.values().cloned().collect()))
    }

    async fn subset(&self, _meta: RequestMeta, address: IpAddr) -> Result<Subset, ApiError> {
        self.with(|s| s.subsets.get(&address).cloned())
            .ok_or_else(|| ApiError::NotFound {
                resource: format!("subset {address}"),
            })
    }

    async fn delete_subset(&self, _meta: RequestMeta, address: IpAddr) -> Result<(), ApiError> {
        self.with(|s| s.delete_subset(address))
    }

    fn events(&self) -> Option<Arc<EventLog>> {
        Some(self.events.clone())
    }

    async fn metrics(&self) -> Result<String, ApiError> {
        let n = self.with(|s| s.subsets.len());
        Ok(format!(
            "# HELP fake_subsets_live Live subsets.\n# TYPE fake_subsets_live gauge\nfake_subsets_live {n}\n"
        ))
    }
}
