//! The `tsmctl` lines `tsmd demo` prints work as printed against the demo: each is run with
//! the built binary, after a group and a subset exist, and shows what the fabric holds.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::{Client, GroupName, GroupSpec, SubsetRequest};
use common::{assert_aligned, rows, tsmctl};
use controller::demo::{run_interactive, DemoConfig};

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

/// The printed `tsmctl` lines as argument lists (comments dropped).
fn printed_tsmctl(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("tsmctl "))
        .map(|l| {
            let l = l.split('#').next().unwrap();
            l.split_whitespace().map(str::to_owned).collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_tsmctl_lines_show_the_demo_fabric() {
    let config = DemoConfig {
        api_listen: "127.0.0.1:0".parse().unwrap(),
        demo_listen: None,
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
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let text = loop {
            let t = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            if t.contains("Ctrl-C stops everything.") {
                break t;
            }
            assert!(tokio::time::Instant::now() < deadline, "no guide:\n{t}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let lines = printed_tsmctl(&text);
        let verbs: Vec<&str> = lines.iter().map(|a| a[2].as_str()).collect();
        assert_eq!(
            verbs,
            ["switches", "hosts", "groups", "subsets", "rules", "switches"],
            "{text}"
        );
        let url = lines[0][1].clone();
        assert!(
            lines.iter().all(|a| a[0] == "--url" && a[1] == url),
            "{text}"
        );

        // Something to show: the guide's group and a subset with a member on leaf 1 (h2).
        let client = Client::new(&url).unwrap();
        let ip = |n: u8| std::net::IpAddr::from([10, 0, 0, n]);
        let members = [1, 2, 4, 5, 7, 8].map(ip).to_vec();
        let name: GroupName = "storage".parse().unwrap();
        client
            .put_group(
                &name,
                &GroupSpec {
                    address: "239.1.1.1".parse().unwrap(),
                    members: members.into(),
                },
            )
            .await
            .unwrap();
        let sub = client
            .create_subset(
                &name,
                &SubsetRequest {
                    members: vec![ip(2), ip(5), ip(7)],
                    lease_ms: 600_000,
                },
            )
            .await
            .unwrap();
        let addr = sub.address.to_string();

        let run = |i: usize| {
            let args: Vec<&str> = lines[i].iter().map(String::as_str).collect();
            async move { tsmctl(&args).await.ok() }
        };
        let switches = run(0).await;
        assert_aligned(&switches);
        assert_eq!(rows(&switches).len(), 6, "{switches}");
        let hosts = run(1).await;
        for n in 1..=12 {
            let ip = format!("10.0.0.{n}");
            assert!(
                rows(&hosts).iter().any(|r| r.contains(&ip)),
                "{ip}:\n{hosts}"
            );
        }
        let groups = run(2).await;
        assert_eq!(rows(&groups).len(), 1, "{groups}");
        assert_eq!(rows(&groups)[0][0], "storage", "{groups}");
        let subsets = run(3).await;
        assert!(
            rows(&subsets).iter().any(|r| r.contains(&addr)),
            "{addr}:\n{subsets}"
        );
        let rules = run(4).await;
        assert!(
            rules.contains(&addr),
            "leaf 1 forwards {addr} to h2:\n{rules}"
        );
        let json: serde_json::Value = serde_json::from_str(&run(5).await).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 6, "{json}");
        let _ = stop_tx.send(());
    };
    let (r, ()) = tokio::join!(demo, body);
    r.unwrap();
}
