//! IGMP / MLD snooping operated through tsmd:
//! - the `[snoop]` settings: `tsmd check` names a bad field (file line, flag or variable) and
//!   exits 1, `tsmd run` refuses to start with it, good values and the defaults are printed;
//! - the settings reach the core: the querier's general queries that a host receives carry
//!   the configured robustness (QRV), query interval (QQIC) and response time, and with
//!   snooping disabled a snooped group is refused;
//! - real IGMP frames from hosts on a switch-sim switch, punted to an in-process tsmd, move
//!   the `tsmd_snoop_*` counters and gauges of `/metrics` by exactly what was sent;
//! - `GET /v1/groups[/{name}]` says `"snooped": true` for a group declared with
//!   `"members": "snooped"` and false for a listed one.
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

mod daemon_common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use api::{ApiError, Client, GroupMembers, GroupName, GroupSpec};
use controller::daemon::metrics::parse_exposition;
use controller::daemon::{self};
use controller::snoop::parse::{self, GroupRecord, Message, Packet, RecordType, Version};
use controller::snoop::{SnoopConfig, SNOOP_PRIORITY};
use daemon_common::{eventually, settings, text, tsmd, tsmd_command, write, OfProbe, TestDaemon};
use openflow::oxm::MacAddr;
use serde_json::Value;
use switch_sim::packet::build;
use switch_sim::ports::{memory_link, MemoryEnd, PortSpec};

// ---------------------------------------------------------------------------------------------
// The binary: `tsmd check` and `tsmd run`.

