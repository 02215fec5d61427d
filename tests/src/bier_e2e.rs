//! BIER end to end on a [`SimFabric`] under tsmd: hosts that send as BFIRs themselves
//! (`tsm_agent::bfir`, RFC 8296 frames through a packet socket in the host's namespace), every
//! host capturing what reaches its `eth0`, and a small OpenFlow client of our own on the
//! switches' passive listeners for what only the switches know: the BIFTs they really hold
//! (BIFT_QUERY), per-link BIER packet counts, and BIER→TSM groups.
//!
//! - [`BierSenders`]: one [`BfirSocket`] per host, opened inside its namespace.
//! - [`BierProbe`] / [`send_and_collect`]: datagrams sent as BIER (one frame per header, many
//!   probes in one batch), then collected at every host until the fabric is quiet
//!   ([`Capture`], usable around any sender, e.g. the `tsm-agent bier-send` command). Each
//!   datagram carries a unique tag, so only its own copies count. [`Arrivals::failures`]
//!   names every probe that did not reach exactly its members once each, and any BIER frame
//!   (not decapsulated) that reached a host.
//! - [`OfClient`]: HELLO, then requests with a barrier or multipart replies, answering the
//!   switch's echo probes; a fresh connection per use, so an idle one is never dropped.
//! - Per-link counters ([`install_link_counters`], [`link_counts`]): on every switch and
//!   port, a flow `in_port=P, eth_type=0xAB37 → bier_forward` one priority above the
//!   controller's `eth_type=0xAB37 → bier_forward` (same forwarding, so nothing changes but the
//!   count), with cookie [`COUNT_COOKIE`], which tsmd treats as foreign and leaves alone. A
//!   copy sent on a link shows as one packet on the far end's flow: exact per-link counts of
//!   BIER packets only (port counters would include LLDP).
//! - [`wait_bifts_settled`]: waits until every switch holds, read back over OpenFlow, exactly
//!   the BIFTs the controller says it installed, and none of them uses a given port.
//!
//! Guarantees: nothing here changes tsmd's state; the counting flows forward as the
//! controller's flow does; sockets and connections close when their values drop.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use api::Dpid;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvfrom, socket, AddressFamily, LinkAddr, SockFlag, SockProtocol, SockType,
};
use openflow::ext::bier::{
    collect_replies, Adjacency, BierAction, BierMessage, BiftSelector, BiftTable, Hop,
    TableEntries, TsmConfig,
};
use openflow::multipart::{FlowStats, GroupDesc, GroupStats, MultipartReplyBody, MultipartRequest};
use openflow::{Body, Cookie, FlowMod, Framer, Hello, Instruction, Match, Message, Oxm, PortNo};
use openflow::{TableId, Xid};
use tsm_agent::bfir::{BfirOptions, BfirSocket, BierHeaderSpec, Datagram};

use crate::e2e::{E2e, E2eError, E2eResult};
use crate::traffic::parse_udp;
use crate::{DataPlane, SimFabric};

/// Cookie of the per-link counting flows ("bier" "cnt").
pub const COUNT_COOKIE: Cookie = Cookie(0x6269_6572_0063_6e74);
/// Priority of the counting flows: one above tsmd's `eth_type=0xAB37 → bier_forward`.
pub const COUNT_PRIORITY: u16 = controller::bier_plane::BIER_FORWARD_PRIORITY + 1;
/// The table tsmd uses.
const TABLE: TableId = TableId(0);
const ETH_BIER: u16 = 0xab37;
/// `PACKET_OUTGOING`: a packet socket's copy of a frame its own host sent.
const PACKET_OUTGOING: u8 = 4;
const TAG_LEN: usize = 12;
static SEQ: AtomicU32 = AtomicU32::new(1);

