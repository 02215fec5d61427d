//! `tsmd demo` (interactive): what it prints works when copied. In-process: the printed curl
//! lines (PUT a group, POST a subset, the demo-only send) are sent as printed and behave as
//! said, the demo endpoints answer and refuse bad input, and a stop request shuts everything
//! down. As the built binary: Ctrl-C (SIGINT) stops it cleanly with exit 0, and a busy port
//! is reported before anything starts.
#![cfg(feature = "daemon")]
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::Client;
use controller::demo::{run_interactive, DemoConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

/// A writer the test can read while the demo writes.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The address after `label` on its line (`  API      http://127.0.0.1:1234  (...`).
fn addr_after(text: &str, label: &str) -> SocketAddr {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label} line in\n{text}"));
    let url = line.split("http://").nth(1).unwrap();
    let end = url.find(['/', ' ']).unwrap_or(url.len());
    url[..end].parse().unwrap()
}

/// A printed curl line as (method, url, body).
fn curl(line: &str) -> (reqwest::Method, String, Option<String>) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let method = words
        .iter()
        .position(|w| *w == "-X")
        .map_or(reqwest::Method::GET, |i| words[i + 1].parse().unwrap());
    let url = words
        .iter()
        .find(|w| w.starts_with("127.0.0.1:"))
        .map(|w| format!("http://{w}"))
        .unwrap();
    let body = line
        .split_once("-d '")
        .map(|(_, rest)| rest.split_once('\'').unwrap().0.to_owned());
    (method, url, body)
}

async fn send_printed(http: &reqwest::Client, line: &str) -> (u16, Value) {
    let (method, url, body) = curl(line);
    let mut req = http.request(method, &url);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn printed<'a>(text: &'a str, starts: &str, contains: &str) -> &'a str {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with(starts) && l.contains(contains))
        .unwrap_or_else(|| panic!("no line {starts:?} … {contains:?} in\n{text}"))
}

