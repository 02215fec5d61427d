//! Group buckets — `ofp_bucket` (OF1.3.5 §7.3.4.2). PLACEHOLDER: being written.

use crate::action::Action;
use crate::error::DecodeError;
use crate::types::{GroupId, PortNo};
use crate::wire::{Reader, Wire, Writer};

/// One bucket of a group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// Relative weight (SELECT groups only; 0 otherwise).
    pub weight: u16,
    /// Port whose liveness decides (FAST_FAILOVER), or `PortNo::ANY`.
    pub watch_port: PortNo,
    /// Group whose liveness decides (FAST_FAILOVER), or `GroupId::ANY`.
    pub watch_group: GroupId,
    pub actions: Vec<Action>,
}

impl Wire for Bucket {
    fn wire_len(&self) -> usize {
        16
    }
    fn emit(&self, w: &mut Writer<'_>) {
        w.zeros(16);
    }
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.skip(16)?;
        Ok(Bucket { weight: 0, watch_port: PortNo::ANY, watch_group: GroupId::ANY, actions: vec![] })
    }
}
