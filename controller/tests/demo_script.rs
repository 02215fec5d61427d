//! `tsmd demo --script` end to end: the real daemon, a switch-sim leaf-spine over loopback
//! TCP, simulated hosts. In-process (the transcript and the summary) and as the built binary
//! (exit code and stdout); a deaf host proves that inexact delivery fails the run.
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use controller::demo::{run_script, DemoConfig, DemoError, HostFaults, HostId};

fn hosts(v: &[u8]) -> BTreeSet<HostId> {
    v.iter().map(|n| HostId(*n)).collect()
}

/// The delivery lines of a transcript: (sender, address, receivers, verdict).
fn deliveries(text: &str) -> Vec<(String, String, String, String)> {
    text.lines()
        .filter(|l| l.contains(" -> ") && l.contains(": received by "))
        .map(|l| {
            let (who, rest) = l.trim().split_once(" -> ").unwrap();
            let (addr, rest) = rest.split_once(": received by ").unwrap();
            let (recv, verdict) = rest.rsplit_once(": ").unwrap();
            let sender = who.split_whitespace().next().unwrap().to_owned();
            (sender, addr.to_owned(), recv.to_owned(), verdict.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_passes_and_reports_who_received_what() {
    let mut out = Vec::new();
    let t = Instant::now();
    let r = run_script(
        &DemoConfig::ephemeral(),
        Duration::from_secs(30),
        &mut out,
        std::future::pending(),
    )
    .await;
    let text = String::from_utf8(out).unwrap();
    println!("{text}");
    let summary = r.unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );

    // Every check the summary holds was exact, and they are the script's six.
    assert_eq!(summary.checks.len(), 6, "{text}");
    for c in &summary.checks {
        assert!(
            c.verdict.is_exact(),
            "{} -> {}: {}\n{text}",
            c.from,
            c.to,
            c.verdict
        );
    }
    // The checks in order: IPv4 subset from h1, h10, h5; after DELETE from h1; IPv6 subset
    // from h10 and after its DELETE.
    let got: Vec<(HostId, bool, BTreeSet<HostId>)> = summary
        .checks
        .iter()
        .map(|c| {
            (
                c.from,
                c.to.is_ipv4(),
                c.verdict.got.keys().copied().collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (HostId(1), true, hosts(&[2, 5, 7])),
            (HostId(10), true, hosts(&[2, 5, 7])),
            (HostId(5), true, hosts(&[2, 7])),
            (HostId(1), true, hosts(&[])),
            (HostId(10), false, hosts(&[2, 5, 7])),
            (HostId(10), false, hosts(&[])),
        ],
        "{text}"
    );

    // The transcript says the same, line by line.
    let lines = deliveries(&text);
    let v4 = &lines[0].1;
    assert!(v4.parse::<IpAddr>().unwrap().is_multicast(), "{text}");
    let expect = [
        ("h1", "h2 h5 h7"),
        ("h10", "h2 h5 h7"),
        ("h5", "h2 h7"),
        ("h1", "nobody"),
        ("h10", "h2 h5 h7"),
        ("h10", "nobody"),
    ];
    assert_eq!(lines.len(), expect.len(), "{text}");
    for (l, (from, recv)) in lines.iter().zip(expect) {
        assert_eq!(
            (l.0.as_str(), l.2.as_str(), l.3.as_str()),
            (from, recv, "exact"),
            "{text}"
        );
    }
    assert!(lines[..4].iter().all(|l| &l.1 == v4), "{text}");
    assert!(lines[4].1.parse::<IpAddr>().unwrap().is_ipv6(), "{text}");
    assert!(
        text.contains("[1/6] discovery: 6 switches, 8 links, 12 hosts"),
        "{text}"
    );
    assert!(text.contains("201 created, version 1"), "{text}");
    assert!(text.contains("DELETE /v1/subsets/"), "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("result: PASS, delivery was exact in 6 of 6 checks"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_misses_its_copy_fails_the_script() {
    let mut config = DemoConfig::ephemeral();
    config.faults.insert(HostId(5), HostFaults { deaf: true });
    let mut out = Vec::new();
    let r = run_script(
        &config,
        Duration::from_secs(30),
        &mut out,
        std::future::pending(),
    )
    .await;
    let text = String::from_utf8(out).unwrap();
    println!("{text}");
    let Err(DemoError::Inexact { failures }) = r else {
        panic!("expected an inexact delivery, got {r:?}\n{text}")
    };
    // h5 is in the IPv4 and the IPv6 subset: the checks from h1, h10 (IPv4) and h10 (IPv6)
    // miss it; the one from h5 itself and the empty ones stay exact.
    assert_eq!(failures.len(), 3, "{failures:?}\n{text}");
    assert!(
        failures.iter().all(|f| f.ends_with(": missing h5")),
        "{failures:?}"
    );
    let lines = deliveries(&text);
    assert_eq!(lines[0].2, "h2 h7", "{text}");
    assert_eq!(lines[0].3, "missing h5", "{text}");
    assert_eq!(lines[2].3, "exact", "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("result: FAIL, delivery was not exact in 3 of 6 checks"),
        "{text}"
    );
}

/// Runs the built binary with a hard limit; returns (exit ok, stdout, stderr).
fn tsmd(args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tsmd"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tsmd {args:?} did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_binary_exits_0_on_exact_delivery_and_1_otherwise() {
    let (ok, out, err) = tsmd(&["demo", "--script"]);
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(deliveries(&out).len(), 6, "{out}");
    assert!(out.contains("result: PASS"), "{out}");

    let (ok, out, err) = tsmd(&["demo", "--script", "--fault", "deaf:h7"]);
    assert!(!ok, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("result: FAIL"), "{out}");
    assert!(
        err.contains("tsmd demo: FAILED: delivery was not exact"),
        "{err}"
    );
    assert!(err.contains("missing h7"), "{err}");

    let (ok, _, err) = tsmd(&["demo", "--script", "--fault", "loud:h7"]);
    assert!(!ok);
    assert!(err.contains("unknown fault"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_ends_the_run_and_names_the_step() {
    // Discovery alone takes about half a second: 300 ms cannot be enough.
    let t = Instant::now();
    let mut out = Vec::new();
    let r = run_script(
        &DemoConfig::ephemeral(),
        Duration::from_millis(300),
        &mut out,
        std::future::pending(),
    )
    .await;
    let took = t.elapsed();
    let Err(DemoError::Deadline { after, step }) = r else {
        panic!("expected the deadline, got {r:?}")
    };
    assert_eq!(after, Duration::from_millis(300));
    assert!(step.contains("discovery"), "{step}");
    // Everything was stopped on the way out: no hang on a busy switch or host (a bound
    // with room for a loaded 2-core machine; it took 3.1 s once under 20 % steal).
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_request_interrupts_the_run() {
    let mut out = Vec::new();
    let r = run_script(
        &DemoConfig::ephemeral(),
        Duration::from_secs(30),
        &mut out,
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(())
        },
    )
    .await;
    assert!(matches!(r, Err(DemoError::Interrupted)), "{r:?}");
}
