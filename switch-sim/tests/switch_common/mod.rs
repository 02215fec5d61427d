//! Helpers for the switch tests: a scripted OpenFlow controller over a real TCP socket, and
//! message builders.
#![allow(dead_code, clippy::unwrap_used)] // each test file uses a different part

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use openflow::oxm::MacAddr;
use openflow::{
    Action, Body, ErrorMsg, FlowMod, Framer, Instruction, Match, Message, Oxm, PortNo, TableId, Xid,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a test waits for something that should happen at once.
pub const WAIT: Duration = Duration::from_secs(5);

/// A scripted controller on one OpenFlow connection.
pub struct Ctl {
    pub stream: TcpStream,
    framer: Framer,
    next_xid: u32,
    /// Asynchronous messages set aside while waiting for a reply.
    pub held: Vec<Message>,
}

impl Ctl {
    /// Wraps a connected stream without any handshake.
    pub fn raw(stream: TcpStream) -> Ctl {
        stream.set_nodelay(true).unwrap();
        Ctl {
            stream,
            framer: Framer::new(),
            next_xid: 100,
            held: Vec::new(),
        }
    }

    /// Connects to a switch's listener and completes the HELLO exchange.
    pub async fn connect(addr: SocketAddr) -> Ctl {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut c = Ctl::raw(s);
        c.handshake().await;
        c
    }

    /// Accepts a switch's active connection and completes the HELLO exchange.
    pub async fn accept(l: &TcpListener) -> Ctl {
        let (s, _) = tokio::time::timeout(WAIT, l.accept())
            .await
            .expect("the switch did not connect")
            .unwrap();
        let mut c = Ctl::raw(s);
        c.handshake().await;
        c
    }

    /// Reads the switch's HELLO (which it sends without waiting for ours) and answers.
    pub async fn handshake(&mut self) {
        let hello = self.recv().await.expect("closed before HELLO");
        assert!(matches!(hello.body, Body::Hello(_)), "{hello:?}");
        self.send(&Message::hello(Xid(1))).await;
    }

    pub fn xid(&mut self) -> Xid {
        self.next_xid += 1;
        Xid(self.next_xid)
    }

    pub async fn send(&mut self, m: &Message) {
        self.stream.write_all(&m.encode().unwrap()).await.unwrap();
    }

    pub async fn send_raw(&mut self, b: &[u8]) {
        self.stream.write_all(b).await.unwrap();
    }

    /// Sends a body with a fresh xid; returns the xid.
    pub async fn request(&mut self, body: impl Into<Body>) -> Xid {
        let xid = self.xid();
        self.send(&Message::new(xid, body)).await;
        xid
    }

    /// The next message, or `None` if the switch closed the connection. Panics after `WAIT`.
    pub async fn recv(&mut self) -> Option<Message> {
        self.recv_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("nothing from the switch within {WAIT:?}"))
    }

    /// `Some(next message or None when closed)`, or `None` if nothing came within `d`.
    pub async fn recv_within(&mut self, d: Duration) -> Option<Option<Message>> {
        let deadline = tokio::time::Instant::now() + d;
        let mut buf = vec![0u8; 65536];
        loop {
            if let Some(r) = self.framer.next_message() {
                return Some(Some(r.unwrap()));
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return Some(None),
                Ok(Ok(n)) => self.framer.extend(&buf[..n]),
            }
        }
    }

    /// The next message that is not asynchronous (PACKET_IN, FLOW_REMOVED, PORT_STATUS are
    /// set aside in `held`).
    pub async fn reply(&mut self) -> Message {
        loop {
            let m = self.recv().await.expect("switch closed the connection");
            match m.body {
                Body::PacketIn(_) | Body::FlowRemoved(_) | Body::PortStatus(_) => self.held.push(m),
                _ => return m,
            }
        }
    }

    /// The next asynchronous message matching `pred` (held ones first), within `d`.
    pub async fn async_msg(
        &mut self,
        d: Duration,
        pred: impl Fn(&Message) -> bool,
    ) -> Option<Message> {
        if let Some(i) = self.held.iter().position(&pred) {
            return Some(self.held.remove(i));
        }
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_within(left).await {
                Some(Some(m)) if pred(&m) => return Some(m),
                Some(Some(m)) => self.held.push(m),
                Some(None) | None => return None,
            }
        }
    }

    /// Sends a barrier and returns every message up to its reply (the reply included).
    pub async fn barrier(&mut self) -> Vec<Message> {
        let xid = self.request(Body::BarrierRequest).await;
        let mut out = Vec::new();
        loop {
            let m = self.reply().await;
            let done = m.xid == xid && m.body == Body::BarrierReply;
            out.push(m);
            if done {
                return out;
            }
        }
    }

    /// Waits until the switch closes the connection; panics after `d`.
    pub async fn expect_closed(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_within(left).await {
                Some(None) => return,
                Some(Some(_)) => continue,
                None => panic!("connection still open after {d:?}"),
            }
        }
    }
}

/// The typed error of a message, if it is one.
pub fn error_of(m: &Message) -> Option<openflow::ErrorCode> {
    match &m.body {
        Body::Error(e) => Some(e.typed()),
        _ => None,
    }
}

pub fn err(m: &Message) -> &ErrorMsg {
    match &m.body {
        Body::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

pub fn out(port: u32) -> Action {
    Action::output(PortNo(port))
}

pub fn apply(actions: Vec<Action>) -> Vec<Instruction> {
    vec![Instruction::ApplyActions(actions)]
}

pub fn ip_dst(a: [u8; 4]) -> Match {
    Match::new().with(Oxm::EthType(0x0800)).with(Oxm::Ipv4Dst {
        value: Ipv4Addr::from(a),
        mask: None,
    })
}

pub fn flow(prio: u16, m: Match, actions: Vec<Action>) -> FlowMod {
    FlowMod::add(TableId(0), prio, m, apply(actions))
}

pub fn mac(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, n])
}

/// A UDP/IPv4 frame from host `src` (10.0.0.src) to `dst`, port 5000, with `payload`.
pub fn udp(src: u8, dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    switch_sim::packet::build::udp4(
        mac(src),
        MacAddr([0x01, 0, 0x5e, dst[1] & 0x7f, dst[2], dst[3]]),
        Ipv4Addr::new(10, 0, 0, src),
        Ipv4Addr::from(dst),
        4000,
        5000,
        payload,
    )
}

/// Polls `f` until it returns `Some`, or panics after `d`.
pub async fn eventually<T, F, Fut>(d: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + d;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
