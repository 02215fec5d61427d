//! The API's access rules and retry safety against a real tsmd (in-process, 127.0.0.1:0):
//! - requests without a token, with an unknown token, with a token for another group or
//!   without the right are refused (401/403 naming what is missing) and change nothing;
//!   the service checks the group of a subset addressed by its address (another group's
//!   is answered as absent);
//! - without tokens tsmd refuses a non-loopback API address (settings, `tsmd check`,
//!   `tsmd run`, and the bound listener); `tsmd token` prints a table that `tsmd check`
//!   accepts;
//! - a retried POST with the same Idempotency-Key allocates once (the subset list and the
//!   pool show it), also after a tsmd restart.
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

mod daemon_common;

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use api::auth::{Right, TokenHash};
use api::{ApiError, Client, GroupName, GroupSpec, SubsetRequest};
use controller::daemon::{self, DaemonError, Overrides, Settings};
use daemon_common::{settings, token, Fabric, TestDaemon};
use reqwest::StatusCode;

const TSMD: &str = env!("CARGO_BIN_EXE_tsmd");
const OPS: &str = "tsm_ops_secret_0123456789abcdef0123456789";
const WRITER: &str = "tsm_writer_secret_0123456789abcdef012345";
const OTHER: &str = "tsm_other_secret_0123456789abcdef01234567";
const CLAIMER: &str = "tsm_claimer_secret_0123456789abcdef0123";

fn with_tokens(dir: &Path) -> Settings {
    let mut s = settings(dir);
    s.tokens = vec![
        token("ops", OPS, &["*"], &[Right::Admin]),
        token("writer", WRITER, &["backup"], &[Right::Subsets]),
        token("other-writer", OTHER, &["archive"], &[Right::Subsets]),
        token("claimer", CLAIMER, &["backup"], &[Right::Claims]),
    ];
    s
}

fn client(base: &str, secret: &str) -> Client {
    Client::new(base).unwrap().with_bearer(secret)
}

fn name(s: &str) -> GroupName {
    s.parse().unwrap()
}

