//! `tsmctl`, the operator CLI of tsmd over [`api::Client`]: lists switches, links, hosts,
//! groups, subsets, rendezvous plans, claims and blocks; gets, puts and deletes groups and
//! rendezvous plans (with a progress bar while one installs); creates and deletes subsets;
//! shows the rules tsmd keeps on a switch; checks health. Output is an aligned table, or
//! with `--json` the API's JSON.
//!
//! - [`cli`]: the command line (clap derive).
//! - [`failover`]: several controller URLs tried in order; [`CtlError`] and its exit status
//!   (1: the controller refused, 2: no controller reachable).
//! - [`run()`]: one command, rendered to text.
//! - [`progress`]: the progress bar of a rendezvous plan's install (standard error, on a
//!   terminal).
//! - [`table`]: the table and cell formats.

pub mod cli;
pub mod failover;
pub mod progress;
pub mod run;
pub mod table;

pub use cli::Cli;
pub use failover::{describe, Controllers, CtlError};
pub use run::run;
