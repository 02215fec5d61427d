//! A whole OpenFlow 1.3.5 message: the 8-byte header and a typed body (OF1.3.5 §7).
//!
//! Guarantees:
//! - `Message::decode` takes exactly one message: a length field that disagrees with the
//!   slice is an error (`Truncated` if it announces more, `TrailingBytes` if less), as is a
//!   body with bytes left over after its structure.
//! - A version other than 0x04 is `BadVersion`, except for HELLO: version negotiation
//!   (OF1.3.5 §6.3.1) must read the peer's HELLO whatever its version. The HELLO's own version
//!   is in its header (`HeaderRepr::parse_bytes`, or the framer's `Frame::header`).
//! - Message types OF1.3 does not define decode to `Body::Unknown` with their bytes, so a
//!   switch can answer `OFPBRC_BAD_TYPE` and a proxy can pass them on.
//! - `emit` writes version 0x04, the exact length, and every byte of the body, padding
//!   included; a message longer than 65535 bytes is `EncodeError::TooLong`.

use crate::error::{DecodeError, EncodeError};
use crate::error_msg::ErrorMsg;
use crate::experimenter::Experimenter;
use crate::header::{Header, HeaderRepr, MsgType, HEADER_LEN};
use crate::hello::Hello;
use crate::meter::MeterMod;
use crate::msg::{
    AsyncConfig, FlowMod, FlowRemoved, GroupMod, PacketIn, PacketOut, PortMod, PortStatus,
    QueueGetConfigReply, QueueGetConfigRequest, Role, SwitchConfig, SwitchFeatures, TableMod,
};
use crate::multipart::{MultipartReply, MultipartRequest};
use crate::types::{Xid, OFP_VERSION};
use crate::wire::{Reader, Wire, Writer};

/// One OpenFlow message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `xid`: a reply carries the xid of its request.
    pub xid: Xid,
    /// The type and its body.
    pub body: Body,
}

/// The body of a message, one variant per `ofp_type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `OFPT_HELLO`.
    Hello(Hello),
    /// `OFPT_ERROR`.
    Error(ErrorMsg),
    /// `OFPT_ECHO_REQUEST`: arbitrary data the reply echoes.
    EchoRequest(Vec<u8>),
    /// `OFPT_ECHO_REPLY`.
    EchoReply(Vec<u8>),
    /// `OFPT_EXPERIMENTER`.
    Experimenter(Experimenter),
    /// `OFPT_FEATURES_REQUEST` (no body).
    FeaturesRequest,
    /// `OFPT_FEATURES_REPLY`.
    FeaturesReply(SwitchFeatures),
    /// `OFPT_GET_CONFIG_REQUEST` (no body).
    GetConfigRequest,
    /// `OFPT_GET_CONFIG_REPLY`.
    GetConfigReply(SwitchConfig),
    /// `OFPT_SET_CONFIG`.
    SetConfig(SwitchConfig),
    /// `OFPT_PACKET_IN`.
    PacketIn(PacketIn),
    /// `OFPT_FLOW_REMOVED`.
    FlowRemoved(FlowRemoved),
    /// `OFPT_PORT_STATUS`.
    PortStatus(PortStatus),
    /// `OFPT_PACKET_OUT`.
    PacketOut(PacketOut),
    /// `OFPT_FLOW_MOD`.
    FlowMod(FlowMod),
    /// `OFPT_GROUP_MOD`.
    GroupMod(GroupMod),
    /// `OFPT_PORT_MOD`.
    PortMod(PortMod),
    /// `OFPT_TABLE_MOD`.
    TableMod(TableMod),
    /// `OFPT_MULTIPART_REQUEST`.
    MultipartRequest(MultipartRequest),
    /// `OFPT_MULTIPART_REPLY`.
    MultipartReply(MultipartReply),
    /// `OFPT_BARRIER_REQUEST` (no body).
    BarrierRequest,
    /// `OFPT_BARRIER_REPLY` (no body).
    BarrierReply,
    /// `OFPT_QUEUE_GET_CONFIG_REQUEST`.
    QueueGetConfigRequest(QueueGetConfigRequest),
    /// `OFPT_QUEUE_GET_CONFIG_REPLY`.
    QueueGetConfigReply(QueueGetConfigReply),
    /// `OFPT_ROLE_REQUEST`.
    RoleRequest(Role),
    /// `OFPT_ROLE_REPLY`.
    RoleReply(Role),
    /// `OFPT_GET_ASYNC_REQUEST` (no body).
    GetAsyncRequest,
    /// `OFPT_GET_ASYNC_REPLY`.
    GetAsyncReply(AsyncConfig),
    /// `OFPT_SET_ASYNC`.
    SetAsync(AsyncConfig),
    /// `OFPT_METER_MOD`.
    MeterMod(MeterMod),
    /// A type OF1.3 does not define (`kind` > 29), with its body bytes.
    Unknown { kind: u8, body: Vec<u8> },
}

