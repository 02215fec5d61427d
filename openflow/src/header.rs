//! The 8-byte OpenFlow header — `ofp_header` (OF1.3.5 §7.1) — and the message type numbers.
//!
//! Two layers, after smoltcp: `Header<T>` is a view over a byte buffer with accessors for each
//! field (after `new_checked`/`check_len` succeeded, no accessor panics), and `HeaderRepr` is the
//! parsed, validated form with `parse`/`emit`.
//!
//! The header layout is the one part of OpenFlow that never changes between versions (§6.3.1
//! relies on it for version negotiation), so the view reads headers of any version; only
//! `HeaderRepr::parse` checks that the length field is sane.

use crate::error::DecodeError;
use crate::macros::open_enum;
use crate::types::Xid;

/// Bytes in an OpenFlow header.
pub const HEADER_LEN: usize = 8;

/// The largest OpenFlow message: the length field has 16 bits (OF1.3.5 §7.1).
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;

    /// `version`.
    pub const VERSION: usize = 0;
    /// `type` — one of `OFPT_*`.
    pub const TYPE: usize = 1;
    /// `length` — of the whole message, header included, big-endian.
    pub const LENGTH: Range<usize> = 2..4;
    /// `xid` — transaction id, big-endian.
    pub const XID: Range<usize> = 4..8;
}

open_enum! {
    /// Message type — `ofp_type` (OF1.3.5 §7.1).
    pub enum MsgType: u8 {
        /// `OFPT_HELLO` (symmetric).
        Hello = 0,
        /// `OFPT_ERROR` (symmetric).
        Error = 1,
        /// `OFPT_ECHO_REQUEST` (symmetric).
        EchoRequest = 2,
        /// `OFPT_ECHO_REPLY` (symmetric).
        EchoReply = 3,
        /// `OFPT_EXPERIMENTER` (symmetric).
        Experimenter = 4,
        /// `OFPT_FEATURES_REQUEST` (controller/switch).
        FeaturesRequest = 5,
        /// `OFPT_FEATURES_REPLY` (controller/switch).
        FeaturesReply = 6,
        /// `OFPT_GET_CONFIG_REQUEST` (controller/switch).
        GetConfigRequest = 7,
        /// `OFPT_GET_CONFIG_REPLY` (controller/switch).
        GetConfigReply = 8,
        /// `OFPT_SET_CONFIG` (controller/switch).
        SetConfig = 9,
        /// `OFPT_PACKET_IN` (async).
        PacketIn = 10,
        /// `OFPT_FLOW_REMOVED` (async).
        FlowRemoved = 11,
        /// `OFPT_PORT_STATUS` (async).
        PortStatus = 12,
        /// `OFPT_PACKET_OUT` (controller command).
        PacketOut = 13,
        /// `OFPT_FLOW_MOD` (controller command).
        FlowMod = 14,
        /// `OFPT_GROUP_MOD` (controller command).
        GroupMod = 15,
        /// `OFPT_PORT_MOD` (controller command).
        PortMod = 16,
        /// `OFPT_TABLE_MOD` (controller command).
        TableMod = 17,
        /// `OFPT_MULTIPART_REQUEST`.
        MultipartRequest = 18,
        /// `OFPT_MULTIPART_REPLY`.
        MultipartReply = 19,
        /// `OFPT_BARRIER_REQUEST`.
        BarrierRequest = 20,
        /// `OFPT_BARRIER_REPLY`.
        BarrierReply = 21,
        /// `OFPT_QUEUE_GET_CONFIG_REQUEST`.
        QueueGetConfigRequest = 22,
        /// `OFPT_QUEUE_GET_CONFIG_REPLY`.
        QueueGetConfigReply = 23,
        /// `OFPT_ROLE_REQUEST`.
        RoleRequest = 24,
        /// `OFPT_ROLE_REPLY`.
        RoleReply = 25,
        /// `OFPT_GET_ASYNC_REQUEST`.
        GetAsyncRequest = 26,
        /// `OFPT_GET_ASYNC_REPLY`.
        GetAsyncReply = 27,
        /// `OFPT_SET_ASYNC`.
        SetAsync = 28,
        /// `OFPT_METER_MOD`.
        MeterMod = 29,
    }
}

