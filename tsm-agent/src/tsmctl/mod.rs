//! `tsmctl`, the operator CLI of tsmd over [`api::Client`]: lists switches, links, hosts,
//! groups and subsets; gets, puts and deletes groups; creates and deletes subsets; checks
//! health. Output is an aligned table, or with `--json` the API's JSON.
//!
//! - [`cli`]: the command line (clap derive).
//! - [`failover`]: several controller URLs tried in order; [`CtlError`] and its exit status
//!   (1: the controller refused, 2: no controller reachable).
//! - [`run()`]: one command, rendered to text.
//! - [`table`]: the table and cell formats.

pub mod cli;
pub mod failover;
pub mod run;
pub mod table;

pub use cli::Cli;
pub use failover::{describe, Controllers, CtlError};
pub use run::run;
