//! Group membership learned from IGMP and MLD (the snooping state), and the querier's
//! schedule. Pure: parsed packets and times in, membership changes and queries to send out.
//!
//! **What is tracked.** Per group address and edge port (switch, port), every *receiver*
//! behind that port, by its MAC and the IP source address of its reports, each with its own
//! membership timer. Reports are punted to the controller and never forwarded, so hosts never
//! hear each other's reports and never suppress theirs (RFC 2236 §3): every receiver reports
//! for itself and a leave removes only the receiver that sent it. A group's *members* are the
//! IP addresses of its receivers on every port (plus members restored from a snapshot that
//! have not yet reported again, see [`Snooper::restore_members`]).
//!
//! **Timers** (RFC 3376 §8 and RFC 3810 §9 defaults: robustness 2, query interval 125 s,
//! query response interval 10 s, last member query interval 1 s). A report (re)arms its
//! receiver's timer to the group membership interval (robustness × query interval + query
//! response interval = 260 s); a receiver whose timer runs out without a report is removed.
//!
//! **Leaves** (IGMPv2 leave, MLDv1 done, IGMPv3 / MLDv2 `CHANGE_TO_INCLUDE_MODE` with no
//! source, and a `BLOCK_OLD_SOURCES` that empties an include list). The leaving receiver is
//! removed at once. If it was the last receiver of the group on that port, that is the whole
//! answer (fast leave: no query, no waiting). If other receivers remain on the port, the
//! querier sends group-specific queries out of that port (last member query count times, a
//! last member query interval apart) so that receivers we have not heard from yet speak up;
//! the remaining ones keep their own timers. (A v1/v2 host behind a hub that suppressed its
//! report after hearing a neighbour's would be missed by a fast leave until it answers the
//! next general query; a host on its own port, and every IGMPv3 / MLDv2 host, is tracked
//! exactly.)
//!
//! **Source filtering is simplified to any-source.** IGMPv3 / MLDv2 records are folded per
//! receiver into "exclude mode" (wants the group from every source but some: forwarded like
//! any-source) or "include mode" with its source list (forwarded like any-source while the
//! list is not empty; an empty list means the receiver left). Forwarding never filters by
//! source: a receiver gets the group from every sender.
//!
//! **Not snooped**: 224.0.0.0/24 (RFC 4541 §2.1.2: link-local control groups are flooded),
//! ff00::/15, ff02::1, ff02::2, ff02::16 and solicited-node groups ff02::1:ff00:0/104 (every
//! IPv6 host reports these). Reports with an unspecified or non-unicast source name no
//! receiver and are ignored. At most `max_receivers` receivers are tracked; reports beyond
//! that are counted and ignored.
//!
//! **Querier.** When enabled, every switch that becomes ready gets a general query (IGMPv3
//! and MLDv2) out of its edge ports at once and `robustness` times in all, a startup query
//! interval (a quarter of the query interval, RFC 3376 §8.6) apart, then one every query
//! interval. Queries from other queriers are counted and remembered (address, port, when)
//! but do not silence ours: they were punted to the controller, so no host heard them, and
//! ours are the queries the hosts answer. Our own queries coming back (a port that turned
//! out to be an inter-switch link) are recognised by their source MAC and ignored.
//!
//! Guarantees: deterministic (ordered maps only); every input is bounded work; nothing
//! panics on any packet.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use openflow::oxm::MacAddr;

use crate::snoop::parse::{GroupRecord, Message, Packet, RecordType, Version};
use crate::time::Time;
use crate::topology::{Dpid, Endpoint};

/// An include-mode source list longer than this is kept at this length (it only has to say
/// "not empty").
const MAX_SOURCES: usize = 64;

/// Snooping and querier settings. [`SnoopConfig::default`] has the RFC defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnoopConfig {
    /// Punt IGMP and MLD to the controller (a flow on every switch) and track membership.
    pub enabled: bool,
    /// Send general and group-specific queries.
    pub querier: bool,
    /// Robustness variable (RFC 3376 §8.1): 1-7 (the QRV field has 3 bits); 2 by default.
    pub robustness: u8,
    /// Query interval (§8.2): 125 s.
    pub query_interval: Duration,
    /// Query response interval (§8.3), the Max Resp time of general queries: 10 s.
    pub query_response_interval: Duration,
    /// Last member query interval (§8.8), the Max Resp time of group-specific queries: 1 s.
    pub last_member_query_interval: Duration,
    /// Source MAC of our queries.
    pub querier_mac: MacAddr,
    /// Source of our IGMP queries (0.0.0.0, as a snooping switch's proxy querier may use:
    /// RFC 4541 §2.1.1).
    pub querier_v4: Ipv4Addr,
    /// Source of our MLD queries: link-local, as RFC 3810 §5.1.14 requires.
    pub querier_v6: Ipv6Addr,
    /// At most this many receivers are tracked.
    pub max_receivers: usize,
}

