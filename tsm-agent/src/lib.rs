//! The sender-side agent library of TSM, and the pieces of `tsmctl`, the operator CLI.
//!
//! - [`tsmctl`]: the command line, the failover over several controller URLs, the tables and
//!   the one-line error messages of the `tsmctl` binary.

pub mod tsmctl;
