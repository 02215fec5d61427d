//! Queue configuration: `ofp_queue_get_config_request`/`_reply` (OF1.3.5 §7.3.6) with
//! `ofp_packet_queue` and its properties (OF1.3.5 §7.2.2).

use crate::error::DecodeError;
use crate::types::{PortNo, QueueId};
use crate::wire::{emit_list, len16, list_len, parse_list, Reader, Wire, Writer};

/// `OFPQT_MIN_RATE`.
const OFPQT_MIN_RATE: u16 = 1;
/// `OFPQT_MAX_RATE`.
const OFPQT_MAX_RATE: u16 = 2;
/// `OFPQT_EXPERIMENTER`.
const OFPQT_EXPERIMENTER: u16 = 0xffff;

/// `OFPT_QUEUE_GET_CONFIG_REQUEST` body (8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueueGetConfigRequest {
    /// `port`: a port, or `PortNo::ANY` for every configured queue.
    pub port: PortNo,
}

impl Wire for QueueGetConfigRequest {
    fn wire_len(&self) -> usize {
        8
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.port.0);
        w.zeros(4);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port = PortNo(r.u32()?);
        r.skip(4)?;
        Ok(QueueGetConfigRequest { port })
    }
}

/// `OFPT_QUEUE_GET_CONFIG_REPLY` body: `port`, 4 bytes of padding, the queues.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueGetConfigReply {
    /// `port`.
    pub port: PortNo,
    /// `queues`.
    pub queues: Vec<PacketQueue>,
}

impl Wire for QueueGetConfigReply {
    fn wire_len(&self) -> usize {
        8 + list_len(&self.queues)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.port.0);
        w.zeros(4);
        emit_list(&self.queues, w);
    }

    /// Parses the rest of the message as the reply body.
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port = PortNo(r.u32()?);
        r.skip(4)?;
        Ok(QueueGetConfigReply {
            port,
            queues: parse_list(r)?,
        })
    }
}

/// One queue — `ofp_packet_queue`: a 16-byte header (`queue_id`, `port`, `len`, padding),
/// then its properties; `len` counts both.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketQueue {
    /// `queue_id`.
    pub queue_id: QueueId,
    /// `port` the queue is attached to.
    pub port: PortNo,
    /// `properties`.
    pub properties: Vec<QueueProp>,
}

impl Wire for PacketQueue {
    fn wire_len(&self) -> usize {
        16 + list_len(&self.properties)
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.queue_id.0);
        w.u32(self.port.0);
        w.u16(len16(self.wire_len()));
        w.zeros(6);
        emit_list(&self.properties, w);
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.pos();
        let queue_id = QueueId(r.u32()?);
        let port = PortNo(r.u32()?);
        let len = usize::from(r.u16()?);
        r.skip(6)?;
        let mut props = r.sub_after_header(start, len, 16, "packet_queue")?;
        Ok(PacketQueue {
            queue_id,
            port,
            properties: parse_list(&mut props)?,
        })
    }
}

/// A queue property — `ofp_queue_prop_header` (`property`, `len`, 4 bytes of padding) and
/// its body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QueueProp {
    /// `OFPQT_MIN_RATE` — `ofp_queue_prop_min_rate` (16 bytes): in 1/10 of a percent; above
    /// 1000 disabled.
    MinRate(u16),
    /// `OFPQT_MAX_RATE` — `ofp_queue_prop_max_rate` (16 bytes): in 1/10 of a percent; above
    /// 1000 disabled.
    MaxRate(u16),
    /// `OFPQT_EXPERIMENTER` — `ofp_queue_prop_experimenter`: id, 4 bytes of padding, data.
    Experimenter { experimenter: u32, data: Vec<u8> },
    /// A property this crate does not know: the bytes after the 8-byte header.
    Unknown { kind: u16, data: Vec<u8> },
}

