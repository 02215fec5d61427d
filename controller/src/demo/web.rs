//! The demo-only HTTP endpoints: the simulated hosts, reachable with curl. They are not part
//! of the tsmd API (which is `/v1/…` on its own listener) and exist only in `tsmd demo`.
//!
//! - `GET /demo/hosts`: every host with its addresses and attachment.
//! - `POST /demo/send` `{"from":"h1","to":"239.192.0.0","port":6000,"payload":"hi","wait_ms":300}`
//!   (`port`, `payload`, `wait_ms` optional): host `from` sends one UDP datagram to the
//!   multicast address `to`; the answer, after `wait_ms` (at most 5000), says which hosts
//!   received it and how many copies.
//! - `GET /demo/received`: the hosts that received datagrams, each with them (newest last);
//!   `DELETE /demo/received` forgets them.
//!
//! Guarantees: bad input is a 400 with a JSON `{"error": ...}` saying what was wrong; nothing
//! here changes the controller's state.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::host::{Host, HostId};
use super::observe::{send_and_count, Wait};
use super::DemoError;

const MAX_WAIT_MS: u64 = 5000;
const DEFAULT_WAIT_MS: u64 = 300;

/// The demo endpoints, serving.
#[derive(Debug)]
pub struct Web {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Web {
    /// Where they listen.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving (requests in flight finish first).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(6), self.task)
            .await
            .is_err()
        {
            tracing::warn!("demo endpoints did not stop in time");
        }
    }
}

/// Serves the endpoints for `hosts` on `listener`.
pub fn serve(listener: TcpListener, hosts: Vec<Host>) -> Result<Web, DemoError> {
    let addr = listener.local_addr().map_err(|source| {
        DemoError::Daemon(crate::daemon::DaemonError::Listener {
            what: "demo endpoints",
            source,
        })
    })?;
    let (stop, mut stopped) = watch::channel(false);
    let app = router(hosts);
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "demo endpoints stopped");
        }
    });
    Ok(Web { addr, stop, task })
}

/// The router (for tests without a socket).
pub fn router(hosts: Vec<Host>) -> Router {
    Router::new()
        .route("/demo/hosts", get(list_hosts))
        .route("/demo/send", post(send))
        .route("/demo/received", get(received).delete(clear))
        .with_state(Arc::new(hosts))
}

type Hosts = Arc<Vec<Host>>;

fn bad(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": msg.into() }))).into_response()
}

#[derive(Serialize)]
struct HostView {
    name: String,
    mac: String,
    ipv4: IpAddr,
    ipv6: IpAddr,
    switch: String,
    port: u32,
    leaf: u32,
}

async fn list_hosts(State(hosts): State<Hosts>) -> Json<Vec<HostView>> {
    Json(
        hosts
            .iter()
            .map(|h| {
                let m = h.id.mac().0;
                HostView {
                    name: h.id.to_string(),
                    mac: format!(
                        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                        m[0], m[1], m[2], m[3], m[4], m[5]
                    ),
                    ipv4: h.id.ipv4().into(),
                    ipv6: h.id.ipv6().into(),
                    switch: format!("{:016x}", h.at.dpid),
                    port: h.at.port,
                    leaf: h.at.leaf,
                }
            })
            .collect(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    from: String,
    to: IpAddr,
    port: Option<u16>,
    payload: Option<String>,
    wait_ms: Option<u64>,
}

#[derive(Serialize)]
struct SendAnswer {
    from: String,
    src: SocketAddr,
    to: SocketAddr,
    payload: String,
    /// Host → copies received.
    received_by: BTreeMap<String, usize>,
    /// `h2 h5 h7`, or `nobody`.
    summary: String,
}

async fn send(
    State(hosts): State<Hosts>,
    body: Result<Json<SendRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad(e.status(), e.body_text()),
    };
    let Some(host) = req
        .from
        .parse::<HostId>()
        .ok()
        .and_then(|id| hosts.iter().find(|h| h.id == id))
    else {
        return bad(
            StatusCode::BAD_REQUEST,
            format!(
                "from: {:?} is not a host; the hosts are h1..h{}",
                req.from,
                hosts.len()
            ),
        );
    };
    if !req.to.is_multicast() {
        return bad(
            StatusCode::BAD_REQUEST,
            format!(
                "to: {} is not a multicast address; the fabric forwards only subset addresses (POST /v1/groups/NAME/subsets answers with one)",
                req.to
            ),
        );
    }
    let wait_ms = req.wait_ms.unwrap_or(DEFAULT_WAIT_MS);
    if wait_ms > MAX_WAIT_MS {
        return bad(
            StatusCode::BAD_REQUEST,
            format!("wait_ms: {wait_ms} is above {MAX_WAIT_MS}"),
        );
    }
    let dst = SocketAddr::new(req.to, req.port.unwrap_or(super::script::PORT));
    let payload = req
        .payload
        .unwrap_or_else(|| format!("hello from {}", host.id));
    let src_ip: IpAddr = match req.to {
        IpAddr::V4(_) => host.id.ipv4().into(),
        IpAddr::V6(_) => host.id.ipv6().into(),
    };
    let wait = Wait {
        expected: None,
        max: Duration::from_millis(wait_ms),
        quiet: Duration::ZERO,
    };
    match send_and_count(&hosts, host, dst, payload.clone().into_bytes(), &wait).await {
        Ok(got) => {
            let summary = super::check::Verdict::new(Default::default(), got.clone()).receivers();
            Json(SendAnswer {
                from: host.id.to_string(),
                src: SocketAddr::new(src_ip, super::host::SOURCE_PORT),
                to: dst,
                payload,
                received_by: got.into_iter().map(|(h, n)| (h.to_string(), n)).collect(),
                summary,
            })
            .into_response()
        }
        Err(e) => bad(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[derive(Serialize)]
struct DatagramView {
    seq: u64,
    from: SocketAddr,
    to: SocketAddr,
    /// The payload as text (invalid UTF-8 replaced).
    payload: String,
}

#[derive(Serialize)]
struct HostLog {
    host: String,
    datagrams: Vec<DatagramView>,
}

async fn received(State(hosts): State<Hosts>) -> Response {
    let mut out = Vec::new();
    for h in hosts.iter() {
        match h.received_after(0).await {
            Ok((_, v)) if !v.is_empty() => out.push(HostLog {
                host: h.id.to_string(),
                datagrams: v
                    .into_iter()
                    .map(|r| DatagramView {
                        seq: r.seq,
                        from: r.datagram.src,
                        to: r.datagram.dst,
                        payload: String::from_utf8_lossy(&r.datagram.payload).into_owned(),
                    })
                    .collect(),
            }),
            Ok(_) => {}
            Err(e) => return bad(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
    Json(out).into_response()
}

async fn clear(State(hosts): State<Hosts>) -> Response {
    for h in hosts.iter() {
        if let Err(e) = h.clear().await {
            return bad(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
        }
    }
    StatusCode::NO_CONTENT.into_response()
}