async fn wait_for(out: &Shared, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = out.text();
        if t.contains(what) {
            return t;
        }
        assert!(Instant::now() < deadline, "no {what:?} within 20 s:\n{t}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_lines_work_and_stop_shuts_everything_down() {
    let config = DemoConfig {
        api_listen: "127.0.0.1:0".parse().unwrap(),
        demo_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..DemoConfig::default()
    };
    let out = Shared::default();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut writer = out.clone();
    let demo = run_interactive(&config, &mut writer, async move {
        let _ = stop_rx.await;
        Ok(())
    });
    let body = async {
        let text = wait_for(&out, "Ctrl-C stops everything.").await;
        let mut lines = text.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("tsmd demo: tsmd and 6 switch-sim switches with 12 simulated hosts"),
            "{text}"
        );
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("ready: 6 switches, 8 links, 12 hosts discovered in "),
            "{text}"
        );
        let api_addr = addr_after(&text, "API");
        let web = addr_after(&text, "demo");
        let http = reqwest::Client::new();
        let client = Client::new(&format!("http://{api_addr}")).unwrap();
        assert_eq!(client.switches().await.unwrap().len(), 6);

        // The group and the subset, exactly as printed.
        let (status, g) = send_printed(
            &http,
            printed(&text, "curl -s -X PUT", "/v1/groups/storage"),
        )
        .await;
        assert_eq!(status, 201, "{g}");
        assert_eq!(g["members"].as_array().unwrap().len(), 6, "{g}");
        let (status, sub) =
            send_printed(&http, printed(&text, "curl -s -X POST", "/subsets")).await;
        assert_eq!(status, 201, "{sub}");
        let addr = sub["address"].as_str().unwrap().to_owned();
        assert!(
            text.contains(&format!("(the first is {addr})")),
            "the guide names the address the first subset gets: {addr}\n{text}"
        );

        // The printed demo-only send (from h10, outside the group): the subset, nobody else.
        let (status, sent) =
            send_printed(&http, printed(&text, "curl -s -X POST", "/demo/send")).await;
        assert_eq!(status, 200, "{sent}");
        assert_eq!(sent["summary"], "h2 h5 h7", "{sent}");
        assert_eq!(
            sent["received_by"],
            serde_json::json!({"h2": 1, "h5": 1, "h7": 1}),
            "{sent}"
        );
        assert_eq!(sent["src"], "10.0.0.10:5000");
        // From a subset member, with a payload: the other two.
        let r: Value = http
            .post(format!("http://{web}/demo/send"))
            .json(&serde_json::json!({"from": "h5", "to": addr, "payload": "from five", "port": 7000}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["summary"], "h2 h7", "{r}");
        assert_eq!(r["to"], format!("{addr}:7000"));

        // Who received what: h2 both, h5 the first, h7 both; in host order.
        let got: Value = http
            .get(format!("http://{web}/demo/received"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let hosts: Vec<&str> = got
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["host"].as_str().unwrap())
            .collect();
        assert_eq!(hosts, ["h2", "h5", "h7"], "{got}");
        assert_eq!(got[0]["datagrams"].as_array().unwrap().len(), 2, "{got}");
        assert_eq!(got[0]["datagrams"][1]["payload"], "from five", "{got}");
        assert_eq!(got[1]["datagrams"][0]["payload"], "hello from h10", "{got}");
        let r = http
            .delete(format!("http://{web}/demo/received"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        let got: Value = http
            .get(format!("http://{web}/demo/received"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got, serde_json::json!([]));

        // The hosts as listed.
        let hs: Value = http
            .get(format!("http://{web}/demo/hosts"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(hs.as_array().unwrap().len(), 12);
        assert_eq!(
            hs[11],
            serde_json::json!({"name": "h12", "mac": "02:00:00:00:00:0c", "ipv4": "10.0.0.12",
                "ipv6": "fd00::c", "switch": "0000000000000104", "port": 5, "leaf": 4})
        );

        // Bad input: 400 (or 422 for a body of the wrong shape) with a reason.
        for (body, status, says) in [
            (
                serde_json::json!({"from": "h13", "to": addr}),
                400,
                "h1..h12",
            ),
            (
                serde_json::json!({"from": "h1", "to": "10.0.0.2"}),
                400,
                "not a multicast",
            ),
            (
                serde_json::json!({"from": "h1", "to": addr, "wait_ms": 6000}),
                400,
                "wait_ms",
            ),
            (
                serde_json::json!({"from": "h1", "too": addr}),
                422,
                "unknown field",
            ),
        ] {
            let r = http
                .post(format!("http://{web}/demo/send"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), status, "{body}");
            let e: Value = r.json().await.unwrap();
            assert!(e["error"].as_str().unwrap().contains(says), "{e}");
        }

        // The printed DELETE: the address then reaches nobody.
        let (status, _) =
            send_printed(&http, printed(&text, "curl -s -X DELETE", "/v1/subsets/")).await;
        assert_eq!(status, 204);
        let (_, sent) = send_printed(&http, printed(&text, "curl -s -X POST", "/demo/send")).await;
        assert_eq!(sent["summary"], "nobody", "{sent}");
        assert_eq!(sent["received_by"], serde_json::json!({}), "{sent}");

        stop_tx.send(()).unwrap();
        (api_addr, web)
    };
    let t = Instant::now();
    let (r, (api_addr, web)) = tokio::join!(demo, body);
    r.unwrap();
    let text = out.text();
    assert!(text.ends_with("stopping\nstopped\n"), "{text}");
    assert!(t.elapsed() < Duration::from_secs(20));
    // Nothing listens any more.
    for a in [api_addr, web] {
        assert!(
            tokio::net::TcpStream::connect(a).await.is_err(),
            "{a} still accepts"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_stops_cleanly_on_ctrl_c() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tsmd"))
        .args([
            "demo",
            "--http",
            "127.0.0.1:0",
            "--demo-http",
            "127.0.0.1:0",
        ])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    let ready = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            text.push_str(&l);
            text.push('\n');
            if l.contains("Ctrl-C stops everything.") {
                return;
            }
        }
        panic!("stdout ended:\n{text}");
    })
    .await;
    assert!(ready.is_ok(), "not ready within 20 s:\n{text}");
    let api_addr = addr_after(&text, "API");
    let client = Client::new(&format!("http://{api_addr}")).unwrap();
    assert_eq!(
        client.hosts().await.unwrap().len(),
        24,
        "12 hosts, IPv4 and IPv6"
    );

    let t = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("tsmd demo exits within 5 s of SIGINT")
        .unwrap();
    let took = t.elapsed();
    let mut rest = String::new();
    while let Some(l) = lines.next_line().await.unwrap() {
        rest.push_str(&l);
        rest.push('\n');
    }
    assert!(status.success(), "{status:?}\n{rest}");
    assert_eq!(rest, "stopping\nstopped\n");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(tokio::net::TcpStream::connect(api_addr).await.is_err());
}

#[tokio::test]
async fn a_busy_port_is_reported_before_anything_starts() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().to_string();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tsmd"))
        .args(["demo", "--http", &port, "--demo-http", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), out)
        .await
        .unwrap()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on {port} (HTTP API)")),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
