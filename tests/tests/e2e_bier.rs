//! BIER end to end on switch-sim fabrics with veth ports in namespaces, under the real tsmd:
//! tsmd assigns BFR-ids, computes and pushes the BIFTs (and re-pushes them when a link
//! fails); hosts send as BFIRs themselves (`tsm_agent::bfir`, RFC 8296 frames from a packet
//! socket in their namespace, headers from `POST /v1/groups/{name}/bier`) or plain UDP that
//! their edge switch encapsulates (a BIER lease); every host captures what reaches it.
//!
//! - leaf-spine and ring: 200 random subsets each, every member gets exactly one
//!   decapsulated copy, nobody else anything, no BIER frame reaches a host; the same after an
//!   inter-switch link goes down, once every switch holds (read back over OpenFlow) exactly
//!   the BIFTs tsmd computed without it; nothing crosses the dead link.
//! - BIER-TE (ring): the per-link BIER packet counts of every switch show each packet on
//!   exactly the links of the tree tsmd chose, once, and on no other link; also after the
//!   failure, with the new tree.
//! - BIER→TSM: last-hop switches install a local group after N repeats of a BitString, use it,
//!   and age it out; delivery is exact before, during and after.
//! - Bad input from a host: truncated header, wrong nibble, wrong version, a BSL the BIFT does
//!   not have, an undefined BSL, TTL 0, an unknown BIFT-id, bits of unknown BFR-ids: nothing
//!   reaches any host and no copy leaves the ingress switch (its counting flow saw every
//!   frame arrive); the switch goes on forwarding good packets exactly.
//!
//! Random choices come from a seed printed at the start; `TSM_E2E_SEED=N` replays it.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use api::{BierRequest, GroupName};
use openflow::ext::bier::{TsmConfig, TsmFlags};
use openflow::GroupId;
use tsm_agent::bfir::{
    fetch_headers, headers_from_subset, run_cli_with, BfirOptions, BierHeaderSpec,
};
use tsm_tests::bier_e2e::{
    delta, install_link_counters, link_counts, new_tag, peer, send_and_collect, wait_bifts_settled,
    Arrivals, BierProbe, BierSenders, Capture, Collect, Mangle, OfClient,
};
use tsm_tests::e2e::{check_cases, Case, E2e, Rng};
use tsm_tests::{DataPlane, SimFabric, TopologySpec};

const GROUP: &str = "bier";
const PORT: u16 = 5600;
const SUBSETS: usize = 200;

fn group_addr() -> IpAddr {
    "239.77.0.1".parse().unwrap()
}

fn dst() -> SocketAddr {
    SocketAddr::new(group_addr(), PORT)
}

/// An IPv6 group: RFC 8296 Proto 6, decapsulated to EtherType 0x86DD.
fn dst6() -> SocketAddr {
    SocketAddr::new("ff0e::77:1".parse().unwrap(), PORT)
}

fn rng(test: &str) -> Rng {
    let seed = Rng::seed_from_env("TSM_E2E_SEED");
    eprintln!("{test}: seed {seed} (TSM_E2E_SEED={seed} replays it)");
    Rng::new(seed)
}

/// tsmd over a switch-sim fabric, every host in group `bier`, the BIFTs installed, counting
/// flows on every port, a BFIR socket on every host.
fn start(spec: &TopologySpec) -> (E2e<SimFabric>, BierSenders) {
    SimFabric::check_environment().unwrap();
    let e = E2e::<SimFabric>::start(spec, |_| {}).unwrap();
    let hosts = e.fabric.topology().host_names();
    e.put_group(GROUP, group_addr(), &hosts).unwrap();
    // Every host has a BFR-id, and every switch holds what tsmd computed.
    let want: BTreeSet<IpAddr> = hosts.iter().map(|h| e.ip(h).unwrap()).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ids = e.tsmd.block_on(e.client().bfr_ids()).unwrap();
        let have: BTreeSet<IpAddr> = ids.iter().flat_map(|i| i.ips.clone()).collect();
        if want.is_subset(&have) {
            break;
        }
        assert!(Instant::now() < deadline, "BFR-ids: {ids:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    for s in e.tsmd.block_on(e.client().switches()).unwrap() {
        assert!(s.capabilities.bier, "switch-sim {} is BIER-capable", s.dpid);
    }
    wait_bifts_settled(&e, &[], &[0], Duration::from_secs(20)).unwrap();
    install_link_counters(&e.fabric).unwrap();
    let senders = BierSenders::open(&e.fabric).unwrap();
    (e, senders)
}

