//! BIER: bit strings, the RFC 8296 header and the forwarding procedures of RFC 8279 (BIER) and
//! RFC 9262 (BIER-TE). No I/O.
//!
//! Guarantees: nothing here panics on input bytes; a bad packet is dropped and counted under a
//! [`DropReason`]; forwarding never sends a bit to two neighbours, so no BFER gets two copies.
//!
//! - [`bitstring`]: [`Bsl`] and [`BitString`].
//! - [`id`]: [`BfrId`], [`SetId`], [`BitPosition`], [`BiftId`] and the RFC 8279 §3 arithmetic.
//! - [`header`]: the RFC 8296 header view [`BierHeader`] and its parsed form [`BierRepr`].
//! - [`encap`]: Ethernet encapsulation (EtherType 0xAB37).
//! - [`bift`]: the BIFT and RFC 8279 §6.5 forwarding with ECMP (§6.7).
//! - [`te`]: BIER-TE adjacencies and forwarding.
//! - [`bfr`]: a BFR: tables by BIFT-id, packet processing, TTL, [`Counters`].
//! - [`topo`]: topologies, [`compute_bifts`], BIER-TE bit assignment and tree BitStrings.
//! - [`sim`]: a fabric simulator that walks packets and finds duplicates and loops.

pub mod bfr;
pub mod bift;
pub mod bitstring;
pub mod encap;
pub mod header;
pub mod id;
pub mod sim;
pub mod te;
pub mod topo;

pub use bfr::{Bfr, Counters, Delivery, DropReason, Output, Table};
pub use bift::{ecmp_choice, Bift, BiftError, Decision, Port};
pub use bitstring::{BitString, Bsl};
pub use encap::{decapsulate, encapsulate, EncapError, ETHERTYPE_BIER};
pub use header::{BierHeader, BierRepr, HeaderError, Proto};
pub use id::{BfrId, BiftId, BitPosition, SetId};
pub use te::{Adjacency, TeBift, TeDecision};
pub use topo::{compute_bifts, NodeBifts, NodeId, TeAssignment, TopoError, Topology};
