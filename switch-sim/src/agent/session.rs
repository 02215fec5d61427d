//! One OpenFlow channel seen from the switch, without I/O: bytes in, bytes out, timers as
//! deadlines the caller keeps (the quinn-proto shape).
//!
//! - Our HELLO (OpenFlow 1.3, version bitmap) is queued at once: Open vSwitch-style
//!   controllers drop a peer that stays silent.
//! - The first message must be the peer's HELLO; the version is agreed by OF1.3.5 §6.3.1
//!   ([`openflow::negotiate`]). No common version, or another message first: an
//!   `OFPET_HELLO_FAILED` error and the channel closes.
//! - Liveness (OF1.3.5 §6.3.2): after `probe_interval` without receiving anything an
//!   `ECHO_REQUEST` goes out; if nothing at all arrives for another `probe_interval` the
//!   channel closes. A peer's `ECHO_REQUEST` is answered here, at once.
//! - A message that cannot be read gets `OFPT_ERROR` with the right code and the channel stays
//!   open: `OFPBRC_BAD_VERSION`, `OFPBRC_BAD_LEN` for a message too long, and
//!   [`decode_error_code`](super::decode_error_code) for one whose body does not decode
//!   (`OFPBRC_BAD_TYPE` for an unknown type is the switch's answer, since such messages decode
//!   to `Body::Unknown`). These errors are handed to the caller as [`Inbound::Reply`] rather
//!   than written directly, so that they stay in order with the switch's replies to earlier
//!   messages. The one exception is a length field below 8: the stream can no longer be
//!   framed, so the error is written and the channel closes.
//!
//! Guarantees: no input panics it; once closed it stays closed and produces nothing more
//! than the bytes already queued.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use openflow::error_msg::{HelloFailedCode, MAX_OFFENDING_LEN};
use openflow::{negotiate, Body, ErrorMsg, FramerError, Hello, Message, MsgType, Xid, OFP_VERSION};
use openflow::{Framer, HeaderRepr};

use super::decode::decode_error_code;

/// Timers of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Idle time before an echo probe, and time allowed for any answer after it (and for the
    /// peer's HELLO after the connection opens). Open vSwitch's default is 5 s.
    pub probe_interval: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            probe_interval: Duration::from_secs(5),
        }
    }
}

/// Why a session closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    #[error("version negotiation failed: {0}")]
    Incompatible(String),
    #[error("peer sent {0} before HELLO")]
    NotHello(MsgType),
    #[error("no HELLO within {0:?}")]
    HelloTimeout(Duration),
    #[error("no answer to an echo probe within {0:?}")]
    EchoTimeout(Duration),
    #[error("stream cannot be framed: {0}")]
    Unframeable(FramerError),
    #[error("peer closed the connection")]
    PeerClosed,
    #[error("I/O error: {0}")]
    Io(String),
    #[error("switch shutting down")]
    Shutdown,
    #[error("switch dropped the channel: {0}")]
    Dropped(String),
}

/// What the session hands to the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Negotiation succeeded: the channel is open at OpenFlow 1.3.
    Open,
    /// A message for the switch to handle.
    Message(Message),
    /// An error the session wrote for a message it could not read; send it in order with the
    /// switch's replies.
    Reply(Message),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    AwaitHello,
    Open,
    Closed,
}

/// Counters of one session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub rx_messages: u64,
    pub tx_messages: u64,
    /// Messages answered with an error because they could not be read.
    pub malformed: u64,
    /// Echo probes sent.
    pub probes: u64,
    /// Messages that could not be encoded (longer than 64 KiB) and were dropped.
    pub unencodable: u64,
}

/// One OpenFlow channel's protocol state.
#[derive(Debug)]
pub struct Session {
    phase: Phase,
    framer: Framer,
    outbox: Vec<u8>,
    inbound: VecDeque<Inbound>,
    config: SessionConfig,
    started: Instant,
    last_rx: Instant,
    probe_sent: Option<Instant>,
    next_xid: u32,
    closed: Option<CloseReason>,
    stats: SessionStats,
}

impl Session {
    /// A session on a connection that opened at `now`; our HELLO is already queued.
    pub fn new(now: Instant, config: SessionConfig) -> Session {
        let mut s = Session {
            phase: Phase::AwaitHello,
            framer: Framer::new(),
            outbox: Vec::new(),
            inbound: VecDeque::new(),
            config,
            started: now,
            last_rx: now,
            probe_sent: None,
            // Our own requests use xids from the top of the range, away from the small xids
            // controllers usually pick (the peer's xids are its business anyway).
            next_xid: 0xf000_0000,
            closed: None,
            stats: SessionStats::default(),
        };
        let xid = s.xid();
        s.send(&Message::hello(xid));
        s
    }

