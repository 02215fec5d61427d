//! Real UDP traffic between hosts that live in network namespaces.
//!
//! Sending: a UDP socket made inside the sender's namespace, bound to its `eth0`
//! (`SO_BINDTODEVICE`, so the group datagram leaves by the right interface whatever the
//! routes say), with the multicast TTL / hop limit asked for and multicast loopback off (so
//! a copy the sender receives can only have come back from the network).
//!
//! Receiving, two ways ([`Reception`]):
//! - [`Reception::Capture`] (the default): a packet socket (`AF_PACKET`) on each receiver
//!   counts every frame that arrives at its `eth0` carrying the probe. No group membership is
//!   needed, so no IGMP/MLD report is sent that a controller could mistake for a join.
//!   Linux's UDP layer would drop those datagrams: a multicast datagram is delivered to a
//!   socket bound to `INADDR_ANY:port` only if the host joined the group on the receiving
//!   interface (checked here: unjoined, the packet socket sees the datagram and the UDP socket
//!   does not).
//! - [`Reception::Socket`]: a UDP socket bound to the port in each receiver, joined to every
//!   multicast destination on `eth0` (`IP_ADD_MEMBERSHIP` / `IPV6_JOIN_GROUP`), so the count
//!   is what an application reading the socket gets. The joins send IGMP/MLD reports.
//!
//! Every datagram carries the caller's payload followed by a 12-byte tag unique to the probe
//! (`"tsmt"`, the pid, a counter), so copies of other probes and stray traffic never count.
//!
//! Waiting: after the last datagram is sent, collection goes on until `quiet` has passed with
//! no matching arrival (default 300 ms; late copies and duplicates through OVS arrive within
//! a few milliseconds of the first), or until `deadline` after the send, whichever is first.
//! A probe that reaches nobody therefore costs `quiet`; send many probes in one call to pay
//! it once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvfrom, setsockopt, socket, sockopt, AddressFamily, LinkAddr, SockFlag, SockProtocol,
    SockType,
};

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::topology::Host;

/// A host's data and its namespace, as the traffic helpers need them.
#[derive(Debug, Clone, Copy)]
pub struct HostNs<'a> {
    /// Name, addresses, attachment.
    pub info: &'a Host,
    /// The namespace its `eth0` lives in.
    pub netns: &'a Netns,
}

/// The interface every host uses.
const HOST_IF: &str = "eth0";
/// `PACKET_OUTGOING`: a packet socket's copy of a frame this host sent.
const PACKET_OUTGOING: u8 = 4;
/// Bytes appended to each probe's payload.
const TAG_LEN: usize = 12;

static PROBE_SEQ: AtomicU32 = AtomicU32::new(1);