impl Wire for QueueProp {
    fn wire_len(&self) -> usize {
        match self {
            QueueProp::MinRate(_) | QueueProp::MaxRate(_) => 16,
            QueueProp::Experimenter { data, .. } => 16 + data.len(),
            QueueProp::Unknown { data, .. } => 8 + data.len(),
        }
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let kind = match self {
            QueueProp::MinRate(_) => OFPQT_MIN_RATE,
            QueueProp::MaxRate(_) => OFPQT_MAX_RATE,
            QueueProp::Experimenter { .. } => OFPQT_EXPERIMENTER,
            QueueProp::Unknown { kind, .. } => *kind,
        };
        w.u16(kind);
        w.u16(len16(self.wire_len()));
        w.zeros(4);
        match self {
            QueueProp::MinRate(rate) | QueueProp::MaxRate(rate) => {
                w.u16(*rate);
                w.zeros(6);
            }
            QueueProp::Experimenter { experimenter, data } => {
                w.u32(*experimenter);
                w.zeros(4);
                w.bytes(data);
            }
            QueueProp::Unknown { data, .. } => w.bytes(data),
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.pos();
        let kind = r.u16()?;
        let len = usize::from(r.u16()?);
        r.skip(4)?;
        let min = match kind {
            OFPQT_MIN_RATE | OFPQT_MAX_RATE | OFPQT_EXPERIMENTER => 16,
            _ => 8,
        };
        if len < min {
            return Err(DecodeError::BadLength {
                ctx: "queue property",
                len,
                min,
            });
        }
        let mut b = r.sub_after_header(start, len, 8, "queue property")?;
        let prop = match kind {
            OFPQT_MIN_RATE | OFPQT_MAX_RATE => {
                let rate = b.u16()?;
                b.skip(6)?;
                if kind == OFPQT_MIN_RATE {
                    QueueProp::MinRate(rate)
                } else {
                    QueueProp::MaxRate(rate)
                }
            }
            OFPQT_EXPERIMENTER => {
                let experimenter = b.u32()?;
                b.skip(4)?;
                QueueProp::Experimenter {
                    experimenter,
                    data: b.rest().to_vec(),
                }
            }
            _ => QueueProp::Unknown {
                kind,
                data: b.rest().to_vec(),
            },
        };
        // Rate properties have no variable part.
        b.finish()?;
        Ok(prop)
    }
}

#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    pub fn queue_prop() -> impl Strategy<Value = QueueProp> {
        prop_oneof![
            any::<u16>().prop_map(QueueProp::MinRate),
            any::<u16>().prop_map(QueueProp::MaxRate),
            (any::<u32>(), vec(any::<u8>(), 0..16))
                .prop_map(|(experimenter, data)| QueueProp::Experimenter { experimenter, data }),
            (
                any::<u16>().prop_filter("unknown property", |k| !matches!(
                    *k,
                    OFPQT_MIN_RATE | OFPQT_MAX_RATE | OFPQT_EXPERIMENTER
                )),
                vec(any::<u8>(), 0..16)
            )
                .prop_map(|(kind, data)| QueueProp::Unknown { kind, data }),
        ]
    }

    pub fn packet_queue() -> impl Strategy<Value = PacketQueue> {
        (any::<u32>(), any::<u32>(), vec(queue_prop(), 0..4)).prop_map(|(q, p, properties)| {
            PacketQueue {
                queue_id: QueueId(q),
                port: PortNo(p),
                properties,
            }
        })
    }

    pub fn queue_get_config_request() -> impl Strategy<Value = QueueGetConfigRequest> {
        any::<u32>().prop_map(|p| QueueGetConfigRequest { port: PortNo(p) })
    }

    pub fn queue_get_config_reply() -> impl Strategy<Value = QueueGetConfigReply> {
        (any::<u32>(), vec(packet_queue(), 0..3)).prop_map(|(p, queues)| QueueGetConfigReply {
            port: PortNo(p),
            queues,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::parse_all;
    use proptest::prelude::*;

    #[test]
    fn bad_lengths() {
        // port 1, pad, queue 7 on port 1 with len 8 (< 16).
        let b = [
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0,
        ];
        assert!(matches!(
            parse_all::<QueueGetConfigReply>(&b),
            Err(DecodeError::BadLength {
                ctx: "packet_queue",
                ..
            })
        ));
        // MIN_RATE property of len 8.
        let mut q = PacketQueue {
            queue_id: QueueId(1),
            port: PortNo(1),
            properties: vec![QueueProp::MinRate(5)],
        }
        .to_vec();
        q[19] = 8;
        assert!(matches!(
            parse_all::<PacketQueue>(&q),
            Err(DecodeError::BadLength {
                ctx: "queue property",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn reply_round_trip(v in arb::queue_get_config_reply()) {
            prop_assert_eq!(parse_all::<QueueGetConfigReply>(&v.to_vec()).unwrap(), v);
        }

        #[test]
        fn request_round_trip(v in arb::queue_get_config_request()) {
            prop_assert_eq!(parse_all::<QueueGetConfigRequest>(&v.to_vec()).unwrap(), v);
        }
    }
}