impl Body {
    /// The message type.
    pub fn kind(&self) -> MsgType {
        match self {
            Body::Hello(_) => MsgType::Hello,
            Body::Error(_) => MsgType::Error,
            Body::EchoRequest(_) => MsgType::EchoRequest,
            Body::EchoReply(_) => MsgType::EchoReply,
            Body::Experimenter(_) => MsgType::Experimenter,
            Body::FeaturesRequest => MsgType::FeaturesRequest,
            Body::FeaturesReply(_) => MsgType::FeaturesReply,
            Body::GetConfigRequest => MsgType::GetConfigRequest,
            Body::GetConfigReply(_) => MsgType::GetConfigReply,
            Body::SetConfig(_) => MsgType::SetConfig,
            Body::PacketIn(_) => MsgType::PacketIn,
            Body::FlowRemoved(_) => MsgType::FlowRemoved,
            Body::PortStatus(_) => MsgType::PortStatus,
            Body::PacketOut(_) => MsgType::PacketOut,
            Body::FlowMod(_) => MsgType::FlowMod,
            Body::GroupMod(_) => MsgType::GroupMod,
            Body::PortMod(_) => MsgType::PortMod,
            Body::TableMod(_) => MsgType::TableMod,
            Body::MultipartRequest(_) => MsgType::MultipartRequest,
            Body::MultipartReply(_) => MsgType::MultipartReply,
            Body::BarrierRequest => MsgType::BarrierRequest,
            Body::BarrierReply => MsgType::BarrierReply,
            Body::QueueGetConfigRequest(_) => MsgType::QueueGetConfigRequest,
            Body::QueueGetConfigReply(_) => MsgType::QueueGetConfigReply,
            Body::RoleRequest(_) => MsgType::RoleRequest,
            Body::RoleReply(_) => MsgType::RoleReply,
            Body::GetAsyncRequest => MsgType::GetAsyncRequest,
            Body::GetAsyncReply(_) => MsgType::GetAsyncReply,
            Body::SetAsync(_) => MsgType::SetAsync,
            Body::MeterMod(_) => MsgType::MeterMod,
            Body::Unknown { kind, .. } => MsgType::from(*kind),
        }
    }

    /// Bytes of the body after the header.
    pub fn wire_len(&self) -> usize {
        match self {
            Body::Hello(b) => b.wire_len(),
            Body::Error(b) => b.wire_len(),
            Body::EchoRequest(d) | Body::EchoReply(d) => d.len(),
            Body::Experimenter(b) => b.wire_len(),
            Body::FeaturesRequest
            | Body::GetConfigRequest
            | Body::BarrierRequest
            | Body::BarrierReply
            | Body::GetAsyncRequest => 0,
            Body::FeaturesReply(b) => b.wire_len(),
            Body::GetConfigReply(b) | Body::SetConfig(b) => b.wire_len(),
            Body::PacketIn(b) => b.wire_len(),
            Body::FlowRemoved(b) => b.wire_len(),
            Body::PortStatus(b) => b.wire_len(),
            Body::PacketOut(b) => b.wire_len(),
            Body::FlowMod(b) => b.wire_len(),
            Body::GroupMod(b) => b.wire_len(),
            Body::PortMod(b) => b.wire_len(),
            Body::TableMod(b) => b.wire_len(),
            Body::MultipartRequest(b) => b.wire_len(),
            Body::MultipartReply(b) => b.wire_len(),
            Body::QueueGetConfigRequest(b) => b.wire_len(),
            Body::QueueGetConfigReply(b) => b.wire_len(),
            Body::RoleRequest(b) | Body::RoleReply(b) => b.wire_len(),
            Body::GetAsyncReply(b) | Body::SetAsync(b) => b.wire_len(),
            Body::MeterMod(b) => b.wire_len(),
            Body::Unknown { body, .. } => body.len(),
        }
    }

