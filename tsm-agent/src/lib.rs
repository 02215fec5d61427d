//! The sender-side agent library of TSM, and the pieces of `tsmctl`, the operator CLI.
//!
//! - [`Agent`]: claims over HTTP ([`Agent::claim`]) and block leases ([`Agent::hold_block`])
//!   whose per-transaction claims are local ([`BlockClaimer::claim`]); leases renewed in the
//!   background and released on drop; `/v1/events` followed, with a resynchronisation on a
//!   gap; several controller URLs with failover.
//! - [`failover`]: several controller URLs behind one call (shared with `tsmctl`).
//! - [`tsmctl`]: the command line, the tables and the one-line error messages of the
//!   `tsmctl` binary.
//! - [`cli`] and [`bench`]: the `tsm-agent` binary (claim, renew, release, follow, bench).
//! - [`bfir`]: the host as BIER ingress: RFC 8296 frames for a member set, sent through a
//!   packet socket (`tsm-agent bier-send`).

mod agent;
pub mod bench;
pub mod bfir;
mod block;
pub mod cli;
mod error;
pub mod events;
pub mod failover;
pub mod tsmctl;

pub use agent::{Agent, AgentOptions, Block, Claim, LeaseStatus, DEFAULT_LEASE};
pub use block::{BlockClaimer, LocalClaim, MAX_BLOCK_ADDRESSES};
pub use error::{AgentError, LocalClaimError};
pub use events::SyncStatus;