impl HostNs<'_> {
    /// A UDP socket of `dst`'s family made inside the host's namespace, bound to `eth0` and an
    /// ephemeral port, multicast TTL/hop limit `ttl`, multicast loopback off.
    pub fn sender(&self, like: IpAddr, ttl: u8) -> Result<UdpSocket> {
        let name = self.info.name.clone();
        self.netns.run(move || -> Result<UdpSocket> {
            let what = |s: &str| format!("{s} on {name}");
            let sock = match like {
                IpAddr::V4(_) => {
                    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
                        .map_err(|e| Error::io(what("binding a UDP socket"), e))?;
                    s.set_multicast_ttl_v4(u32::from(ttl))
                        .map_err(|e| Error::io(what("IP_MULTICAST_TTL"), e))?;
                    s.set_multicast_loop_v4(false)
                        .map_err(|e| Error::io(what("IP_MULTICAST_LOOP"), e))?;
                    s.set_broadcast(true)
                        .map_err(|e| Error::io(what("SO_BROADCAST"), e))?;
                    s
                }
                IpAddr::V6(_) => {
                    let s = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))
                        .map_err(|e| Error::io(what("binding a UDP socket"), e))?;
                    setsockopt(&s, sockopt::Ipv6MulticastHops, &i32::from(ttl))
                        .map_err(|e| Error::sys(what("IPV6_MULTICAST_HOPS"), e))?;
                    s.set_multicast_loop_v6(false)
                        .map_err(|e| Error::io(what("IPV6_MULTICAST_LOOP"), e))?;
                    s
                }
            };
            setsockopt(&sock, sockopt::BindToDevice, &OsString::from(HOST_IF))
                .map_err(|e| Error::sys(what("SO_BINDTODEVICE eth0"), e))?;
            Ok(sock)
        })?
    }

    /// A UDP socket bound to `port` (of `like`'s family, any address) inside the host's
    /// namespace, joined on `eth0` to each multicast address in `groups`.
    pub fn receiver(&self, like: IpAddr, port: u16, groups: &[IpAddr]) -> Result<UdpSocket> {
        let info = self.info;
        let name = info.name.clone();
        self.netns.run(move || -> Result<UdpSocket> {
            let what = |s: String| format!("{s} on {name}");
            let sock = match like {
                IpAddr::V4(_) => UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)),
                IpAddr::V6(_) => UdpSocket::bind((Ipv6Addr::UNSPECIFIED, port)),
            }
            .map_err(|e| Error::io(what(format!("binding UDP port {port}")), e))?;
            let ifindex = nix::net::if_::if_nametoindex(HOST_IF)
                .map_err(|e| Error::sys(what("finding eth0".into()), e))?;
            for g in groups.iter().filter(|g| g.is_multicast()) {
                match (g, like) {
                    (IpAddr::V4(g), IpAddr::V4(_)) => sock.join_multicast_v4(g, &info.ipv4),
                    (IpAddr::V6(g), IpAddr::V6(_)) => sock.join_multicast_v6(g, ifindex),
                    _ => continue,
                }
                .map_err(|e| Error::io(what(format!("joining {g}")), e))?;
            }
            sock.set_nonblocking(true)
                .map_err(|e| Error::io(what("O_NONBLOCK".into()), e))?;
            Ok(sock)
        })?
    }

    /// A packet socket that sees every frame on the host's `eth0`, and `eth0`'s index.
    fn capture(&self) -> Result<(OwnedFd, u32)> {
        let name = self.info.name.clone();
        self.netns.run(move || -> Result<(OwnedFd, u32)> {
            let fd = socket(
                AddressFamily::Packet,
                SockType::Raw,
                SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                SockProtocol::EthAll,
            )
            .map_err(|e| Error::sys(format!("opening a packet socket on {name}"), e))?;
            let ifindex = nix::net::if_::if_nametoindex(HOST_IF)
                .map_err(|e| Error::sys(format!("finding eth0 on {name}"), e))?;
            Ok((fd, ifindex))
        })?
    }

    /// Sends one IPv4 broadcast and one IPv6 all-nodes datagram from the host's own
    /// addresses, so that a controller learning hosts from packet-ins sees it.
    pub fn announce(&self, port: u16) -> Result<()> {
        let v4 = self.sender(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 1)?;
        v4.send_to(b"tsmt-announce", (Ipv4Addr::new(10, 255, 255, 255), port))
            .map_err(|e| Error::io(format!("announcing {} (IPv4)", self.info.name), e))?;
        let v6 = self.sender(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 1)?;
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        v6.send_to(b"tsmt-announce", (all_nodes, port))
            .map_err(|e| Error::io(format!("announcing {} (IPv6)", self.info.name), e))?;
        Ok(())
    }
}

/// How receivers get the datagrams (see the module header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Reception {
    /// A packet socket on each receiver's `eth0`; no joins.
    #[default]
    Capture,
    /// A UDP socket per receiver, joined to the multicast destinations.
    Socket,
}

/// How long and how to collect.
#[derive(Debug, Clone, Copy)]
pub struct Collect {
    /// Stop once this long has passed with no matching arrival (counted from the last send).
    pub quiet: Duration,
    /// Stop at the latest this long after the last send.
    pub deadline: Duration,
    /// Capture or sockets.
    pub reception: Reception,
    /// Multicast TTL / hop limit of the probes.
    pub ttl: u8,
}

impl Default for Collect {
    fn default() -> Self {
        Collect {
            quiet: Duration::from_millis(300),
            deadline: Duration::from_secs(2),
            reception: Reception::Capture,
            ttl: 16,
        }
    }
}

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Sending host.
    pub from: String,
    /// Destination address (a group address, or a host's unicast address).
    pub dst: IpAddr,
    /// Destination UDP port.
    pub port: u16,
    /// Payload (the tag is appended to it).
    pub payload: Vec<u8>,
}

