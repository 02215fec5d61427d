//! Controller roles (OF1.3.5 §6.3.5): what a SLAVE may not do, and the master election's
//! generation id.
//!
//! Guarantees: a MASTER or SLAVE request whose `generation_id` is older than the newest one
//! seen (compared as a wrapping 64-bit sequence, `(int64_t)(gen - cached) < 0`) is refused as
//! stale and changes nothing; EQUAL and NOCHANGE requests ignore the generation id.

use openflow::error_msg::RoleRequestFailedCode;
use openflow::{Body, ControllerRole, MultipartRequestBody};

/// Whether a SLAVE controller is refused this message (`OFPBRC_IS_SLAVE`): everything that
/// sends packets or changes switch state. Queries, ROLE_REQUEST and SET_ASYNC are allowed.
pub(crate) fn denied_to_slave(body: &Body) -> bool {
    match body {
        Body::PacketOut(_)
        | Body::FlowMod(_)
        | Body::GroupMod(_)
        | Body::PortMod(_)
        | Body::TableMod(_)
        | Body::MeterMod(_)
        | Body::SetConfig(_) => true,
        // Our BIER messages that change state (draft §4).
        Body::Experimenter(e) => crate::bier::is_state_changing(e),
        // A TABLE_FEATURES request with a body sets the tables (§7.3.5.18).
        Body::MultipartRequest(r) => {
            matches!(&r.body, MultipartRequestBody::TableFeatures(t) if !t.is_empty())
        }
        _ => false,
    }
}

/// The master election state shared by all connections of a switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Election {
    generation: Option<u64>,
}

impl Election {
    /// The newest generation id seen, once a MASTER or SLAVE request set one.
    pub fn generation(&self) -> Option<u64> {
        self.generation
    }

    /// Checks a role request against the election and records its generation id. Returns
    /// the role to take (`None` for NOCHANGE).
    pub fn request(
        &mut self,
        role: ControllerRole,
        generation_id: u64,
    ) -> Result<Option<ControllerRole>, RoleRequestFailedCode> {
        match role {
            ControllerRole::NoChange => Ok(None),
            ControllerRole::Equal => Ok(Some(role)),
            ControllerRole::Master | ControllerRole::Slave => {
                if let Some(cached) = self.generation {
                    // Wrapping comparison: generation ids are a sequence that may wrap.
                    if (generation_id.wrapping_sub(cached) as i64) < 0 {
                        return Err(RoleRequestFailedCode::Stale);
                    }
                }
                self.generation = Some(generation_id);
                Ok(Some(role))
            }
            _ => Err(RoleRequestFailedCode::BadRole),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ControllerRole::*;

    #[test]
    fn stale_generations_are_refused() {
        let mut e = Election::default();
        assert_eq!(e.request(Master, 5), Ok(Some(Master)));
        assert_eq!(e.request(Slave, 4), Err(RoleRequestFailedCode::Stale));
        assert_eq!(e.generation(), Some(5));
        assert_eq!(e.request(Slave, 5), Ok(Some(Slave)));
        assert_eq!(e.request(Equal, 0), Ok(Some(Equal)));
        assert_eq!(e.request(NoChange, 0), Ok(None));
        assert_eq!(e.generation(), Some(5));
        assert_eq!(
            e.request(ControllerRole::Other(9), 9),
            Err(RoleRequestFailedCode::BadRole)
        );
    }

    #[test]
    fn generation_wraps() {
        let mut e = Election::default();
        assert!(e.request(Master, u64::MAX - 1).is_ok());
        // 2 is "after" u64::MAX - 1 in a wrapping sequence.
        assert!(e.request(Master, 2).is_ok());
        assert_eq!(
            e.request(Master, u64::MAX),
            Err(RoleRequestFailedCode::Stale)
        );
    }

    #[test]
    fn slave_denials() {
        use openflow::{FlowMod, Message, Xid};
        assert!(denied_to_slave(&Body::FlowMod(FlowMod::new(
            openflow::FlowModCommand::Add
        ))));
        assert!(!denied_to_slave(&Message::barrier_request(Xid(1)).body));
        assert!(!denied_to_slave(&Body::GetAsyncRequest));
    }
}
