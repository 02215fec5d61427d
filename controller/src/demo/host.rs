//! Simulated hosts for the demo: each is a tokio task on one end of an in-memory link whose
//! other end is a leaf switch's edge port. A host sends and receives real Ethernet frames:
//!
//! - it announces itself with a gratuitous ARP (RFC 5227 §3, an ARP request for its own
//!   address) and an unsolicited IPv6 neighbour advertisement to all nodes (RFC 4861 §7.2.6),
//!   which is how the controller's host learning sees it;
//! - it answers ARP requests (RFC 826) and neighbour solicitations (RFC 4861 §7.2.4) for its
//!   own addresses;
//! - it sends UDP datagrams over IPv4 or IPv6 to a multicast address (destination MAC per
//!   RFC 1112 §6.4 and RFC 2464 §7);
//! - it records every UDP datagram that reaches its port, as a sniffer on the wire would (it
//!   joins no group: the point is to see where the fabric delivers).
//!
//! Guarantees: a host never panics on a frame it cannot read (it ignores it); its log keeps
//! the newest [`LOG_LIMIT`] datagrams, each with a sequence number that only grows, so a
//! caller can ask for what arrived after a mark.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use openflow::oxm::MacAddr;
use switch_sim::packet::build;
use switch_sim::ports::MemoryEnd;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Datagrams a host remembers (the oldest go first).
pub const LOG_LIMIT: usize = 1000;
/// The UDP source port of the demo's datagrams.
pub const SOURCE_PORT: u16 = 5000;

/// A host's number: `HostId(5)` is `h5`, 10.0.0.5, fd00::5, 02:00:00:00:00:05.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub u8);

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h{}", self.0)
    }
}

impl FromStr for HostId {
    type Err = String;
    fn from_str(s: &str) -> Result<HostId, String> {
        s.strip_prefix('h')
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| *n > 0)
            .map(HostId)
            .ok_or_else(|| format!("{s:?} is not a host name (h1, h2, ...)"))
    }
}

impl HostId {
    /// 10.0.0.N.
    pub fn ipv4(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, self.0)
    }

    /// fd00::N (a unique local address, RFC 4193).
    pub fn ipv6(self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(self.0))
    }

    /// 02:00:00:00:00:NN (locally administered, unicast).
    pub fn mac(self) -> MacAddr {
        MacAddr([0x02, 0, 0, 0, 0, self.0])
    }
}

/// Where a host is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub dpid: u64,
    pub port: u32,
    /// The leaf's number in the fabric (1-based), for printing.
    pub leaf: u32,
}

/// A UDP datagram as a host saw it on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

/// One entry of a host's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Grows by one per datagram this host received.
    pub seq: u64,
    pub datagram: Datagram,
}

/// Deliberate faults, so a test can prove the demo's checks catch inexact delivery.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostFaults {
    /// Drop every datagram that arrives instead of recording it (a dead NIC).
    pub deaf: bool,
}

/// Why a host could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    #[error("{host}: the host task has stopped")]
    Stopped { host: HostId },
    #[error("{host}: the link dropped the frame (carrier down or queue full)")]
    Dropped { host: HostId },
    #[error("{host}: cannot send from an IPv{from} host address to {dst}")]
    Family { host: HostId, from: u8, dst: IpAddr },
}

#[derive(Debug)]
enum Cmd {
    Announce,
    Send {
        dst: SocketAddr,
        payload: Vec<u8>,
        done: oneshot::Sender<bool>,
    },
    Log {
        after: u64,
        done: oneshot::Sender<(u64, Vec<Received>)>,
    },
    Clear,
}

/// A simulated host: a handle on its task (cheap to clone). The task runs until every
/// handle is gone, its link's far end is gone, or its [`JoinHandle`] is aborted.
#[derive(Clone, Debug)]
pub struct Host {
    pub id: HostId,
    pub at: Attachment,
    cmds: mpsc::Sender<Cmd>,
}