impl Default for SnoopConfig {
    fn default() -> Self {
        SnoopConfig {
            enabled: true,
            querier: true,
            robustness: 2,
            query_interval: Duration::from_secs(125),
            query_response_interval: Duration::from_secs(10),
            last_member_query_interval: Duration::from_secs(1),
            // Locally administered, "tsm" + 1; its EUI-64 link-local address below.
            querier_mac: MacAddr([0x02, 0x74, 0x73, 0x6d, 0x00, 0x01]),
            querier_v4: Ipv4Addr::UNSPECIFIED,
            querier_v6: Ipv6Addr::new(0xfe80, 0, 0, 0, 0x0074, 0x73ff, 0xfe6d, 0x0001),
            max_receivers: 65536,
        }
    }
}

/// A snooping configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnoopConfigError {
    #[error("snooping robustness {0} must be 1-7")]
    Robustness(u8),
    #[error(
        "snooping query_response_interval ({response:?}) must be above zero and below \
         query_interval ({interval:?})"
    )]
    Intervals {
        interval: Duration,
        response: Duration,
    },
    #[error("snooping last_member_query_interval must be above zero")]
    LastMember,
    #[error("snooping querier_v6 {0} must be a link-local address (RFC 3810 §5.1.14)")]
    QuerierV6(Ipv6Addr),
    #[error("snooping querier_mac {0} must be a unicast address")]
    QuerierMac(MacAddr),
}

impl SnoopConfig {
    pub fn validate(&self) -> Result<(), SnoopConfigError> {
        if !(1..=7).contains(&self.robustness) {
            return Err(SnoopConfigError::Robustness(self.robustness));
        }
        if self.query_response_interval.is_zero()
            || self.query_response_interval >= self.query_interval
        {
            return Err(SnoopConfigError::Intervals {
                interval: self.query_interval,
                response: self.query_response_interval,
            });
        }
        if self.last_member_query_interval.is_zero() {
            return Err(SnoopConfigError::LastMember);
        }
        if self.querier_v6.segments()[0] & 0xffc0 != 0xfe80 {
            return Err(SnoopConfigError::QuerierV6(self.querier_v6));
        }
        if self.querier_mac.is_multicast() || self.querier_mac == MacAddr::ZERO {
            return Err(SnoopConfigError::QuerierMac(self.querier_mac));
        }
        Ok(())
    }

    /// Group membership interval (RFC 3376 §8.4, RFC 3810 §9.4): robustness × query
    /// interval + query response interval.
    pub fn membership_interval(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.query_response_interval
    }

    /// Startup query interval (RFC 3376 §8.6): a quarter of the query interval.
    pub fn startup_query_interval(&self) -> Duration {
        self.query_interval / 4
    }

    /// Other querier present interval (RFC 3376 §8.5): robustness × query interval + half the
    /// query response interval.
    pub fn other_querier_interval(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.query_response_interval / 2
    }
}

/// A receiver: a host behind a port, by MAC and report source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Receiver {
    pub mac: MacAddr,
    pub ip: IpAddr,
}

/// One receiver's membership of one group, as the queries show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiverInfo {
    pub group: IpAddr,
    pub at: Endpoint,
    pub receiver: Receiver,
    /// The version of its last report.
    pub version: Version,
    /// When it ends unless reported again.
    pub expires: Time,
    /// `None` in exclude mode (every source); the include list otherwise.
    pub include: Option<Vec<IpAddr>>,
}

/// Another querier heard on an edge port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtherQuerier {
    pub addr: IpAddr,
    pub at: Endpoint,
    pub version: Version,
    pub last_heard: Time,
}

/// What snooping counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnoopCounters {
    /// IGMP and MLD packets handed to the snooper (well-formed).
    pub packets: u64,
    /// Frames that claimed to be IGMP or MLD but could not be read.
    pub malformed: u64,
    /// Packets from a port that is not an edge port: ignored.
    pub non_edge: u64,
    /// Our own queries coming back: ignored.
    pub own_queries: u64,
    /// Queries from another querier.
    pub foreign_queries: u64,
    /// Reports (v1/v2 reports, and each v3 record that joins or refreshes).
    pub reports: u64,
    /// Leaves of a tracked receiver.
    pub leaves: u64,
    /// Leaves that removed the port's last receiver at once.
    pub fast_leaves: u64,
    /// Leaves from a receiver not tracked there.
    pub unknown_leaves: u64,
    /// Receivers whose timer ran out.
    pub expired: u64,
    /// Reports for groups that are not snooped, without a usable source, records of unknown
    /// type, or beyond `max_receivers`.
    pub ignored: u64,
    /// Query frames handed out (one per query and port set).
    pub queries_sent: u64,
}

/// Where a query goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum QueryTarget {
    /// Every edge port of the switch.
    Switch(Dpid),
    /// One port.
    Port(Endpoint),
}

/// A query to send: IGMP (`v6` false) or MLD, general (`group` `None`) or group-specific.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueryOut {
    pub target: QueryTarget,
    pub v6: bool,
    pub group: Option<IpAddr>,
}

/// What an input changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Groups whose member set changed.
    pub changed: BTreeSet<IpAddr>,
    /// Queries to send, in order.
    pub queries: Vec<QueryOut>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.queries.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Filter {
    Exclude,
    Include(BTreeSet<IpAddr>),
}

#[derive(Clone, Debug)]
struct Entry {
    version: Version,
    expires: Time,
    filter: Filter,
}

type Port = BTreeMap<Receiver, Entry>;