impl MsgType {
    /// The spec's name (`OFPT_FLOW_MOD`), or `None` for a type OF1.3 does not define.
    pub fn spec_name(self) -> Option<&'static str> {
        Some(match self {
            MsgType::Hello => "OFPT_HELLO",
            MsgType::Error => "OFPT_ERROR",
            MsgType::EchoRequest => "OFPT_ECHO_REQUEST",
            MsgType::EchoReply => "OFPT_ECHO_REPLY",
            MsgType::Experimenter => "OFPT_EXPERIMENTER",
            MsgType::FeaturesRequest => "OFPT_FEATURES_REQUEST",
            MsgType::FeaturesReply => "OFPT_FEATURES_REPLY",
            MsgType::GetConfigRequest => "OFPT_GET_CONFIG_REQUEST",
            MsgType::GetConfigReply => "OFPT_GET_CONFIG_REPLY",
            MsgType::SetConfig => "OFPT_SET_CONFIG",
            MsgType::PacketIn => "OFPT_PACKET_IN",
            MsgType::FlowRemoved => "OFPT_FLOW_REMOVED",
            MsgType::PortStatus => "OFPT_PORT_STATUS",
            MsgType::PacketOut => "OFPT_PACKET_OUT",
            MsgType::FlowMod => "OFPT_FLOW_MOD",
            MsgType::GroupMod => "OFPT_GROUP_MOD",
            MsgType::PortMod => "OFPT_PORT_MOD",
            MsgType::TableMod => "OFPT_TABLE_MOD",
            MsgType::MultipartRequest => "OFPT_MULTIPART_REQUEST",
            MsgType::MultipartReply => "OFPT_MULTIPART_REPLY",
            MsgType::BarrierRequest => "OFPT_BARRIER_REQUEST",
            MsgType::BarrierReply => "OFPT_BARRIER_REPLY",
            MsgType::QueueGetConfigRequest => "OFPT_QUEUE_GET_CONFIG_REQUEST",
            MsgType::QueueGetConfigReply => "OFPT_QUEUE_GET_CONFIG_REPLY",
            MsgType::RoleRequest => "OFPT_ROLE_REQUEST",
            MsgType::RoleReply => "OFPT_ROLE_REPLY",
            MsgType::GetAsyncRequest => "OFPT_GET_ASYNC_REQUEST",
            MsgType::GetAsyncReply => "OFPT_GET_ASYNC_REPLY",
            MsgType::SetAsync => "OFPT_SET_ASYNC",
            MsgType::MeterMod => "OFPT_METER_MOD",
            MsgType::Other(_) => return None,
        })
    }
}

impl core::fmt::Display for MsgType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.spec_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "OFPT_{:#04x}", self.value()),
        }
    }
}

