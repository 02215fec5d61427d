//! The `switch-sim` binary's command line: flags and their environment variables, `--check`,
//! clear refusals, and a clean exit on SIGINT and SIGTERM.

#![allow(clippy::unwrap_used)] // a panic in a test is a failed assertion

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_switch-sim");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).stdin(Stdio::null());
    // The caller's environment must not leak in.
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCH_SIM_") {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_mode_and_environment_variables() {
    let o = run(
        &["--check"],
        &[
            ("SWITCH_SIM_DPID", "0x10"),
            ("SWITCH_SIM_LISTEN", "ptcp:0:127.0.0.1"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "configuration ok"
    );
    // Several controllers from one variable.
    let o = run(
        &["--dpid", "1", "--check"],
        &[("SWITCH_SIM_CONTROLLER", "tcp:127.0.0.1:6653,tcp:[::1]:6653")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn refusals_say_what_is_wrong() {
    let cases: [(&[&str], &str); 6] = [
        (&["--dpid", "1"], "give --controller or --listen"),
        (
            &["--dpid", "1", "--controller", "ptcp:1"],
            "expected tcp:HOST:PORT",
        ),
        (
            &["--dpid", "1", "--listen", "tcp:h:1"],
            "expected ptcp:PORT[:IP]",
        ),
        (&["--dpid", "zz", "--listen", "ptcp:1"], "datapath id"),
        (
            &["--dpid", "1", "--listen", "ptcp:1", "--port", "veth0"],
            "NUMBER=INTERFACE",
        ),
        (
            &[
                "--dpid",
                "1",
                "--listen",
                "ptcp:1",
                "--port",
                "1=no-such-if0",
                "--check",
            ],
            "no interface \"no-such-if0\"",
        ),
    ];
    for (args, want) in cases {
        let o = run(args, &[]);
        assert!(!o.status.success(), "{args:?} was accepted");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    let help = run(&["--help"], &[]);
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--dpid",
        "--controller",
        "--listen",
        "--port",
        "SWITCH_SIM_DPID",
        "Example",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn stops_cleanly_on_signals() {
    for sig in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
    ] {
        let mut child = Command::new(BIN)
            .args(["--dpid", "1", "--listen", "ptcp:0:127.0.0.1"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until it runs (it logs once the switch is up), then signal it.
        let mut err = child.stderr.take().unwrap();
        let mut seen = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !seen.contains("switch-sim running") {
            use std::io::Read;
            let mut buf = [0u8; 512];
            let n = err.read(&mut buf).unwrap();
            assert!(n > 0 && Instant::now() < deadline, "never started: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, sig).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("still running 5 s after {sig}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(status.success(), "{sig}: {status}");
    }
}
