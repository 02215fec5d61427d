//! The `tsmd` binary: `tsmd check` on the example file and on bad files (exit 0 with the
//! effective configuration, or exit 1 with every problem at its line and field), flags and
//! environment variables over the file, and `tsmd run` as a process that serves the API and
//! exits 0 promptly on SIGTERM.
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod daemon_common;
use daemon_common::{text, tsmd, write, TSMD};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tsmd.example.toml")
}

#[test]
fn the_example_file_checks_and_its_output_checks_again() {
    let out = tsmd(&["check", "--config", example().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    // Every key, with where it came from.
    for key in [
        "listen = \"0.0.0.0:6653\"",
        "echo_interval_ms = 1000",
        "dead_after_ms = 3000",
        "lldp_interval_ms = 5000",
        "link_timeout_ms = 16000",
        "listen = \"127.0.0.1:8080\"",
        "max_lease_ms = 3600000",
        "pool_v4 = \"239.192.0.0/16\"",
        "pool_v6 = \"ff18::8000:0/112\"",
        "state_dir = \"/var/lib/tsmd\"",
        "format = \"text\"",
        "level = \"info\"",
    ] {
        assert!(printed.contains(key), "{key} missing from:\n{printed}");
    }
    assert!(printed.contains("# config file, line 11"), "{printed}");
    // The example states the defaults: checking without a file prints the same values.
    let bare = tsmd(&["check"], &[]);
    let values = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.split("  #").next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(values(&text(&bare.stdout)), values(&printed));
    // The printed configuration is itself a valid file.
    let dir = tempfile::tempdir().unwrap();
    let again = write(dir.path(), "again.toml", &printed);
    let out = tsmd(&["check", "--config", again.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(values(&text(&out.stdout)), values(&printed));
}

#[test]
fn bad_files_name_line_column_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        ("syntax.toml", "[openflow\nlisten = 1\n", &["syntax.toml:1:"]),
        (
            "unknown.toml",
            "[api]\nlisten = \"127.0.0.1:8080\"\nlisen = \"x\"\n",
            &["unknown.toml:3:1: unknown field `lisen`"],
        ),
        (
            "type.toml",
            "[openflow]\necho_interval_ms = \"fast\"\n",
            &["type.toml:2:20: openflow.echo_interval_ms: invalid type: string \"fast\", expected u64"],
        ),
        (
            "values.toml",
            "[openflow]\nlisten = \"0.0.0.0\"\necho_interval_ms = 4000\n\n[subsets]\npool_v6 = \"10.0.0.0/8\"\nmax_lease_ms = 70000000\n\n[log]\nformat = \"xml\"\nlevel = \"info,=[\"\n",
            &[
                "values.toml:2:10: openflow.listen: \"0.0.0.0\" is not an IP:PORT address",
                "values.toml:3:20: openflow.echo_interval_ms: 4000 ms must be above 0 and below openflow.dead_after_ms (3000 ms)",
                "values.toml:6:11: subsets.pool_v6: 10.0.0.0 is not an IPv6 address",
                "values.toml:7:16: subsets.max_lease_ms: 70000000 ms is out of range",
                "values.toml:10:10: log.format: \"xml\" is not a log format",
                "values.toml:11:9: log.level: \"info,=[\" is not a log filter",
            ],
        ),
    ];
    for (name, body, want) in cases {
        let p = write(dir.path(), name, body);
        let out = tsmd(&["check", "--config", p.to_str().unwrap()], &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}");
        for w in *want {
            assert!(err.contains(w), "{name}: want {w:?} in:\n{err}");
        }
        assert_eq!(
            err.lines().count(),
            want.len().max(1),
            "{name}: one line per problem:\n{err}"
        );
    }
    let out = tsmd(&["check", "--config", "/nonexistent/tsmd.toml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/tsmd.toml"));
    // A flag that cannot be parsed is a failure too (exit 1, not clap's 2).
    let out = tsmd(&["check", "--dead-after-ms", "soon"], &[]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn flags_and_environment_override_the_file() {
    let ex = example();
    let out = tsmd(
        &[
            "check",
            "--config",
            ex.to_str().unwrap(),
            "--dead-after-ms",
            "9000",
        ],
        &[
            ("TSMD_MAX_LEASE_MS", "1000"),
            ("TSMD_POOL_V4", "239.9.0.0-239.9.0.9"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains("dead_after_ms = 9000  # --dead-after-ms / TSMD_DEAD_AFTER_MS"),
        "{s}"
    );
    assert!(
        s.contains("max_lease_ms = 1000  # --max-lease-ms / TSMD_MAX_LEASE_MS"),
        "{s}"
    );
    assert!(s.contains("pool_v4 = \"239.9.0.0-239.9.0.9\""), "{s}");
    // An environment value that breaks a rule is named by its flag and variable.
    let out = tsmd(&["check"], &[("TSMD_ECHO_INTERVAL_MS", "3000")]);
    assert_eq!(out.status.code(), Some(1));
    let e = text(&out.stderr);
    assert!(
        e.starts_with("--echo-interval-ms (or TSMD_ECHO_INTERVAL_MS): openflow.echo_interval_ms"),
        "{e}"
    );
    // RUST_LOG sets the level when nothing else does.
    let out = tsmd(&["check"], &[("RUST_LOG", "debug,hyper=info")]);
    assert!(text(&out.stdout).contains("level = \"debug,hyper=info\"  # RUST_LOG"));
}

/// Kills the child on drop (a failed test must not leave a tsmd running).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsmd_run_serves_and_exits_zero_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let stage = dir.path().join("stage");
    let mut child = Running(
        Command::new(TSMD)
            .args([
                "run",
                "--openflow-listen",
                "127.0.0.1:0",
                "--api-listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--log-level",
                "info",
                "--state-dir",
                state.to_str().unwrap(),
                "--journal-stage-dir",
                stage.to_str().unwrap(),
            ])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_json = |what: &str| -> serde_json::Value {
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no {what:?} line from tsmd"));
            let v: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if v["message"] == what {
                return v;
            }
        }
    };
    // The startup line says where it listens, where the state is, what it restored.
    let started = next_json("tsmd started");
    assert_eq!(started["restored_subsets"], 0);
    assert!(started["state"]
        .as_str()
        .unwrap()
        .starts_with(state.to_str().unwrap()));
    let api = started["api"].as_str().unwrap();
    let of: std::net::SocketAddr = started["openflow"].as_str().unwrap().parse().unwrap();
    assert_ne!(of.port(), 0);
    let client = api::Client::new(&format!("http://{api}")).unwrap();
    assert_eq!(client.healthz().await.unwrap().status, "ok");
    assert!(client.switches().await.unwrap().is_empty());

    let t = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    next_json("tsmd stopped");
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "tsmd did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "exit took {:?}",
        t.elapsed()
    );
    assert!(state.join("state.json").exists());
}
