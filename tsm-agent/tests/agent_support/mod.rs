//! Harness of the agent tests against a real tsmd: the daemon in this process with an
//! in-memory switch-sim leaf-spine (`controller::demo`: 6 switches, hosts h1..h12 at
//! 10.0.0.N), a group over h1..h8 and a ready rendezvous plan on it.
#![allow(clippy::unwrap_used, dead_code)]

use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::{Client, GroupName, GroupSpec, PlanState, RendezvousRequest};
use controller::demo::{Demo, DemoConfig};

/// The group every test uses.
pub const GROUP: &str = "storage";

/// A tsmd with a fabric, stopped on drop (the daemon's handle ends its tasks) or by
/// [`Tsmd::stop`].
pub struct Tsmd {
    demo: Option<Demo>,
    pub url: String,
    pub client: Client,
}

impl Tsmd {
    /// tsmd with its fabric discovered, `GROUP` over h1..h8 and a ready plan of `k` and
    /// `copies` from 239.2.0.0.
    pub async fn with_plan(k: u32, copies: u32) -> Tsmd {
        let demo = Demo::start(&DemoConfig::ephemeral()).await.unwrap();
        demo.wait_discovered(Duration::from_secs(20)).await.unwrap();
        let url = format!("http://{}", demo.api_addr());
        let client = demo.client.clone();
        let t = Tsmd {
            demo: Some(demo),
            url,
            client,
        };
        t.put_group(8).await;
        let req = RendezvousRequest {
            k,
            copies,
            base: "239.2.0.0".parse().unwrap(),
        };
        t.client.put_rendezvous(&group(), &req).await.unwrap();
        t.wait_ready().await;
        t
    }

    /// Sets `GROUP`'s members to h1..hN.
    pub async fn put_group(&self, n: u8) {
        let spec = GroupSpec {
            address: "239.1.0.1".parse().unwrap(),
            members: members(n).into(),
        };
        self.client.put_group(&group(), &spec).await.unwrap();
    }

    /// Waits until the group's plan is ready.
    pub async fn wait_ready(&self) {
        eventually("the plan is ready", Duration::from_secs(20), || async {
            let p = self.client.rendezvous(&group()).await.unwrap();
            assert_ne!(p.state, PlanState::Failed, "{:?}", p.error);
            p.state == PlanState::Ready
        })
        .await;
    }

    /// Stops the daemon and its fabric (its port refuses connections afterwards).
    pub async fn stop(&mut self) {
        if let Some(demo) = self.demo.take() {
            demo.shutdown().await.unwrap();
        }
    }
}

pub fn group() -> GroupName {
    GROUP.parse().unwrap()
}

/// h1..hN: 10.0.0.1 ..= 10.0.0.N.
pub fn members(n: u8) -> Vec<IpAddr> {
    (1..=n).map(|i| IpAddr::from([10, 0, 0, i])).collect()
}

pub fn ips(list: &[u8]) -> Vec<IpAddr> {
    list.iter().map(|i| IpAddr::from([10, 0, 0, *i])).collect()
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Polls `check` every 20 ms until it holds; fails the test naming `what` after `within`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