fn bad(what: impl Into<String>) -> E2eError {
    E2eError::Invalid(what.into())
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> E2eError {
    let what = what.into();
    move |source| E2eError::Io { what, source }
}

// ---------------------------------------------------------------------------------------------
// Sending and receiving.

/// One BIER packet socket per host, each made inside the host's namespace on its `eth0`.
#[derive(Debug)]
pub struct BierSenders {
    sockets: BTreeMap<String, BfirSocket>,
}

impl BierSenders {
    /// Opens a socket on every host of `fabric`.
    pub fn open(fabric: &SimFabric) -> E2eResult<BierSenders> {
        let mut sockets = BTreeMap::new();
        for h in fabric.host_namespaces() {
            let s = h
                .netns
                .run(|| BfirSocket::open("eth0"))?
                .map_err(|e| bad(format!("BFIR socket on {}: {e}", h.info.name)))?;
            sockets.insert(h.info.name.clone(), s);
        }
        Ok(BierSenders { sockets })
    }

    /// Host `name`'s socket.
    pub fn get(&mut self, name: &str) -> E2eResult<&mut BfirSocket> {
        self.sockets
            .get_mut(name)
            .ok_or_else(|| bad(format!("no BFIR socket for host {name}")))
    }

    /// Writes one raw frame from host `name` (bad input).
    pub fn send_raw(&mut self, name: &str, frame: &[u8]) -> E2eResult<()> {
        self.get(name)?
            .send_frame(frame)
            .map_err(|e| bad(format!("raw frame from {name}: {e}")))
    }
}

/// A rewrite of a good BIER frame into a bad one.
pub type Mangle = fn(Vec<u8>) -> Vec<u8>;

/// One datagram sent as BIER by host `from`.
#[derive(Debug, Clone)]
pub struct BierProbe {
    /// The sending host (the BFIR).
    pub from: String,
    /// The headers, one per SI.
    pub headers: Vec<BierHeaderSpec>,
    /// Group address and UDP port.
    pub group: SocketAddr,
    /// BIER options (TTL, entropy, BFIR-id).
    pub opts: BfirOptions,
    /// Who must get it, once each.
    pub expect: BTreeSet<String>,
    /// Rewrites each encapsulated frame before it is sent (bad input).
    pub mangle: Option<Mangle>,
}

impl BierProbe {
    /// A probe with default options.
    pub fn new(
        from: &str,
        headers: Vec<BierHeaderSpec>,
        group: SocketAddr,
        expect: impl IntoIterator<Item = String>,
    ) -> BierProbe {
        BierProbe {
            from: from.to_owned(),
            headers,
            group,
            opts: BfirOptions::default(),
            expect: expect.into_iter().collect(),
            mangle: None,
        }
    }
}

/// Where the probes of one batch arrived.
#[derive(Debug, Clone, Default)]
pub struct Arrivals {
    /// Per probe: decapsulated copies per host.
    pub counts: Vec<BTreeMap<String, usize>>,
    /// Per probe: BIER frames (not decapsulated) that reached a host.
    pub raw_bier: Vec<BTreeMap<String, usize>>,
}

impl Arrivals {
    /// One line per probe that did not reach exactly its `expect` once each, or reached a
    /// host still encapsulated.
    pub fn failures(&self, probes: &[BierProbe]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, p) in probes.iter().enumerate() {
            let got = self.counts.get(i).cloned().unwrap_or_default();
            let exact = got
                .iter()
                .all(|(h, n)| *n == usize::from(p.expect.contains(h)))
                && p.expect.iter().all(|h| got.get(h) == Some(&1));
            let raw = self.raw_bier.get(i).cloned().unwrap_or_default();
            if !exact || !raw.is_empty() {
                let seen: Vec<String> = got
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(h, n)| format!("{h}×{n}"))
                    .collect();
                out.push(format!(
                    "probe {i} from {} to {:?} (bits {}): got [{}], BIER frames at hosts {raw:?}",
                    p.from,
                    p.expect,
                    p.headers
                        .iter()
                        .map(|h| format!(
                            "SI{}:{:?}",
                            h.si.0,
                            h.bitstring.ones().map(|b| b.get()).collect::<Vec<_>>()
                        ))
                        .collect::<Vec<_>>()
                        .join(" "),
                    seen.join(", ")
                ));
            }
        }
        out
    }
}

