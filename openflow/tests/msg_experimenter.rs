//! The experimenter registry with a tiny example extension defined here: an experimenter id
//! of our own with two message types, plugged in through `ExperimenterMessage`.

// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used)]

use openflow::experimenter::{ExperimenterRegistry, RegistryError};
use openflow::*;

/// A made-up experimenter id (high byte non-zero: not an OUI).
const TOY_ID: u32 = 0xff00_0042;

/// The toy extension: set a counter, or ask for it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Toy {
    /// exp_type 1: a u32 value and a name.
    Set { value: u32, name: Vec<u8> },
    /// exp_type 2: no data.
    Get,
}

impl ExperimenterMessage for Toy {
    const EXPERIMENTER: u32 = TOY_ID;

    fn exp_type(&self) -> u32 {
        match self {
            Toy::Set { .. } => 1,
            Toy::Get => 2,
        }
    }

    fn data_len(&self) -> usize {
        match self {
            Toy::Set { name, .. } => 4 + name.len(),
            Toy::Get => 0,
        }
    }

    fn emit_data(&self, w: &mut Writer<'_>) {
        if let Toy::Set { value, name } = self {
            w.u32(*value);
            w.bytes(name);
        }
    }

    fn parse_data(exp_type: u32, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match exp_type {
            1 => Ok(Toy::Set {
                value: r.u32()?,
                name: r.rest().to_vec(),
            }),
            2 => Ok(Toy::Get),
            other => Err(DecodeError::BadValue {
                ctx: "toy",
                field: "exp_type",
                value: other.into(),
            }),
        }
    }
}

/// A second extension, to show dispatch by id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ping(u8);

impl ExperimenterMessage for Ping {
    const EXPERIMENTER: u32 = 0x00aa_bbcc;
    fn exp_type(&self) -> u32 {
        0
    }
    fn data_len(&self) -> usize {
        1
    }
    fn emit_data(&self, w: &mut Writer<'_>) {
        w.u8(self.0);
    }
    fn parse_data(_: u32, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Ping(r.u8()?))
    }
}

/// The program's own enum of the extensions it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ext {
    Toy(Toy),
    Ping(Ping),
}

impl From<Toy> for Ext {
    fn from(t: Toy) -> Ext {
        Ext::Toy(t)
    }
}

impl From<Ping> for Ext {
    fn from(p: Ping) -> Ext {
        Ext::Ping(p)
    }
}

fn registry() -> ExperimenterRegistry<Ext> {
    let mut reg = ExperimenterRegistry::new();
    reg.register::<Toy>().unwrap().register::<Ping>().unwrap();
    reg
}

#[test]
fn typed_round_trip_through_a_whole_message() {
    let toy = Toy::Set {
        value: 7,
        name: b"abc".to_vec(),
    };
    let msg = Message::new(Xid(9), Experimenter::from_typed(&toy));
    // Golden: header, experimenter id, exp_type, value, name.
    let bytes = msg.encode().unwrap();
    assert_eq!(
        bytes,
        [
            0x04, 0x04, 0x00, 0x17, 0, 0, 0, 9, // header, length 23
            0xff, 0x00, 0x00, 0x42, // experimenter
            0, 0, 0, 1, // exp_type 1
            0, 0, 0, 7, // value
            b'a', b'b', b'c', // name
        ]
    );
    let Body::Experimenter(e) = Message::decode(&bytes).unwrap().body else {
        panic!("not an experimenter message")
    };
    assert_eq!(e.decode_as::<Toy>(), Some(Ok(toy.clone())));
    assert_eq!(e.decode_as::<Ping>(), None);
    assert_eq!(registry().decode(&e), Some(Ok(Ext::Toy(toy))));
}

#[test]
fn registry_dispatches_by_id() {
    let reg = registry();
    assert!(reg.knows(TOY_ID));
    let ping = Experimenter::from_typed(&Ping(3));
    assert_eq!(reg.decode(&ping), Some(Ok(Ext::Ping(Ping(3)))));
    let get = Experimenter::from(&Toy::Get);
    assert_eq!(reg.decode(&get), Some(Ok(Ext::Toy(Toy::Get))));
    let stranger = Experimenter {
        experimenter: 0x2320,
        exp_type: 1,
        data: vec![],
    };
    assert_eq!(reg.decode(&stranger), None);
}

#[test]
fn bad_data_is_a_typed_error() {
    let reg = registry();
    // Unknown exp_type.
    let e = Experimenter {
        experimenter: TOY_ID,
        exp_type: 9,
        data: vec![],
    };
    assert!(matches!(
        reg.decode(&e),
        Some(Err(DecodeError::BadValue {
            field: "exp_type",
            ..
        }))
    ));
    // Too short for the value.
    let e = Experimenter {
        experimenter: TOY_ID,
        exp_type: 1,
        data: vec![0, 0],
    };
    assert!(matches!(
        reg.decode(&e),
        Some(Err(DecodeError::Truncated { .. }))
    ));
    // Left-over bytes after a complete message.
    let e = Experimenter {
        experimenter: TOY_ID,
        exp_type: 2,
        data: vec![1],
    };
    assert!(matches!(
        reg.decode(&e),
        Some(Err(DecodeError::TrailingBytes { .. }))
    ));
}

#[test]
fn duplicate_registration_is_refused() {
    let mut reg = registry();
    assert_eq!(
        reg.register::<Toy>().err(),
        Some(RegistryError::Duplicate {
            experimenter: TOY_ID
        })
    );
}
