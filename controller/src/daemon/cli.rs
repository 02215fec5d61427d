//! tsmd's command line (clap): `tsmd run` and `tsmd check`, with every setting as a flag that
//! an environment variable (`TSMD_*`) can also give. Flags and variables override the config
//! file (`--config`), which overrides the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::settings::{ConfigErrors, LogFormat, Overrides, Settings, SnoopOverrides};

/// tsmd: the TSM controller. Switches connect over OpenFlow 1.3; senders ask for subset
/// groups over HTTP.
#[derive(Debug, Parser)]
#[command(name = "tsmd", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the controller until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Validate the configuration and print the effective one (exit 0), or every problem
    /// with its file line or flag (exit 1).
    Check(RunArgs),
    /// Generate a bearer token: print the secret (for the client) and the `[[api.tokens]]`
    /// table with its SHA-256 (for the config file).
    Token(TokenArgs),
}

/// `tsmd token`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The token's name (shown in logs and in 403 answers).
    #[arg(long, default_value = "client")]
    pub name: String,
    /// A negotiating group it may use; repeat for several; `*` for every group.
    #[arg(long = "group", value_name = "NAME", default_values_t = ["*".to_owned()])]
    pub groups: Vec<String>,
    /// A right: subsets, claims or admin; repeat for several.
    #[arg(long = "right", value_name = "RIGHT", required = true)]
    pub rights: Vec<String>,
    /// Hash a token read from standard input instead of generating one.
    #[arg(long)]
    pub stdin: bool,
}

/// The settings every subcommand takes.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// TOML config file (see controller/tsmd.example.toml).
    #[arg(long, env = "TSMD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// OpenFlow listener [default: 0.0.0.0:6653].
    #[arg(long, env = "TSMD_OPENFLOW_LISTEN", value_name = "ADDR")]
    pub openflow_listen: Option<SocketAddr>,
    /// HTTP API listener [default: 127.0.0.1:8080].
    #[arg(long, env = "TSMD_API_LISTEN", value_name = "ADDR")]
    pub api_listen: Option<SocketAddr>,
    /// Echo a switch after this much silence [default: 1000].
    #[arg(long, env = "TSMD_ECHO_INTERVAL_MS", value_name = "MS")]
    pub echo_interval_ms: Option<u64>,
    /// Declare a silent switch dead after this long [default: 3000].
    #[arg(long, env = "TSMD_DEAD_AFTER_MS", value_name = "MS")]
    pub dead_after_ms: Option<u64>,
    /// Close a connection whose handshake is not done by then [default: 10000].
    #[arg(long, env = "TSMD_HANDSHAKE_TIMEOUT_MS", value_name = "MS")]
    pub handshake_timeout_ms: Option<u64>,
    /// LLDP probe interval [default: 5000].
    #[arg(long, env = "TSMD_LLDP_INTERVAL_MS", value_name = "MS")]
    pub lldp_interval_ms: Option<u64>,
    /// A link not confirmed by LLDP for this long goes down [default: 16000].
    #[arg(long, env = "TSMD_LINK_TIMEOUT_MS", value_name = "MS")]
    pub link_timeout_ms: Option<u64>,
    /// After a restart, restored subsets keep their rules this long while the fabric is
    /// rediscovered [default: 11000].
    #[arg(long, env = "TSMD_RESTORE_SETTLE_MS", value_name = "MS")]
    pub restore_settle_ms: Option<u64>,
    /// Longest subset lease [default: 3600000].
    #[arg(long, env = "TSMD_MAX_LEASE_MS", value_name = "MS")]
    pub max_lease_ms: Option<u64>,
    /// IPv4 subset address pool: PREFIX/LEN, FIRST-LAST or none [default: 239.192.0.0/16].
    #[arg(long, env = "TSMD_POOL_V4", value_name = "RANGE")]
    pub pool_v4: Option<String>,
    /// IPv6 subset address pool [default: ff18::8000:0/112].
    #[arg(long, env = "TSMD_POOL_V6", value_name = "RANGE")]
    pub pool_v6: Option<String>,
    /// How long an API request waits for the switches [default: 5000].
    #[arg(long, env = "TSMD_REQUEST_TIMEOUT_MS", value_name = "MS")]
    pub request_timeout_ms: Option<u64>,
    /// Directory of the durable state [default: /var/lib/tsmd].
    #[arg(long, env = "TSMD_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Where the claim journal stages appends before the state directory, a tmpfs: claims
    /// then never wait for the disk ("" for none) [default: /dev/shm].
    #[arg(long, env = "TSMD_JOURNAL_STAGE_DIR", value_name = "DIR")]
    pub journal_stage_dir: Option<PathBuf>,
    /// Log format [default: text].
    #[arg(long, env = "TSMD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter in RUST_LOG syntax (RUST_LOG itself counts when nothing else sets it)
    /// [default: info].
    #[arg(long, env = "TSMD_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// How long the answer to a POST with an Idempotency-Key is remembered
    /// [default: 86400000].
    #[arg(long, env = "TSMD_IDEMPOTENCY_TTL_MS", value_name = "MS")]
    pub idempotency_ttl_ms: Option<u64>,
    /// How many such answers are remembered at most [default: 65536].
    #[arg(long, env = "TSMD_IDEMPOTENCY_MAX_KEYS", value_name = "N")]
    pub idempotency_max_keys: Option<u64>,
    /// How many events GET /v1/events can resume from [default: 4096].
    #[arg(long, env = "TSMD_EVENTS_BUFFER", value_name = "N")]
    pub events_buffer: Option<u64>,
    /// Keep-alive comment interval of idle event streams [default: 15000].
    #[arg(long, env = "TSMD_EVENTS_KEEPALIVE_MS", value_name = "MS")]
    pub events_keepalive_ms: Option<u64>,
    /// The `[snoop]` settings (`--snoop-*`, `TSMD_SNOOP_*`).
    #[command(flatten)]
    pub snoop: SnoopOverrides,
}