impl Host {
    /// Starts host `id` on `end` (the far end of its link to the switch).
    pub fn spawn(
        id: HostId,
        at: Attachment,
        end: MemoryEnd,
        faults: HostFaults,
    ) -> (Host, JoinHandle<()>) {
        let (cmds, rx) = mpsc::channel(64);
        let task = tokio::spawn(
            Nic {
                id,
                end,
                faults,
                log: VecDeque::new(),
                seq: 0,
            }
            .run(rx),
        );
        (Host { id, at, cmds }, task)
    }

    async fn cmd(&self, c: Cmd) -> Result<(), HostError> {
        self.cmds
            .send(c)
            .await
            .map_err(|_| HostError::Stopped { host: self.id })
    }

    /// Sends a gratuitous ARP and an unsolicited neighbour advertisement.
    pub async fn announce(&self) -> Result<(), HostError> {
        self.cmd(Cmd::Announce).await
    }

    /// Sends one UDP datagram from this host's address of `dst`'s family, port
    /// [`SOURCE_PORT`].
    pub async fn send_udp(&self, dst: SocketAddr, payload: Vec<u8>) -> Result<(), HostError> {
        let (done, rx) = oneshot::channel();
        self.cmd(Cmd::Send { dst, payload, done }).await?;
        match rx.await {
            Ok(true) => Ok(()),
            Ok(false) => Err(HostError::Dropped { host: self.id }),
            Err(_) => Err(HostError::Stopped { host: self.id }),
        }
    }

    /// The datagrams received with a sequence number above `after`, and the newest sequence
    /// number (a mark for the next call).
    pub async fn received_after(&self, after: u64) -> Result<(u64, Vec<Received>), HostError> {
        let (done, rx) = oneshot::channel();
        self.cmd(Cmd::Log { after, done }).await?;
        rx.await.map_err(|_| HostError::Stopped { host: self.id })
    }

    /// The newest sequence number (nothing newer has arrived yet).
    pub async fn mark(&self) -> Result<u64, HostError> {
        Ok(self.received_after(u64::MAX).await?.0)
    }

    /// Forgets every datagram received so far.
    pub async fn clear(&self) -> Result<(), HostError> {
        self.cmd(Cmd::Clear).await
    }
}

/// The host's side of the wire.
struct Nic {
    id: HostId,
    end: MemoryEnd,
    faults: HostFaults,
    log: VecDeque<Received>,
    seq: u64,
}

impl Nic {
    async fn run(mut self, mut cmds: mpsc::Receiver<Cmd>) {
        self.announce();
        loop {
            tokio::select! {
                c = cmds.recv() => match c {
                    None => return,
                    Some(Cmd::Announce) => self.announce(),
                    Some(Cmd::Send { dst, payload, done }) => {
                        let _ = done.send(self.send(dst, &payload));
                    }
                    Some(Cmd::Log { after, done }) => {
                        let v = self.log.iter().filter(|r| r.seq > after).cloned().collect();
                        let _ = done.send((self.seq, v));
                    }
                    Some(Cmd::Clear) => self.log.clear(),
                },
                f = self.end.recv() => match f {
                    None => return,
                    Some(f) => self.on_frame(&f),
                },
            }
        }
    }

    fn announce(&self) {
        let (mac, v4, v6) = (self.id.mac(), self.id.ipv4(), self.id.ipv6());
        self.end.send(build::arp_request(mac, v4, v4));
        self.end.send(neighbour_advert(
            mac,
            v6,
            ALL_NODES,
            MacAddr([0x33, 0x33, 0, 0, 0, 1]),
            false,
        ));
    }

    fn send(&self, dst: SocketAddr, payload: &[u8]) -> bool {
        let mac = self.id.mac();
        let f = match dst.ip() {
            IpAddr::V4(d) => build::udp4(
                mac,
                group_mac(dst.ip()),
                self.id.ipv4(),
                d,
                SOURCE_PORT,
                dst.port(),
                payload,
            ),
            IpAddr::V6(d) => build::udp6(
                mac,
                group_mac(dst.ip()),
                self.id.ipv6(),
                d,
                SOURCE_PORT,
                dst.port(),
                payload,
            ),
        };
        self.end.send(f)
    }

