//! IGMP / MLD snooping end to end on real Open vSwitch: receivers in host namespaces join a
//! negotiating group declared `"members": "snooped"` through the kernel (`IP_ADD_MEMBERSHIP`,
//! `IPV6_ADD_MEMBERSHIP` on a UDP socket made inside the namespace), so the reports are the
//! Linux stack's own — IGMPv2 and IGMPv3 (`force_igmp_version` per host), MLDv1 and MLDv2
//! (`force_mld_version`). OVS punts them to tsmd by its flows; `GET /v1/groups/{name}` must
//! then list exactly the joined hosts, a leave (`IP_DROP_MEMBERSHIP`, or the socket closed)
//! must remove exactly that host, and subsets of the group must deliver exactly (real UDP,
//! captured at every host).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};

use api::{GroupMembers, GroupSpec};
use tsm_tests::e2e::{check_cases, group_name, Case, E2e};
use tsm_tests::{OvsFabric, TopologySpec};

/// How long a join or leave may take to show in the API (Linux sends an IGMPv2 report within
/// 200 ms of the join, IGMPv3 / MLD state-change reports at once).
const WITHIN: Duration = Duration::from_secs(5);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The members `GET /v1/groups/{name}` lists.
fn api_members(e: &E2e, name: &str) -> BTreeSet<IpAddr> {
    let g = e
        .tsmd
        .block_on(e.client().group(&group_name(name).unwrap()))
        .unwrap();
    g.members.into_iter().collect()
}