impl Probe {
    /// A probe with a small payload naming its destination.
    pub fn new(from: &str, dst: IpAddr, port: u16) -> Probe {
        Probe {
            from: from.to_owned(),
            dst,
            port,
            payload: format!("probe to {dst}:{port}").into_bytes(),
        }
    }
}

/// Where one probe arrived.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivery {
    /// Copies received, per receiver (every receiver listed, 0 when none arrived).
    pub counts: BTreeMap<String, usize>,
    /// Time from the probe's send to its first arrival.
    pub first: Option<Duration>,
    /// Time from the probe's send to its last arrival.
    pub last: Option<Duration>,
}

impl Delivery {
    /// The receivers that got at least one copy.
    pub fn received(&self) -> BTreeSet<String> {
        self.counts
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(h, _)| h.clone())
            .collect()
    }

    /// Copies host `name` got.
    pub fn count(&self, name: &str) -> usize {
        self.counts.get(name).copied().unwrap_or(0)
    }

    /// Whether exactly `expected` received, each exactly once.
    pub fn is_exactly<S: AsRef<str>>(&self, expected: &[S]) -> bool {
        let want: BTreeSet<&str> = expected.iter().map(|s| s.as_ref()).collect();
        self.counts
            .iter()
            .all(|(h, &n)| n == usize::from(want.contains(h.as_str())))
            && want.iter().all(|h| self.counts.contains_key(*h))
    }
}

/// A receiving endpoint: which host, which socket, and how to read it.
struct Rx {
    host: usize,
    fd: RxSocket,
}

enum RxSocket {
    Packet { fd: OwnedFd, ifindex: u32 },
    Udp(UdpSocket),
}

impl RxSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            RxSocket::Packet { fd, .. } => fd.as_fd(),
            RxSocket::Udp(s) => s.as_fd(),
        }
    }
}

