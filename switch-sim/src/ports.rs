//! The switch's ports: where frames come from and go to.
//!
//! - Real interfaces (`PortSpec::interface("veth-a")`): pnet finds the interface and opens an
//!   `AF_PACKET` datalink channel on it (promiscuous, non-blocking, socket buffers raised);
//!   the switch reads frames in batches when the socket is readable (so no read ever blocks)
//!   and writes them in batches. Each frame's packet type comes with it, and the switch's
//!   own outgoing frames, which a packet socket also receives, are skipped (and counted).
//!   Receive slots hold 64 KiB, so jumbo frames (and the large segments veth passes on
//!   unsegmented) arrive whole; a longer one is counted as truncated and dropped. Carrier is
//!   TCP and UDP checksums that the sending host left for offload (`CHECKSUM_PARTIAL`, as a
//!   veth peer passes them) are completed in software before forwarding. Carrier is
//!   polled from the interface flags (`IFF_UP` and `IFF_RUNNING`, through netlink), and a change
//!   becomes a PORT_STATUS.
//! - In-memory ports ([`memory_link`]): two [`MemoryEnd`]s joined by bounded queues, one end
//!   on a switch port and the other on another switch or a simulated host, so a whole fabric
//!   of switches runs in one process. [`MemoryEnd::set_carrier`] (or a [`LinkControl`] kept
//!   after both ends went to switches) takes the link down or up; both ends see it, and a
//!   switch whose link partner is dropped sees its port go down.
//! - [`check_frame`]: frames too short to carry an Ethernet header (or a VLAN tag they
//!   announce) are counted and dropped before the pipeline sees them.

mod checksum;
mod frame;
mod memory;
pub(crate) mod raw;

pub use frame::{check_frame, FrameDefect};
pub use memory::{memory_link, memory_link_with_capacity, LinkControl, MemoryEnd};
pub use raw::PortOpenError;

/// What a switch port is attached to.
#[derive(Debug)]
pub struct PortSpec {
    pub(crate) kind: PortKind,
    pub(crate) name: Option<String>,
}

#[derive(Debug)]
pub(crate) enum PortKind {
    Interface(String),
    Memory(MemoryEnd),
}

impl PortSpec {
    /// A network interface (for example one end of a veth pair), by name. The port takes the
    /// interface's name and hardware address. Needs `CAP_NET_RAW`.
    pub fn interface(name: impl Into<String>) -> PortSpec {
        PortSpec {
            kind: PortKind::Interface(name.into()),
            name: None,
        }
    }

    /// One end of an in-memory link. The port is named `pN` unless [`named`](Self::named).
    pub fn memory(end: MemoryEnd) -> PortSpec {
        PortSpec {
            kind: PortKind::Memory(end),
            name: None,
        }
    }

    /// The name in the port description (at most 15 bytes are kept).
    pub fn named(mut self, name: impl Into<String>) -> PortSpec {
        self.name = Some(name.into());
        self
    }
}