/// `tsmd check --config FILE` fails with exactly one problem, the line `want`.
fn check_fails_with(file: &Path, want: &str) {
    let out = tsmd(&["check", "--config", file.to_str().unwrap()], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim_end(),
        format!("{}:{want}", file.display()),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

#[test]
fn check_names_the_bad_snoop_field_and_run_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    // One bad value per file, each at its line and column, with the core's reason.
    let robustness = write(
        dir.path(),
        "robustness.toml",
        "[snoop]\nquerier = false\nrobustness = 8\n",
    );
    check_fails_with(
        &robustness,
        "3:14: snoop.robustness: snooping robustness 8 must be 1-7",
    );
    let intervals = write(
        dir.path(),
        "intervals.toml",
        "[snoop]\nquery_interval_ms = 10000\nquery_response_interval_ms = 10000\n",
    );
    check_fails_with(
        &intervals,
        "3:30: snoop.query_response_interval_ms: snooping query_response_interval (10s) must \
         be above zero and below query_interval (10s)",
    );
    let mac = write(
        dir.path(),
        "mac.toml",
        "[snoop]\nquerier_mac = \"01:00:5e:00:00:01\"\n",
    );
    check_fails_with(
        &mac,
        "2:15: snoop.querier_mac: snooping querier_mac 01:00:5e:00:00:01 must be a unicast \
         address",
    );
    let typo = write(dir.path(), "typo.toml", "[snoop]\nrobustnes = 2\n");
    let out = tsmd(&["check", "--config", typo.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("unknown field `robustnes`"),
        "{}",
        text(&out.stderr)
    );

    // A flag and an environment variable are named as such.
    let out = tsmd(&["check", "--snoop-querier-v6", "2001:db8::1"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "--snoop-querier-v6 (or TSMD_SNOOP_QUERIER_V6): snoop.querier_v6: snooping querier_v6 \
         2001:db8::1 must be a link-local address (RFC 3810 §5.1.14)"
    );
    let out = tsmd(
        &["check"],
        &[("TSMD_SNOOP_LAST_MEMBER_QUERY_INTERVAL_MS", "0")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "--snoop-last-member-query-interval-ms (or TSMD_SNOOP_LAST_MEMBER_QUERY_INTERVAL_MS): \
         snoop.last_member_query_interval_ms: snooping last_member_query_interval must be \
         above zero"
    );

    // `tsmd run` refuses the same file before it listens anywhere.
    let state = dir.path().join("state");
    let stage = dir.path().join("stage");
    let mut child = tsmd_command(
        &[
            "run",
            "--config",
            robustness.to_str().unwrap(),
            "--openflow-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
            "--state-dir",
            state.to_str().unwrap(),
            "--journal-stage-dir",
            stage.to_str().unwrap(),
        ],
        &[],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("tsmd run started with a bad [snoop] robustness");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("snoop.robustness: snooping robustness 8 must be 1-7"),
        "{err}"
    );
    assert!(!state.exists(), "tsmd run touched its state directory");
}

#[test]
fn check_prints_the_snoop_defaults_and_good_values() {
    let d = SnoopConfig::default();
    let out = tsmd(&["check"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let section: Vec<&str> = printed
        .split("[snoop]\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no [snoop] in:\n{printed}"))
        .lines()
        .take_while(|l| !l.is_empty())
        .collect();
    let want = [
        format!("enabled = {}", d.enabled),
        format!("querier = {}", d.querier),
        format!("robustness = {}", d.robustness),
        format!("query_interval_ms = {}", d.query_interval.as_millis()),
        format!(
            "query_response_interval_ms = {}",
            d.query_response_interval.as_millis()
        ),
        format!(
            "last_member_query_interval_ms = {}",
            d.last_member_query_interval.as_millis()
        ),
        format!("querier_mac = \"{}\"", d.querier_mac),
        format!("querier_v4 = \"{}\"", d.querier_v4),
        format!("querier_v6 = \"{}\"", d.querier_v6),
        format!("max_receivers = {}", d.max_receivers),
    ];
    let want: Vec<String> = want.iter().map(|w| format!("{w}  # default")).collect();
    assert_eq!(section, want, "{printed}");

    // A good file and a variable over it: accepted, each value with its origin.
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.toml",
        "[snoop]\nquerier = false\nrobustness = 3\nquery_interval_ms = 30000\n\
         querier_v6 = \"fe80::1\"\n",
    );
    let out = tsmd(
        &["check", "--config", good.to_str().unwrap()],
        &[("TSMD_SNOOP_MAX_RECEIVERS", "500")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    for line in [
        "querier = false  # config file, line 2",
        "robustness = 3  # config file, line 3",
        "query_interval_ms = 30000  # config file, line 4",
        "querier_v6 = \"fe80::1\"  # config file, line 5",
        "max_receivers = 500  # --snoop-max-receivers / TSMD_SNOOP_MAX_RECEIVERS",
        "enabled = true  # default",
    ] {
        assert!(printed.contains(line), "{line} missing from:\n{printed}");
    }
}

// ---------------------------------------------------------------------------------------------
// An in-process tsmd and one switch-sim switch with three hosts.

fn name(s: &str) -> GroupName {
    s.parse().unwrap()
}

struct Host {
    mac: MacAddr,
    ip: Ipv4Addr,
    end: MemoryEnd,
}

impl Host {
    fn send(&self, p: &Packet) {
        assert!(self.end.send(p.emit().unwrap()), "frame dropped at send");
    }

    fn igmp2(&self, group: Ipv4Addr, leave: bool) -> Packet {
        let (dst, msg) = if leave {
            (
                parse::ALL_ROUTERS,
                Message::Leave {
                    version: Version::Igmp2,
                    group: IpAddr::V4(group),
                },
            )
        } else {
            (
                group,
                Message::Report {
                    version: Version::Igmp2,
                    group: IpAddr::V4(group),
                },
            )
        };
        parse::host_packet(self.mac, IpAddr::V4(self.ip), IpAddr::V4(dst), msg)
    }

    /// An IGMPv3 report joining `group` from every source.
    fn igmp3_join(&self, group: Ipv4Addr) -> Packet {
        parse::host_packet(
            self.mac,
            IpAddr::V4(self.ip),
            IpAddr::V4(parse::IGMPV3_ROUTERS),
            Message::ReportV3 {
                version: Version::Igmp3,
                records: vec![GroupRecord {
                    kind: RecordType::ChangeToExclude,
                    group: IpAddr::V4(group),
                    sources: vec![],
                    aux: vec![],
                }],
            },
        )
    }

    /// Every IGMP / MLD message that reached the host (the rest is dropped).
    fn received(&mut self) -> Vec<Packet> {
        let mut out = Vec::new();
        while let Some(f) = self.end.try_recv() {
            if let Ok(p) = Packet::parse(&f) {
                out.push(p);
            }
        }
        out
    }
}

/// A switch (dpid 1) connected to `d`, with hosts 10.0.0.1-3 on ports 1-3, known to tsmd,
/// and the snooping punt flow installed.
async fn one_switch(d: &TestDaemon) -> (switch_sim::SwitchHandle, Vec<Host>) {
    let mut b = switch_sim::Switch::builder()
        .dpid(1)
        .controller(format!("tcp:{}", d.of_addr()))
        .listen("ptcp:0:127.0.0.1")
        .backoff(Duration::from_millis(50), Duration::from_millis(300));
    let mut hosts = Vec::new();
    for n in 1..=3u8 {
        let (sw, end) = memory_link();
        b = b.port(u32::from(n), PortSpec::memory(sw));
        hosts.push(Host {
            mac: MacAddr([2, 0, 0, 0, 0, n]),
            ip: Ipv4Addr::new(10, 0, 0, n),
            end,
        });
    }
    let sw = b.start().unwrap();
    let c = &d.client;
    eventually(
        "the switch and its 3 hosts",
        Duration::from_secs(20),
        || async {
            for h in &hosts {
                h.end.send(build::arp_request(h.mac, h.ip, h.ip));
            }
            let switches = c.switches().await.ok()?;
            let known = c.hosts().await.ok()?;
            (switches.len() == 1 && known.len() == 3).then_some(())
        },
    )
    .await;
    let listen = sw.listen_addrs()[0];
    eventually(
        "the snooping punt flow",
        Duration::from_secs(10),
        || async {
            let mut probe = OfProbe::connect(listen).await;
            let flows = probe.flows().await;
            flows
                .iter()
                .any(|f| f.priority == SNOOP_PRIORITY)
                .then_some(())
        },
    )
    .await;
    (sw, hosts)
}

/// `/metrics` as name → value (samples without labels).
async fn metrics(c: &Client) -> BTreeMap<String, f64> {
    let text = c.metrics().await.unwrap();
    parse_exposition(&text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .into_iter()
        .filter(|s| s.labels.is_empty())
        .map(|s| (s.name, s.value))
        .collect()
}

/// The snooping series of `/metrics`.
async fn snoop_metrics(c: &Client) -> BTreeMap<String, f64> {
    metrics(c)
        .await
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("tsmd_snoop_")?.to_owned(), v)))
        .collect()
}

async fn members(c: &Client, group: &str) -> Vec<IpAddr> {
    c.group(&name(group)).await.unwrap().members
}

async fn get_json(base: &str, path: &str) -> Value {
    let r = reqwest::get(format!("{base}{path}")).await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_move_the_counters_and_groups_say_snooped() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    // Not the defaults, so that the queries below show the settings reached the core.
    s.snoop.robustness = 3;
    s.snoop.query_interval = Duration::from_secs(30);
    s.snoop.query_response_interval = Duration::from_secs(4);
    let querier_mac = s.snoop.querier_mac;
    let mut d = TestDaemon::start(s).await;
    let c = d.client.clone();
    let base = d.handle().base_url();
    let (sw, mut hosts) = one_switch(&d).await;

    // The querier's startup query reached the hosts, with the configured values.
    let query = eventually("a general query at h3", Duration::from_secs(10), || {
        let got = hosts[2].received();
        async move {
            got.into_iter().find_map(|p| match p.msg {
                Message::Query(q) if p.src_mac == querier_mac && q.group.is_none() => Some(q),
                _ => None,
            })
        }
    })
    .await;
    assert_eq!(query.version, Version::Igmp3);
    assert_eq!(query.qrv, 3);
    assert_eq!(query.query_interval(), Duration::from_secs(30));
    assert_eq!(query.max_resp(), Duration::from_secs(4));

    let before = snoop_metrics(&c).await;
    for counter in ["packets", "reports", "leaves", "fast_leaves", "malformed"] {
        assert_eq!(before[&format!("{counter}_total")], 0.0, "{before:?}");
    }
    assert!(before["queries_sent_total"] >= 1.0, "{before:?}");
    assert_eq!(before["groups"], 0.0);
    assert_eq!(before["receivers"], 0.0);

    // A snooped group and a listed one.
    let g = Ipv4Addr::new(239, 1, 1, 1);
    for (group, address, m) in [
        ("tv", "239.1.1.1", GroupMembers::Snooped),
        (
            "news",
            "239.1.1.2",
            GroupMembers::List(vec![IpAddr::V4(hosts[2].ip)]),
        ),
    ] {
        c.put_group(
            &name(group),
            &GroupSpec {
                address: address.parse().unwrap(),
                members: m,
            },
        )
        .await
        .unwrap();
    }

    // h1 joins with IGMPv2, h2 with IGMPv3: one report each.
    hosts[0].send(&hosts[0].igmp2(g, false));
    hosts[1].send(&hosts[1].igmp3_join(g));
    let h12 = vec![IpAddr::V4(hosts[0].ip), IpAddr::V4(hosts[1].ip)];
    eventually("h1 and h2 in tv", Duration::from_secs(10), || async {
        (members(&c, "tv").await == h12).then_some(())
    })
    .await;
    let m = snoop_metrics(&c).await;
    assert_eq!(m["packets_total"], 2.0, "{m:?}");
    assert_eq!(m["reports_total"], 2.0, "{m:?}");
    assert_eq!(m["groups"], 1.0, "{m:?}");
    assert_eq!(m["receivers"], 2.0, "{m:?}");

    // The API says which group is snooped, in the JSON itself.
    let tv = get_json(&base, "/v1/groups/tv").await;
    assert_eq!(tv["snooped"], Value::Bool(true), "{tv}");
    assert_eq!(tv["members"], serde_json::json!(["10.0.0.1", "10.0.0.2"]));
    let news = get_json(&base, "/v1/groups/news").await;
    assert_eq!(news["snooped"], Value::Bool(false), "{news}");
    let list = get_json(&base, "/v1/groups").await;
    let flags: Vec<(&str, bool)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap(), g["snooped"].as_bool().unwrap()))
        .collect();
    assert_eq!(flags, [("news", false), ("tv", true)]);

    // h2 leaves: alone on its port, so a fast leave.
    hosts[1].send(&hosts[1].igmp2(g, true));
    let h1 = vec![IpAddr::V4(hosts[0].ip)];
    eventually("h2 gone from tv", Duration::from_secs(10), || async {
        (members(&c, "tv").await == h1).then_some(())
    })
    .await;
    let m = snoop_metrics(&c).await;
    assert_eq!(m["leaves_total"], 1.0, "{m:?}");
    assert_eq!(m["fast_leaves_total"], 1.0, "{m:?}");
    assert_eq!(m["receivers"], 1.0, "{m:?}");

    // A report whose IGMP checksum is broken is counted as malformed and changes nothing.
    let mut bad = hosts[2].igmp2(g, false).emit().unwrap();
    // The group address's last byte: past Ethernet, the IPv4 header (IHL words) and 7 bytes
    // of IGMP (the frame may carry padding after it).
    let igmp = 14 + usize::from(bad[14] & 0x0f) * 4;
    bad[igmp + 7] ^= 0x01;
    assert!(hosts[2].end.send(bad));
    eventually(
        "the malformed report counted",
        Duration::from_secs(10),
        || async {
            let m = snoop_metrics(&c).await;
            (m["malformed_total"] == 1.0).then_some(())
        },
    )
    .await;
    let m = snoop_metrics(&c).await;
    assert_eq!(m["reports_total"], 2.0, "{m:?}");
    assert_eq!(m["packets_total"], 3.0, "{m:?}");
    assert_eq!(members(&c, "tv").await, h1);

    drop(sw);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snoop_settings_reach_the_core() {
    // Disabled: a snooped group is refused, and the counters still render.
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.snoop.enabled = false;
    let mut d = TestDaemon::start(s).await;
    let err = d
        .client
        .put_group(
            &name("tv"),
            &GroupSpec {
                address: "239.1.1.1".parse().unwrap(),
                members: GroupMembers::Snooped,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.api_error(), Some(ApiError::Conflict { reason, .. }) if reason.contains("snooping is disabled")),
        "{err}"
    );
    let m = snoop_metrics(&d.client).await;
    assert_eq!(m["reports_total"], 0.0, "{m:?}");
    d.stop().await;

    // Values the core refuses stop the daemon from starting.
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.snoop.robustness = 0;
    let of = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let Err(e) = daemon::start(s, of, http).await else {
        panic!("tsmd started with robustness 0");
    };
    assert!(e.to_string().contains("robustness 0 must be 1-7"), "{e}");
}
