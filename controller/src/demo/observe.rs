//! Sending a datagram from a simulated host and finding out who received it.
//!
//! Every host's log is marked before the send; afterwards only datagrams newer than the mark,
//! from the sender's address, to the destination, with the same payload count. The absence of
//! further copies can only be observed over time: after the expected copies arrived (or the
//! wait ran out), a quiet window must pass, and whatever arrives in it counts too.
//!
//! Guarantees: every host's copies are counted (duplicates included), not only the expected
//! hosts'; the call returns within `wait.max + wait.quiet` plus the hosts' answer time.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::host::{Host, HostError, HostId, Received};

/// How long to wait for copies.
#[derive(Clone, Debug)]
pub struct Wait {
    /// Stop waiting early once each of these hosts has a copy (`None`: wait `max`).
    pub expected: Option<BTreeSet<HostId>>,
    /// The longest wait for the expected copies.
    pub max: Duration,
    /// After that, how long nothing more must arrive.
    pub quiet: Duration,
}

/// Sends `payload` from `from` to `dst` and counts the copies each host received.
pub async fn send_and_count(
    hosts: &[Host],
    from: &Host,
    dst: SocketAddr,
    payload: Vec<u8>,
    wait: &Wait,
) -> Result<BTreeMap<HostId, usize>, HostError> {
    let src_ip = match dst.ip() {
        IpAddr::V4(_) => IpAddr::V4(from.id.ipv4()),
        IpAddr::V6(_) => IpAddr::V6(from.id.ipv6()),
    };
    let mut marks = Vec::with_capacity(hosts.len());
    for h in hosts {
        marks.push(h.mark().await?);
    }
    from.send_udp(dst, payload.clone()).await?;
    let ours = |r: &Received| {
        r.datagram.src.ip() == src_ip && r.datagram.dst == dst && r.datagram.payload == payload
    };
    let mut got: BTreeMap<HostId, usize> = BTreeMap::new();
    let collect = |got: &mut BTreeMap<HostId, usize>,
                   marks: &mut Vec<u64>,
                   i: usize,
                   (mark, v): (u64, Vec<Received>)| {
        let n = v.iter().filter(|r| ours(r)).count();
        if n > 0 {
            *got.entry(hosts[i].id).or_default() += n;
        }
        marks[i] = mark;
    };
    let deadline = tokio::time::Instant::now() + wait.max;
    loop {
        for (i, h) in hosts.iter().enumerate() {
            let r = h.received_after(marks[i]).await?;
            collect(&mut got, &mut marks, i, r);
        }
        let complete = wait
            .expected
            .as_ref()
            .is_some_and(|e| e.iter().all(|h| got.contains_key(h)));
        if complete || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(wait.quiet).await;
    for (i, h) in hosts.iter().enumerate() {
        let r = h.received_after(marks[i]).await?;
        collect(&mut got, &mut marks, i, r);
    }
    Ok(got)
}