    fn xid(&mut self) -> Xid {
        let x = Xid(self.next_xid);
        self.next_xid = self.next_xid.wrapping_add(1);
        x
    }

    /// Whether negotiation is done and the channel is usable.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.closed.as_ref()
    }

    /// Counters.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Closes the session (the connection went away, or the switch dropped it).
    pub fn close(&mut self, reason: CloseReason) {
        if self.closed.is_none() {
            self.closed = Some(reason);
        }
        self.phase = Phase::Closed;
        self.inbound.clear();
    }

    /// Queues a message from the switch. Returns `false` if it was dropped: the session is
    /// closed, or the message is longer than OpenFlow allows.
    pub fn send(&mut self, msg: &Message) -> bool {
        if self.phase == Phase::Closed {
            return false;
        }
        match msg.encode_into(&mut self.outbox) {
            Ok(()) => {
                self.stats.tx_messages += 1;
                true
            }
            Err(_) => {
                self.stats.unencodable += 1;
                false
            }
        }
    }

    /// Takes the bytes to write to the peer.
    pub fn take_outbox(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outbox)
    }

    /// Whether bytes are waiting to be written.
    pub fn has_output(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// The next thing for the switch.
    pub fn poll_inbound(&mut self) -> Option<Inbound> {
        self.inbound.pop_front()
    }

    /// Takes bytes received at `now`.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) {
        if self.phase == Phase::Closed || data.is_empty() {
            return;
        }
        // Anything received shows the peer is alive (OF1.3.5 §6.3.2 leaves the probing policy
        // to the switch; Open vSwitch counts any message).
        self.last_rx = now;
        self.probe_sent = None;
        self.framer.extend(data);
        while self.phase != Phase::Closed {
            let Some(next) = self.framer.next_frame() else {
                break;
            };
            // Own what the frame says before touching `self` again (it borrows the framer).
            let next = next.map(|frame| {
                let decoded = frame.message();
                let head = match decoded {
                    Ok(_) => Vec::new(),
                    Err(_) => frame
                        .bytes()
                        .get(..frame.bytes().len().min(MAX_OFFENDING_LEN))
                        .unwrap_or_default()
                        .to_vec(),
                };
                (frame.header(), decoded, head)
            });
            match next {
                Ok((header, decoded, head)) => self.on_frame(header, decoded, &head),
                Err(e) => self.on_framing_error(e),
            }
        }
    }

    fn on_frame(
        &mut self,
        header: HeaderRepr,
        decoded: Result<Message, openflow::DecodeError>,
        head: &[u8],
    ) {
        self.stats.rx_messages += 1;
        match self.phase {
            Phase::AwaitHello => self.on_first(header, decoded),
            Phase::Open => match decoded {
                Ok(msg) => self.on_message(msg),
                Err(e) => {
                    self.stats.malformed += 1;
                    let reply = Message::error_for(head, decode_error_code(&e));
                    self.inbound.push_back(Inbound::Reply(reply));
                }
            },
            Phase::Closed => {}
        }
    }

    fn on_first(&mut self, header: HeaderRepr, decoded: Result<Message, openflow::DecodeError>) {
        if header.kind != MsgType::Hello {
            self.hello_failed(
                HelloFailedCode::Eperm,
                &format!("expected HELLO, got {}", header.kind),
                CloseReason::NotHello(header.kind),
            );
            return;
        }
        // A HELLO whose elements do not parse still carries a version in its header, which is
        // all that negotiation without a bitmap needs (§6.3.1).
        let hello = match decoded {
            Ok(Message {
                body: Body::Hello(h),
                ..
            }) => h,
            _ => Hello::default(),
        };
        match negotiate(&[OFP_VERSION], header.version, &hello) {
            Ok(_) => {
                self.phase = Phase::Open;
                self.inbound.push_back(Inbound::Open);
            }
            Err(e) => {
                let text = e.to_string();
                self.hello_failed(
                    HelloFailedCode::Incompatible,
                    &text,
                    CloseReason::Incompatible(text.clone()),
                );
            }
        }
    }

    fn hello_failed(&mut self, code: HelloFailedCode, text: &str, reason: CloseReason) {
        let xid = self.xid();
        self.send(&Message::new(xid, ErrorMsg::hello_failed(code, text)));
        self.close(reason);
    }

    fn on_message(&mut self, msg: Message) {
        match &msg.body {
            // A second HELLO carries nothing new.
            Body::Hello(_) => {}
            Body::EchoRequest(_) => {
                if let Some(reply) = msg.echo_reply_to() {
                    self.send(&reply);
                }
            }
            // The answer to our probe; receiving it already refreshed liveness.
            Body::EchoReply(_) => {}
            _ => self.inbound.push_back(Inbound::Message(msg)),
        }
    }

    fn on_framing_error(&mut self, e: FramerError) {
        if self.phase == Phase::AwaitHello && !e.is_fatal() {
            // Only a HELLO may come first, whatever its version; this was something else.
            let kind = match &e {
                FramerError::BadVersion { header, .. }
                | FramerError::TooLong { header, .. }
                | FramerError::Decode { header, .. } => header.kind,
                _ => MsgType::Hello,
            };
            self.hello_failed(
                HelloFailedCode::Eperm,
                &format!("expected HELLO: {e}"),
                CloseReason::NotHello(kind),
            );
            return;
        }
        self.stats.malformed += 1;
        if e.is_fatal() {
            if let Some(reply) = e.error_reply() {
                self.send(&reply);
            }
            self.close(CloseReason::Unframeable(e));
            return;
        }
        let reply = match e.error_reply() {
            Some(r) => r,
            None => match &e {
                FramerError::Decode { error, .. } => {
                    Message::error_for(e.offending(), decode_error_code(error))
                }
                _ => return,
            },
        };
        if self.phase == Phase::Open {
            self.inbound.push_back(Inbound::Reply(reply));
        }
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let p = self.config.probe_interval;
        match self.phase {
            Phase::AwaitHello => Some(self.started + p),
            Phase::Open => Some(match self.probe_sent {
                Some(t) => t + p,
                None => self.last_rx + p,
            }),
            Phase::Closed => None,
        }
    }

    /// Runs the timers at `now`: probe an idle peer, close a silent one.
    pub fn handle_timeout(&mut self, now: Instant) {
        let p = self.config.probe_interval;
        match self.phase {
            Phase::AwaitHello if now >= self.started + p => {
                self.close(CloseReason::HelloTimeout(p));
            }
            Phase::Open => match self.probe_sent {
                Some(t) if now >= t + p => self.close(CloseReason::EchoTimeout(p)),
                None if now >= self.last_rx + p => {
                    let xid = self.xid();
                    self.send(&Message::echo_request(xid, Vec::new()));
                    self.stats.probes += 1;
                    self.probe_sent = Some(now);
                }
                _ => {}
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openflow::error_msg::{BadRequestCode, ErrorCode};
    use openflow::ErrorType;

    fn msgs(bytes: &[u8]) -> Vec<Message> {
        let mut f = Framer::new();
        f.extend(bytes);
        let mut out = Vec::new();
        while let Some(Ok(m)) = f.next_message() {
            out.push(m);
        }
        out
    }

    fn enc(m: &Message) -> Vec<u8> {
        m.encode().unwrap()
    }

    fn open(t: Instant) -> Session {
        let mut s = Session::new(t, SessionConfig::default());
        s.handle_bytes(t, &enc(&Message::hello(Xid(1))));
        assert_eq!(s.poll_inbound(), Some(Inbound::Open));
        s.take_outbox();
        s
    }

    #[test]
    fn hello_first_then_open() {
        let t = Instant::now();
        let mut s = Session::new(t, SessionConfig::default());
        let out = msgs(&s.take_outbox());
        assert_eq!(out.len(), 1);
        assert!(matches!(&out[0].body, Body::Hello(h) if h.versions() == Some(vec![4])));
        // HELLO and a request in one segment.
        let mut b = enc(&Message::hello(Xid(1)));
        b.extend(enc(&Message::features_request(Xid(2))));
        s.handle_bytes(t, &b);
        assert_eq!(s.poll_inbound(), Some(Inbound::Open));
        assert_eq!(
            s.poll_inbound(),
            Some(Inbound::Message(Message::features_request(Xid(2))))
        );
        assert!(s.is_open());
    }

    #[test]
    fn older_peer_without_bitmap_is_refused() {
        let t = Instant::now();
        let mut s = Session::new(t, SessionConfig::default());
        s.take_outbox();
        // An OpenFlow 1.0 HELLO: header only.
        s.handle_bytes(t, &[0x01, 0, 0, 8, 0, 0, 0, 9]);
        let out = msgs(&s.take_outbox());
        match &out[..] {
            [Message {
                body: Body::Error(e),
                ..
            }] => assert_eq!(
                e.typed(),
                ErrorCode::HelloFailed(HelloFailedCode::Incompatible)
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            s.close_reason(),
            Some(CloseReason::Incompatible(_))
        ));
        assert_eq!(s.poll_inbound(), None);
    }

    #[test]
    fn newer_peer_with_bitmap_agrees_on_13() {
        let t = Instant::now();
        let mut s = Session::new(t, SessionConfig::default());
        // Version 6 header, bitmap {1, 4, 6}.
        let mut b = vec![0x06, 0, 0, 16, 0, 0, 0, 1];
        b.extend([0, 1, 0, 8, 0, 0, 0, 0b101_0010]);
        s.handle_bytes(t, &b);
        assert_eq!(s.poll_inbound(), Some(Inbound::Open));
    }

    #[test]
    fn request_before_hello_closes() {
        let t = Instant::now();
        let mut s = Session::new(t, SessionConfig::default());
        s.take_outbox();
        s.handle_bytes(t, &enc(&Message::features_request(Xid(3))));
        let out = msgs(&s.take_outbox());
        assert!(matches!(&out[0].body, Body::Error(e) if e.kind == ErrorType::HelloFailed));
        assert_eq!(
            s.close_reason(),
            Some(&CloseReason::NotHello(MsgType::FeaturesRequest))
        );
    }

    #[test]
    fn echo_answered_and_probe_then_drop() {
        let t = Instant::now();
        let mut s = open(t);
        s.handle_bytes(t, &enc(&Message::echo_request(Xid(5), vec![1, 2, 3])));
        let out = msgs(&s.take_outbox());
        assert_eq!(
            out,
            vec![Message::new(Xid(5), Body::EchoReply(vec![1, 2, 3]))]
        );
        assert_eq!(s.poll_inbound(), None);

        let p = SessionConfig::default().probe_interval;
        assert_eq!(s.poll_timeout(), Some(t + p));
        s.handle_timeout(t + p / 2);
        assert!(!s.has_output());
        s.handle_timeout(t + p);
        let out = msgs(&s.take_outbox());
        assert!(matches!(
            &out[..],
            [Message {
                body: Body::EchoRequest(_),
                ..
            }]
        ));
        // An answer keeps the channel; silence after the next probe closes it.
        s.handle_bytes(
            t + p + p / 2,
            &enc(&Message::new(out[0].xid, Body::EchoReply(vec![]))),
        );
        assert_eq!(s.poll_timeout(), Some(t + 2 * p + p / 2));
        s.handle_timeout(t + 2 * p + p / 2);
        assert_eq!(s.stats().probes, 2);
        s.handle_timeout(t + 3 * p + p / 2);
        assert_eq!(s.close_reason(), Some(&CloseReason::EchoTimeout(p)));
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn hello_timeout() {
        let t = Instant::now();
        let mut s = Session::new(t, SessionConfig::default());
        s.handle_timeout(t + Duration::from_secs(5));
        assert!(matches!(
            s.close_reason(),
            Some(CloseReason::HelloTimeout(_))
        ));
    }

    fn reply_code(s: &mut Session) -> ErrorCode {
        match s.poll_inbound() {
            Some(Inbound::Reply(Message {
                body: Body::Error(e),
                ..
            })) => e.typed(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_messages_get_errors_and_the_channel_stays() {
        let t = Instant::now();
        let mut s = open(t);
        // Version 1 FEATURES_REQUEST.
        s.handle_bytes(t, &[0x01, 5, 0, 8, 0, 0, 0, 7]);
        assert_eq!(reply_code(&mut s), BadRequestCode::BadVersion.into());
        // BARRIER_REQUEST with 4 body bytes.
        s.handle_bytes(t, &[0x04, 20, 0, 12, 0, 0, 0, 8, 1, 2, 3, 4]);
        assert_eq!(reply_code(&mut s), BadRequestCode::BadLen.into());
        // Unknown type: decodes, the switch answers BAD_TYPE.
        s.handle_bytes(t, &[0x04, 200, 0, 8, 0, 0, 0, 9]);
        assert!(matches!(s.poll_inbound(), Some(Inbound::Message(m)) if m.xid == Xid(9)));
        // Still open.
        s.handle_bytes(t, &enc(&Message::barrier_request(Xid(10))));
        assert_eq!(
            s.poll_inbound(),
            Some(Inbound::Message(Message::barrier_request(Xid(10))))
        );
        assert_eq!(s.stats().malformed, 2);
        assert!(s.is_open());
    }

    #[test]
    fn length_below_header_closes_after_error() {
        let t = Instant::now();
        let mut s = open(t);
        s.handle_bytes(t, &[0x04, 2, 0, 4, 0, 0, 0, 11]);
        let out = msgs(&s.take_outbox());
        assert!(
            matches!(&out[..], [Message { xid: Xid(11), body: Body::Error(e) }] if e.typed() == BadRequestCode::BadLen.into())
        );
        assert!(matches!(
            s.close_reason(),
            Some(CloseReason::Unframeable(_))
        ));
        s.handle_bytes(t, &enc(&Message::barrier_request(Xid(12))));
        assert_eq!(s.poll_inbound(), None);
    }
}