/// How long to collect.
#[derive(Debug, Clone, Copy)]
pub struct Collect {
    /// Stop once this long passed without a matching arrival.
    pub quiet: Duration,
    /// Stop at the latest this long after the last send.
    pub deadline: Duration,
}

impl Default for Collect {
    fn default() -> Self {
        Collect {
            quiet: Duration::from_millis(400),
            deadline: Duration::from_secs(5),
        }
    }
}

struct Rx {
    host: String,
    fd: OwnedFd,
    ifindex: usize,
}

/// A datagram tag: 12 ASCII characters unique to this process and call.
pub type Tag = [u8; TAG_LEN];

/// A new [`Tag`] (`bt`, the pid and a counter in hex).
pub fn new_tag() -> Tag {
    let s = format!(
        "bt{:05x}{:05x}",
        std::process::id() & 0xf_ffff,
        SEQ.fetch_add(1, Ordering::Relaxed) & 0xf_ffff
    );
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&s.as_bytes()[..TAG_LEN]);
    tag
}

/// A packet socket on every host's `eth0`, open before anything is sent.
pub struct Capture {
    rxs: Vec<Rx>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hosts: Vec<&str> = self.rxs.iter().map(|r| r.host.as_str()).collect();
        f.debug_struct("Capture").field("hosts", &hosts).finish()
    }
}

impl Capture {
    /// Opens the sockets.
    pub fn open(fabric: &SimFabric) -> E2eResult<Capture> {
        let mut rxs = Vec::new();
        for h in fabric.host_namespaces() {
            let name = h.info.name.clone();
            let (fd, ifindex) = h.netns.run(|| -> E2eResult<(OwnedFd, usize)> {
                let fd = socket(
                    AddressFamily::Packet,
                    SockType::Raw,
                    SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                    SockProtocol::EthAll,
                )
                .map_err(|e| bad(format!("packet socket on {name}: {e}")))?;
                let ifindex = nix::net::if_::if_nametoindex("eth0")
                    .map_err(|e| bad(format!("eth0 on {name}: {e}")))?;
                Ok((fd, ifindex as usize))
            })??;
            rxs.push(Rx {
                host: h.info.name.clone(),
                fd,
                ifindex,
            });
        }
        Ok(Capture { rxs })
    }

    /// Collects the datagrams whose UDP payload ends with one of `tags` (tag → probe index
    /// below `probes`) until `opts` says stop.
    pub fn collect(
        &self,
        tags: &BTreeMap<Tag, usize>,
        probes: usize,
        opts: &Collect,
    ) -> E2eResult<Arrivals> {
        let mut out = Arrivals {
            counts: vec![BTreeMap::new(); probes],
            raw_bier: vec![BTreeMap::new(); probes],
        };
        let start = Instant::now();
        let hard_end = start + opts.deadline;
        let mut quiet_end = start + opts.quiet;
        let mut buf = vec![0u8; 65536];
        loop {
            let now = Instant::now();
            let end = hard_end.min(quiet_end);
            if now >= end {
                break;
            }
            let wait_ms = (end - now).as_millis().clamp(1, 1000) as u16;
            let mut fds: Vec<PollFd<'_>> = self
                .rxs
                .iter()
                .map(|r| PollFd::new(r.fd.as_fd(), PollFlags::POLLIN))
                .collect();
            let ready = poll(&mut fds, PollTimeout::from(wait_ms))
                .map_err(|e| bad(format!("polling the receivers: {e}")))?;
            if ready == 0 {
                continue;
            }
            let readable: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                .collect();
            drop(fds);
            for (rx, _) in self.rxs.iter().zip(readable).filter(|(_, r)| *r) {
                loop {
                    let n = match recvfrom::<LinkAddr>(rx.fd.as_raw_fd(), &mut buf) {
                        Ok((n, addr)) => {
                            let ours = addr.is_some_and(|a| {
                                a.pkttype() != PACKET_OUTGOING && a.ifindex() == rx.ifindex
                            });
                            if !ours {
                                continue;
                            }
                            n
                        }
                        Err(nix::errno::Errno::EAGAIN) => break,
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(e) => return Err(bad(format!("reading a packet socket: {e}"))),
                    };
                    let frame = &buf[..n];
                    let raw = frame.get(12..14) == Some(&[0xab, 0x37][..]);
                    // A decapsulated datagram ends with its tag; a BIER frame at a host (a
                    // failure) is searched for one.
                    let hit = if raw {
                        frame.windows(TAG_LEN).find_map(|w| tags.get(w).copied())
                    } else {
                        parse_udp(frame).and_then(|(_, _, d)| {
                            let at = d.len().checked_sub(TAG_LEN)?;
                            tags.get(&d[at..]).copied()
                        })
                    };
                    let Some(i) = hit.filter(|i| *i < probes) else {
                        continue;
                    };
                    let m = if raw {
                        &mut out.raw_bier[i]
                    } else {
                        &mut out.counts[i]
                    };
                    *m.entry(rx.host.clone()).or_insert(0) += 1;
                    quiet_end = Instant::now() + opts.quiet;
                }
            }
        }
        Ok(out)
    }
}