    fn on_frame(&mut self, f: &[u8]) {
        match parse(f) {
            Some(Frame::ArpRequest { sha, spa, tpa }) if tpa == self.id.ipv4() && spa != tpa => {
                self.end.send(arp_reply(self.id.mac(), tpa, sha, spa));
            }
            Some(Frame::Solicit {
                src_mac,
                src,
                target,
            }) if target == self.id.ipv6() && !src.is_unspecified() => {
                self.end
                    .send(neighbour_advert(self.id.mac(), target, src, src_mac, true));
            }
            Some(Frame::Udp(d)) if !self.faults.deaf => {
                self.seq += 1;
                if self.log.len() >= LOG_LIMIT {
                    self.log.pop_front();
                }
                self.log.push_back(Received {
                    seq: self.seq,
                    datagram: d,
                });
            }
            _ => {}
        }
    }
}

/// ff02::1, all nodes on the link.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The Ethernet destination of a group address: 01:00:5e + the low 23 bits for IPv4
/// (RFC 1112 §6.4), 33:33 + the low 32 bits for IPv6 (RFC 2464 §7).
pub fn group_mac(ip: IpAddr) -> MacAddr {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
        }
        IpAddr::V6(a) => {
            let o = a.octets();
            MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
        }
    }
}

enum Frame {
    ArpRequest {
        sha: MacAddr,
        spa: Ipv4Addr,
        tpa: Ipv4Addr,
    },
    Solicit {
        src_mac: MacAddr,
        src: Ipv6Addr,
        target: Ipv6Addr,
    },
    Udp(Datagram),
}

fn mac_at(f: &[u8], at: usize) -> Option<MacAddr> {
    let mut m = [0u8; 6];
    m.copy_from_slice(f.get(at..at + 6)?);
    Some(MacAddr(m))
}

fn v4_at(f: &[u8], at: usize) -> Option<Ipv4Addr> {
    let b = f.get(at..at + 4)?;
    Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

fn v6_at(f: &[u8], at: usize) -> Option<Ipv6Addr> {
    let mut a = [0u8; 16];
    a.copy_from_slice(f.get(at..at + 16)?);
    Some(Ipv6Addr::from(a))
}

fn u16_at(f: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]))
}