/// A view of an OpenFlow header at the start of `buffer` (which may hold more: the body, or
/// the next messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// A view without checking the buffer's length; accessors may panic until `check_len`
    /// has succeeded.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Header<T> {
        Header { buffer }
    }

    /// A view whose accessors do not panic: fails unless the buffer holds 8 bytes.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Header<T>, DecodeError> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// Fails unless the buffer holds a whole header. It does not look at the length field:
    /// a stream framer reads the header before the rest of the message has arrived.
    #[inline]
    pub fn check_len(&self) -> Result<(), DecodeError> {
        let have = self.buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(DecodeError::Truncated {
                ctx: "ofp_header",
                offset: 0,
                need: HEADER_LEN,
                have,
            });
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `version`.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// `type`.
    #[inline]
    pub fn msg_type(&self) -> MsgType {
        MsgType::from(self.buffer.as_ref()[field::TYPE])
    }

    /// `length`: of the whole message, header included.
    #[inline]
    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// `xid`.
    #[inline]
    pub fn xid(&self) -> Xid {
        let b = &self.buffer.as_ref()[field::XID];
        Xid(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    /// Sets `version`.
    #[inline]
    pub fn set_version(&mut self, v: u8) {
        self.buffer.as_mut()[field::VERSION] = v;
    }

    /// Sets `type`.
    #[inline]
    pub fn set_msg_type(&mut self, t: MsgType) {
        self.buffer.as_mut()[field::TYPE] = t.value();
    }

    /// Sets `length`.
    #[inline]
    pub fn set_length(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    /// Sets `xid`.
    #[inline]
    pub fn set_xid(&mut self, xid: Xid) {
        self.buffer.as_mut()[field::XID].copy_from_slice(&xid.0.to_be_bytes());
    }
}

/// A parsed OpenFlow header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderRepr {
    /// `version`: 0x04 for OpenFlow 1.3.
    pub version: u8,
    /// `type`.
    pub kind: MsgType,
    /// `length` of the whole message, header included (at least 8).
    pub length: u16,
    /// `xid`.
    pub xid: Xid,
}

impl HeaderRepr {
    /// Reads a header of any version; fails if the length field is below the header's own 8
    /// bytes (no message can be that short, and a stream cannot be framed past it).
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(h: &Header<&T>) -> Result<HeaderRepr, DecodeError> {
        h.check_len()?;
        let length = h.length();
        if usize::from(length) < HEADER_LEN {
            return Err(DecodeError::BadLength {
                ctx: "ofp_header",
                len: usize::from(length),
                min: HEADER_LEN,
            });
        }
        Ok(HeaderRepr {
            version: h.version(),
            kind: h.msg_type(),
            length,
            xid: h.xid(),
        })
    }

    /// Reads the header at the start of `bytes`.
    #[inline]
    pub fn parse_bytes(bytes: &[u8]) -> Result<HeaderRepr, DecodeError> {
        Self::parse(&Header::new_checked(bytes)?)
    }

    /// Bytes `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the view (whose length the caller has checked).
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, h: &mut Header<T>) {
        h.set_version(self.version);
        h.set_msg_type(self.kind);
        h.set_length(self.length);
        h.set_xid(self.xid);
    }

    /// Length of the body after the header.
    pub fn body_len(&self) -> usize {
        usize::from(self.length).saturating_sub(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // OFPT_BARRIER_REQUEST, xid 0x01020304:
    //   04          version 1.3
    //   14          type 20
    //   00 08       length 8
    //   01 02 03 04 xid
    // `ovs-ofctl ofp-print 0414000801020304` → OFPT_BARRIER_REQUEST (OF1.3) (xid=0x1020304):
    const BARRIER: [u8; 8] = [0x04, 0x14, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04];

    #[test]
    fn view_reads_fields() {
        let h = Header::new_checked(&BARRIER[..]).unwrap();
        assert_eq!(h.version(), 4);
        assert_eq!(h.msg_type(), MsgType::BarrierRequest);
        assert_eq!(h.length(), 8);
        assert_eq!(h.xid(), Xid(0x0102_0304));
    }

    #[test]
    fn repr_round_trip_into_a5_buffer() {
        let r = HeaderRepr::parse_bytes(&BARRIER).unwrap();
        let mut buf = [0xa5u8; 8];
        r.emit(&mut Header::new_unchecked(&mut buf[..]));
        assert_eq!(buf, BARRIER);
    }

    #[test]
    fn short_buffer_is_truncated_not_a_panic() {
        for n in 0..8 {
            assert!(matches!(
                Header::new_checked(&BARRIER[..n]),
                Err(DecodeError::Truncated { need: 8, .. })
            ));
        }
    }

    #[test]
    fn length_below_header_is_bad_length() {
        let mut b = BARRIER;
        b[3] = 7;
        assert_eq!(
            HeaderRepr::parse_bytes(&b),
            Err(DecodeError::BadLength {
                ctx: "ofp_header",
                len: 7,
                min: 8
            })
        );
    }

    #[test]
    fn unknown_type_prints_in_hex() {
        assert_eq!(MsgType::from(0x42).to_string(), "OFPT_0x42");
        assert_eq!(MsgType::from(14).to_string(), "OFPT_FLOW_MOD");
        assert_eq!(MsgType::KNOWN.len(), 30);
    }
}