/// The snooping state. See the module header.
#[derive(Clone, Debug)]
pub struct Snooper {
    cfg: SnoopConfig,
    /// Group → edge port → receivers.
    groups: BTreeMap<IpAddr, BTreeMap<Endpoint, Port>>,
    /// Members restored from a snapshot that have not reported since, with their end.
    restored: BTreeMap<IpAddr, BTreeMap<IpAddr, Time>>,
    /// General queries: per switch, the next one and how many startup queries are left.
    general: BTreeMap<Dpid, (Time, u8)>,
    /// Group-specific queries still to send, per port and group.
    specific: BTreeMap<(Endpoint, IpAddr), (Time, u8)>,
    others: BTreeMap<IpAddr, OtherQuerier>,
    /// Every receiver by its timer's end: the next expiry without a scan (and the count).
    deadlines: BTreeSet<(Time, IpAddr, Endpoint, Receiver)>,
    /// Group → member address → how many receivers have it (a host behind two ports, or
    /// moved, counts twice): membership changes without recounting the group.
    refs: BTreeMap<IpAddr, BTreeMap<IpAddr, usize>>,
    counters: SnoopCounters,
}

/// Whether reports for `group` are tracked (see the module header).
pub fn is_snooped_group(group: IpAddr) -> bool {
    match group {
        IpAddr::V4(a) => a.is_multicast() && a.octets()[..3] != [224, 0, 0],
        IpAddr::V6(a) => {
            let s = a.segments();
            let solicited = s[..6] == [0xff02, 0, 0, 0, 0, 1] && s[6] >> 8 == 0xff;
            a.is_multicast()
                && s[0] & 0xfffe != 0xff00
                && !(s[0] == 0xff02 && s[1..7] == [0; 6] && matches!(s[7], 1 | 2 | 0x16))
                && !solicited
        }
    }
}