impl RunArgs {
    /// The values these arguments override.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            openflow_listen: self.openflow_listen,
            api_listen: self.api_listen,
            echo_interval_ms: self.echo_interval_ms,
            dead_after_ms: self.dead_after_ms,
            handshake_timeout_ms: self.handshake_timeout_ms,
            lldp_interval_ms: self.lldp_interval_ms,
            link_timeout_ms: self.link_timeout_ms,
            restore_settle_ms: self.restore_settle_ms,
            max_lease_ms: self.max_lease_ms,
            pool_v4: self.pool_v4.clone(),
            pool_v6: self.pool_v6.clone(),
            request_timeout_ms: self.request_timeout_ms,
            state_dir: self.state_dir.clone(),
            journal_stage_dir: self.journal_stage_dir.clone(),
            log_format: self.log_format,
            log_level: self.log_level.clone(),
            rust_log: std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty()),
            idempotency_ttl_ms: self.idempotency_ttl_ms,
            idempotency_max_keys: self.idempotency_max_keys,
            events_buffer: self.events_buffer,
            events_keepalive_ms: self.events_keepalive_ms,
            snoop: self.snoop.clone(),
        }
    }

    /// The effective settings: defaults, `--config`, then these flags.
    pub fn settings(&self) -> Result<Settings, ConfigErrors> {
        Settings::load(self.config.as_deref(), &self.overrides())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn flags_parse_into_overrides() {
        let cli = Cli::try_parse_from([
            "tsmd",
            "check",
            "--openflow-listen",
            "127.0.0.1:6633",
            "--pool-v4",
            "239.9.0.0/24",
            "--log-format",
            "json",
        ])
        .unwrap();
        let Cmd::Check(args) = cli.command else {
            panic!("not check")
        };
        let s = args.settings().unwrap();
        assert_eq!(s.openflow_listen, "127.0.0.1:6633".parse().unwrap());
        assert_eq!(s.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["tsmd", "run", "--echo-interval-ms", "x"]).is_err());
    }
}
