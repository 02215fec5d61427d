//! A blocking OpenFlow 1.3 client for tests and benchmarks that program a `switch-sim`
//! process over its passive listener (from a thread inside the switch's namespace).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use openflow::{Body, Framer, Message, Xid};

/// One OpenFlow channel.
pub struct OfClient {
    s: TcpStream,
    framer: Framer,
    xid: u32,
}

impl OfClient {
    /// Connects (retrying until `within` has passed: the switch may still be starting) and
    /// completes the HELLO exchange.
    pub fn connect(addr: SocketAddr, within: Duration) -> OfClient {
        let deadline = Instant::now() + within;
        let s = loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(s) => break s,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot reach {addr}: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut c = OfClient {
            s,
            framer: Framer::new(),
            xid: 1,
        };
        let hello = c.recv();
        assert!(matches!(hello.body, Body::Hello(_)), "{hello:?}");
        c.send_msg(&Message::hello(Xid(1)));
        c
    }

    pub fn send_msg(&mut self, m: &Message) {
        self.s.write_all(&m.encode().unwrap()).unwrap();
    }

    /// Sends a body with a fresh xid.
    pub fn send(&mut self, body: impl Into<Body>) -> Xid {
        self.xid += 1;
        let xid = Xid(self.xid);
        self.send_msg(&Message::new(xid, body));
        xid
    }

    /// The next message (panics after the read timeout).
    pub fn recv(&mut self) -> Message {
        let mut buf = vec![0u8; 65536];
        loop {
            if let Some(m) = self.framer.next_message() {
                return m.unwrap();
            }
            let n = self.s.read(&mut buf).expect("no message from the switch");
            assert!(n > 0, "the switch closed the channel");
            self.framer.extend(&buf[..n]);
        }
    }

    /// Sends a barrier; returns the replies and errors before its reply (asynchronous
    /// messages are skipped).
    pub fn barrier(&mut self) -> Vec<Message> {
        let xid = self.send(Body::BarrierRequest);
        let mut out = Vec::new();
        loop {
            let m = self.recv();
            match m.body {
                Body::BarrierReply if m.xid == xid => return out,
                Body::PortStatus(_) | Body::PacketIn(_) | Body::FlowRemoved(_) => {}
                _ => out.push(m),
            }
        }
    }

    /// Sends the messages, then a barrier; panics on any error.
    pub fn apply(&mut self, msgs: &[Message]) {
        for m in msgs {
            self.send_msg(m);
        }
        let r = self.barrier();
        assert!(r.is_empty(), "the switch refused: {r:?}");
    }
}