/// The frames a host acts on; `None` for anything else or anything malformed.
fn parse(f: &[u8]) -> Option<Frame> {
    const L3: usize = 14;
    match u16_at(f, 12)? {
        0x0806 => {
            // Ethernet/IPv4 ARP, operation 1 (request).
            if f.get(L3..L3 + 8)? != [0, 1, 0x08, 0x00, 6, 4, 0, 1] {
                return None;
            }
            Some(Frame::ArpRequest {
                sha: mac_at(f, L3 + 8)?,
                spa: v4_at(f, L3 + 14)?,
                tpa: v4_at(f, L3 + 24)?,
            })
        }
        0x0800 => {
            let vihl = *f.get(L3)?;
            let ihl = usize::from(vihl & 0x0f) * 4;
            if vihl >> 4 != 4 || ihl < 20 || *f.get(L3 + 9)? != 17 {
                return None;
            }
            let (src, dst) = (v4_at(f, L3 + 12)?, v4_at(f, L3 + 16)?);
            udp(f, L3 + ihl, IpAddr::V4(src), IpAddr::V4(dst))
        }
        0x86dd => {
            if *f.get(L3)? >> 4 != 6 {
                return None;
            }
            let (src, dst) = (v6_at(f, L3 + 8)?, v6_at(f, L3 + 24)?);
            match *f.get(L3 + 6)? {
                17 => udp(f, L3 + 40, IpAddr::V6(src), IpAddr::V6(dst)),
                // ICMPv6 neighbour solicitation (type 135): target at offset 8.
                58 if *f.get(L3 + 40)? == 135 => Some(Frame::Solicit {
                    src_mac: mac_at(f, 6)?,
                    src,
                    target: v6_at(f, L3 + 48)?,
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

fn udp(f: &[u8], at: usize, src: IpAddr, dst: IpAddr) -> Option<Frame> {
    let len = usize::from(u16_at(f, at + 4)?);
    let payload = f.get(at + 8..at + len.max(8))?.to_vec();
    Some(Frame::Udp(Datagram {
        src: SocketAddr::new(src, u16_at(f, at)?),
        dst: SocketAddr::new(dst, u16_at(f, at + 2)?),
        payload,
    }))
}

/// The Internet checksum (RFC 1071) over `parts` concatenated.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut hi: Option<u8> = None;
    for &b in parts.iter().flat_map(|p| p.iter()) {
        match hi.take() {
            Some(h) => sum += u32::from(u16::from_be_bytes([h, b])),
            None => hi = Some(b),
        }
    }
    if let Some(h) = hi {
        sum += u32::from(u16::from_be_bytes([h, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ethernet(dst: MacAddr, src: MacAddr, eth_type: u16) -> Vec<u8> {
    let mut v = Vec::with_capacity(86);
    v.extend_from_slice(&dst.0);
    v.extend_from_slice(&src.0);
    v.extend_from_slice(&eth_type.to_be_bytes());
    v
}

/// An ARP reply (RFC 826): `sha`/`spa` answer the requester `tha`/`tpa`.
fn arp_reply(sha: MacAddr, spa: Ipv4Addr, tha: MacAddr, tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = ethernet(tha, sha, 0x0806);
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    f.extend_from_slice(&sha.0);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha.0);
    f.extend_from_slice(&tpa.octets());
    f
}

/// A neighbour advertisement (RFC 4861 §4.4) for `target`, with the target link-layer
/// address option; solicited ones set the S flag, all set O (override).
fn neighbour_advert(
    mac: MacAddr,
    target: Ipv6Addr,
    dst: Ipv6Addr,
    dst_mac: MacAddr,
    solicited: bool,
) -> Vec<u8> {
    let flags = if solicited { 0x60 } else { 0x20 };
    let mut icmp = vec![136u8, 0, 0, 0, flags, 0, 0, 0];
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&mac.0);
    let len = icmp.len() as u32;
    let mut pseudo = Vec::with_capacity(40);
    pseudo.extend_from_slice(&target.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&len.to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    let c = checksum(&[&pseudo, &icmp]);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = ethernet(dst_mac, mac, 0x86dd);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    // Next header ICMPv6, hop limit 255 (RFC 4861 §7.1.2 requires it).
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&target.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&icmp);
    f
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;
    use switch_sim::ports::memory_link;

    fn at() -> Attachment {
        Attachment {
            dpid: 0x101,
            port: 3,
            leaf: 1,
        }
    }

    #[test]
    fn names_and_addresses() {
        let h: HostId = "h12".parse().unwrap();
        assert_eq!(h, HostId(12));
        assert_eq!(h.to_string(), "h12");
        assert_eq!(h.ipv4(), Ipv4Addr::new(10, 0, 0, 12));
        assert_eq!(h.ipv6().to_string(), "fd00::c");
        assert_eq!(h.mac(), MacAddr([2, 0, 0, 0, 0, 12]));
        assert!("h0".parse::<HostId>().is_err());
        assert!("x3".parse::<HostId>().is_err());
        assert_eq!(
            group_mac("239.192.1.2".parse().unwrap()),
            MacAddr([1, 0, 0x5e, 0x40, 1, 2])
        );
        assert_eq!(
            group_mac("ff18::8000:1".parse().unwrap()),
            MacAddr([0x33, 0x33, 0x80, 0, 0, 1])
        );
    }

    #[tokio::test]
    async fn announces_answers_and_records() {
        let (sw, mut wire) = memory_link();
        let (h, _task) = Host::spawn(HostId(3), at(), sw, HostFaults::default());
        // The announcement: a gratuitous ARP, then an unsolicited NA that the controller's
        // frame reader takes as this host's IPv6 address.
        let garp = wire.recv().await.unwrap();
        let src = crate::frames::source(&garp).unwrap().unwrap();
        assert_eq!(src, (HostId(3).mac(), Some(IpAddr::V4(HostId(3).ipv4()))));
        let na = wire.recv().await.unwrap();
        let src = crate::frames::source(&na).unwrap().unwrap();
        assert_eq!(src, (HostId(3).mac(), Some(IpAddr::V6(HostId(3).ipv6()))));
        assert!(build::checksums_ok(&na));

        // ARP for us is answered, ARP for another address is not.
        let asker = HostId(9);
        wire.send(build::arp_request(
            asker.mac(),
            asker.ipv4(),
            HostId(4).ipv4(),
        ));
        wire.send(build::arp_request(
            asker.mac(),
            asker.ipv4(),
            HostId(3).ipv4(),
        ));
        let reply = wire.recv_timeout(Duration::from_secs(2)).await.unwrap();
        assert_eq!(&reply[..6], &asker.mac().0);
        assert_eq!(&reply[20..22], &[0, 2]);
        assert_eq!(&reply[22..28], &HostId(3).mac().0);
        assert_eq!(&reply[38..42], &asker.ipv4().octets());
        // A neighbour solicitation is answered with a solicited NA.
        wire.send(build::ndp_solicit(
            asker.mac(),
            asker.ipv6(),
            HostId(3).ipv6(),
        ));
        let na = wire.recv_timeout(Duration::from_secs(2)).await.unwrap();
        assert_eq!(&na[..6], &asker.mac().0);
        assert_eq!(na[54], 136);
        assert_eq!(na[58] & 0x40, 0x40, "solicited flag");
        assert!(build::checksums_ok(&na));

        // Sends: well-formed UDP to the group MAC, both families.
        let g4: SocketAddr = "239.192.0.7:6000".parse().unwrap();
        h.send_udp(g4, b"four".to_vec()).await.unwrap();
        let f = wire.recv().await.unwrap();
        assert!(build::checksums_ok(&f));
        assert_eq!(MacAddr(f[..6].try_into().unwrap()), group_mac(g4.ip()));
        let g6: SocketAddr = "[ff18::8000:7]:6000".parse().unwrap();
        h.send_udp(g6, b"six".to_vec()).await.unwrap();
        let f6 = wire.recv().await.unwrap();
        assert!(build::checksums_ok(&f6));

        // Receives: both recorded, with growing sequence numbers; a mark filters.
        let mark = h.mark().await.unwrap();
        let from = HostId(1);
        wire.send(build::udp4(
            from.mac(),
            group_mac(g4.ip()),
            from.ipv4(),
            "239.192.0.7".parse().unwrap(),
            SOURCE_PORT,
            6000,
            b"hello",
        ));
        wire.send(build::udp6(
            from.mac(),
            group_mac(g6.ip()),
            from.ipv6(),
            "ff18::8000:7".parse().unwrap(),
            SOURCE_PORT,
            6000,
            b"hello6",
        ));
        let got = loop {
            let (_, v) = h.received_after(mark).await.unwrap();
            if v.len() == 2 {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(got[0].datagram.payload, b"hello");
        assert_eq!(
            got[0].datagram.src,
            SocketAddr::new(from.ipv4().into(), 5000)
        );
        assert_eq!(got[0].datagram.dst, g4);
        assert_eq!(got[1].datagram.payload, b"hello6");
        assert_eq!(got[1].datagram.dst, g6);
        assert!(got[1].seq > got[0].seq);
        assert!(h.received_after(got[1].seq).await.unwrap().1.is_empty());
        h.clear().await.unwrap();
        assert!(h.received_after(0).await.unwrap().1.is_empty());
    }

    #[tokio::test]
    async fn a_deaf_host_records_nothing_and_garbage_is_ignored() {
        let (sw, mut wire) = memory_link();
        let (h, _task) = Host::spawn(HostId(2), at(), sw, HostFaults { deaf: true });
        let _ = wire.recv().await;
        let _ = wire.recv().await;
        for n in 0..60 {
            wire.send(vec![0x08; n]);
        }
        let from = HostId(1);
        wire.send(build::udp4(
            from.mac(),
            group_mac("239.1.1.1".parse().unwrap()),
            from.ipv4(),
            "239.1.1.1".parse().unwrap(),
            5000,
            6000,
            b"x",
        ));
        // The host is still alive (answers) and logged nothing.
        wire.send(build::arp_request(
            from.mac(),
            from.ipv4(),
            HostId(2).ipv4(),
        ));
        assert!(wire.recv_timeout(Duration::from_secs(2)).await.is_some());
        assert!(h.received_after(0).await.unwrap().1.is_empty());
    }
}