    /// Writes exactly `wire_len()` bytes.
    pub fn emit(&self, w: &mut Writer<'_>) {
        match self {
            Body::Hello(b) => b.emit(w),
            Body::Error(b) => b.emit(w),
            Body::EchoRequest(d) | Body::EchoReply(d) => w.bytes(d),
            Body::Experimenter(b) => b.emit(w),
            Body::FeaturesRequest
            | Body::GetConfigRequest
            | Body::BarrierRequest
            | Body::BarrierReply
            | Body::GetAsyncRequest => {}
            Body::FeaturesReply(b) => b.emit(w),
            Body::GetConfigReply(b) | Body::SetConfig(b) => b.emit(w),
            Body::PacketIn(b) => b.emit(w),
            Body::FlowRemoved(b) => b.emit(w),
            Body::PortStatus(b) => b.emit(w),
            Body::PacketOut(b) => b.emit(w),
            Body::FlowMod(b) => b.emit(w),
            Body::GroupMod(b) => b.emit(w),
            Body::PortMod(b) => b.emit(w),
            Body::TableMod(b) => b.emit(w),
            Body::MultipartRequest(b) => b.emit(w),
            Body::MultipartReply(b) => b.emit(w),
            Body::QueueGetConfigRequest(b) => b.emit(w),
            Body::QueueGetConfigReply(b) => b.emit(w),
            Body::RoleRequest(b) | Body::RoleReply(b) => b.emit(w),
            Body::GetAsyncReply(b) | Body::SetAsync(b) => b.emit(w),
            Body::MeterMod(b) => b.emit(w),
            Body::Unknown { body, .. } => w.bytes(body),
        }
    }

    /// Reads the body of a message with header `h` from `r`, which holds exactly the body.
    /// Everything must be consumed.
    pub fn parse(h: &HeaderRepr, r: &mut Reader<'_>) -> Result<Body, DecodeError> {
        // Each arm returns its own `Ok`, so a decoded body is written once, into the caller's
        // slot, rather than moved through a temporary per layer.
        #[inline(always)]
        fn all<T: Wire>(
            r: &mut Reader<'_>,
            wrap: impl FnOnce(T) -> Body,
        ) -> Result<Body, DecodeError> {
            let v = T::parse(r)?;
            r.finish()?;
            Ok(wrap(v))
        }
        // Types without a body must not have one (a switch answers OFPBRC_BAD_LEN).
        #[inline(always)]
        fn empty(r: &mut Reader<'_>, body: Body) -> Result<Body, DecodeError> {
            r.finish()?;
            Ok(body)
        }
        match h.kind {
            MsgType::Hello => {
                let hello = Hello::parse_any_version(h.version, r)?;
                r.finish()?;
                Ok(Body::Hello(hello))
            }
            _ if h.version != OFP_VERSION => Err(DecodeError::BadVersion { version: h.version }),
            MsgType::Error => all(r, Body::Error),
            MsgType::EchoRequest => Ok(Body::EchoRequest(r.rest().to_vec())),
            MsgType::EchoReply => Ok(Body::EchoReply(r.rest().to_vec())),
            MsgType::Experimenter => all(r, Body::Experimenter),
            MsgType::FeaturesRequest => empty(r, Body::FeaturesRequest),
            MsgType::FeaturesReply => all(r, Body::FeaturesReply),
            MsgType::GetConfigRequest => empty(r, Body::GetConfigRequest),
            MsgType::GetConfigReply => all(r, Body::GetConfigReply),
            MsgType::SetConfig => all(r, Body::SetConfig),
            MsgType::PacketIn => all(r, Body::PacketIn),
            MsgType::FlowRemoved => all(r, Body::FlowRemoved),
            MsgType::PortStatus => all(r, Body::PortStatus),
            MsgType::PacketOut => all(r, Body::PacketOut),
            MsgType::FlowMod => all(r, Body::FlowMod),
            MsgType::GroupMod => all(r, Body::GroupMod),
            MsgType::PortMod => all(r, Body::PortMod),
            MsgType::TableMod => all(r, Body::TableMod),
            MsgType::MultipartRequest => all(r, Body::MultipartRequest),
            MsgType::MultipartReply => all(r, Body::MultipartReply),
            MsgType::BarrierRequest => empty(r, Body::BarrierRequest),
            MsgType::BarrierReply => empty(r, Body::BarrierReply),
            MsgType::QueueGetConfigRequest => all(r, Body::QueueGetConfigRequest),
            MsgType::QueueGetConfigReply => all(r, Body::QueueGetConfigReply),
            MsgType::RoleRequest => all(r, Body::RoleRequest),
            MsgType::RoleReply => all(r, Body::RoleReply),
            MsgType::GetAsyncRequest => empty(r, Body::GetAsyncRequest),
            MsgType::GetAsyncReply => all(r, Body::GetAsyncReply),
            MsgType::SetAsync => all(r, Body::SetAsync),
            MsgType::MeterMod => all(r, Body::MeterMod),
            MsgType::Other(kind) => Ok(Body::Unknown {
                kind,
                body: r.rest().to_vec(),
            }),
        }
    }
}