/// Sends every probe (as BIER frames from its host), then collects at every host of `fabric`.
pub fn send_and_collect(
    fabric: &SimFabric,
    senders: &mut BierSenders,
    probes: &[BierProbe],
    opts: &Collect,
) -> E2eResult<Arrivals> {
    // Receivers first, so nothing sent can arrive before they listen.
    let capture = Capture::open(fabric)?;
    let mut tags: BTreeMap<Tag, usize> = BTreeMap::new();
    let mut frames: Vec<(String, Vec<Vec<u8>>)> = Vec::with_capacity(probes.len());
    for (i, p) in probes.iter().enumerate() {
        let tag = new_tag();
        tags.insert(tag, i);
        let payload = [&b"bier e2e "[..], &tag[..]].concat();
        let sock = senders.get(&p.from)?;
        let src_ip = sock
            .source_for(p.group.ip())
            .map_err(|e| bad(e.to_string()))?;
        let d = Datagram {
            src: SocketAddr::new(src_ip, p.group.port()),
            group: p.group,
            payload: &payload,
        };
        let mut fs = tsm_agent::bfir::frames(sock.mac(), &p.headers, &d, &p.opts)
            .map_err(|e| bad(format!("probe {i}: {e}")))?;
        if let Some(m) = p.mangle {
            fs = fs.into_iter().map(m).collect();
        }
        frames.push((p.from.clone(), fs));
    }
    for (from, fs) in &frames {
        for f in fs {
            senders.send_raw(from, f)?;
        }
    }
    capture.collect(&tags, probes.len(), opts)
}

// ---------------------------------------------------------------------------------------------
// A minimal OpenFlow client on a switch's passive listener.

/// An OpenFlow 1.3 channel to one switch-sim (EQUAL role, as any listener connection).
pub struct OfClient {
    stream: TcpStream,
    framer: Framer,
    xid: u32,
    name: String,
}

impl std::fmt::Debug for OfClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfClient")
            .field("switch", &self.name)
            .finish()
    }
}

impl OfClient {
    /// Connects to switch `name` and says HELLO.
    pub fn connect(fabric: &SimFabric, name: &str) -> E2eResult<OfClient> {
        let stream = fabric.connect(name)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(io("read timeout"))?;
        stream.set_nodelay(true).map_err(io("TCP_NODELAY"))?;
        let mut c = OfClient {
            stream,
            framer: Framer::new(),
            xid: 100,
            name: name.to_owned(),
        };
        c.send(&[Message::new(Xid(1), Body::Hello(Hello::ofp13()))])?;
        Ok(c)
    }