/// Polls the API until the group's members are `want` (or fails with what it saw last).
fn wait_members(e: &E2e, name: &str, want: &BTreeSet<IpAddr>) -> Duration {
    let start = Instant::now();
    loop {
        let got = api_members(e, name);
        if &got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < WITHIN,
            "group {name}: members {got:?}, want {want:?} (after {WITHIN:?})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `sysctl -qw key=value` inside host `h`'s namespace.
fn sysctl(e: &E2e, h: &str, kv: &str) {
    e.fabric
        .host_netns(h)
        .unwrap()
        .exec("sysctl", &["-qw", kv])
        .unwrap();
}

/// A UDP socket in host `h`, joined to `group` on its eth0 (the kernel reports the join).
fn join(e: &E2e, h: &str, group: IpAddr) -> UdpSocket {
    let like = group;
    e.fabric
        .host_ns(h)
        .unwrap()
        .receiver(like, 0, &[group])
        .unwrap()
}

/// Host `h`'s link-local IPv6 address: where its MLD reports come from (RFC 3810 §5.2.13),
/// so how tsmd names it as a member of an IPv6 group.
fn link_local(e: &E2e, h: &str) -> IpAddr {
    let out = e
        .fabric
        .host_netns(h)
        .unwrap()
        .exec(
            "ip",
            &["-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"],
        )
        .unwrap();
    let addr = out
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .unwrap_or_else(|| panic!("no link-local address on {h}: {out}"));
    ip(addr.split('/').next().unwrap())
}

/// Waits until host `h`'s link-local address has passed duplicate address detection: before,
/// the kernel sends its MLD reports from `::` (RFC 3810 §5.2.13), which name no member (tsmd
/// ignores them), and an MLDv1 host repeats its report only 10 s later.
fn wait_link_local(e: &E2e, h: &str) {
    let ns = e.fabric.host_netns(h).unwrap();
    let start = Instant::now();
    loop {
        let args = [
            "-6",
            "-o",
            "addr",
            "show",
            "dev",
            "eth0",
            "scope",
            "link",
            "tentative",
        ];
        if ns.exec("ip", &args).unwrap().trim().is_empty() {
            return;
        }
        assert!(
            start.elapsed() < WITHIN,
            "{h}: link-local address still tentative"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn case(e: &E2e, address: IpAddr, members: &[&str], sender: &str) -> Case {
    let _ = e;
    Case {
        address,
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        sender: sender.to_owned(),
        expected: members
            .iter()
            .filter(|m| **m != sender)
            .map(|m| (*m).to_owned())
            .collect(),
    }
}

#[test]
fn e2e_snooped_groups_follow_kernel_joins_and_leaves() {
    if let Err(why) = tsm_tests::check_environment() {
        panic!("{why}");
    }
    let started = Instant::now();
    // Two switches, three hosts each: h1-h3 on s1, h4-h6 on s2.
    let e = E2e::<OvsFabric>::new(&TopologySpec::line(2, 3), |_| {}).unwrap();
    let y4 = ip("239.7.0.1");
    let y6 = ip("ff1e::7:1");
    for (name, addr) in [("y4", y4), ("y6", y6)] {
        e.tsmd
            .block_on(e.client().put_group(
                &group_name(name).unwrap(),
                &GroupSpec {
                    address: addr,
                    members: GroupMembers::Snooped,
                },
            ))
            .unwrap();
        assert!(api_members(&e, name).is_empty());
    }
    // IGMPv2 on h1 and h2, IGMPv3 (the default) on h4 and h5; MLDv1 on h3, MLDv2 on h6, h1.
    for h in ["h1", "h2"] {
        sysctl(&e, h, "net.ipv4.conf.eth0.force_igmp_version=2");
    }
    sysctl(&e, "h3", "net.ipv6.conf.eth0.force_mld_version=1");

    // Joins.
    let mut v4 = std::collections::BTreeMap::new();
    for h in ["h1", "h2", "h4", "h5"] {
        v4.insert(h, join(&e, h, y4));
    }
    let want4: BTreeSet<IpAddr> = ["h1", "h2", "h4", "h5"]
        .iter()
        .map(|h| e.ip(h).unwrap())
        .collect();
    let t = wait_members(&e, "y4", &want4);
    eprintln!("IPv4 joins (IGMPv2 and v3) visible after {t:?}");
    // The kernels really speak the versions asked for (/proc/net/igmp: "eth0 ... V2").
    for (h, v) in [("h1", "V2"), ("h2", "V2"), ("h4", "V3"), ("h5", "V3")] {
        let igmp = e
            .fabric
            .host_netns(h)
            .unwrap()
            .exec("cat", &["/proc/net/igmp"])
            .unwrap();
        let eth0 = igmp
            .lines()
            .find(|l| l.contains("eth0"))
            .unwrap_or_default();
        assert!(eth0.split_whitespace().any(|w| w == v), "{h}: {igmp}");
    }
    let mut v6 = std::collections::BTreeMap::new();
    for h in ["h3", "h6", "h1"] {
        wait_link_local(&e, h);
    }
    for h in ["h3", "h6", "h1"] {
        v6.insert(h, join(&e, h, y6));
    }
    let want6: BTreeSet<IpAddr> = ["h3", "h6", "h1"]
        .iter()
        .map(|h| link_local(&e, h))
        .collect();
    let t = wait_members(&e, "y6", &want6);
    eprintln!("IPv6 joins (MLDv1 and v2) visible after {t:?}");

    // Subsets of the snooped groups deliver exactly, from a member and from a non-member.
    let subset = |g: &str, members: Vec<IpAddr>| {
        e.tsmd
            .block_on(e.client().create_subset(
                &group_name(g).unwrap(),
                &api::SubsetRequest {
                    members,
                    lease_ms: 60_000,
                },
            ))
            .unwrap()
    };
    let s4 = subset("y4", vec![e.ip("h2").unwrap(), e.ip("h5").unwrap()]);
    let s6 = subset("y6", vec![link_local(&e, "h3"), link_local(&e, "h6")]);
    let cases = vec![
        case(&e, s4.address, &["h2", "h5"], "h1"),
        case(&e, s4.address, &["h2", "h5"], "h6"),
        case(&e, s4.address, &["h2", "h5"], "h5"),
        case(&e, s6.address, &["h3", "h6"], "h2"),
        case(&e, s6.address, &["h3", "h6"], "h3"),
    ];
    let failures = check_cases(&e, &cases).unwrap();
    assert!(failures.is_empty(), "{failures:#?}");

    // Leaves: h1 by IP_DROP_MEMBERSHIP (an IGMPv2 leave), h4 by closing its socket (an
    // IGMPv3 TO_IN{} record), h6 by closing its socket (MLDv2).
    let h1 = v4.remove("h1").unwrap();
    let IpAddr::V4(g4) = y4 else { unreachable!() };
    let IpAddr::V4(h1_addr) = e.ip("h1").unwrap() else {
        unreachable!()
    };
    h1.leave_multicast_v4(&g4, &h1_addr).unwrap();
    drop(v4.remove("h4"));
    let left4: BTreeSet<IpAddr> = ["h2", "h5"].iter().map(|h| e.ip(h).unwrap()).collect();
    let t = wait_members(&e, "y4", &left4);
    eprintln!("IPv4 leaves visible after {t:?}");
    drop(v6.remove("h6"));
    let left6: BTreeSet<IpAddr> = ["h3", "h1"].iter().map(|h| link_local(&e, h)).collect();
    let t = wait_members(&e, "y6", &left6);
    eprintln!("IPv6 leave visible after {t:?}");

    // Every change went out as an event, in one order; the group's version counts them.
    let events = e.tsmd.block_on(e.client().events_after(None)).unwrap();
    assert!(events.windows(2).all(|w| w[1].seq > w[0].seq));
    let changes: Vec<(Vec<IpAddr>, Vec<IpAddr>, Vec<IpAddr>)> = events
        .iter()
        .filter_map(|ev| match &ev.kind {
            api::events::EventKind::GroupMembers {
                group,
                joined,
                left,
                members,
                ..
            } if group == "y4" => Some((joined.clone(), left.clone(), members.clone())),
            _ => None,
        })
        .collect();
    let joined: BTreeSet<IpAddr> = changes.iter().flat_map(|c| c.0.clone()).collect();
    let left: BTreeSet<IpAddr> = changes.iter().flat_map(|c| c.1.clone()).collect();
    assert_eq!(joined, want4, "{changes:?}");
    assert_eq!(
        left,
        ["h1", "h4"].iter().map(|h| e.ip(h).unwrap()).collect(),
        "{changes:?}"
    );
    let last = changes
        .last()
        .unwrap()
        .2
        .iter()
        .copied()
        .collect::<BTreeSet<_>>();
    assert_eq!(last, left4);
    let g = e
        .tsmd
        .block_on(e.client().group(&group_name("y4").unwrap()))
        .unwrap();
    assert_eq!(g.version, 1 + changes.len() as u64);

    // A subset naming a host that left is refused; the remaining members' subsets deliver
    // exactly.
    let refused = e.tsmd.block_on(e.client().create_subset(
        &group_name("y4").unwrap(),
        &api::SubsetRequest {
            members: vec![e.ip("h1").unwrap(), e.ip("h2").unwrap()],
            lease_ms: 60_000,
        },
    ));
    assert!(refused.is_err(), "{refused:?}");
    let s6b = subset("y6", vec![link_local(&e, "h1"), link_local(&e, "h3")]);
    let cases = vec![
        case(&e, s4.address, &["h2", "h5"], "h4"),
        case(&e, s4.address, &["h2", "h5"], "h1"),
        case(&e, s6b.address, &["h1", "h3"], "h6"),
        case(&e, s6b.address, &["h1", "h3"], "h1"),
    ];
    let failures = check_cases(&e, &cases).unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
    // The subset that lost h6 keeps only h3.
    let s6_now = e.tsmd.block_on(e.client().subset(s6.address)).unwrap();
    assert_eq!(s6_now.members, vec![link_local(&e, "h3")]);
    drop(v4);
    drop(v6);
    eprintln!("e2e_snoop took {:?}", started.elapsed());
}