macro_rules! body_from {
    ($($var:ident($t:ty)),* $(,)?) => {
        $(impl From<$t> for Body {
            fn from(v: $t) -> Body {
                Body::$var(v)
            }
        })*
    };
}

body_from! {
    Hello(Hello),
    Error(ErrorMsg),
    Experimenter(Experimenter),
    FeaturesReply(SwitchFeatures),
    PacketIn(PacketIn),
    FlowRemoved(FlowRemoved),
    PortStatus(PortStatus),
    PacketOut(PacketOut),
    FlowMod(FlowMod),
    GroupMod(GroupMod),
    PortMod(PortMod),
    TableMod(TableMod),
    MultipartRequest(MultipartRequest),
    MultipartReply(MultipartReply),
    QueueGetConfigRequest(QueueGetConfigRequest),
    QueueGetConfigReply(QueueGetConfigReply),
    MeterMod(MeterMod),
}

impl Message {
    /// A message with `xid` and `body`.
    pub fn new(xid: Xid, body: impl Into<Body>) -> Message {
        Message {
            xid,
            body: body.into(),
        }
    }

    /// The message type.
    pub fn kind(&self) -> MsgType {
        self.body.kind()
    }

    /// Our HELLO (OpenFlow 1.3, with a version bitmap).
    pub fn hello(xid: Xid) -> Message {
        Message::new(xid, Hello::ofp13())
    }

    /// `OFPT_ECHO_REQUEST` with `data`.
    pub fn echo_request(xid: Xid, data: Vec<u8>) -> Message {
        Message::new(xid, Body::EchoRequest(data))
    }

    /// The `OFPT_ECHO_REPLY` to this message if it is an echo request (same xid and data).
    pub fn echo_reply_to(&self) -> Option<Message> {
        match &self.body {
            Body::EchoRequest(d) => Some(Message::new(self.xid, Body::EchoReply(d.clone()))),
            _ => None,
        }
    }

    /// `OFPT_FEATURES_REQUEST`.
    pub fn features_request(xid: Xid) -> Message {
        Message::new(xid, Body::FeaturesRequest)
    }

    /// `OFPT_BARRIER_REQUEST`.
    pub fn barrier_request(xid: Xid) -> Message {
        Message::new(xid, Body::BarrierRequest)
    }

    /// `OFPT_BARRIER_REPLY`.
    pub fn barrier_reply(xid: Xid) -> Message {
        Message::new(xid, Body::BarrierReply)
    }

    /// `OFPT_ROLE_REQUEST`.
    pub fn role_request(xid: Xid, role: Role) -> Message {
        Message::new(xid, Body::RoleRequest(role))
    }

    /// `OFPT_SET_CONFIG`.
    pub fn set_config(xid: Xid, config: SwitchConfig) -> Message {
        Message::new(xid, Body::SetConfig(config))
    }

    /// `OFPT_ERROR` answering the request `offending` (its first 64 bytes kept, its xid
    /// reused, OF1.3.5 §7.4.4).
    pub fn error_for(offending: &[u8], code: impl Into<crate::error_msg::ErrorCode>) -> Message {
        // Read the xid through the view: the offending header may have a bad length field.
        let xid = Header::new_checked(offending)
            .map(|h| h.xid())
            .unwrap_or_default();
        Message::new(xid, ErrorMsg::for_request(code, offending))
    }