    fn next_xid(&mut self) -> Xid {
        self.xid += 1;
        Xid(self.xid)
    }

    fn send(&mut self, msgs: &[Message]) -> E2eResult<()> {
        let mut buf = Vec::new();
        for m in msgs {
            m.encode_into(&mut buf)
                .map_err(|e| bad(format!("encoding for {}: {e}", self.name)))?;
        }
        self.stream
            .write_all(&buf)
            .map_err(io(format!("writing to {}", self.name)))
    }

    fn next(&mut self) -> E2eResult<Message> {
        let mut buf = [0u8; 65536];
        loop {
            if let Some(r) = self.framer.next_message() {
                let m = r.map_err(|e| bad(format!("framing from {}: {e}", self.name)))?;
                if let Some(reply) = m.echo_reply_to() {
                    self.send(&[reply])?;
                    continue;
                }
                return Ok(m);
            }
            let n = self
                .stream
                .read(&mut buf)
                .map_err(io(format!("reading from {}", self.name)))?;
            if n == 0 {
                return Err(bad(format!("{} closed the connection", self.name)));
            }
            self.framer.extend(&buf[..n]);
        }
    }

    /// Sends `bodies`, then a barrier; an `OFPT_ERROR` before the barrier reply fails.
    pub fn apply(&mut self, bodies: Vec<Body>) -> E2eResult<()> {
        let mut msgs: Vec<Message> = bodies
            .into_iter()
            .map(|b| Message::new(self.next_xid(), b))
            .collect();
        let barrier = self.next_xid();
        msgs.push(Message::barrier_request(barrier));
        self.send(&msgs)?;
        loop {
            let m = self.next()?;
            match m.body {
                Body::BarrierReply if m.xid == barrier => return Ok(()),
                Body::Error(e) => return Err(bad(format!("{} refused: {e:?}", self.name))),
                _ => {}
            }
        }
    }

    /// A multipart request and every part of its reply.
    fn multipart(&mut self, req: MultipartRequest) -> E2eResult<Vec<MultipartReplyBody>> {
        let xid = self.next_xid();
        self.send(&[Message::new(xid, Body::MultipartRequest(req))])?;
        let mut out = Vec::new();
        loop {
            let m = self.next()?;
            if m.xid != xid {
                continue;
            }
            match m.body {
                Body::MultipartReply(r) => {
                    let more = r.more();
                    out.push(r.body);
                    if !more {
                        return Ok(out);
                    }
                }
                Body::Error(e) => return Err(bad(format!("{} refused: {e:?}", self.name))),
                other => return Err(bad(format!("{}: unexpected {other:?}", self.name))),
            }
        }
    }

    /// Flow stats of the flows with this cookie.
    pub fn flows(&mut self, cookie: Cookie) -> E2eResult<Vec<FlowStats>> {
        let parts = self.multipart(MultipartRequest::flows(
            TableId::ALL,
            Match::new(),
            cookie,
            u64::MAX,
        ))?;
        Ok(parts
            .into_iter()
            .flat_map(|b| match b {
                MultipartReplyBody::Flow(v) => v,
                _ => Vec::new(),
            })
            .collect())
    }

    /// The group table.
    pub fn groups(&mut self) -> E2eResult<Vec<GroupDesc>> {
        let parts = self.multipart(MultipartRequest::groups_desc())?;
        Ok(parts
            .into_iter()
            .flat_map(|b| match b {
                MultipartReplyBody::GroupDesc(v) => v,
                _ => Vec::new(),
            })
            .collect())
    }

    /// Group statistics of every group.
    pub fn group_stats(&mut self) -> E2eResult<Vec<GroupStats>> {
        let parts = self.multipart(MultipartRequest::group_stats(openflow::GroupId::ALL))?;
        Ok(parts
            .into_iter()
            .flat_map(|b| match b {
                MultipartReplyBody::Group(v) => v,
                _ => Vec::new(),
            })
            .collect())
    }

