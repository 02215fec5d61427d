//! The command line of `tsmctl` (clap derive): global flags and one subcommand per API
//! operation. Parsing checks every value's form (group names, IP addresses, lease) before any
//! request is sent, so a typo never reaches the controller.

use std::net::IpAddr;

use api::{Dpid, GroupName};
use clap::{Args, Parser, Subcommand};

/// The controller tried when neither `--url` nor `TSM_URL` is given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

const EXAMPLES: &str = "\
Examples:
  tsmctl switches
  tsmctl --url http://10.0.0.1:8080 --url http://10.0.0.2:8080 groups
  TSM_URL=http://10.0.0.1:8080,http://10.0.0.2:8080 tsmctl --json subsets
  tsmctl group put storage --address 239.1.1.1 --members 10.0.0.2,10.0.0.3,10.0.0.4
  tsmctl group get storage
  tsmctl subset create storage --members 10.0.0.2,10.0.0.3 --lease-ms 5000
  tsmctl subset delete 239.255.0.1
  tsmctl group delete storage
  tsmctl rendezvous put storage --k 3 --copies 2 --base 239.2.0.0
  tsmctl plans
  tsmctl claims
  tsmctl blocks
  tsmctl rules 0000000000000001

Exit status: 0 success; 1 the controller refused the request (the message names the culprit)
or answered something unexpected; 2 no controller could be reached, or the command line is
wrong.";

/// Operator CLI of tsmd: shows the fabric, manages negotiating groups and subsets.
#[derive(Debug, Parser)]
#[command(name = "tsmctl", version, after_help = EXAMPLES)]
pub struct Cli {
    /// Controller URL; repeat it or separate with commas: tried in order while unreachable.
    ///
    /// Give every --url on the same side of the subcommand: those given after it replace
    /// those given before.
    #[arg(
        long = "url",
        value_name = "URL",
        env = "TSM_URL",
        value_delimiter = ',',
        default_value = DEFAULT_URL,
        global = true
    )]
    pub urls: Vec<String>,

    /// Bearer token sent with every request.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TSM_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,

    /// Print the API's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    /// Time limit of one request, in milliseconds (creating a subset waits for the switches).
    #[arg(long, value_name = "MS", default_value_t = 30_000, global = true)]
    pub timeout_ms: u64,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A `tsmctl` subcommand.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// List the connected switches.
    Switches,
    /// List the links between switches.
    Links,
    /// List the learned hosts (one line per host IP).
    Hosts,
    /// List the negotiating groups.
    Groups,
    /// List the live subsets.
    Subsets,
    /// Show, define or delete one negotiating group.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Create, show or delete one subset.
    #[command(subcommand)]
    Subset(SubsetCommand),
    /// List the rendezvous plans (with install progress).
    Plans,
    /// List the rendezvous claims.
    Claims,
    /// List the block leases.
    Blocks,
    /// Show, install or delete one group's rendezvous plan.
    #[command(subcommand)]
    Rendezvous(RendezvousCommand),
    /// Show the rules (flows and groups) tsmd has installed on a switch.
    Rules {
        /// The switch's datapath id (16 hex digits, or fewer).
        dpid: Dpid,
    },
    /// Check that the controller answers.
    Health,
}

/// `tsmctl rendezvous …`.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum RendezvousCommand {
    /// Show one group's plan.
    Get {
        /// The group's name.
        group: GroupName,
    },
    /// Install (or replace) a group's plan: every k-subset of its members gets `copies`
    /// addresses from `base` on. Shows a progress bar on a terminal and waits until the plan
    /// is ready (or failed).
    Put {
        /// The group's name.
        group: GroupName,
        /// The subset size.
        #[arg(long, value_name = "K")]
        k: u32,
        /// Addresses per subset.
        #[arg(long, value_name = "N", default_value_t = 1)]
        copies: u32,
        /// The first address of the plan (multicast, the group's family).
        #[arg(long, value_name = "A")]
        base: IpAddr,
        /// Print the plan as accepted, without waiting for the install.
        #[arg(long)]
        no_wait: bool,
    },
    /// Delete a group's plan (its claims and blocks end).
    Delete {
        /// The group's name.
        group: GroupName,
    },
}

/// `tsmctl group …`.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum GroupCommand {
    /// Show one group.
    Get {
        /// The group's name.
        name: GroupName,
    },
    /// Create or replace a group.
    Put {
        /// The group's name.
        name: GroupName,
        #[command(flatten)]
        spec: GroupSpecArgs,
    },
    /// Delete a group.
    Delete {
        /// The group's name.
        name: GroupName,
    },
}

/// The body of `group put`.
#[derive(Debug, Args)]
pub struct GroupSpecArgs {
    /// The group's multicast address (IPv4 or IPv6).
    #[arg(long, value_name = "A")]
    pub address: IpAddr,
    /// The member hosts, comma-separated.
    #[arg(long, value_name = "IP,IP", value_delimiter = ',', required = true)]
    pub members: Vec<IpAddr>,
}

/// `tsmctl subset …`.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum SubsetCommand {
    /// Install a subset of a group's members; prints it once every switch acknowledged.
    Create {
        /// The negotiating group.
        group: GroupName,
        /// The receivers, comma-separated; all must be members of the group.
        #[arg(long, value_name = "IP,IP", value_delimiter = ',', required = true)]
        members: Vec<IpAddr>,
        /// How long the subset lives, in milliseconds.
        #[arg(long, value_name = "N")]
        lease_ms: u64,
    },
    /// Show one live subset.
    Get {
        /// The subset's address.
        address: IpAddr,
    },
    /// Remove a live subset before its lease ends.
    Delete {
        /// The subset's address.
        address: IpAddr,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn urls_repeat_and_split_on_commas() {
        let cli = Cli::try_parse_from([
            "tsmctl",
            "--url",
            "http://a:1,http://b:2",
            "--url",
            "http://c:3",
            "groups",
        ])
        .unwrap();
        assert_eq!(cli.urls, ["http://a:1", "http://b:2", "http://c:3"]);
    }

    #[test]
    fn bad_values_are_refused_before_any_request() {
        for args in [
            &["tsmctl", "group", "get", ".hidden"][..],
            &["tsmctl", "subset", "delete", "not-an-ip"],
            &[
                "tsmctl",
                "subset",
                "create",
                "g",
                "--members",
                "10.0.0.1,x",
                "--lease-ms",
                "5",
            ],
            &["tsmctl", "group", "put", "g", "--address", "239.1.1.1"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }
}
