//! Test harness of the `tsmctl` tests: the real `api::router` over a small in-memory
//! `Service` on 127.0.0.1:0, and a runner of the built `tsmctl` binary against it.
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use api::{
    ApiError, Capabilities, Dpid, Group, GroupName, GroupSpec, Health, Host, Limits, Link, LinkEnd,
    LinkState, Port, RequestMeta, Service, Subset, SubsetRequest, Switch, TraceId, Upsert,
};

/// A lease far in the future, so a listed subset is never `expired` while a test runs.
pub const EXPIRES_AT: u64 = 4_102_444_800_000;

/// A fabric of two switches joined by one link, three hosts; groups and subsets in maps.
pub struct Fabric {
    groups: Mutex<BTreeMap<GroupName, Group>>,
    subsets: Mutex<BTreeMap<IpAddr, Subset>>,
    /// `GET /v1/events`: the tests push what they want the clients to see.
    pub events: Arc<api::EventLog>,
}

fn switch(dpid: u64, max_groups: Option<u32>) -> Switch {
    Switch {
        dpid: Dpid(dpid),
        peer: Some(format!("127.0.0.1:{}", 50_000 + dpid)),
        connected_since: 1_700_000_000_000,
        ports: (1..=3)
            .map(|n| Port {
                number: n,
                name: format!("br{dpid}-p{n}"),
                state: if n == 3 {
                    LinkState::Down
                } else {
                    LinkState::Up
                },
                hw_addr: None,
            })
            .collect(),
        capabilities: Capabilities {
            n_tables: 254,
            max_groups,
            bier: dpid == 0xab,
        },
    }
}

impl Fabric {
    pub fn new() -> Self {
        Self {
            groups: Mutex::new(BTreeMap::new()),
            subsets: Mutex::new(BTreeMap::new()),
            events: Arc::new(api::EventLog::new(64, 1)),
        }
    }
}

impl Service for Fabric {
    fn limits(&self) -> Limits {
        Limits::new(3_600_000)
    }

    fn events(&self) -> Option<Arc<api::EventLog>> {
        Some(Arc::clone(&self.events))
    }

    async fn health(&self) -> Result<Health, ApiError> {
        Ok(Health {
            status: "ok".into(),
            version: "9.9.9-test".into(),
        })
    }

    async fn switches(&self, _meta: RequestMeta) -> Result<Vec<Switch>, ApiError> {
        Ok(vec![switch(1, Some(4096)), switch(0xab, None)])
    }

    async fn links(&self, _meta: RequestMeta) -> Result<Vec<Link>, ApiError> {
        let end = |dpid, port| LinkEnd {
            dpid: Dpid(dpid),
            port,
        };
        Ok(vec![Link {
            a: end(1, 2),
            b: end(0xab, 1),
            state: LinkState::Up,
        }])
    }

    async fn hosts(&self, _meta: RequestMeta) -> Result<Vec<Host>, ApiError> {
        let host = |ip: &str, mac: &str, dpid, port| Host {
            mac: mac.parse().unwrap(),
            ip: ip.parse().unwrap(),
            dpid: Dpid(dpid),
            port,
        };
        Ok(vec![
            host("10.0.0.1", "02:00:00:00:00:01", 1, 1),
            host("10.0.0.2", "02:00:00:00:00:02", 0xab, 2),
            host("fd00::2", "02:00:00:00:00:02", 0xab, 2),
        ])
    }

    async fn put_group(
        &self,
        _meta: RequestMeta,
        name: GroupName,
        spec: GroupSpec,
    ) -> Result<Upsert<Group>, ApiError> {
        let mut groups = self.groups.lock().unwrap();
        let version = groups.get(&name).map_or(1, |g| g.version + 1);
        let group = Group {
            name: name.clone(),
            address: spec.address,
            members: spec.members.listed().to_vec(),
            version,
            snooped: spec.members.is_snooped(),
        };
        Ok(match groups.insert(name, group.clone()) {
            None => Upsert::Created(group),
            Some(_) => Upsert::Replaced(group),
        })
    }

    async fn group(&self, _meta: RequestMeta, name: GroupName) -> Result<Group, ApiError> {
        let groups = self.groups.lock().unwrap();
        groups.get(&name).cloned().ok_or(ApiError::UnknownGroup {
            group: name.to_string(),
        })
    }