/// `n` random (sender, members) with members a non-empty subset of the other hosts.
fn random_cases(e: &E2e<SimFabric>, rng: &mut Rng, n: usize) -> Vec<(String, Vec<String>)> {
    let hosts: Vec<String> = e
        .fabric
        .topology()
        .host_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    (0..n)
        .map(|_| {
            let sender = rng.pick(&hosts).clone();
            let others: Vec<String> = hosts.iter().filter(|h| **h != sender).cloned().collect();
            (sender, rng.subset(&others))
        })
        .collect()
}

/// The BIER probes of `cases`, headers from the controller, random entropy (ECMP spread);
/// every fourth datagram is IPv6.
fn bier_probes(
    e: &E2e<SimFabric>,
    rng: &mut Rng,
    cases: &[(String, Vec<String>)],
) -> Vec<BierProbe> {
    let group: GroupName = GROUP.parse().unwrap();
    cases
        .iter()
        .enumerate()
        .map(|(i, (sender, members))| {
            let ips: Vec<IpAddr> = members.iter().map(|m| e.ip(m).unwrap()).collect();
            let (headers, _) = e
                .tsmd
                .block_on(fetch_headers(e.client(), &group, &ips, None))
                .unwrap();
            let to = if i % 4 == 3 { dst6() } else { dst() };
            let mut p = BierProbe::new(sender, headers, to, members.iter().cloned());
            p.opts = BfirOptions::default().with_entropy((rng.next_u64() & 0xf_ffff) as u32);
            p
        })
        .collect()
}