fn usable_source(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

impl Snooper {
    /// An empty state (the configuration is assumed valid: [`SnoopConfig::validate`]).
    pub fn new(cfg: SnoopConfig) -> Snooper {
        Snooper {
            cfg,
            groups: BTreeMap::new(),
            restored: BTreeMap::new(),
            general: BTreeMap::new(),
            specific: BTreeMap::new(),
            others: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            refs: BTreeMap::new(),
            counters: SnoopCounters::default(),
        }
    }

    pub fn config(&self) -> &SnoopConfig {
        &self.cfg
    }

    pub fn counters(&self) -> &SnoopCounters {
        &self.counters
    }

    /// Counts a frame that claimed to be IGMP or MLD but could not be read.
    pub fn count_malformed(&mut self) {
        self.counters.malformed += 1;
    }

    /// Counts one of our own queries come back.
    pub fn count_own_query(&mut self) {
        self.counters.own_queries += 1;
    }

    /// Counts query frames sent.
    pub fn count_queries_sent(&mut self, n: u64) {
        self.counters.queries_sent += n;
    }

    /// The members of `group`: the addresses of its receivers on every port, and restored
    /// members not yet expired.
    pub fn members(&self, group: IpAddr) -> BTreeSet<IpAddr> {
        let mut m: BTreeSet<IpAddr> = self
            .refs
            .get(&group)
            .map(|r| r.keys().copied().collect())
            .unwrap_or_default();
        if let Some(r) = self.restored.get(&group) {
            m.extend(r.keys().copied());
        }
        m
    }

    /// Whether `ip` is a member of `group`.
    pub fn is_member(&self, group: IpAddr, ip: IpAddr) -> bool {
        self.refs.get(&group).is_some_and(|r| r.contains_key(&ip))
            || self
                .restored
                .get(&group)
                .is_some_and(|r| r.contains_key(&ip))
    }

    /// Every receiver of `group`, by port then receiver.
    pub fn receivers(&self, group: IpAddr) -> Vec<ReceiverInfo> {
        let Some(ports) = self.groups.get(&group) else {
            return Vec::new();
        };
        ports
            .iter()
            .flat_map(|(at, rs)| {
                rs.iter().map(move |(r, e)| ReceiverInfo {
                    group,
                    at: *at,
                    receiver: *r,
                    version: e.version,
                    expires: e.expires,
                    include: match &e.filter {
                        Filter::Exclude => None,
                        Filter::Include(s) => Some(s.iter().copied().collect()),
                    },
                })
            })
            .collect()
    }

    /// Every group with at least one member, in address order.
    pub fn groups(&self) -> Vec<IpAddr> {
        let mut g: BTreeSet<IpAddr> = self.groups.keys().copied().collect();
        g.extend(
            self.restored
                .iter()
                .filter(|(_, m)| !m.is_empty())
                .map(|(g, _)| *g),
        );
        g.into_iter().collect()
    }

    /// Other queriers heard within the other querier present interval.
    pub fn other_queriers(&self) -> Vec<OtherQuerier> {
        self.others.values().copied().collect()
    }

    /// Members known before a restart: they count as members until the group membership
    /// interval from `now` has passed without a report from them (the querier's startup
    /// queries ask every host at once).
    pub fn restore_members(&mut self, group: IpAddr, members: &[IpAddr], now: Time) {
        let until = now + self.cfg.membership_interval();
        let r = self.restored.entry(group).or_default();
        for m in members {
            r.insert(*m, until);
        }
    }

    /// Keeps the querier's schedule in step with the switches that are ready: a new one gets
    /// its startup queries (the first at once), a gone one none.
    pub fn sync_switches(&mut self, now: Time, ready: &BTreeSet<Dpid>) {
        self.general.retain(|d, _| ready.contains(d));
        for d in ready {
            self.general
                .entry(*d)
                .or_insert((now, self.cfg.robustness.max(1)));
        }
        self.specific.retain(|(e, _), _| ready.contains(&e.dpid));
    }

    /// Whether some ready switch has no schedule yet (see [`Snooper::sync_switches`]).
    pub fn needs_sync(&self, ready: &BTreeSet<Dpid>) -> bool {
        ready.iter().any(|d| !self.general.contains_key(d))
            || self.general.keys().any(|d| !ready.contains(d))
    }

    /// A well-formed IGMP or MLD packet arrived at `at` (`edge`: an edge port).
    pub fn handle_packet(&mut self, now: Time, at: Endpoint, edge: bool, p: &Packet) -> Effects {
        let mut fx = Effects::default();
        if p.src_mac == self.cfg.querier_mac {
            self.counters.own_queries += 1;
            return fx;
        }
        if !edge {
            self.counters.non_edge += 1;
            return fx;
        }
        self.counters.packets += 1;
        if let Message::Query(q) = &p.msg {
            self.counters.foreign_queries += 1;
            self.others.insert(
                p.src,
                OtherQuerier {
                    addr: p.src,
                    at,
                    version: q.version,
                    last_heard: now,
                },
            );
            return fx;
        }
        if !usable_source(p.src) || p.src_mac.is_multicast() {
            self.counters.ignored += 1;
            return fx;
        }
        let r = Receiver {
            mac: p.src_mac,
            ip: p.src,
        };
        match &p.msg {
            Message::Report { version, group } => {
                self.join(now, at, r, *group, *version, None, &mut fx)
            }
            Message::Leave { group, .. } => self.leave(now, at, r, *group, &mut fx),
            Message::ReportV3 { version, records } => {
                for rec in records {
                    self.record(now, at, r, *version, rec, &mut fx);
                }
            }
            Message::Query(_) => {}
        }
        fx
    }

    fn record(
        &mut self,
        now: Time,
        at: Endpoint,
        r: Receiver,
        version: Version,
        rec: &GroupRecord,
        fx: &mut Effects,
    ) {
        let sources: BTreeSet<IpAddr> = rec.sources.iter().take(MAX_SOURCES).copied().collect();
        let current = self
            .groups
            .get(&rec.group)
            .and_then(|p| p.get(&at))
            .and_then(|p| p.get(&r))
            .map(|e| e.filter.clone());
        match rec.kind {
            RecordType::ModeIsExclude | RecordType::ChangeToExclude => {
                self.join(now, at, r, rec.group, version, Some(Filter::Exclude), fx)
            }
            RecordType::ModeIsInclude | RecordType::ChangeToInclude => {
                if sources.is_empty() {
                    // TO_IN({}) is how v3 hosts leave (RFC 3376 §5.1); IS_IN({}) says the same.
                    self.leave(now, at, r, rec.group, fx)
                } else {
                    let f = Filter::Include(sources);
                    self.join(now, at, r, rec.group, version, Some(f), fx)
                }
            }
            RecordType::AllowNewSources => {
                if sources.is_empty() {
                    return;
                }
                let f = match current {
                    Some(Filter::Exclude) => Filter::Exclude,
                    Some(Filter::Include(mut s)) => {
                        for x in sources {
                            if s.len() >= MAX_SOURCES {
                                break;
                            }
                            s.insert(x);
                        }
                        Filter::Include(s)
                    }
                    None => Filter::Include(sources),
                };
                self.join(now, at, r, rec.group, version, Some(f), fx)
            }
            RecordType::BlockOldSources => {
                // Exclude mode stays a member; an include list may run empty (a leave).
                if let Some(Filter::Include(mut s)) = current {
                    for x in &sources {
                        s.remove(x);
                    }
                    if s.is_empty() {
                        self.leave(now, at, r, rec.group, fx);
                    } else if let Some(e) = self
                        .groups
                        .get_mut(&rec.group)
                        .and_then(|p| p.get_mut(&at))
                        .and_then(|p| p.get_mut(&r))
                    {
                        e.filter = Filter::Include(s);
                    }
                }
            }
            RecordType::Unknown(_) => self.counters.ignored += 1,
        }
    }

    /// `r` listens to `group` at `at` (refreshing its timer); `filter` replaces its filter
    /// (`None`: a v1/v2 report, exclude mode).
    #[allow(clippy::too_many_arguments)]
    fn join(
        &mut self,
        now: Time,
        at: Endpoint,
        r: Receiver,
        group: IpAddr,
        version: Version,
        filter: Option<Filter>,
        fx: &mut Effects,
    ) {
        if !is_snooped_group(group) || group.is_ipv4() != r.ip.is_ipv4() {
            self.counters.ignored += 1;
            return;
        }
        let was = self.is_member(group, r.ip);
        let old = self
            .groups
            .get(&group)
            .and_then(|p| p.get(&at))
            .and_then(|p| p.get(&r))
            .map(|e| e.expires);
        if old.is_none() && self.deadlines.len() >= self.cfg.max_receivers {
            self.counters.ignored += 1;
            return;
        }
        self.counters.reports += 1;
        let expires = now + self.cfg.membership_interval();
        let port = self.groups.entry(group).or_default().entry(at).or_default();
        let e = port.entry(r).or_insert_with(|| Entry {
            version,
            expires,
            filter: Filter::Exclude,
        });
        e.version = version;
        e.expires = expires;
        if let Some(f) = filter {
            e.filter = f;
        }
        match old {
            Some(t) => {
                self.deadlines.remove(&(t, group, at, r));
            }
            None => *self.refs.entry(group).or_default().entry(r.ip).or_insert(0) += 1,
        }
        self.deadlines.insert((expires, group, at, r));
        if let Some(m) = self.restored.get_mut(&group) {
            m.remove(&r.ip);
            if m.is_empty() {
                self.restored.remove(&group);
            }
        }
        if !was {
            fx.changed.insert(group);
        }
    }

    /// `r` leaves `group` at `at` (see the module header).
    fn leave(&mut self, now: Time, at: Endpoint, r: Receiver, group: IpAddr, fx: &mut Effects) {
        if !is_snooped_group(group) {
            self.counters.ignored += 1;
            return;
        }
        let was = self.is_member(group, r.ip);
        if let Some(m) = self.restored.get_mut(&group) {
            m.remove(&r.ip);
            if m.is_empty() {
                self.restored.remove(&group);
            }
        }
        let removed = self.remove_receiver(group, at, r);
        match removed {
            None => self.counters.unknown_leaves += 1,
            Some(left_on_port) => {
                self.counters.leaves += 1;
                if left_on_port == 0 {
                    self.counters.fast_leaves += 1;
                    self.specific.remove(&(at, group));
                } else if self.cfg.querier {
                    // Others remain behind this port: ask it (RFC 3376 §6.4.2), first at once.
                    let count = self.cfg.robustness.max(1);
                    self.specific.insert((at, group), (now, count));
                    self.due_specific(now, fx);
                }
            }
        }
        if was && !self.is_member(group, r.ip) {
            fx.changed.insert(group);
        }
    }

    /// Removes a receiver; how many remain on its port, or `None` if it was not there.
    fn remove_receiver(&mut self, group: IpAddr, at: Endpoint, r: Receiver) -> Option<usize> {
        let ports = self.groups.get_mut(&group)?;
        let port = ports.get_mut(&at)?;
        let e = port.remove(&r)?;
        self.deadlines.remove(&(e.expires, group, at, r));
        if let Some(refs) = self.refs.get_mut(&group) {
            if let Some(n) = refs.get_mut(&r.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    refs.remove(&r.ip);
                }
            }
            if refs.is_empty() {
                self.refs.remove(&group);
            }
        }
        let left = port.len();
        if left == 0 {
            ports.remove(&at);
            if ports.is_empty() {
                self.groups.remove(&group);
            }
        }
        Some(left)
    }

    fn due_specific(&mut self, now: Time, fx: &mut Effects) {
        let due: Vec<(Endpoint, IpAddr)> = self
            .specific
            .iter()
            .filter(|(_, (t, _))| *t <= now)
            .map(|(k, _)| *k)
            .collect();
        for (at, group) in due {
            let Some((_, left)) = self.specific.get(&(at, group)).copied() else {
                continue;
            };
            fx.queries.push(QueryOut {
                target: QueryTarget::Port(at),
                v6: group.is_ipv6(),
                group: Some(group),
            });
            if left > 1 {
                self.specific.insert(
                    (at, group),
                    (now + self.cfg.last_member_query_interval, left - 1),
                );
            } else {
                self.specific.remove(&(at, group));
            }
        }
    }

    /// Runs every timer due at `now`: receivers and restored members that expire, other
    /// queriers forgotten, general and group-specific queries due.
    pub fn handle_timeout(&mut self, now: Time) -> Effects {
        let mut fx = Effects::default();
        let expired: Vec<(IpAddr, Endpoint, Receiver)> = self
            .deadlines
            .iter()
            .take_while(|(t, ..)| *t <= now)
            .map(|(_, g, at, r)| (*g, *at, *r))
            .collect();
        for (g, at, r) in expired {
            if self.remove_receiver(g, at, r).is_some() {
                self.counters.expired += 1;
            }
            if !self.is_member(g, r.ip) {
                fx.changed.insert(g);
            }
        }
        let ended: Vec<(IpAddr, IpAddr)> = self
            .restored
            .iter()
            .flat_map(|(g, m)| {
                m.iter()
                    .filter(|(_, t)| **t <= now)
                    .map(move |(ip, _)| (*g, *ip))
            })
            .collect();
        for (g, ip) in ended {
            if let Some(m) = self.restored.get_mut(&g) {
                m.remove(&ip);
                if m.is_empty() {
                    self.restored.remove(&g);
                }
            }
            if !self.is_member(g, ip) {
                fx.changed.insert(g);
            }
        }
        let keep = self.cfg.other_querier_interval();
        self.others.retain(|_, o| o.last_heard + keep > now);
        if self.cfg.querier {
            let due: Vec<Dpid> = self
                .general
                .iter()
                .filter(|(_, (t, _))| *t <= now)
                .map(|(d, _)| *d)
                .collect();
            for d in due {
                let left = self.general.get(&d).map_or(0, |(_, l)| *l);
                for v6 in [false, true] {
                    fx.queries.push(QueryOut {
                        target: QueryTarget::Switch(d),
                        v6,
                        group: None,
                    });
                }
                let next = if left > 1 {
                    (now + self.cfg.startup_query_interval(), left - 1)
                } else {
                    (now + self.cfg.query_interval, 0)
                };
                self.general.insert(d, next);
            }
            self.due_specific(now, &mut fx);
        }
        fx
    }

    /// The next time [`Snooper::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Time> {
        let mut t: Option<Time> = None;
        let mut at = |x: Time| t = Some(t.map_or(x, |y: Time| y.min(x)));
        if let Some((x, ..)) = self.deadlines.first() {
            at(*x);
        }
        for m in self.restored.values() {
            for x in m.values() {
                at(*x);
            }
        }
        if self.cfg.querier {
            for (x, _) in self.general.values() {
                at(*x);
            }
            for (x, _) in self.specific.values() {
                at(*x);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::snoop::parse::{host_packet, Message};
    use openflow::PortNo;

    const G: &str = "239.1.2.3";

    fn ep(d: u64, p: u32) -> Endpoint {
        Endpoint::new(Dpid(d), PortNo(p))
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn mac(n: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, n])
    }
    fn host(n: u8) -> (MacAddr, IpAddr) {
        (mac(n), ip(&format!("10.0.0.{n}")))
    }
    fn report(n: u8, g: &str) -> Packet {
        let (m, i) = host(n);
        host_packet(
            m,
            i,
            ip(g),
            Message::Report {
                version: Version::Igmp2,
                group: ip(g),
            },
        )
    }
    fn leave(n: u8, g: &str) -> Packet {
        let (m, i) = host(n);
        host_packet(
            m,
            i,
            ip("224.0.0.2"),
            Message::Leave {
                version: Version::Igmp2,
                group: ip(g),
            },
        )
    }
    fn v3(n: u8, kind: RecordType, g: &str, sources: &[&str]) -> Packet {
        let (m, i) = host(n);
        host_packet(
            m,
            i,
            ip("224.0.0.22"),
            Message::ReportV3 {
                version: Version::Igmp3,
                records: vec![GroupRecord {
                    kind,
                    group: ip(g),
                    sources: sources.iter().map(|s| ip(s)).collect(),
                    aux: vec![],
                }],
            },
        )
    }
    fn set(ips: &[&str]) -> BTreeSet<IpAddr> {
        ips.iter().map(|s| ip(s)).collect()
    }
    fn t(s: u64) -> Time {
        Time::from_secs(s)
    }

    #[test]
    fn several_receivers_behind_one_port_leave_one_by_one() {
        let mut s = Snooper::new(SnoopConfig::default());
        let g = ip(G);
        let fx = s.handle_packet(t(1), ep(1, 1), true, &report(5, G));
        assert_eq!(fx.changed, BTreeSet::from([g]));
        let fx = s.handle_packet(t(2), ep(1, 1), true, &report(6, G));
        assert_eq!(fx.changed, BTreeSet::from([g]));
        // A refresh changes nothing.
        assert!(s
            .handle_packet(t(3), ep(1, 1), true, &report(6, G))
            .is_empty());
        assert_eq!(s.members(g), set(&["10.0.0.5", "10.0.0.6"]));
        // 5 leaves: 6 stays; the port is asked (others remain).
        let fx = s.handle_packet(t(4), ep(1, 1), true, &leave(5, G));
        assert_eq!(s.members(g), set(&["10.0.0.6"]));
        assert_eq!(
            fx.queries,
            vec![QueryOut {
                target: QueryTarget::Port(ep(1, 1)),
                v6: false,
                group: Some(g)
            }]
        );
        assert_eq!(s.counters().fast_leaves, 0);
        // The second group-specific query one second later, then no more.
        assert_eq!(s.poll_timeout(), Some(t(5)));
        let fx = s.handle_timeout(t(5));
        assert_eq!(fx.queries.len(), 1);
        assert!(s.handle_timeout(t(6)).queries.is_empty());
        // 6 leaves: the last one, fast leave.
        let fx = s.handle_packet(t(7), ep(1, 1), true, &leave(6, G));
        assert_eq!(fx.changed, BTreeSet::from([g]));
        assert!(fx.queries.is_empty());
        assert!(s.members(g).is_empty());
        assert_eq!(s.counters().fast_leaves, 1);
        // A leave from nobody.
        assert!(s
            .handle_packet(t(8), ep(1, 1), true, &leave(6, G))
            .is_empty());
        assert_eq!(s.counters().unknown_leaves, 1);
    }

    #[test]
    fn membership_times_out_without_reports() {
        let mut s = Snooper::new(SnoopConfig {
            querier: false,
            ..SnoopConfig::default()
        });
        let g = ip(G);
        s.handle_packet(t(0), ep(1, 1), true, &report(5, G));
        s.handle_packet(t(100), ep(1, 2), true, &report(6, G));
        assert_eq!(s.poll_timeout(), Some(t(260)));
        assert!(s.handle_timeout(t(259)).is_empty());
        let fx = s.handle_timeout(t(260));
        assert_eq!(fx.changed, BTreeSet::from([g]));
        assert_eq!(s.members(g), set(&["10.0.0.6"]));
        // A report re-arms the timer.
        s.handle_packet(t(300), ep(1, 2), true, &report(6, G));
        assert!(s.handle_timeout(t(360)).is_empty());
        assert_eq!(s.poll_timeout(), Some(t(560)));
        s.handle_timeout(t(560));
        assert!(s.members(g).is_empty());
        assert_eq!(s.counters().expired, 2);
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn igmpv3_records_fold_to_any_source() {
        let mut s = Snooper::new(SnoopConfig::default());
        let g = ip(G);
        let at = ep(1, 1);
        // Source-specific join, another source, block one, block the other: a leave.
        s.handle_packet(
            t(0),
            at,
            true,
            &v3(5, RecordType::AllowNewSources, G, &["10.9.0.1"]),
        );
        assert_eq!(s.members(g), set(&["10.0.0.5"]));
        s.handle_packet(
            t(0),
            at,
            true,
            &v3(5, RecordType::AllowNewSources, G, &["10.9.0.2"]),
        );
        s.handle_packet(
            t(0),
            at,
            true,
            &v3(5, RecordType::BlockOldSources, G, &["10.9.0.1"]),
        );
        assert_eq!(s.receivers(g)[0].include, Some(vec![ip("10.9.0.2")]));
        s.handle_packet(
            t(0),
            at,
            true,
            &v3(5, RecordType::BlockOldSources, G, &["10.9.0.2"]),
        );
        assert!(s.members(g).is_empty());
        // Exclude mode; BLOCK leaves it a member; TO_IN({}) is the leave.
        s.handle_packet(t(0), at, true, &v3(5, RecordType::ChangeToExclude, G, &[]));
        s.handle_packet(
            t(0),
            at,
            true,
            &v3(5, RecordType::BlockOldSources, G, &["10.9.0.2"]),
        );
        assert_eq!(s.receivers(g)[0].include, None);
        s.handle_packet(
            t(0),
            at,
            true,
            &v3(5, RecordType::ModeIsExclude, G, &["10.9.0.9"]),
        );
        assert_eq!(s.members(g), set(&["10.0.0.5"]));
        s.handle_packet(t(0), at, true, &v3(5, RecordType::ChangeToInclude, G, &[]));
        assert!(s.members(g).is_empty());
        // IS_IN with sources joins; unknown record types are ignored.
        s.handle_packet(
            t(0),
            at,
            true,
            &v3(6, RecordType::ModeIsInclude, G, &["10.9.0.1"]),
        );
        s.handle_packet(t(0), at, true, &v3(7, RecordType::Unknown(9), G, &[]));
        assert_eq!(s.members(g), set(&["10.0.0.6"]));
        assert_eq!(s.counters().fast_leaves, 2);
    }

    #[test]
    fn ignored_inputs() {
        let mut s = Snooper::new(SnoopConfig {
            max_receivers: 2,
            ..SnoopConfig::default()
        });
        // Link-local control groups, a zero source, a non-edge port, our own query.
        assert!(s
            .handle_packet(t(0), ep(1, 1), true, &report(5, "224.0.0.251"))
            .is_empty());
        let mut p = report(5, G);
        p.src = ip("0.0.0.0");
        assert!(s.handle_packet(t(0), ep(1, 1), true, &p).is_empty());
        assert!(s
            .handle_packet(t(0), ep(1, 1), false, &report(5, G))
            .is_empty());
        let own = crate::snoop::parse::query(
            s.config().querier_mac,
            ip("0.0.0.0"),
            None,
            Duration::from_secs(10),
            2,
            Duration::from_secs(125),
        );
        assert!(s.handle_packet(t(0), ep(1, 1), true, &own).is_empty());
        let c = *s.counters();
        assert_eq!((c.ignored, c.non_edge, c.own_queries), (2, 1, 1));
        // At most two receivers.
        s.handle_packet(t(0), ep(1, 1), true, &report(5, G));
        s.handle_packet(t(0), ep(1, 1), true, &report(6, G));
        s.handle_packet(t(0), ep(1, 1), true, &report(7, G));
        assert_eq!(s.members(ip(G)), set(&["10.0.0.5", "10.0.0.6"]));
        // A foreign query is remembered, then forgotten.
        let mut q = own.clone();
        q.src_mac = mac(9);
        q.src = ip("10.0.0.9");
        assert!(s.handle_packet(t(1), ep(1, 3), true, &q).is_empty());
        assert_eq!(s.other_queriers().len(), 1);
        s.handle_timeout(t(1000));
        assert!(s.other_queriers().is_empty());
        assert!(is_snooped_group(ip("ff1e::1")));
        assert!(!is_snooped_group(ip("ff02::1:ff00:5")));
        assert!(!is_snooped_group(ip("ff02::16")));
        assert!(!is_snooped_group(ip("ff01::5")));
    }

    #[test]
    fn general_queries_startup_then_every_interval() {
        let mut s = Snooper::new(SnoopConfig::default());
        let ready = BTreeSet::from([Dpid(1), Dpid(2)]);
        assert!(s.needs_sync(&ready));
        s.sync_switches(t(0), &ready);
        assert!(!s.needs_sync(&ready));
        let fx = s.handle_timeout(t(0));
        assert_eq!(fx.queries.len(), 4); // two switches × IGMP and MLD
                                         // Startup: the second a quarter interval later (31.25 s), then every 125 s.
        let second = Time::from_millis(31_250);
        assert_eq!(s.poll_timeout(), Some(second));
        assert_eq!(s.handle_timeout(second).queries.len(), 4);
        assert_eq!(s.poll_timeout(), Some(second + Duration::from_secs(125)));
        s.sync_switches(t(40), &BTreeSet::from([Dpid(2)]));
        let fx = s.handle_timeout(second + Duration::from_secs(125));
        assert_eq!(
            fx.queries,
            vec![
                QueryOut {
                    target: QueryTarget::Switch(Dpid(2)),
                    v6: false,
                    group: None
                },
                QueryOut {
                    target: QueryTarget::Switch(Dpid(2)),
                    v6: true,
                    group: None
                }
            ]
        );
        let quiet = SnoopConfig {
            querier: false,
            ..SnoopConfig::default()
        };
        let mut s = Snooper::new(quiet);
        s.sync_switches(t(0), &ready);
        assert!(s.handle_timeout(t(0)).is_empty());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn restored_members_last_until_reported_or_expired() {
        let mut s = Snooper::new(SnoopConfig::default());
        let g = ip(G);
        s.restore_members(g, &[ip("10.0.0.5"), ip("10.0.0.6")], t(0));
        assert_eq!(s.members(g), set(&["10.0.0.5", "10.0.0.6"]));
        // 5 reports: tracked for real, no change in the member set.
        assert!(s
            .handle_packet(t(1), ep(1, 1), true, &report(5, G))
            .changed
            .is_empty());
        let fx = s.handle_timeout(t(260));
        assert_eq!(fx.changed, BTreeSet::from([g]));
        assert_eq!(s.members(g), set(&["10.0.0.5"]));
    }

    proptest::proptest! {
        /// Any sequence of reports, leaves, v3 records and time: the member set is always the
        /// receivers' addresses, a change is reported exactly when it happens, and the next
        /// timeout is the earliest receiver's end.
        #[test]
        fn membership_bookkeeping_stays_consistent(
            ops in proptest::collection::vec((0u8..6, 0u8..3, 0u32..2, 0usize..2, 0u64..200), 1..60)
        ) {
            let groups = [ip("239.1.2.3"), ip("239.1.2.4")];
            let mut s = Snooper::new(SnoopConfig { querier: false, ..SnoopConfig::default() });
            s.restore_members(groups[1], &[ip("10.0.0.1")], t(0));
            let mut now = t(0);
            for (op, h, port, gi, dt) in ops {
                now = now + Duration::from_secs(dt);
                let g = groups[gi];
                let gs = g.to_string();
                let before: Vec<BTreeSet<IpAddr>> = groups.iter().map(|g| s.members(*g)).collect();
                let at = ep(1, port + 1);
                let fx = match op {
                    0 => s.handle_packet(now, at, true, &report(h + 1, &gs)),
                    1 => s.handle_packet(now, at, true, &leave(h + 1, &gs)),
                    2 => s.handle_packet(now, at, true, &v3(h + 1, RecordType::AllowNewSources, &gs, &["10.9.0.1"])),
                    3 => s.handle_packet(now, at, true, &v3(h + 1, RecordType::BlockOldSources, &gs, &["10.9.0.1"])),
                    4 => s.handle_packet(now, at, true, &v3(h + 1, RecordType::ChangeToInclude, &gs, &[])),
                    _ => s.handle_timeout(now),
                };
                for (i, g) in groups.iter().enumerate() {
                    let m = s.members(*g);
                    let mut want: BTreeSet<IpAddr> =
                        s.receivers(*g).iter().map(|r| r.receiver.ip).collect();
                    if let Some(r) = s.restored.get(g) {
                        want.extend(r.keys().copied());
                    }
                    proptest::prop_assert_eq!(&m, &want);
                    proptest::prop_assert_eq!(fx.changed.contains(g), m != before[i]);
                }
                let earliest = groups
                    .iter()
                    .flat_map(|g| s.receivers(*g))
                    .map(|r| r.expires)
                    .min();
                let next = s.poll_timeout();
                if s.restored.is_empty() {
                    proptest::prop_assert_eq!(next, earliest);
                }
                if op == 5 {
                    let all = groups.iter().flat_map(|g| s.receivers(*g));
                    proptest::prop_assert!(all.into_iter().all(|r| r.expires > now));
                }
            }
        }
    }

    #[test]
    fn config_validation() {
        assert_eq!(SnoopConfig::default().validate(), Ok(()));
        assert_eq!(
            SnoopConfig::default().membership_interval(),
            Duration::from_secs(260)
        );
        let bad = SnoopConfig {
            robustness: 0,
            ..SnoopConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(SnoopConfigError::Robustness(0))
        ));
        let bad = SnoopConfig {
            querier_v6: "fd00::1".parse().unwrap(),
            ..SnoopConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(SnoopConfigError::QuerierV6(_))
        ));
        let bad = SnoopConfig {
            query_response_interval: Duration::from_secs(200),
            ..SnoopConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(SnoopConfigError::Intervals { .. })
        ));
    }
}