    /// Every BIFT the switch holds (BIFT_QUERY of all tables, replies merged).
    pub fn bifts(&mut self) -> E2eResult<Vec<BiftTable>> {
        let xid = self.next_xid();
        self.send(&[BierMessage::BiftQuery(BiftSelector::ALL).to_message(xid)])?;
        let mut replies = Vec::new();
        loop {
            let m = self.next()?;
            if m.xid != xid {
                continue;
            }
            match &m.body {
                Body::Experimenter(e) => match BierMessage::from_experimenter(e) {
                    Some(Ok(BierMessage::BiftReply(r))) => {
                        let more = r.more;
                        replies.push(r);
                        if !more {
                            break;
                        }
                    }
                    other => return Err(bad(format!("{}: unexpected {other:?}", self.name))),
                },
                Body::Error(e) => return Err(bad(format!("{} refused: {e:?}", self.name))),
                other => return Err(bad(format!("{}: unexpected {other:?}", self.name))),
            }
        }
        collect_replies(&replies).map_err(|e| bad(format!("{}: BIFT_REPLY: {e}", self.name)))
    }

    /// Sends TSM_CONFIG (draft §9.1).
    pub fn tsm_config(&mut self, cfg: TsmConfig) -> E2eResult<()> {
        let m = BierMessage::TsmConfig(cfg).to_experimenter();
        self.apply(vec![Body::Experimenter(m)])
    }
}

// ---------------------------------------------------------------------------------------------
// Per-link BIER counters.

/// Installs the counting flows on every port of every switch of `fabric`.
pub fn install_link_counters(fabric: &SimFabric) -> E2eResult<()> {
    for sw in fabric.switches() {
        let mut c = OfClient::connect(fabric, &sw.name)?;
        let bodies = sw
            .ports
            .iter()
            .map(|(p, _)| {
                let m = Match::new()
                    .with(Oxm::InPort(PortNo(*p)))
                    .with(Oxm::EthType(ETH_BIER));
                Body::FlowMod(FlowMod {
                    cookie: COUNT_COOKIE,
                    ..FlowMod::add(
                        TABLE,
                        COUNT_PRIORITY,
                        m,
                        vec![Instruction::ApplyActions(vec![
                            BierAction::Forward.to_action()
                        ])],
                    )
                })
            })
            .collect();
        c.apply(bodies)?;
    }
    Ok(())
}

/// BIER packets received so far per (dpid, in_port), from the counting flows.
pub fn link_counts(fabric: &SimFabric) -> E2eResult<BTreeMap<(u64, u32), u64>> {
    let mut out = BTreeMap::new();
    for sw in fabric.switches() {
        let mut c = OfClient::connect(fabric, &sw.name)?;
        for f in c.flows(COUNT_COOKIE)? {
            if let Some(p) = f.match_.in_port() {
                out.insert((sw.dpid, p.0), f.packet_count);
            }
        }
    }
    Ok(out)
}