/// Sends every probe, then collects at `receivers` (host names) as `opts` says. Returns one
/// [`Delivery`] per probe, in order.
pub fn send_and_collect(
    hosts: &[HostNs<'_>],
    probes: &[Probe],
    receivers: &[&str],
    opts: &Collect,
) -> Result<Vec<Delivery>> {
    let find = |name: &str| {
        hosts
            .iter()
            .position(|h| h.info.name == name)
            .ok_or_else(|| Error::UnknownHost(name.to_owned()))
    };
    let rx_hosts: Vec<usize> = receivers.iter().map(|r| find(r)).collect::<Result<_>>()?;
    if rx_hosts.is_empty() {
        return Err(Error::BadProbe("no receivers".into()));
    }

    // Receivers first, so nothing sent can arrive before they listen.
    let mut rxs = Vec::new();
    for &h in &rx_hosts {
        match opts.reception {
            Reception::Capture => {
                let (fd, ifindex) = hosts[h].capture()?;
                rxs.push(Rx {
                    host: h,
                    fd: RxSocket::Packet { fd, ifindex },
                });
            }
            Reception::Socket => {
                let mut keys: Vec<(bool, u16)> =
                    probes.iter().map(|p| (p.dst.is_ipv4(), p.port)).collect();
                keys.sort_unstable();
                keys.dedup();
                for (v4, port) in keys {
                    let groups: Vec<IpAddr> = probes
                        .iter()
                        .filter(|p| p.dst.is_ipv4() == v4 && p.port == port)
                        .map(|p| p.dst)
                        .collect();
                    let like = if v4 {
                        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                    } else {
                        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                    };
                    let s = hosts[h].receiver(like, port, &groups)?;
                    rxs.push(Rx {
                        host: h,
                        fd: RxSocket::Udp(s),
                    });
                }
            }
        }
    }

    // Tags and senders.
    let pid = std::process::id();
    let mut datagrams = Vec::with_capacity(probes.len());
    let mut tag_index: HashMap<[u8; TAG_LEN], usize> = HashMap::new();
    for (i, p) in probes.iter().enumerate() {
        let seq = PROBE_SEQ.fetch_add(1, Ordering::Relaxed);
        let mut tag = [0u8; TAG_LEN];
        tag[..4].copy_from_slice(b"tsmt");
        tag[4..8].copy_from_slice(&pid.to_be_bytes());
        tag[8..].copy_from_slice(&seq.to_be_bytes());
        tag_index.insert(tag, i);
        let mut d = p.payload.clone();
        d.extend_from_slice(&tag);
        datagrams.push(d);
    }
    let mut senders: HashMap<(usize, bool), UdpSocket> = HashMap::new();
    for p in probes {
        let h = find(&p.from)?;
        if let std::collections::hash_map::Entry::Vacant(e) = senders.entry((h, p.dst.is_ipv4())) {
            e.insert(hosts[h].sender(p.dst, opts.ttl)?);
        }
    }
    let mut sent_at = Vec::with_capacity(probes.len());
    for (p, d) in probes.iter().zip(&datagrams) {
        let h = find(&p.from)?;
        let sock = senders
            .get(&(h, p.dst.is_ipv4()))
            .ok_or_else(|| Error::BadProbe(format!("no sender socket for {}", p.from)))?;
        sock.send_to(d, SocketAddr::new(p.dst, p.port))
            .map_err(|e| {
                Error::io(
                    format!("sending from {} to {}:{}", p.from, p.dst, p.port),
                    e,
                )
            })?;
        sent_at.push(Instant::now());
    }

    let mut out: Vec<Delivery> = probes
        .iter()
        .map(|_| Delivery {
            counts: rx_hosts
                .iter()
                .map(|&h| (hosts[h].info.name.clone(), 0))
                .collect(),
            first: None,
            last: None,
        })
        .collect();
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
        let wait_ms = (end - now)
            .as_micros()
            .div_ceil(1000)
            .min(u128::from(u16::MAX));
        let mut fds: Vec<PollFd<'_>> = rxs
            .iter()
            .map(|r| PollFd::new(r.fd.as_fd(), PollFlags::POLLIN))
            .collect();
        let ready = poll(&mut fds, PollTimeout::from(wait_ms as u16))
            .map_err(|e| Error::sys("polling the receivers", e))?;
        if ready == 0 {
            continue;
        }
        let readable: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
            .collect();
        drop(fds);
        for (rx, _) in rxs.iter().zip(readable).filter(|(_, r)| *r) {
            // Drain the socket: it is non-blocking.
            loop {
                let payload: Option<(IpAddr, u16, &[u8])> = match &rx.fd {
                    RxSocket::Packet { fd, ifindex } => {
                        match recvfrom::<LinkAddr>(fd.as_raw_fd(), &mut buf) {
                            Ok((n, addr)) => {
                                let ours = addr.is_some_and(|a| {
                                    a.pkttype() != PACKET_OUTGOING
                                        && a.ifindex() == *ifindex as usize
                                });
                                if !ours {
                                    continue;
                                }
                                match parse_udp(&buf[..n]) {
                                    Some(x) => Some(x),
                                    None => continue,
                                }
                            }
                            Err(nix::errno::Errno::EAGAIN) => None,
                            Err(nix::errno::Errno::EINTR) => continue,
                            Err(e) => return Err(Error::sys("reading a packet socket", e)),
                        }
                    }
                    RxSocket::Udp(s) => match s.recv_from(&mut buf) {
                        Ok((n, _)) => {
                            let port = s.local_addr().map(|a| a.port()).unwrap_or(0);
                            // The socket does not tell the destination address; the tag
                            // identifies the probe and the port is the socket's.
                            Some((IpAddr::V4(Ipv4Addr::UNSPECIFIED), port, &buf[..n]))
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(Error::io("reading a UDP socket", e)),
                    },
                };
                let Some((dst, port, data)) = payload else {
                    break;
                };
                let Some(i) = match_probe(&tag_index, probes, dst, port, data) else {
                    continue;
                };
                let at = Instant::now();
                let d = &mut out[i];
                *d.counts
                    .entry(hosts[rx.host].info.name.clone())
                    .or_insert(0) += 1;
                let since = at.saturating_duration_since(sent_at[i]);
                d.first.get_or_insert(since);
                d.last = Some(since);
                quiet_end = at + opts.quiet;
            }
        }
    }
    Ok(out)
}

/// The probe a received datagram belongs to, if any. `dst` is unspecified when the receiving
/// socket cannot tell it.
fn match_probe(
    tags: &HashMap<[u8; TAG_LEN], usize>,
    probes: &[Probe],
    dst: IpAddr,
    port: u16,
    data: &[u8],
) -> Option<usize> {
    let split = data.len().checked_sub(TAG_LEN)?;
    let tag: [u8; TAG_LEN] = data[split..].try_into().ok()?;
    let &i = tags.get(&tag)?;
    let p = &probes[i];
    let dst_ok = dst.is_unspecified() || dst == p.dst;
    (dst_ok && port == p.port && data[..split] == p.payload[..]).then_some(i)
}

/// The destination address, destination port and payload of an Ethernet frame carrying
/// UDP over IPv4 or IPv6 (no VLAN tag, no IPv6 extension header, no fragment).
pub fn parse_udp(frame: &[u8]) -> Option<(IpAddr, u16, &[u8])> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = frame.get(14..)?;
    let (dst, udp) = match ethertype {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            // More-fragments flag or a fragment offset: not a whole datagram.
            if *ip.get(9)? != 17 || frag & 0x3fff != 0 || ihl < 20 {
                return None;
            }
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (IpAddr::from(dst), ip.get(ihl..)?)
        }
        0x86dd => {
            if *ip.get(6)? != 17 {
                return None;
            }
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (IpAddr::from(dst), ip.get(40..)?)
        }
        _ => return None,
    };
    let port = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    // The UDP length, not the frame length: short frames are padded to 60 bytes.
    let len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    Some((dst, port, udp.get(8..len)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_v4(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x01, 0, 0x5e, 1, 1, 1, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let total = 20 + 8 + payload.len();
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            8,
            17,
        ]);
        f.extend_from_slice(&[0, 0, 10, 0, 0, 1, 239, 1, 1, 1]);
        let ulen = 8 + payload.len();
        f.extend_from_slice(&[0x30, 0x39, 0x13, 0x88, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        f.extend_from_slice(payload);
        f.resize(f.len().max(60), 0);
        f
    }

    #[test]
    fn parses_a_padded_ipv4_frame() {
        let f = frame_v4(b"hi");
        let (dst, port, payload) = parse_udp(&f).unwrap();
        assert_eq!(dst, IpAddr::V4(Ipv4Addr::new(239, 1, 1, 1)));
        assert_eq!(port, 5000);
        assert_eq!(payload, b"hi");
    }

    #[test]
    fn short_or_foreign_frames_are_ignored() {
        let f = frame_v4(b"hi");
        for n in 0..42 {
            assert!(parse_udp(&f[..n]).is_none(), "truncated at {n}");
        }
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(parse_udp(&arp).is_none());
        let mut frag = f;
        frag[14 + 6] = 0x20; // more fragments
        assert!(parse_udp(&frag).is_none());
    }

    #[test]
    fn probes_match_by_tag_payload_and_port() {
        let p = Probe::new("h1", "239.1.1.1".parse().unwrap(), 5000);
        let tag = *b"tsmt\0\0\0\x01\0\0\0\x02";
        let tags = HashMap::from([(tag, 0usize)]);
        let mut data = p.payload.clone();
        data.extend_from_slice(&tag);
        let probes = [p.clone()];
        assert_eq!(match_probe(&tags, &probes, p.dst, 5000, &data), Some(0));
        assert_eq!(match_probe(&tags, &probes, p.dst, 5001, &data), None);
        let other: IpAddr = "239.1.1.2".parse().unwrap();
        assert_eq!(match_probe(&tags, &probes, other, 5000, &data), None);
        data[0] ^= 1;
        assert_eq!(match_probe(&tags, &probes, p.dst, 5000, &data), None);
    }

    #[test]
    fn exactly_means_once_each_and_nobody_else() {
        let d = Delivery {
            counts: BTreeMap::from([("h1".into(), 1), ("h2".into(), 0), ("h3".into(), 2)]),
            ..Delivery::default()
        };
        assert!(!d.is_exactly(&["h1", "h3"]));
        let d2 = Delivery {
            counts: BTreeMap::from([("h1".into(), 1), ("h2".into(), 0)]),
            ..Delivery::default()
        };
        assert!(d2.is_exactly(&["h1"]));
        assert!(!d2.is_exactly(&["h1", "h2"]));
        assert!(!d2.is_exactly(&["h1", "h9"]));
    }
}