    /// Bytes of the whole message, header included.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.body.wire_len()
    }

    /// The header `emit` writes.
    pub fn header(&self) -> Result<HeaderRepr, EncodeError> {
        let len = self.wire_len();
        let length = u16::try_from(len).map_err(|_| EncodeError::TooLong {
            ctx: "message",
            len,
        })?;
        Ok(HeaderRepr {
            version: OFP_VERSION,
            kind: self.kind(),
            length,
            xid: self.xid,
        })
    }

    /// Writes the message at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let header = self.header()?;
        let len = usize::from(header.length);
        let have = buf.len();
        let out = buf
            .get_mut(..len)
            .ok_or(EncodeError::BufferTooSmall { need: len, have })?;
        self.emit_exact(header, out);
        Ok(len)
    }

    /// Writes the message with `header` (from `self.header()`) into `out`, which is exactly
    /// `header.length` (≥ 8) bytes.
    #[inline]
    fn emit_exact(&self, header: HeaderRepr, out: &mut [u8]) {
        if let Some((head, body)) = out.split_first_chunk_mut::<HEADER_LEN>() {
            header.emit(&mut Header::new_unchecked(head));
            self.body.emit(&mut Writer::new(body));
        }
    }

    /// The message as a new vector.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the message to `out` (to batch many messages into one write). On error `out`
    /// is unchanged.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        // One walk over the message for its length; the body is then written in one pass.
        let len = self.wire_len();
        let Ok(length) = u16::try_from(len) else {
            return Err(EncodeError::TooLong {
                ctx: "message",
                len,
            });
        };
        let header = HeaderRepr {
            version: OFP_VERSION,
            kind: self.kind(),
            length,
            xid: self.xid,
        };
        let start = out.len();
        out.resize(start + len, 0);
        if let Some(tail) = out.get_mut(start..) {
            self.emit_exact(header, tail);
        }
        Ok(())
    }

    /// Decodes exactly one message.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let (h, mut r) = Self::frame(bytes)?;
        Ok(Message {
            xid: h.xid,
            body: Body::parse(&h, &mut r)?,
        })
    }

    /// Decodes exactly one message, also returning its header (whose version matters for a
    /// HELLO).
    pub fn decode_with_header(bytes: &[u8]) -> Result<(HeaderRepr, Message), DecodeError> {
        let (h, mut r) = Self::frame(bytes)?;
        let body = Body::parse(&h, &mut r)?;
        Ok((h, Message { xid: h.xid, body }))
    }

    /// The header of the one message in `bytes`, checked against the slice, and a reader over
    /// its body.
    #[inline(always)]
    fn frame(bytes: &[u8]) -> Result<(HeaderRepr, Reader<'_>), DecodeError> {
        let h = HeaderRepr::parse_bytes(bytes)?;
        if h.version != OFP_VERSION && h.kind != MsgType::Hello {
            return Err(DecodeError::BadVersion { version: h.version });
        }
        let len = usize::from(h.length);
        if len > bytes.len() {
            return Err(DecodeError::Truncated {
                ctx: "message",
                offset: 0,
                need: len,
                have: bytes.len(),
            });
        }
        if len < bytes.len() {
            return Err(DecodeError::TrailingBytes {
                ctx: "message",
                offset: len,
                extra: bytes.len() - len,
            });
        }
        let body = bytes.get(HEADER_LEN..).unwrap_or_default();
        Ok((h, Reader::new(body, body_ctx(h.kind))))
    }
}

/// The structure name used in decode errors of a message body.
fn body_ctx(kind: MsgType) -> &'static str {
    match kind {
        MsgType::Hello => "hello",
        MsgType::Error => "error_msg",
        MsgType::EchoRequest => "echo_request",
        MsgType::EchoReply => "echo_reply",
        MsgType::Experimenter => "experimenter",
        MsgType::FeaturesRequest => "features_request",
        MsgType::FeaturesReply => "switch_features",
        MsgType::GetConfigRequest => "get_config_request",
        MsgType::GetConfigReply => "get_config_reply",
        MsgType::SetConfig => "set_config",
        MsgType::PacketIn => "packet_in",
        MsgType::FlowRemoved => "flow_removed",
        MsgType::PortStatus => "port_status",
        MsgType::PacketOut => "packet_out",
        MsgType::FlowMod => "flow_mod",
        MsgType::GroupMod => "group_mod",
        MsgType::PortMod => "port_mod",
        MsgType::TableMod => "table_mod",
        MsgType::MultipartRequest => "multipart_request",
        MsgType::MultipartReply => "multipart_reply",
        MsgType::BarrierRequest => "barrier_request",
        MsgType::BarrierReply => "barrier_reply",
        MsgType::QueueGetConfigRequest => "queue_get_config_request",
        MsgType::QueueGetConfigReply => "queue_get_config_reply",
        MsgType::RoleRequest => "role_request",
        MsgType::RoleReply => "role_reply",
        MsgType::GetAsyncRequest => "get_async_request",
        MsgType::GetAsyncReply => "get_async_reply",
        MsgType::SetAsync => "set_async",
        MsgType::MeterMod => "meter_mod",
        MsgType::Other(_) => "unknown message",
    }
}