fn forbidden(e: &api::ClientError) -> (Option<String>, Option<String>) {
    assert_eq!(e.status(), Some(403), "{e}");
    match e.api_error() {
        Some(ApiError::Forbidden { right, group, .. }) => (right.clone(), group.clone()),
        other => panic!("not forbidden: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_the_right_token_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(with_tokens(dir.path())).await;
    let base = d.handle().base_url();
    let of = d.of_addr();
    let f = Fabric::small(of);
    let ops = client(&base, OPS);
    f.wait_discovered(&ops).await;
    let all: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    for (g, addr) in [("backup", "239.5.5.5"), ("archive", "239.5.5.6")] {
        ops.put_group(
            &name(g),
            &GroupSpec {
                address: addr.parse().unwrap(),
                members: all.clone().into(),
            },
        )
        .await
        .unwrap();
    }
    let req = SubsetRequest {
        members: vec![f.ip("h1"), f.ip("h3")],
        lease_ms: 30_000,
    };

    // No token, or one tsmd does not know: 401 with the bearer challenge.
    let anonymous = Client::new(&base).unwrap();
    let guess = client(&base, "tsm_guessed");
    for c in [&anonymous, &guess] {
        let e = c.create_subset(&name("backup"), &req).await.unwrap_err();
        assert_eq!(e.status(), Some(401), "{e}");
        assert!(matches!(e.api_error(), Some(ApiError::Unauthorized { .. })));
        assert_eq!(c.subsets().await.unwrap_err().status(), Some(401));
        assert_eq!(c.metrics().await.unwrap_err().status(), Some(401));
    }
    let resp = reqwest::Client::new()
        .get(format!("{base}/v1/groups"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    // Liveness needs no token.
    assert_eq!(anonymous.healthz().await.unwrap().status, "ok");

    // A token for another group, or without the right.
    let writer = client(&base, WRITER);
    let other = client(&base, OTHER);
    let claimer = client(&base, CLAIMER);
    let e = other
        .create_subset(&name("backup"), &req)
        .await
        .unwrap_err();
    assert_eq!(forbidden(&e), (None, Some("backup".to_owned())));
    let e = claimer
        .create_subset(&name("backup"), &req)
        .await
        .unwrap_err();
    assert_eq!(forbidden(&e), (Some("subsets".to_owned()), None));
    let e = writer
        .put_group(
            &name("backup"),
            &GroupSpec {
                address: "239.5.5.5".parse().unwrap(),
                members: api::GroupMembers::List(vec![]),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(forbidden(&e).0.as_deref(), Some("admin"));
    let e = writer.delete_group(&name("archive")).await.unwrap_err();
    assert_eq!(forbidden(&e), (Some("admin".to_owned()), None));
    // Nothing of that changed anything.
    assert!(ops.subsets().await.unwrap().is_empty());
    assert_eq!(ops.group(&name("backup")).await.unwrap().members.len(), 4);
    assert_eq!(ops.groups().await.unwrap().len(), 2);

    // The right token for the group installs; another group's writer may not remove it
    // (the route names an address: tsmd checks the subset's group itself and answers as if
    // there were no subset there, so the other group learns nothing; daemon_scope.rs).
    let s = writer.create_subset(&name("backup"), &req).await.unwrap();
    let e = other.delete_subset(s.address).await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    assert_eq!(ops.subsets().await.unwrap(), vec![s.clone()]);
    writer.delete_subset(s.address).await.unwrap();
    assert!(ops.subsets().await.unwrap().is_empty());
    // Reads and metrics with any valid token.
    assert!(claimer
        .metrics()
        .await
        .unwrap()
        .contains("tsmd_http_requests_total"));
    assert_eq!(claimer.switches().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_non_loopback_api_without_tokens_is_refused() {
    // Settings validation, at the line of the address.
    let e = Settings::from_parts(
        Some(Path::new("t.toml")),
        Some("[api]\nlisten = \"0.0.0.0:8080\"\n"),
        &Overrides::default(),
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("t.toml:2:10: api.listen: 0.0.0.0:8080 is not a loopback address"),
        "{text}"
    );
    for ok in ["127.0.0.1:8080", "[::1]:8080", "127.3.4.5:0"] {
        let file = format!("[api]\nlisten = \"{ok}\"\n");
        assert!(
            Settings::from_parts(None, Some(&file), &Overrides::default()).is_ok(),
            "{ok}"
        );
    }
    // With a token the same address is fine.
    let with = format!(
        "[api]\nlisten = \"0.0.0.0:8080\"\n\n[[api.tokens]]\nname = \"ops\"\nsha256 = \"{}\"\ngroups = [\"*\"]\nrights = [\"admin\"]\n",
        TokenHash::of(OPS)
    );
    let s = Settings::from_parts(None, Some(&with), &Overrides::default()).unwrap();
    assert_eq!(s.tokens.len(), 1);
    // And the effective configuration prints the table back.
    let again = Settings::from_parts(None, Some(&s.to_toml()), &Overrides::default()).unwrap();
    assert_eq!(again.tokens, s.tokens);

    // The bound listener is checked too (a caller that passes its own listener).
    let dir = tempfile::tempdir().unwrap();
    let of = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let e = daemon::start(settings(dir.path()), of, http)
        .await
        .unwrap_err();
    assert!(matches!(e, DaemonError::Unprotected { .. }), "{e}");
    assert!(e.to_string().contains("without tokens"), "{e}");

    // The binary: `tsmd check` and `tsmd run` exit 1 with the reason, binding nothing.
    for cmd in ["check", "run"] {
        let out = Command::new(TSMD)
            .args([
                cmd,
                "--api-listen",
                "0.0.0.0:0",
                "--openflow-listen",
                "127.0.0.1:0",
                "--state-dir",
                dir.path().to_str().unwrap(),
            ])
            .env_remove("TSMD_CONFIG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a loopback address"), "{cmd}: {err}");
        assert!(err.contains("--api-listen"), "{cmd}: {err}");
    }
}

#[test]
fn tsmd_token_prints_a_table_that_tsmd_check_accepts() {
    let out = Command::new(TSMD)
        .args([
            "token", "--name", "storage", "--group", "backup", "--right", "subsets", "--right",
            "claims",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let secret = text.lines().find(|l| l.starts_with("tsm_")).unwrap();
    assert!(text.contains(&TokenHash::of(secret).to_string()), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tsmd.toml");
    // The table (what follows the secret) goes into the config file.
    let table = text.split_once("config file:").unwrap().1;
    std::fs::write(
        &config,
        format!("[api]\nlisten = \"0.0.0.0:8080\"\n{table}"),
    )
    .unwrap();
    let out = Command::new(TSMD)
        .args(["check", "--config", config.to_str().unwrap()])
        .env_remove("TSMD_API_LISTEN")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("[[api.tokens]]"), "{printed}");
    assert!(
        !printed.contains(secret),
        "the secret is never printed back"
    );
    // A bad right is refused with the reason.
    let out = Command::new(TSMD)
        .args(["token", "--right", "root"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a right"));
}

struct Answer {
    status: StatusCode,
    replayed: bool,
    body: Vec<u8>,
}

async fn post(base: &str, group: &str, key: &str, body: &str) -> Answer {
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/groups/{group}/subsets"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    Answer {
        status: resp.status(),
        replayed: resp.headers().get("idempotent-replayed").is_some(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

fn address(a: &Answer) -> IpAddr {
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    v["address"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_post_allocates_once_also_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    // A pool of four addresses: a double allocation would show.
    s.pool_v4 = Some(
        controller::pool::AddrRange::new(
            "239.200.0.0".parse().unwrap(),
            "239.200.0.3".parse().unwrap(),
        )
        .unwrap(),
    );
    let of = daemon::bind("OpenFlow", "127.0.0.1:0".parse().unwrap()).unwrap();
    let of_addr = of.local_addr().unwrap();
    let mut a = TestDaemon::start_on(s.clone(), of).await;
    let f = Fabric::small(of_addr);
    f.wait_discovered(&a.client).await;
    let all: Vec<IpAddr> = f.hosts.iter().map(|h| IpAddr::V4(h.ip)).collect();
    a.client
        .put_group(
            &name("backup"),
            &GroupSpec {
                address: "239.6.6.6".parse().unwrap(),
                members: all.into(),
            },
        )
        .await
        .unwrap();
    let body = format!(
        r#"{{"members": ["{}", "{}"], "lease_ms": 60000}}"#,
        f.ip("h1"),
        f.ip("h4")
    );
    let base = a.handle().base_url();
    let first = post(&base, "backup", "retry-me", &body).await;
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert!(!first.replayed);
    for _ in 0..3 {
        let again = post(&base, "backup", "retry-me", &body).await;
        assert_eq!((again.status, &again.body), (first.status, &first.body));
        assert!(again.replayed);
    }
    assert_eq!(a.client.subsets().await.unwrap().len(), 1);
    // The same key with another body is refused and allocates nothing.
    let other_body = format!(r#"{{"members": ["{}"], "lease_ms": 60000}}"#, f.ip("h2"));
    let reused = post(&base, "backup", "retry-me", &other_body).await;
    assert_eq!(reused.status, 422);
    assert_eq!(a.client.subsets().await.unwrap().len(), 1);

    // Restart on the same state directory and OpenFlow port.
    a.stop().await;
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(dir.path().join("idempotency.jsonl").exists(), "{files:?}");
    let of = daemon::bind("OpenFlow", of_addr).unwrap();
    let b = TestDaemon::start_on(s.clone(), of).await;
    let base = b.handle().base_url();
    let after = post(&base, "backup", "retry-me", &body).await;
    assert_eq!((after.status, &after.body), (first.status, &first.body));
    assert!(after.replayed);
    assert_eq!(b.client.subsets().await.unwrap().len(), 1);
    // The pool: three fresh keys get the three other addresses, then it is exhausted
    // (the retry took none).
    f.wait_discovered(&b.client).await;
    let mut seen = vec![address(&first)];
    for k in 0..3 {
        let a = post(&base, "backup", &format!("fresh-{k}"), &body).await;
        assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
        let addr = address(&a);
        assert!(!seen.contains(&addr), "{addr} handed out twice");
        seen.push(addr);
    }
    let full = post(&base, "backup", "fresh-3", &body).await;
    assert_eq!(full.status, 503, "{}", String::from_utf8_lossy(&full.body));
    assert_eq!(b.client.subsets().await.unwrap().len(), 4);
}