    async fn groups(&self, _meta: RequestMeta) -> Result<Vec<Group>, ApiError> {
        Ok(self.groups.lock().unwrap().values().cloned().collect())
    }

    async fn delete_group(&self, _meta: RequestMeta, name: GroupName) -> Result<(), ApiError> {
        let removed = self.groups.lock().unwrap().remove(&name);
        removed.map(drop).ok_or(ApiError::UnknownGroup {
            group: name.to_string(),
        })
    }

    async fn create_subset(
        &self,
        _meta: RequestMeta,
        group: GroupName,
        req: SubsetRequest,
    ) -> Result<Subset, ApiError> {
        let g = self.group(RequestMeta::default(), group.clone()).await?;
        let outside: Vec<IpAddr> = req
            .members
            .iter()
            .filter(|m| !g.members.contains(m))
            .copied()
            .collect();
        if !outside.is_empty() {
            return Err(ApiError::NotGroupMembers {
                group: group.to_string(),
                members: outside,
            });
        }
        let mut subsets = self.subsets.lock().unwrap();
        let n = u8::try_from(subsets.len() + 1).unwrap();
        let subset = Subset {
            address: IpAddr::from([239, 255, 0, n]),
            group,
            members: req.members,
            lease_ms: req.lease_ms,
            expires_at: EXPIRES_AT,
            switches: vec![Dpid(1), Dpid(0xab)],
            trace_id: TraceId::new(0x4bf9_2f35_77b3_4da6).unwrap(),
            owner: None,
        };
        subsets.insert(subset.address, subset.clone());
        Ok(subset)
    }

    async fn subsets(&self, _meta: RequestMeta) -> Result<Vec<Subset>, ApiError> {
        Ok(self.subsets.lock().unwrap().values().cloned().collect())
    }

    async fn subset(&self, _meta: RequestMeta, address: IpAddr) -> Result<Subset, ApiError> {
        let subsets = self.subsets.lock().unwrap();
        subsets.get(&address).cloned().ok_or(ApiError::NotFound {
            resource: format!("subset {address}"),
        })
    }

    async fn delete_subset(&self, _meta: RequestMeta, address: IpAddr) -> Result<(), ApiError> {
        let removed = self.subsets.lock().unwrap().remove(&address);
        removed.map(drop).ok_or(ApiError::NotFound {
            resource: format!("subset {address}"),
        })
    }
}

/// The API served on 127.0.0.1:0 until dropped.
pub struct Server {
    pub url: String,
    pub fabric: Arc<Fabric>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn serve() -> Server {
    let fabric = Arc::new(Fabric::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = api::router(Arc::clone(&fabric));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server { url, fabric, task }
}

/// A URL nobody listens on: a port just bound and released (connection refused).
pub async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// What one `tsmctl` or `tsm-agent` run printed, and its exit status.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns standard output.
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "failed: {self:?}");
        assert!(self.stderr.is_empty(), "{self:?}");
        self.stdout
    }

    /// Standard output as JSON, after asserting success.
    pub fn json(self) -> serde_json::Value {
        serde_json::from_str(&self.ok()).unwrap()
    }
}

/// Runs the built `tsmctl` with `args`, with no `TSM_*` variables from the environment.
pub async fn tsmctl(args: &[&str]) -> Run {
    run(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_tsmctl")),
        args,
    )
    .await
}

/// Runs the built `tsm-agent` with `args` like [`tsmctl`], logging errors only.
pub async fn tsm_agent(args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tsm-agent"));
    cmd.env("RUST_LOG", "error");
    run(cmd, args).await
}

async fn run(mut cmd: tokio::process::Command, args: &[&str]) -> Run {
    let output = cmd
        .args(args)
        .env_remove("TSM_URL")
        .env_remove("TSM_TOKEN")
        .output()
        .await
        .unwrap();
    Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// The table's rows (header excluded), each split into cells at runs of 2+ spaces.
pub fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// Asserts that every column title of the header starts at the same offset in each row.
pub fn assert_aligned(table: &str) {
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    let starts: Vec<usize> = header
        .match_indices(|c: char| c.is_ascii_uppercase())
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || (i >= 2 && &header[i - 2..i] == "  "))
        .collect();
    for line in lines {
        for &s in &starts {
            assert!(
                s == 0
                    || (line.len() > s && &line[s - 2..s] == "  " && !line[s..].starts_with(' ')),
                "column at {s} misaligned in {line:?}\n{table}"
            );
        }
    }
}
