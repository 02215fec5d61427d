//! The OpenFlow agent: the switch's side of its channels to controllers (OF1.3.5 §6.3).
//!
//! - [`Session`]: one channel's protocol state without I/O: HELLO at once and version
//!   negotiation, framing, echo both ways (a probe after an idle interval, the channel dropped
//!   when the probe goes unanswered), and an `OFPT_ERROR` for every message it cannot read
//!   (`BAD_VERSION`, `BAD_LEN`, the codes of [`decode_error_code`]). It is driven on any clock,
//!   so its tests run on virtual time.
//! - [`Target`]: `tcp:HOST:PORT` (connect actively) and `ptcp:PORT[:IP]` (listen passively),
//!   the way Open vSwitch names them.
//! - [`Backoff`]: reconnection delays, 1 s doubling to 8 s by default, with jitter.
//! - `conn` (crate-private): the tokio shell that carries one TCP connection's bytes to and
//!   from a `Session` and its messages to and from the switch core.
//!
//! Roles, the async-message filters and everything about the tables are the switch core's
//! business (`switch` module): a session never changes switch state.

mod backoff;
pub(crate) mod conn;
mod decode;
mod session;
mod target;

pub use backoff::Backoff;
pub use decode::decode_error_code;
pub use session::{CloseReason, Inbound, Session, SessionConfig, SessionStats};
pub use target::{Target, TargetError};