/// `after − before` per key, leaving out zeros.
pub fn delta(
    before: &BTreeMap<(u64, u32), u64>,
    after: &BTreeMap<(u64, u32), u64>,
) -> BTreeMap<(u64, u32), u64> {
    after
        .iter()
        .filter_map(|(k, a)| {
            let d = a.saturating_sub(before.get(k).copied().unwrap_or(0));
            (d > 0).then_some((*k, d))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The BIFTs on the switches against the controller's view.

/// One entry, normalised: (BIFT-id, bit, local?, ports it may leave by).
type Norm = BTreeSet<(u32, u16, bool, Vec<u32>)>;

fn norm_wire(tables: &[BiftTable]) -> Norm {
    let mut out = Norm::new();
    for t in tables {
        let id = t.key.bift_id;
        match &t.entries {
            TableEntries::Bier(m) => {
                for (bit, hop) in m {
                    match hop {
                        Hop::LocalDecap => {
                            out.insert((id, *bit, true, Vec::new()));
                        }
                        Hop::Forward(v) => {
                            let mut ports: Vec<u32> = v.iter().map(|(p, _)| p.0).collect();
                            ports.sort_unstable();
                            out.insert((id, *bit, false, ports));
                        }
                        _ => {}
                    }
                }
            }
            TableEntries::BierTe(m) => {
                for (bit, adjs) in m {
                    let mut ports = Vec::new();
                    let mut local = false;
                    for a in adjs {
                        match a {
                            Adjacency::ForwardConnected { port, .. } => ports.push(port.0),
                            Adjacency::LocalDecap { .. } => local = true,
                            Adjacency::Ecmp(members) => {
                                for m in members {
                                    if let Adjacency::ForwardConnected { port, .. } = m {
                                        ports.push(port.0);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    ports.sort_unstable();
                    out.insert((id, *bit, local, ports));
                }
            }
        }
    }
    out
}

fn norm_api(b: &api::SwitchBift) -> Norm {
    let mut out = Norm::new();
    for t in &b.tables {
        for e in &t.entries {
            let (local, mut ports) = match e.action {
                api::BiftAction::LocalDecap => (true, Vec::new()),
                api::BiftAction::Forward => (false, e.next_hops.iter().map(|h| h.port).collect()),
                _ => {
                    let mut ports = Vec::new();
                    let mut local = false;
                    for a in &e.adjacencies {
                        match a.kind.as_str() {
                            "forward_connected" => ports.extend(a.port),
                            "local_decap" => local = true,
                            "ecmp" => ports.extend(a.members.iter().filter_map(|m| m.port)),
                            _ => {}
                        }
                    }
                    (local, ports)
                }
            };
            ports.sort_unstable();
            out.insert((t.bift_id, e.bit, local, ports));
        }
    }
    out
}

/// Waits until every switch holds (BIFT_QUERY) exactly the BIFTs tsmd reports for it, none of
/// which uses any of `dead` ((dpid, port)), and tables exist for `sub_domains`. Returns how
/// long it took.
pub fn wait_bifts_settled(
    e: &E2e<SimFabric>,
    dead: &[(u64, u32)],
    sub_domains: &[u8],
    within: Duration,
) -> E2eResult<Duration> {
    let start = Instant::now();
    loop {
        let mut last = String::new();
        for sw in e.fabric.switches() {
            let api = e.tsmd.block_on(e.client().switch_bift(Dpid(sw.dpid)))?;
            let want = norm_api(&api);
            let have = norm_wire(&OfClient::connect(&e.fabric, &sw.name)?.bifts()?);
            let uses_dead = want
                .iter()
                .any(|(_, _, _, ports)| ports.iter().any(|p| dead.contains(&(sw.dpid, *p))));
            let missing: Vec<u8> = sub_domains
                .iter()
                .copied()
                .filter(|sd| !api.tables.iter().any(|t| t.sub_domain == *sd))
                .collect();
            if want != have || uses_dead || !missing.is_empty() {
                last = format!(
                    "{}: {} entries held, {} reported; uses a dead port: {uses_dead}; \
                     sub-domains missing {missing:?}",
                    sw.name,
                    have.len(),
                    want.len()
                );
                break;
            }
        }
        if last.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > within {
            return Err(E2eError::Timeout {
                what: "the switches' BIFTs to match the controller's".into(),
                after: within,
                last,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The far end of the inter-switch link on (dpid, port), if there is one.
pub fn peer(fabric: &SimFabric, dpid: u64, port: u32) -> Option<(u64, u32)> {
    fabric.topology().links.iter().find_map(|l| {
        if (l.a.dpid, l.a.port) == (dpid, port) {
            Some((l.b.dpid, l.b.port))
        } else if (l.b.dpid, l.b.port) == (dpid, port) {
            Some((l.a.dpid, l.a.port))
        } else {
            None
        }
    })
}