fn assert_exact(what: &str, probes: &[BierProbe], got: &Arrivals) {
    let failures = got.failures(probes);
    assert!(
        failures.is_empty(),
        "{what}: {} of {} probes not exact:\n{}",
        failures.len(),
        probes.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn send(e: &E2e<SimFabric>, senders: &mut BierSenders, probes: &[BierProbe]) -> Arrivals {
    send_and_collect(&e.fabric, senders, probes, &Collect::default()).unwrap()
}

/// Takes the link between switches `a` and `b` down and waits until every switch holds the
/// BIFTs tsmd recomputed without it (`sub_domains` present); returns its two ends.
fn fail_link(e: &E2e<SimFabric>, a: &str, b: &str, sub_domains: &[u8]) -> Vec<(u64, u32)> {
    let i = e.fabric.link_between(a, b).unwrap();
    let l = e.fabric.topology().links[i].clone();
    e.fabric.set_link_up(i, false).unwrap();
    let dead = vec![(l.a.dpid, l.a.port), (l.b.dpid, l.b.port)];
    let took = wait_bifts_settled(e, &dead, sub_domains, Duration::from_secs(20)).unwrap();
    eprintln!("link {a}-{b} down: BIFTs re-pushed and held in {took:?}");
    dead
}

#[test]
fn bier_leaf_spine_exact_for_random_subsets_and_after_a_link_fails() {
    let mut rng = rng("leaf-spine");
    let (e, mut senders) = start(&TopologySpec::leaf_spine(2, 4, 2));

    let cases = random_cases(&e, &mut rng, SUBSETS);
    let probes = bier_probes(&e, &mut rng, &cases);
    assert_exact("host BFIRs", &probes, &send(&e, &mut senders, &probes));

    // Edge-switch BFIRs: a lease per subset; plain UDP from the sender to its address is
    // encapsulated by the sender's leaf.
    let group: GroupName = GROUP.parse().unwrap();
    let mut leases = Vec::new();
    for (sender, members) in random_cases(&e, &mut rng, 12) {
        let mut req = BierRequest::new(members.iter().map(|m| e.ip(m).unwrap()).collect());
        req.lease_ms = Some(60_000);
        req.sender = Some(e.ip(&sender).unwrap());
        let answer = e
            .tsmd
            .block_on(e.client().assign_bier(&group, &req))
            .unwrap();
        leases.push(Case {
            address: answer.address.unwrap(),
            members: members.clone(),
            sender,
            expected: members,
        });
    }
    let failures = check_cases(&e, &leases).unwrap();
    assert!(failures.is_empty(), "edge BFIRs: {failures:#?}");

    // The `tsm-agent bier-send` command line (its BFIR socket on h1's eth0): group address and
    // header from tsmd, with the CLI's failover client.
    let capture = Capture::open(&e.fabric).unwrap();
    let tag = new_tag();
    let payload = format!("cli {}", std::str::from_utf8(&tag).unwrap());
    let members = ["h3", "h6", "h8"];
    let ips: Vec<String> = members
        .iter()
        .map(|m| e.ip(m).unwrap().to_string())
        .collect();
    let (url, ips, port) = (
        e.client().base_url().to_string(),
        ips.join(","),
        PORT.to_string(),
    );
    let cli = <tsm_agent::cli::Cli as clap::Parser>::try_parse_from([
        "tsm-agent",
        "--url",
        &url,
        "--json",
        "bier-send",
        "--group",
        GROUP,
        "--members",
        &ips,
        "--port",
        &port,
        "--iface",
        "eth0",
        &payload,
    ])
    .unwrap();
    let tsm_agent::cli::Command::BierSend(args) = &cli.command else {
        panic!("not bier-send: {:?}", cli.command)
    };
    let mut out = Vec::new();
    e.tsmd
        .block_on(run_cli_with(
            &cli,
            args,
            senders.get("h1").unwrap(),
            &mut out,
        ))
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["frames"], 1, "{report}");
    let got = capture
        .collect(&BTreeMap::from([(tag, 0)]), 1, &Collect::default())
        .unwrap();
    let cli_probe = BierProbe::new("h1", Vec::new(), dst(), members.map(str::to_owned));
    let failures = got.failures(std::slice::from_ref(&cli_probe));
    assert!(failures.is_empty(), "tsm-agent bier-send: {failures:?}");

    let dead = fail_link(&e, "s3", "s1", &[0]);
    let before = link_counts(&e.fabric).unwrap();
    let cases = random_cases(&e, &mut rng, SUBSETS);
    let probes = bier_probes(&e, &mut rng, &cases);
    assert_exact(
        "after s3-s1 failed",
        &probes,
        &send(&e, &mut senders, &probes),
    );
    let failures = check_cases(&e, &leases).unwrap();
    assert!(
        failures.is_empty(),
        "edge BFIRs after s3-s1 failed: {failures:#?}"
    );
    let moved = delta(&before, &link_counts(&e.fabric).unwrap());
    for d in &dead {
        assert_eq!(
            moved.get(d),
            None,
            "BIER packets over the dead link at {d:?}"
        );
    }
    for l in &leases {
        e.tsmd.block_on(e.client().release_bier(l.address)).unwrap();
    }
}

/// The expected per-link counts of `k` packets along `tree` from `sender`: one per packet on
/// the far end of every inter-switch tree port, and on the sender's own port.
fn tree_counts(
    e: &E2e<SimFabric>,
    sender: &str,
    tree: &[api::BierPort],
    k: u64,
) -> BTreeMap<(u64, u32), u64> {
    let h = e.fabric.host(sender).unwrap();
    let mut want = BTreeMap::from([((h.attach.dpid, h.attach.port), k)]);
    for p in tree {
        if let Some(far) = peer(&e.fabric, p.dpid.0, p.port) {
            *want.entry(far).or_insert(0) += k;
        }
    }
    want
}

/// BIER-TE subsets one at a time: exact delivery, and the per-link counts show exactly
/// the tree tsmd chose.
fn te_round(e: &E2e<SimFabric>, senders: &mut BierSenders, rng: &mut Rng, n: usize, what: &str) {
    const K: u64 = 3;
    let group: GroupName = GROUP.parse().unwrap();
    for (sender, members) in random_cases(e, rng, n) {
        let mut req = BierRequest::new(members.iter().map(|m| e.ip(m).unwrap()).collect());
        req.te = true;
        req.sender = Some(e.ip(&sender).unwrap());
        let answer = e
            .tsmd
            .block_on(e.client().assign_bier(&group, &req))
            .unwrap();
        assert_eq!(answer.sub_domain, 1, "BIER-TE is sub-domain 1");
        let headers: Vec<BierHeaderSpec> = headers_from_subset(&answer).unwrap();
        let mut opts = BfirOptions::default();
        if let Some(id) = answer.bfir_id {
            opts = opts.with_bfir_id(id);
        }
        let probes: Vec<BierProbe> = (0..K)
            .map(|_| {
                let mut p =
                    BierProbe::new(&sender, headers.clone(), dst(), members.iter().cloned());
                p.opts = opts;
                p
            })
            .collect();
        let before = link_counts(&e.fabric).unwrap();
        assert_exact(what, &probes, &send(e, senders, &probes));
        let moved = delta(&before, &link_counts(&e.fabric).unwrap());
        let want = tree_counts(e, &sender, &answer.tree, K);
        assert_eq!(
            moved, want,
            "{what}: BIER-TE {sender} → {members:?}: per-link packets (dpid, in_port) differ \
             from tsmd's tree {:?}",
            answer.tree
        );
    }
}

#[test]
fn bier_ring_exact_through_a_link_failure_and_te_follows_the_tree() {
    let mut rng = rng("ring");
    let (e, mut senders) = start(&TopologySpec::ring(6, 2));
    wait_bifts_settled(&e, &[], &[0, 1], Duration::from_secs(20)).unwrap();

    let cases = random_cases(&e, &mut rng, SUBSETS);
    let probes = bier_probes(&e, &mut rng, &cases);
    assert_exact("ring", &probes, &send(&e, &mut senders, &probes));
    te_round(&e, &mut senders, &mut rng, 8, "ring BIER-TE");

    let dead = fail_link(&e, "s1", "s2", &[0, 1]);
    let before = link_counts(&e.fabric).unwrap();
    let cases = random_cases(&e, &mut rng, SUBSETS);
    let probes = bier_probes(&e, &mut rng, &cases);
    assert_exact(
        "ring after s1-s2 failed",
        &probes,
        &send(&e, &mut senders, &probes),
    );
    let moved = delta(&before, &link_counts(&e.fabric).unwrap());
    for d in &dead {
        assert_eq!(
            moved.get(d),
            None,
            "BIER packets over the dead link at {d:?}"
        );
    }
    te_round(
        &e,
        &mut senders,
        &mut rng,
        8,
        "ring BIER-TE after s1-s2 failed",
    );
}

/// Local TSM groups of the switch in our range: (group id, output ports of its buckets).
fn tsm_groups(e: &E2e<SimFabric>, sw: &str) -> BTreeMap<u32, BTreeSet<u32>> {
    let mut c = OfClient::connect(&e.fabric, sw).unwrap();
    c.groups()
        .unwrap()
        .into_iter()
        .filter(|g| (TSM_FIRST..=TSM_LAST).contains(&g.group_id.0))
        .map(|g| {
            let ports = g
                .buckets
                .iter()
                .flat_map(|b| b.actions.iter())
                .filter_map(|a| match a {
                    openflow::Action::Output { port, .. } => Some(port.0),
                    _ => None,
                })
                .collect();
            (g.group_id.0, ports)
        })
        .collect()
}

fn tsm_group_packets(e: &E2e<SimFabric>, sw: &str) -> u64 {
    let mut c = OfClient::connect(&e.fabric, sw).unwrap();
    c.group_stats()
        .unwrap()
        .into_iter()
        .filter(|g| (TSM_FIRST..=TSM_LAST).contains(&g.group_id.0))
        .map(|g| g.packet_count)
        .sum()
}

const TSM_FIRST: u32 = 0x7000_0000;
const TSM_LAST: u32 = 0x7000_00ff;
const TSM_N: u32 = 4;

fn port_of(e: &E2e<SimFabric>, host: &str) -> u32 {
    e.fabric.host(host).unwrap().attach.port
}

#[test]
fn bier_to_tsm_groups_keep_delivery_exact_and_bad_input_is_dropped() {
    let mut rng = rng("tsm");
    // s1, s2 spines; leaves s3 (h1, h2), s4 (h3, h4), s5 (h5, h6).
    let (e, mut senders) = start(&TopologySpec::leaf_spine(2, 3, 2));
    let leaves = ["s3", "s4", "s5"];
    for sw in leaves {
        OfClient::connect(&e.fabric, sw)
            .unwrap()
            .tsm_config(TsmConfig {
                flags: TsmFlags::ENABLE,
                threshold: TSM_N,
                window_ms: 10_000,
                idle_timeout_ms: 1_500,
                max_groups: 8,
                group_id_first: GroupId(TSM_FIRST),
                group_id_last: GroupId(TSM_LAST),
            })
            .unwrap();
    }
    // h1 → {h3, h5, h6}: s4 sees BitString {h3}, s5 {h5, h6}, both all local: last hops.
    let members: Vec<String> = ["h3", "h5", "h6"].map(str::to_owned).to_vec();
    let cases = vec![("h1".to_owned(), members.clone())];
    let headers = bier_probes(&e, &mut rng, &cases)[0].headers.clone();
    let probes = |n: u32| -> Vec<BierProbe> {
        (0..n)
            .map(|_| BierProbe::new("h1", headers.clone(), dst(), members.iter().cloned()))
            .collect()
    };

    // Before: N − 1 repeats, exact, no local group anywhere.
    let p = probes(TSM_N - 1);
    assert_exact("before the TSM group", &p, &send(&e, &mut senders, &p));
    for sw in leaves {
        assert_eq!(tsm_groups(&e, sw), BTreeMap::new(), "{sw} before N repeats");
    }
    // During: the N-th installs a group on s4 and s5 (buckets to exactly the members' ports),
    // which then carries the rest; delivery stays exact.
    let p = probes(10);
    assert_exact("during the TSM group", &p, &send(&e, &mut senders, &p));
    let g4 = tsm_groups(&e, "s4");
    let g5 = tsm_groups(&e, "s5");
    assert_eq!(
        g4.values().cloned().collect::<Vec<_>>(),
        vec![BTreeSet::from([port_of(&e, "h3")])],
        "s4's local group"
    );
    assert_eq!(
        g5.values().cloned().collect::<Vec<_>>(),
        vec![BTreeSet::from([port_of(&e, "h5"), port_of(&e, "h6")])],
        "s5's local group"
    );
    assert_eq!(tsm_groups(&e, "s3"), BTreeMap::new(), "s3 is no last hop");
    for sw in ["s4", "s5"] {
        let n = tsm_group_packets(&e, sw);
        assert!(
            (9..=10).contains(&n),
            "{sw}: the group carried {n} of the 10 packets after the N-th"
        );
    }
    // After: unused, the groups age out; delivery is still exact.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !(tsm_groups(&e, "s4").is_empty() && tsm_groups(&e, "s5").is_empty()) {
        assert!(
            Instant::now() < deadline,
            "the local groups did not age out"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let p = probes(2);
    assert_exact(
        "after the TSM group aged out",
        &p,
        &send(&e, &mut senders, &p),
    );

    // Bad input from h1 at s3: nothing reaches a host, nothing leaves s3.
    fn truncate(mut f: Vec<u8>) -> Vec<u8> {
        // The header says BSL 256 (44 bytes); 20 arrive.
        f.truncate(14 + 20);
        f
    }
    fn nibble(mut f: Vec<u8>) -> Vec<u8> {
        f[14 + 4] = 0x60 | (f[14 + 4] & 0x0f);
        f
    }
    fn version(mut f: Vec<u8>) -> Vec<u8> {
        f[14 + 4] = 0x51;
        f
    }
    fn bsl_128(mut f: Vec<u8>) -> Vec<u8> {
        f[14 + 5] = 0x20 | (f[14 + 5] & 0x0f);
        f
    }
    fn bsl_undefined(mut f: Vec<u8>) -> Vec<u8> {
        f[14 + 5] = 0xf0 | (f[14 + 5] & 0x0f);
        f
    }
    fn ttl_0(mut f: Vec<u8>) -> Vec<u8> {
        f[14 + 3] = 0;
        f
    }
    fn unknown_bift(mut f: Vec<u8>) -> Vec<u8> {
        // BIFT-id 0x3ff00 (BSL 256, sub-domain 255, SI 0): no such table.
        f[14] = 0x3f;
        f[15] = 0xf0;
        f[16] &= 0x0f;
        f
    }
    let mangles: [(&str, Mangle); 7] = [
        ("truncated header", truncate),
        ("wrong nibble", nibble),
        ("version 1", version),
        ("BSL the BIFT does not have", bsl_128),
        ("undefined BSL", bsl_undefined),
        ("TTL 0", ttl_0),
        ("unknown BIFT-id", unknown_bift),
    ];
    let mut bad: Vec<BierProbe> = mangles
        .iter()
        .map(|(_, m)| {
            let mut p = BierProbe::new("h1", headers.clone(), dst(), Vec::new());
            p.mangle = Some(*m);
            p
        })
        .collect();
    // Bits of BFR-ids nobody has, in the real table (BSL 256, SI 0): no entry, no copy.
    let bsl = headers[0].bsl();
    let unknown = BierHeaderSpec::for_bfr_ids(
        &[
            bier::BfrId::new(200).unwrap(),
            bier::BfrId::new(250).unwrap(),
        ],
        bsl,
        0,
    )
    .unwrap();
    bad.push(BierProbe::new("h1", unknown, dst(), Vec::new()));
    let before = link_counts(&e.fabric).unwrap();
    let got = send(&e, &mut senders, &bad);
    let failures = got.failures(&bad);
    assert!(
        failures.is_empty(),
        "bad input reached hosts: {failures:#?}"
    );
    let moved = delta(&before, &link_counts(&e.fabric).unwrap());
    let ingress = (3, port_of(&e, "h1"));
    assert_eq!(
        moved,
        BTreeMap::from([(ingress, bad.len() as u64)]),
        "every bad frame arrived at s3 ({:?}) and no copy left it",
        mangles.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    // The switch goes on: a good packet, and one with a stale bit next to good ones.
    let mut mixed = headers.clone();
    mixed[0]
        .bitstring
        .set(bier::BfrId::new(250).unwrap().locate(bsl).1);
    let good = vec![
        BierProbe::new("h1", headers.clone(), dst(), members.iter().cloned()),
        BierProbe::new("h1", mixed, dst(), members.iter().cloned()),
    ];
    assert_exact("after bad input", &good, &send(&e, &mut senders, &good));
}
