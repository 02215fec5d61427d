//! `OFPT_EXPERIMENTER` — `ofp_experimenter_header` (OF1.3.5 §7.5.4) — and a typed registry
//! through which extensions (such as this project's BIER table messages) plug in.
//!
//! The wire body stays opaque (`Experimenter`: id, type, bytes), so a message of an unknown
//! experimenter round-trips exactly. An extension implements `ExperimenterMessage` for its
//! own type; `Experimenter::from_typed` and `Experimenter::decode_as` convert, and an
//! `ExperimenterRegistry` dispatches received messages by experimenter id to the decoders of
//! the extensions a program knows, producing the program's own enum.

use std::collections::BTreeMap;

use crate::error::DecodeError;
use crate::wire::{Reader, Wire, Writer};

/// `OFPT_EXPERIMENTER` body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Experimenter {
    /// `experimenter`: with the high byte zero, the low 3 bytes are an IEEE OUI; otherwise an
    /// ONF-assigned id.
    pub experimenter: u32,
    /// `exp_type`: defined by the experimenter.
    pub exp_type: u32,
    /// Experimenter-defined data, to the end of the message.
    pub data: Vec<u8>,
}

impl Wire for Experimenter {
    fn wire_len(&self) -> usize {
        8 + self.data.len()
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.u32(self.experimenter);
        w.u32(self.exp_type);
        w.bytes(&self.data);
    }

    /// Parses the rest of the message as the experimenter body.
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Experimenter {
            experimenter: r.u32()?,
            exp_type: r.u32()?,
            data: r.rest().to_vec(),
        })
    }
}

/// An extension's message type: the typed form of the `data` of one experimenter id.
pub trait ExperimenterMessage: Sized {
    /// The experimenter id this extension owns.
    const EXPERIMENTER: u32;

    /// The `exp_type` of this message.
    fn exp_type(&self) -> u32;

    /// Bytes `emit_data` writes.
    fn data_len(&self) -> usize;

    /// Writes exactly `data_len()` bytes.
    fn emit_data(&self, w: &mut Writer<'_>);

    /// Reads the data of a message of type `exp_type`. It must consume all of it (the
    /// caller checks), and fail with a `DecodeError` for an `exp_type` it does not know.
    fn parse_data(exp_type: u32, r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

impl Experimenter {
    /// The wire form of an extension's message.
    pub fn from_typed<T: ExperimenterMessage>(msg: &T) -> Experimenter {
        let mut data = vec![0u8; msg.data_len()];
        msg.emit_data(&mut Writer::new(&mut data));
        Experimenter {
            experimenter: T::EXPERIMENTER,
            exp_type: msg.exp_type(),
            data,
        }
    }

    /// Decodes the data as `T`: `None` if the message belongs to another experimenter.
    pub fn decode_as<T: ExperimenterMessage>(&self) -> Option<Result<T, DecodeError>> {
        (self.experimenter == T::EXPERIMENTER).then(|| decode_data::<T>(self.exp_type, &self.data))
    }
}

impl<T: ExperimenterMessage> From<&T> for Experimenter {
    fn from(msg: &T) -> Experimenter {
        Experimenter::from_typed(msg)
    }
}

fn decode_data<T: ExperimenterMessage>(exp_type: u32, data: &[u8]) -> Result<T, DecodeError> {
    let mut r = Reader::new(data, "experimenter data");
    let v = T::parse_data(exp_type, &mut r)?;
    r.finish()?;
    Ok(v)
}

fn decode_into<T, E>(exp_type: u32, data: &[u8]) -> Result<E, DecodeError>
where
    T: ExperimenterMessage + Into<E>,
{
    decode_data::<T>(exp_type, data).map(Into::into)
}

/// A decoder of one experimenter's messages into a program's enum `E`: given `exp_type` and
/// the data.
pub type ExperimenterDecoder<E> = fn(u32, &[u8]) -> Result<E, DecodeError>;

/// Registering a second decoder for an experimenter id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("experimenter {experimenter:#010x} already has a decoder")]
    Duplicate { experimenter: u32 },
}

/// Decoders of the experimenter extensions a program knows, by experimenter id.
pub struct ExperimenterRegistry<E> {
    decoders: BTreeMap<u32, ExperimenterDecoder<E>>,
}

impl<E> Default for ExperimenterRegistry<E> {
    fn default() -> Self {
        ExperimenterRegistry {
            decoders: BTreeMap::new(),
        }
    }
}

impl<E> core::fmt::Debug for ExperimenterRegistry<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_set()
            .entries(self.decoders.keys().map(|k| format!("{k:#010x}")))
            .finish()
    }
}

impl<E> ExperimenterRegistry<E> {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `T` as the decoder of `T::EXPERIMENTER`, converting into `E`.
    pub fn register<T>(&mut self) -> Result<&mut Self, RegistryError>
    where
        T: ExperimenterMessage + Into<E>,
    {
        self.register_fn(T::EXPERIMENTER, decode_into::<T, E>)
    }

    /// Registers a decoder function for `experimenter`.
    pub fn register_fn(
        &mut self,
        experimenter: u32,
        decoder: ExperimenterDecoder<E>,
    ) -> Result<&mut Self, RegistryError> {
        if self.decoders.contains_key(&experimenter) {
            return Err(RegistryError::Duplicate { experimenter });
        }
        self.decoders.insert(experimenter, decoder);
        Ok(self)
    }

    /// Whether `experimenter` has a decoder.
    pub fn knows(&self, experimenter: u32) -> bool {
        self.decoders.contains_key(&experimenter)
    }

    /// Decodes `msg` with its experimenter's decoder: `None` if no decoder is registered for
    /// it (a switch answers `OFPBRC_BAD_EXPERIMENTER`).
    pub fn decode(&self, msg: &Experimenter) -> Option<Result<E, DecodeError>> {
        self.decoders
            .get(&msg.experimenter)
            .map(|d| d(msg.exp_type, &msg.data))
    }
}

/// Proptest strategies.
#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    use super::*;
    use proptest::prelude::*;

    pub fn experimenter() -> impl Strategy<Value = Experimenter> {
        (
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(experimenter, exp_type, data)| Experimenter {
                experimenter,
                exp_type,
                data,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(e in arb::experimenter()) {
            let bytes = e.to_vec();
            let mut r = Reader::new(&bytes, "experimenter");
            prop_assert_eq!(Experimenter::parse(&mut r).unwrap(), e);
            prop_assert!(r.is_empty());
        }
    }

    #[test]
    fn truncated_header() {
        let mut r = Reader::new(&[0, 0, 0x23, 0x20, 0, 0], "experimenter");
        assert!(matches!(
            Experimenter::parse(&mut r),
            Err(DecodeError::Truncated { .. })
        ));
    }
}