/// Proptest strategies for whole messages.
#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use crate::msg::arb as m;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Every body variant.
    pub fn body() -> impl Strategy<Value = Body> {
        let bytes = || vec(any::<u8>(), 0..32);
        prop_oneof![
            crate::hello::arb::hello().prop_map(Body::Hello),
            crate::error_msg::arb::error_msg().prop_map(Body::Error),
            bytes().prop_map(Body::EchoRequest),
            bytes().prop_map(Body::EchoReply),
            crate::experimenter::arb::experimenter().prop_map(Body::Experimenter),
            Just(Body::FeaturesRequest),
            m::switch_features().prop_map(Body::FeaturesReply),
            Just(Body::GetConfigRequest),
            m::switch_config().prop_map(Body::GetConfigReply),
            m::switch_config().prop_map(Body::SetConfig),
            m::packet_in().prop_map(Body::PacketIn),
            m::flow_removed().prop_map(Body::FlowRemoved),
            m::port_status().prop_map(Body::PortStatus),
            m::packet_out().prop_map(Body::PacketOut),
            m::flow_mod().prop_map(Body::FlowMod),
            m::group_mod().prop_map(Body::GroupMod),
            m::port_mod().prop_map(Body::PortMod),
            m::table_mod().prop_map(Body::TableMod),
            multipart_request().prop_map(Body::MultipartRequest),
            multipart_reply().prop_map(Body::MultipartReply),
            Just(Body::BarrierRequest),
            Just(Body::BarrierReply),
            m::queue_get_config_request().prop_map(Body::QueueGetConfigRequest),
            m::queue_get_config_reply().prop_map(Body::QueueGetConfigReply),
            m::role().prop_map(Body::RoleRequest),
            m::role().prop_map(Body::RoleReply),
            Just(Body::GetAsyncRequest),
            m::async_config().prop_map(Body::GetAsyncReply),
            m::async_config().prop_map(Body::SetAsync),
            crate::meter::arb::meter_mod().prop_map(Body::MeterMod),
            (30u8.., bytes()).prop_map(|(kind, body)| Body::Unknown { kind, body }),
        ]
    }

    /// Any message.
    pub fn message() -> impl Strategy<Value = Message> {
        (any::<u32>(), body()).prop_map(|(xid, body)| Message {
            xid: Xid(xid),
            body,
        })
    }

    /// Multipart request bodies.
    pub fn multipart_request() -> impl Strategy<Value = MultipartRequest> {
        crate::multipart::arb::request()
    }

    /// Multipart reply bodies.
    pub fn multipart_reply() -> impl Strategy<Value = MultipartReply> {
        crate::multipart::arb::reply()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn length_must_match_the_slice() {
        let b = Message::barrier_request(Xid(1)).encode().unwrap();
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(
            Message::decode(&longer),
            Err(DecodeError::TrailingBytes {
                ctx: "message",
                offset: 8,
                extra: 1
            })
        );
        let echo = Message::echo_request(Xid(1), vec![1, 2, 3])
            .encode()
            .unwrap();
        assert!(matches!(
            Message::decode(&echo[..10]),
            Err(DecodeError::Truncated {
                need: 11,
                have: 10,
                ..
            })
        ));
        assert!(matches!(
            Message::decode(&b[..7]),
            Err(DecodeError::Truncated { need: 8, .. })
        ));
    }

    #[test]
    fn bodyless_types_reject_a_body() {
        // BARRIER_REQUEST with 4 bytes of body.
        let b = [4, 20, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(matches!(
            Message::decode(&b),
            Err(DecodeError::TrailingBytes {
                ctx: "barrier_request",
                ..
            })
        ));
    }

    #[test]
    fn versions() {
        // FEATURES_REQUEST of OpenFlow 1.0: BadVersion.
        let b = [1, 5, 0, 8, 0, 0, 0, 1];
        assert_eq!(
            Message::decode(&b),
            Err(DecodeError::BadVersion { version: 1 })
        );
        // HELLO of OpenFlow 1.0 with a body: decodes, body ignored.
        let h = [1, 0, 0, 10, 0, 0, 0, 9, 0xde, 0xad];
        let (hdr, m) = Message::decode_with_header(&h).unwrap();
        assert_eq!(hdr.version, 1);
        assert_eq!(m, Message::new(Xid(9), Hello::default()));
    }

    #[test]
    fn too_long_and_too_small() {
        let big = Message::echo_request(Xid(0), vec![0; 65528]);
        assert_eq!(
            big.encode(),
            Err(EncodeError::TooLong {
                ctx: "message",
                len: 65536
            })
        );
        let ok = Message::echo_request(Xid(0), vec![0; 65527]);
        assert_eq!(ok.encode().unwrap().len(), 65535);
        let mut small = [0u8; 7];
        assert_eq!(
            Message::barrier_request(Xid(0)).emit(&mut small),
            Err(EncodeError::BufferTooSmall { need: 8, have: 7 })
        );
        let mut out = vec![1, 2, 3];
        assert!(big.encode_into(&mut out).is_err());
        assert_eq!(out, [1, 2, 3]);
    }

    #[test]
    fn encode_into_appends() {
        let mut out = Vec::new();
        Message::barrier_request(Xid(1))
            .encode_into(&mut out)
            .unwrap();
        Message::echo_request(Xid(2), vec![7])
            .encode_into(&mut out)
            .unwrap();
        assert_eq!(out.len(), 17);
        assert_eq!(
            Message::decode(&out[8..]).unwrap(),
            Message::echo_request(Xid(2), vec![7])
        );
    }

    #[test]
    fn unknown_type_keeps_its_bytes() {
        let b = [4, 77, 0, 10, 0, 0, 0, 3, 0xaa, 0xbb];
        let m = Message::decode(&b).unwrap();
        assert_eq!(
            m.body,
            Body::Unknown {
                kind: 77,
                body: vec![0xaa, 0xbb]
            }
        );
        assert_eq!(m.encode().unwrap(), b);
    }

    #[test]
    fn echo_reply_and_error_for() {
        let req = Message::echo_request(Xid(5), vec![1]);
        assert_eq!(
            req.echo_reply_to(),
            Some(Message::new(Xid(5), Body::EchoReply(vec![1])))
        );
        assert_eq!(Message::barrier_request(Xid(1)).echo_reply_to(), None);
        let bad = [4, 99, 0, 8, 0, 0, 0, 42];
        let e = Message::error_for(&bad, crate::error_msg::BadRequestCode::BadType);
        assert_eq!(e.xid, Xid(42));
        match e.body {
            Body::Error(err) => assert_eq!(err.data, bad),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn round_trip(m in arb::message()) {
            let bytes = m.encode().unwrap();
            prop_assert_eq!(bytes.len(), m.wire_len());
            prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
        }

        #[test]
        fn emit_writes_every_byte(m in arb::message()) {
            let mut a = vec![0xa5u8; m.wire_len() + 3];
            let mut z = vec![0x00u8; m.wire_len() + 3];
            let n = m.emit(&mut a).unwrap();
            prop_assert_eq!(m.emit(&mut z).unwrap(), n);
            prop_assert_eq!(&a[..n], &z[..n]);
            prop_assert_eq!(&a[n..], &[0xa5u8; 3][..]);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Message::decode(&bytes);
        }

        #[test]
        fn decode_never_panics_on_mutations(
            m in arb::message(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = m.encode().unwrap();
            for (i, v) in flips {
                let i = i.index(bytes.len());
                bytes[i] = v;
            }
            let _ = Message::decode(&bytes);
            // With a header that fits the slice, so the body decoders see the damage.
            if bytes.len() >= 8 {
                let len = u16::try_from(bytes.len()).unwrap();
                bytes[2..4].copy_from_slice(&len.to_be_bytes());
                bytes[0] = 4;
                let _ = Message::decode(&bytes);
                let n = cut.index(bytes.len() - 7) + 8;
                bytes.truncate(n);
                bytes[2..4].copy_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
                let _ = Message::decode(&bytes);
            }
        }
    }
}
