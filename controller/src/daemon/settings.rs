//! tsmd's configuration: built-in defaults, then a TOML file (`--config`), then command-line
//! flags and their `TSMD_*` environment variables, each overriding the one before.
//! [`Settings::load`] merges and validates them; [`Settings::to_toml`] prints the effective
//! configuration in the file's syntax, each value annotated with where it came from.
//!
//! Guarantees: a [`Settings`] value that `load` returned is valid (its [`Settings::core_config`]
//! passes `Config::validate`); every problem is reported at once, each naming the field and
//! where its value came from (`FILE:LINE:COLUMN`, a flag and its environment variable, or the
//! default); unknown keys in the file are errors, not silently ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use api::auth::{Authenticator, GroupScope, Right, TokenHash, TokenSpec};
use openflow::oxm::MacAddr;

use crate::machine::Config;
use crate::pool::AddrRange;
use crate::snoop::{SnoopConfig, SnoopConfigError};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Default,
    /// The config file, 1-based line and column of the value.
    File {
        line: usize,
        column: usize,
    },
    /// A command-line flag or its environment variable.
    Flag {
        flag: &'static str,
        env: &'static str,
    },
    /// The `RUST_LOG` environment variable (log level only).
    RustLog,
}

/// One problem with the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The key in file syntax (`openflow.echo_interval_ms`); empty for a file-level error.
    pub field: &'static str,
    pub origin: Origin,
    pub message: String,
}

/// Everything wrong with a configuration, one issue per line when displayed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The config file, if one was read.
    pub file: Option<PathBuf>,
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self
            .file
            .as_deref()
            .map_or_else(|| "config".to_owned(), |p| p.display().to_string());
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let field = if issue.field.is_empty() {
                String::new()
            } else {
                format!("{}: ", issue.field)
            };
            match &issue.origin {
                Origin::File { line, column } => {
                    write!(f, "{file}:{line}:{column}: {field}{}", issue.message)?
                }
                Origin::Flag { flag, env } => {
                    write!(f, "{flag} (or {env}): {field}{}", issue.message)?
                }
                Origin::RustLog => write!(f, "RUST_LOG: {field}{}", issue.message)?,
                Origin::Default => write!(f, "default {field}{}", issue.message)?,
            }
        }
        Ok(())
    }
}

/// Values given on the command line (or in `TSMD_*` variables); `None` leaves the file's or
/// the default value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Overrides {
    pub openflow_listen: Option<SocketAddr>,
    pub api_listen: Option<SocketAddr>,
    pub echo_interval_ms: Option<u64>,
    pub dead_after_ms: Option<u64>,
    pub handshake_timeout_ms: Option<u64>,
    pub lldp_interval_ms: Option<u64>,
    pub link_timeout_ms: Option<u64>,
    pub restore_settle_ms: Option<u64>,
    pub max_lease_ms: Option<u64>,
    pub pool_v4: Option<String>,
    pub pool_v6: Option<String>,
    pub request_timeout_ms: Option<u64>,
    pub state_dir: Option<PathBuf>,
    pub journal_stage_dir: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    /// The value of `RUST_LOG`, used for the log level when nothing else sets it.
    pub rust_log: Option<String>,
    pub idempotency_ttl_ms: Option<u64>,
    pub idempotency_max_keys: Option<u64>,
    pub events_buffer: Option<u64>,
    pub events_keepalive_ms: Option<u64>,
    /// The `[snoop]` section's flags.
    pub snoop: SnoopOverrides,
}

/// The `[snoop]` settings given on the command line or in `TSMD_SNOOP_*` variables (a clap
/// argument group that `tsmd run` and `tsmd check` flatten in); `None` leaves the file's or
/// the default value.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args)]
#[non_exhaustive]
pub struct SnoopOverrides {
    /// IGMP / MLD snooping: true or false [default: true].
    #[arg(
        long = "snoop-enabled",
        env = "TSMD_SNOOP_ENABLED",
        value_name = "BOOL"
    )]
    pub enabled: Option<bool>,
    /// Send IGMP / MLD queries: true or false [default: true].
    #[arg(
        long = "snoop-querier",
        env = "TSMD_SNOOP_QUERIER",
        value_name = "BOOL"
    )]
    pub querier: Option<bool>,
    /// Robustness variable, 1-7 [default: 2].
    #[arg(
        long = "snoop-robustness",
        env = "TSMD_SNOOP_ROBUSTNESS",
        value_name = "N"
    )]
    pub robustness: Option<u64>,
    /// General query interval [default: 125000].
    #[arg(
        long = "snoop-query-interval-ms",
        env = "TSMD_SNOOP_QUERY_INTERVAL_MS",
        value_name = "MS"
    )]
    pub query_interval_ms: Option<u64>,
    /// Max response time of general queries, below the query interval [default: 10000].
    #[arg(
        long = "snoop-query-response-interval-ms",
        env = "TSMD_SNOOP_QUERY_RESPONSE_INTERVAL_MS",
        value_name = "MS"
    )]
    pub query_response_interval_ms: Option<u64>,
    /// Max response time of group-specific queries [default: 1000].
    #[arg(
        long = "snoop-last-member-query-interval-ms",
        env = "TSMD_SNOOP_LAST_MEMBER_QUERY_INTERVAL_MS",
        value_name = "MS"
    )]
    pub last_member_query_interval_ms: Option<u64>,
    /// Source MAC of the queries, unicast [default: 02:74:73:6d:00:01].
    #[arg(
        long = "snoop-querier-mac",
        env = "TSMD_SNOOP_QUERIER_MAC",
        value_name = "MAC"
    )]
    pub querier_mac: Option<String>,
    /// Source address of IGMP queries [default: 0.0.0.0].
    #[arg(
        long = "snoop-querier-v4",
        env = "TSMD_SNOOP_QUERIER_V4",
        value_name = "IP"
    )]
    pub querier_v4: Option<Ipv4Addr>,
    /// Source address of MLD queries, link-local [default: fe80::74:73ff:fe6d:1].
    #[arg(
        long = "snoop-querier-v6",
        env = "TSMD_SNOOP_QUERIER_V6",
        value_name = "IP"
    )]
    pub querier_v6: Option<Ipv6Addr>,
    /// At most this many receivers are tracked [default: 65536].
    #[arg(
        long = "snoop-max-receivers",
        env = "TSMD_SNOOP_MAX_RECEIVERS",
        value_name = "N"
    )]
    pub max_receivers: Option<u64>,
}

/// A configuration key: its name in the file, its flag and its environment variable.
struct Key {
    file: &'static str,
    flag: &'static str,
    env: &'static str,
}

macro_rules! keys {
    ($($name:ident = $file:literal, $flag:literal, $env:literal;)*) => {
        $(const $name: Key = Key { file: $file, flag: $flag, env: $env };)*
        /// Every key, in the order `to_toml` prints them.
        const ALL_KEYS: &[&Key] = &[$(&$name),*];
    };
}

keys! {
    OF_LISTEN = "openflow.listen", "--openflow-listen", "TSMD_OPENFLOW_LISTEN";
    ECHO = "openflow.echo_interval_ms", "--echo-interval-ms", "TSMD_ECHO_INTERVAL_MS";
    DEAD = "openflow.dead_after_ms", "--dead-after-ms", "TSMD_DEAD_AFTER_MS";
    HANDSHAKE = "openflow.handshake_timeout_ms", "--handshake-timeout-ms", "TSMD_HANDSHAKE_TIMEOUT_MS";
    LLDP = "discovery.lldp_interval_ms", "--lldp-interval-ms", "TSMD_LLDP_INTERVAL_MS";
    LINK = "discovery.link_timeout_ms", "--link-timeout-ms", "TSMD_LINK_TIMEOUT_MS";
    SETTLE = "discovery.restore_settle_ms", "--restore-settle-ms", "TSMD_RESTORE_SETTLE_MS";
    API_LISTEN = "api.listen", "--api-listen", "TSMD_API_LISTEN";
    REQUEST_TIMEOUT = "api.request_timeout_ms", "--request-timeout-ms", "TSMD_REQUEST_TIMEOUT_MS";
    IDEM_TTL = "api.idempotency_ttl_ms", "--idempotency-ttl-ms", "TSMD_IDEMPOTENCY_TTL_MS";
    IDEM_MAX = "api.idempotency_max_keys", "--idempotency-max-keys", "TSMD_IDEMPOTENCY_MAX_KEYS";
    EVENTS_BUFFER = "api.events_buffer", "--events-buffer", "TSMD_EVENTS_BUFFER";
    EVENTS_KEEPALIVE = "api.events_keepalive_ms", "--events-keepalive-ms", "TSMD_EVENTS_KEEPALIVE_MS";
    MAX_LEASE = "subsets.max_lease_ms", "--max-lease-ms", "TSMD_MAX_LEASE_MS";
    POOL_V4 = "subsets.pool_v4", "--pool-v4", "TSMD_POOL_V4";
    POOL_V6 = "subsets.pool_v6", "--pool-v6", "TSMD_POOL_V6";
    STATE_DIR = "store.state_dir", "--state-dir", "TSMD_STATE_DIR";
    STAGE_DIR = "store.journal_stage_dir", "--journal-stage-dir", "TSMD_JOURNAL_STAGE_DIR";
    LOG_FORMAT = "log.format", "--log-format", "TSMD_LOG_FORMAT";
    LOG_LEVEL = "log.level", "--log-level", "TSMD_LOG_LEVEL";
    SNOOP_ENABLED = "snoop.enabled", "--snoop-enabled", "TSMD_SNOOP_ENABLED";
    SNOOP_QUERIER = "snoop.querier", "--snoop-querier", "TSMD_SNOOP_QUERIER";
    SNOOP_ROBUSTNESS = "snoop.robustness", "--snoop-robustness", "TSMD_SNOOP_ROBUSTNESS";
    SNOOP_QI = "snoop.query_interval_ms", "--snoop-query-interval-ms", "TSMD_SNOOP_QUERY_INTERVAL_MS";
    SNOOP_QRI = "snoop.query_response_interval_ms", "--snoop-query-response-interval-ms", "TSMD_SNOOP_QUERY_RESPONSE_INTERVAL_MS";
    SNOOP_LMQI = "snoop.last_member_query_interval_ms", "--snoop-last-member-query-interval-ms", "TSMD_SNOOP_LAST_MEMBER_QUERY_INTERVAL_MS";
    SNOOP_MAC = "snoop.querier_mac", "--snoop-querier-mac", "TSMD_SNOOP_QUERIER_MAC";
    SNOOP_V4 = "snoop.querier_v4", "--snoop-querier-v4", "TSMD_SNOOP_QUERIER_V4";
    SNOOP_V6 = "snoop.querier_v6", "--snoop-querier-v6", "TSMD_SNOOP_QUERIER_V6";
    SNOOP_MAX = "snoop.max_receivers", "--snoop-max-receivers", "TSMD_SNOOP_MAX_RECEIVERS";
}

/// The effective configuration of one tsmd.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// Where switches connect (OpenFlow over TCP).
    pub openflow_listen: SocketAddr,
    /// Where the HTTP API listens.
    pub api_listen: SocketAddr,
    pub echo_interval: Duration,
    pub dead_after: Duration,
    pub handshake_timeout: Duration,
    pub lldp_interval: Duration,
    pub link_timeout: Duration,
    pub restore_settle: Duration,
    pub max_lease: Duration,
    /// Subset addresses for IPv4 groups (`None`: IPv4 subsets are refused).
    pub pool_v4: Option<AddrRange>,
    /// Subset addresses for IPv6 groups.
    pub pool_v6: Option<AddrRange>,
    /// How long an API request waits for the switches before it answers `timeout`.
    pub request_timeout: Duration,
    /// The file store's directory.
    pub state_dir: PathBuf,
    /// Where the claim journal stages appends before the state directory (a tmpfs; see
    /// `daemon::service::rendezvous`). `None`: appends go to the disk directly.
    pub journal_stage_dir: Option<PathBuf>,
    pub log_format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive (`RUST_LOG` syntax).
    pub log_level: String,
    /// Bearer tokens (`[[api.tokens]]`). Empty: no authentication, and the API may listen
    /// on a loopback address only.
    pub tokens: Vec<TokenSpec>,
    /// How long an answer to a POST with an `Idempotency-Key` is remembered.
    pub idempotency_ttl: Duration,
    /// How many such answers are remembered at most.
    pub idempotency_max_keys: usize,
    /// How many events `GET /v1/events` can resume from.
    pub events_buffer: usize,
    /// How often an idle event stream gets a keep-alive comment.
    pub events_keepalive: Duration,
    /// IGMP / MLD snooping and the querier (`[snoop]`), handed to the core as is.
    pub snoop: SnoopConfig,
    origins: BTreeMap<&'static str, Origin>,
}

impl Default for Settings {
    /// The built-in defaults (the core's `Config::default` for the protocol timers and pools).
    fn default() -> Self {
        let c = Config::default();
        Settings {
            openflow_listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 6653),
            api_listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            echo_interval: c.echo_interval,
            dead_after: c.dead_after,
            handshake_timeout: c.handshake_timeout,
            lldp_interval: c.lldp_interval,
            link_timeout: c.link_timeout,
            restore_settle: c.restore_settle,
            max_lease: c.max_lease,
            pool_v4: c.pool_v4,
            pool_v6: c.pool_v6,
            request_timeout: Duration::from_secs(5),
            state_dir: PathBuf::from("/var/lib/tsmd"),
            journal_stage_dir: Some(PathBuf::from(
                super::service::rendezvous::DEFAULT_STAGE_ROOT,
            )),
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
            tokens: Vec::new(),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            idempotency_max_keys: 65_536,
            events_buffer: 4096,
            events_keepalive: Duration::from_secs(15),
            snoop: c.snoop,
            origins: BTreeMap::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The file's shape.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    openflow: OpenflowFile,
    #[serde(default)]
    discovery: DiscoveryFile,
    #[serde(default)]
    api: ApiFile,
    #[serde(default)]
    subsets: SubsetsFile,
    #[serde(default)]
    store: StoreFile,
    #[serde(default)]
    log: LogFile,
    #[serde(default)]
    snoop: SnoopFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenflowFile {
    listen: Option<Spanned<String>>,
    echo_interval_ms: Option<Spanned<u64>>,
    dead_after_ms: Option<Spanned<u64>>,
    handshake_timeout_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoveryFile {
    lldp_interval_ms: Option<Spanned<u64>>,
    link_timeout_ms: Option<Spanned<u64>>,
    restore_settle_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiFile {
    listen: Option<Spanned<String>>,
    request_timeout_ms: Option<Spanned<u64>>,
    idempotency_ttl_ms: Option<Spanned<u64>>,
    idempotency_max_keys: Option<Spanned<u64>>,
    events_buffer: Option<Spanned<u64>>,
    events_keepalive_ms: Option<Spanned<u64>>,
    tokens: Option<Vec<Spanned<TokenFile>>>,
}

/// One `[[api.tokens]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    name: String,
    /// SHA-256 of the token, 64 hex digits (`tsmd token` prints it).
    sha256: String,
    /// Negotiating group names, or `["*"]`.
    groups: Vec<String>,
    /// `subsets`, `claims`, `admin`.
    rights: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubsetsFile {
    max_lease_ms: Option<Spanned<u64>>,
    pool_v4: Option<Spanned<String>>,
    pool_v6: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    state_dir: Option<Spanned<String>>,
    journal_stage_dir: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogFile {
    format: Option<Spanned<String>>,
    level: Option<Spanned<String>>,
}

/// The `[snoop]` table: [`SnoopConfig`]'s fields, durations in milliseconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnoopFile {
    enabled: Option<Spanned<bool>>,
    querier: Option<Spanned<bool>>,
    robustness: Option<Spanned<u64>>,
    query_interval_ms: Option<Spanned<u64>>,
    query_response_interval_ms: Option<Spanned<u64>>,
    last_member_query_interval_ms: Option<Spanned<u64>>,
    querier_mac: Option<Spanned<String>>,
    querier_v4: Option<Spanned<String>>,
    querier_v6: Option<Spanned<String>>,
    max_receivers: Option<Spanned<u64>>,
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The `section.key` whose value starts at byte `offset` (for the parser's type errors, which
/// point at the value without naming it).
fn value_key(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = before.get(line_start..)?.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let section = before
        .get(..line_start)?
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    Some(match section {
        Some(s) if !s.is_empty() => format!("{s}.{key}"),
        _ => key.to_owned(),
    })
}

/// The merge in progress: values so far, their origins, and the problems found.
struct Merge<'a> {
    text: &'a str,
    s: Settings,
    issues: Vec<ConfigIssue>,
}

impl Merge<'_> {
    fn file_origin<T>(&self, v: &Spanned<T>) -> Origin {
        let (line, column) = line_col(self.text, v.span().start);
        Origin::File { line, column }
    }

    fn issue(&mut self, key: &Key, origin: Origin, message: impl Into<String>) {
        self.issues.push(ConfigIssue {
            field: key.file,
            origin,
            message: message.into(),
        });
    }

    fn origin(&self, key: &Key) -> Origin {
        self.s
            .origins
            .get(key.file)
            .cloned()
            .unwrap_or(Origin::Default)
    }

    /// Applies a file value and then a flag value for `key`; `parse` turns the text into the
    /// value or says why not; `set` stores it.
    fn apply<F, V, P, S>(
        &mut self,
        key: &Key,
        file: Option<&Spanned<F>>,
        flag: Option<V>,
        parse: P,
        set: S,
    ) where
        P: Fn(Source<'_, F, V>) -> Result<Value, String>,
        S: Fn(&mut Settings, Value),
    {
        if let Some(v) = file {
            let origin = self.file_origin(v);
            match parse(Source::File(v.get_ref())) {
                Ok(x) => {
                    set(&mut self.s, x);
                    self.s.origins.insert(key.file, origin);
                }
                Err(m) => self.issue(key, origin, m),
            }
        }
        if let Some(v) = flag {
            let origin = Origin::Flag {
                flag: key.flag,
                env: key.env,
            };
            match parse(Source::Flag(v)) {
                Ok(x) => {
                    set(&mut self.s, x);
                    self.s.origins.insert(key.file, origin);
                }
                Err(m) => self.issue(key, origin, m),
            }
        }
    }

    fn millis(
        &mut self,
        key: &Key,
        file: Option<&Spanned<u64>>,
        flag: Option<u64>,
        set: fn(&mut Settings, Duration),
    ) {
        self.apply(
            key,
            file,
            flag,
            |src| {
                let ms = match src {
                    Source::File(v) => *v,
                    Source::Flag(v) => v,
                };
                Ok(Value::Duration(Duration::from_millis(ms)))
            },
            |s, v| {
                if let Value::Duration(d) = v {
                    set(s, d);
                }
            },
        );
    }

    fn socket(
        &mut self,
        key: &Key,
        file: Option<&Spanned<String>>,
        flag: Option<SocketAddr>,
        set: fn(&mut Settings, SocketAddr),
    ) {
        self.apply(
            key,
            file,
            flag,
            |src| match src {
                Source::File(text) => text.parse::<SocketAddr>().map(Value::Socket).map_err(|_| {
                    format!("{text:?} is not an IP:PORT address (e.g. \"0.0.0.0:6653\" or \"[::1]:8080\")")
                }),
                Source::Flag(a) => Ok(Value::Socket(a)),
            },
            |s, v| {
                if let Value::Socket(a) = v {
                    set(s, a);
                }
            },
        );
    }

    fn pool(
        &mut self,
        key: &Key,
        v6: bool,
        file: Option<&Spanned<String>>,
        flag: Option<String>,
        set: fn(&mut Settings, Option<AddrRange>),
    ) {
        self.apply(
            key,
            file,
            flag,
            |src| {
                let text = match &src {
                    Source::File(t) => t.as_str(),
                    Source::Flag(t) => t.as_str(),
                };
                parse_pool(text, v6).map(Value::Pool)
            },
            |s, v| {
                if let Value::Pool(p) = v {
                    set(s, p);
                }
            },
        );
    }
}

enum Source<'a, F, V> {
    File(&'a F),
    Flag(V),
}

enum Value {
    Duration(Duration),
    Socket(SocketAddr),
    Pool(Option<AddrRange>),
    Text(String),
    Format(LogFormat),
    Count(u64),
    Bool(bool),
    Mac(MacAddr),
    Ip(IpAddr),
}

/// `"239.192.0.0/16"`, `"239.192.0.1-239.192.0.9"` or `"none"`.
fn parse_pool(text: &str, v6: bool) -> Result<Option<AddrRange>, String> {
    let family = if v6 { "IPv6" } else { "IPv4" };
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let addr = |t: &str| -> Result<IpAddr, String> {
        let a: IpAddr = t
            .trim()
            .parse()
            .map_err(|_| format!("{t:?} is not an IP address"))?;
        if a.is_ipv6() != v6 {
            return Err(format!("{a} is not an {family} address"));
        }
        Ok(a)
    };
    let (first, last) = if let Some((a, len)) = text.split_once('/') {
        let a = addr(a)?;
        let bits: u32 = if v6 { 128 } else { 32 };
        let len: u32 = len
            .trim()
            .parse()
            .ok()
            .filter(|l| *l <= bits)
            .ok_or_else(|| format!("prefix length {len:?} is not 0-{bits}"))?;
        let host_bits = bits - len;
        let (first, last) = match a {
            IpAddr::V4(v) => {
                let n = u32::from(v);
                let mask = u32::MAX.checked_shl(host_bits).unwrap_or(0);
                if n & !mask != 0 {
                    return Err(format!(
                        "{text}: host bits are set (the network is {}/{len})",
                        Ipv4Addr::from(n & mask)
                    ));
                }
                (
                    IpAddr::V4(Ipv4Addr::from(n)),
                    IpAddr::V4(Ipv4Addr::from(n | !mask)),
                )
            }
            IpAddr::V6(v) => {
                let n = u128::from(v);
                let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
                if n & !mask != 0 {
                    return Err(format!(
                        "{text}: host bits are set (the network is {}/{len})",
                        Ipv6Addr::from(n & mask)
                    ));
                }
                (
                    IpAddr::V6(Ipv6Addr::from(n)),
                    IpAddr::V6(Ipv6Addr::from(n | !mask)),
                )
            }
        };
        (first, last)
    } else if let Some((a, b)) = text.split_once('-') {
        (addr(a)?, addr(b)?)
    } else {
        let a = addr(text)?;
        (a, a)
    };
    AddrRange::new(first, last)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// A pool in the file's syntax: a prefix when it is one, else `first-last`.
pub fn pool_text(r: Option<AddrRange>) -> String {
    let Some(r) = r else {
        return "none".to_owned();
    };
    let (a, b, bits) = match (r.first(), r.last()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(b)), 32u32)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128u32),
        _ => return format!("{}-{}", r.first(), r.last()),
    };
    let size = b.wrapping_sub(a).wrapping_add(1);
    if size != 0 && size.is_power_of_two() && a % size == 0 {
        let len = bits - size.trailing_zeros();
        return format!("{}/{len}", r.first());
    }
    if a == b {
        return r.first().to_string();
    }
    format!("{}-{}", r.first(), r.last())
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

impl Settings {
    /// Defaults, then the file at `file` (if any), then `over`: the effective, validated
    /// settings, or every problem found.
    pub fn load(file: Option<&Path>, over: &Overrides) -> Result<Settings, ConfigErrors> {
        let text = match file {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(t) => Some(t),
                Err(e) => {
                    return Err(ConfigErrors {
                        file: Some(path.to_owned()),
                        issues: vec![ConfigIssue {
                            field: "",
                            origin: Origin::Flag {
                                flag: "--config",
                                env: "TSMD_CONFIG",
                            },
                            message: format!("cannot read {}: {e}", path.display()),
                        }],
                    })
                }
            },
            None => None,
        };
        Settings::from_parts(file, text.as_deref(), over)
    }

    /// [`load`](Self::load) with the file's text given (`path` only names it in errors).
    pub fn from_parts(
        path: Option<&Path>,
        text: Option<&str>,
        over: &Overrides,
    ) -> Result<Settings, ConfigErrors> {
        let errors = |issues| ConfigErrors {
            file: path.map(Path::to_owned),
            issues,
        };
        let parsed: FileConfig = match text {
            Some(t) => toml::from_str(t).map_err(|e| {
                let start = e.span().map_or(0, |s| s.start);
                let (line, column) = line_col(t, start);
                let key = value_key(t, start).map_or_else(String::new, |k| format!("{k}: "));
                errors(vec![ConfigIssue {
                    field: "",
                    origin: Origin::File { line, column },
                    message: format!("{key}{}", e.message().trim()),
                }])
            })?,
            None => FileConfig::default(),
        };
        let mut m = Merge {
            text: text.unwrap_or(""),
            s: Settings::default(),
            issues: Vec::new(),
        };
        let f = &parsed;
        m.socket(
            &OF_LISTEN,
            f.openflow.listen.as_ref(),
            over.openflow_listen,
            |s, v| s.openflow_listen = v,
        );
        m.millis(
            &ECHO,
            f.openflow.echo_interval_ms.as_ref(),
            over.echo_interval_ms,
            |s, v| s.echo_interval = v,
        );
        m.millis(
            &DEAD,
            f.openflow.dead_after_ms.as_ref(),
            over.dead_after_ms,
            |s, v| s.dead_after = v,
        );
        m.millis(
            &HANDSHAKE,
            f.openflow.handshake_timeout_ms.as_ref(),
            over.handshake_timeout_ms,
            |s, v| s.handshake_timeout = v,
        );
        m.millis(
            &LLDP,
            f.discovery.lldp_interval_ms.as_ref(),
            over.lldp_interval_ms,
            |s, v| s.lldp_interval = v,
        );
        m.millis(
            &LINK,
            f.discovery.link_timeout_ms.as_ref(),
            over.link_timeout_ms,
            |s, v| s.link_timeout = v,
        );
        m.millis(
            &SETTLE,
            f.discovery.restore_settle_ms.as_ref(),
            over.restore_settle_ms,
            |s, v| s.restore_settle = v,
        );
        m.socket(
            &API_LISTEN,
            f.api.listen.as_ref(),
            over.api_listen,
            |s, v| s.api_listen = v,
        );
        m.millis(
            &REQUEST_TIMEOUT,
            f.api.request_timeout_ms.as_ref(),
            over.request_timeout_ms,
            |s, v| s.request_timeout = v,
        );
        m.millis(
            &IDEM_TTL,
            f.api.idempotency_ttl_ms.as_ref(),
            over.idempotency_ttl_ms,
            |s, v| s.idempotency_ttl = v,
        );
        m.count(
            &IDEM_MAX,
            f.api.idempotency_max_keys.as_ref(),
            over.idempotency_max_keys,
            |s, v| s.idempotency_max_keys = v,
        );
        m.count(
            &EVENTS_BUFFER,
            f.api.events_buffer.as_ref(),
            over.events_buffer,
            |s, v| s.events_buffer = v,
        );
        m.millis(
            &EVENTS_KEEPALIVE,
            f.api.events_keepalive_ms.as_ref(),
            over.events_keepalive_ms,
            |s, v| s.events_keepalive = v,
        );
        m.tokens(f.api.tokens.as_deref().unwrap_or_default());
        m.millis(
            &MAX_LEASE,
            f.subsets.max_lease_ms.as_ref(),
            over.max_lease_ms,
            |s, v| s.max_lease = v,
        );
        m.pool(
            &POOL_V4,
            false,
            f.subsets.pool_v4.as_ref(),
            over.pool_v4.clone(),
            |s, v| s.pool_v4 = v,
        );
        m.pool(
            &POOL_V6,
            true,
            f.subsets.pool_v6.as_ref(),
            over.pool_v6.clone(),
            |s, v| s.pool_v6 = v,
        );
        m.apply(
            &STATE_DIR,
            f.store.state_dir.as_ref(),
            over.state_dir.clone(),
            |src| {
                let p = match src {
                    Source::File(t) => PathBuf::from(t),
                    Source::Flag(p) => p,
                };
                if p.as_os_str().is_empty() {
                    return Err("the state directory must not be empty".to_owned());
                }
                Ok(Value::Text(p.to_string_lossy().into_owned()))
            },
            |s, v| {
                if let Value::Text(t) = v {
                    s.state_dir = PathBuf::from(t);
                }
            },
        );
        m.apply(
            &STAGE_DIR,
            f.store.journal_stage_dir.as_ref(),
            over.journal_stage_dir.clone(),
            |src| {
                let p = match src {
                    Source::File(t) => PathBuf::from(t),
                    Source::Flag(p) => p,
                };
                // Empty: no stage.
                if !p.as_os_str().is_empty() && !p.is_absolute() {
                    return Err(format!(
                        "the journal stage directory must be an absolute path (or \"\" for none), not {:?}",
                        p.display().to_string()
                    ));
                }
                Ok(Value::Text(p.to_string_lossy().into_owned()))
            },
            |s, v| {
                if let Value::Text(t) = v {
                    s.journal_stage_dir = (!t.is_empty()).then(|| PathBuf::from(t));
                }
            },
        );
        m.apply(
            &LOG_FORMAT,
            f.log.format.as_ref(),
            over.log_format,
            |src| match src {
                Source::File(t) => match t.as_str() {
                    "text" => Ok(Value::Format(LogFormat::Text)),
                    "json" => Ok(Value::Format(LogFormat::Json)),
                    other => Err(format!(
                        "{other:?} is not a log format: \"text\" or \"json\""
                    )),
                },
                Source::Flag(f) => Ok(Value::Format(f)),
            },
            |s, v| {
                if let Value::Format(f) = v {
                    s.log_format = f;
                }
            },
        );
        // RUST_LOG counts only when neither the file nor a flag sets the level.
        let level_given = f.log.level.is_some() || over.log_level.is_some();
        if let (false, Some(rl)) = (level_given, over.rust_log.as_ref()) {
            match check_filter(rl) {
                Ok(()) => {
                    m.s.log_level = rl.clone();
                    m.s.origins.insert(LOG_LEVEL.file, Origin::RustLog);
                }
                Err(e) => m.issue(&LOG_LEVEL, Origin::RustLog, e),
            }
        }
        m.apply(
            &LOG_LEVEL,
            f.log.level.as_ref(),
            over.log_level.clone(),
            |src| {
                let t = match src {
                    Source::File(t) => t.clone(),
                    Source::Flag(t) => t,
                };
                check_filter(&t).map(|()| Value::Text(t))
            },
            |s, v| {
                if let Value::Text(t) = v {
                    s.log_level = t;
                }
            },
        );
        m.snoop(&f.snoop, &over.snoop);
        m.cross_checks();
        // File issues in file order, then flags, RUST_LOG and defaults.
        m.issues.sort_by_key(|i| match i.origin {
            Origin::File { line, column } => (0, line, column),
            Origin::Flag { .. } => (1, 0, 0),
            Origin::RustLog => (2, 0, 0),
            Origin::Default => (3, 0, 0),
        });
        if m.issues.is_empty() {
            Ok(m.s)
        } else {
            Err(errors(m.issues))
        }
    }

    /// The core's configuration.
    pub fn core_config(&self) -> Config {
        Config {
            echo_interval: self.echo_interval,
            dead_after: self.dead_after,
            handshake_timeout: self.handshake_timeout,
            lldp_interval: self.lldp_interval,
            link_timeout: self.link_timeout,
            max_lease: self.max_lease,
            pool_v4: self.pool_v4,
            pool_v6: self.pool_v6,
            restore_settle: self.restore_settle,
            snoop: self.snoop.clone(),
            ..Config::default()
        }
    }

    /// Where the value of `key` (file syntax, e.g. `"api.listen"`) came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }

    /// The effective configuration in the file's syntax; each line says where its value came
    /// from. `tsmd check` prints it, and it loads back to the same settings.
    pub fn to_toml(&self) -> String {
        let mut sections: BTreeMap<&str, Vec<(String, &'static str)>> = BTreeMap::new();
        for key in ALL_KEYS {
            let value = match key.file {
                "openflow.listen" => quote(&self.openflow_listen.to_string()),
                "openflow.echo_interval_ms" => ms(self.echo_interval).to_string(),
                "openflow.dead_after_ms" => ms(self.dead_after).to_string(),
                "openflow.handshake_timeout_ms" => ms(self.handshake_timeout).to_string(),
                "discovery.lldp_interval_ms" => ms(self.lldp_interval).to_string(),
                "discovery.link_timeout_ms" => ms(self.link_timeout).to_string(),
                "discovery.restore_settle_ms" => ms(self.restore_settle).to_string(),
                "api.listen" => quote(&self.api_listen.to_string()),
                "api.request_timeout_ms" => ms(self.request_timeout).to_string(),
                "api.idempotency_ttl_ms" => ms(self.idempotency_ttl).to_string(),
                "api.idempotency_max_keys" => self.idempotency_max_keys.to_string(),
                "api.events_buffer" => self.events_buffer.to_string(),
                "api.events_keepalive_ms" => ms(self.events_keepalive).to_string(),
                "subsets.max_lease_ms" => ms(self.max_lease).to_string(),
                "subsets.pool_v4" => quote(&pool_text(self.pool_v4)),
                "subsets.pool_v6" => quote(&pool_text(self.pool_v6)),
                "store.state_dir" => quote(&self.state_dir.to_string_lossy()),
                "store.journal_stage_dir" => quote(
                    &self
                        .journal_stage_dir
                        .as_ref()
                        .map_or_else(String::new, |p| p.to_string_lossy().into_owned()),
                ),
                "log.format" => quote(self.log_format.as_str()),
                "log.level" => quote(&self.log_level),
                "snoop.enabled" => self.snoop.enabled.to_string(),
                "snoop.querier" => self.snoop.querier.to_string(),
                "snoop.robustness" => self.snoop.robustness.to_string(),
                "snoop.query_interval_ms" => ms(self.snoop.query_interval).to_string(),
                "snoop.query_response_interval_ms" => {
                    ms(self.snoop.query_response_interval).to_string()
                }
                "snoop.last_member_query_interval_ms" => {
                    ms(self.snoop.last_member_query_interval).to_string()
                }
                "snoop.querier_mac" => quote(&self.snoop.querier_mac.to_string()),
                "snoop.querier_v4" => quote(&self.snoop.querier_v4.to_string()),
                "snoop.querier_v6" => quote(&self.snoop.querier_v6.to_string()),
                "snoop.max_receivers" => self.snoop.max_receivers.to_string(),
                _ => continue,
            };
            let from = match self.origin(key.file) {
                Origin::Default => "default".to_owned(),
                Origin::File { line, .. } => format!("config file, line {line}"),
                Origin::Flag { flag, env } => format!("{flag} / {env}"),
                Origin::RustLog => "RUST_LOG".to_owned(),
            };
            let (section, name) = key.file.split_once('.').unwrap_or(("", key.file));
            sections
                .entry(section)
                .or_default()
                .push((format!("{name} = {value}  # {from}"), key.file));
        }
        let mut out = String::new();
        for section in [
            "openflow",
            "discovery",
            "api",
            "subsets",
            "snoop",
            "store",
            "log",
        ] {
            if let Some(lines) = sections.get(section) {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&format!("[{section}]\n"));
                for (l, _) in lines {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out.push_str(&tokens_toml(&self.tokens));
        out
    }
}

/// The `[[api.tokens]]` tables of `tokens` (hashes only: the secrets are never known).
pub(crate) fn tokens_toml(tokens: &[TokenSpec]) -> String {
    let list = |items: Vec<String>| {
        let quoted: Vec<String> = items.iter().map(|i| quote(i)).collect();
        format!("[{}]", quoted.join(", "))
    };
    let mut out = String::new();
    for t in tokens {
        out.push_str(&format!(
            "\n[[api.tokens]]\nname = {}\nsha256 = \"{}\"\ngroups = {}\nrights = {}\n",
            quote(&t.name),
            t.hash,
            list(t.groups.to_list()),
            list(t.rights.iter().map(|r| r.as_str().to_owned()).collect()),
        ));
    }
    out
}

/// One `[[api.tokens]]` table as the daemon uses it, or why not.
fn token_spec(t: &TokenFile) -> Result<TokenSpec, String> {
    let name = t.name.trim();
    if name.is_empty() {
        return Err("a token needs a name".to_owned());
    }
    let hash = t
        .sha256
        .trim()
        .to_ascii_lowercase()
        .parse::<TokenHash>()
        .map_err(|e| format!("token {name:?}: sha256: {e} (tsmd token prints it)"))?;
    let groups =
        GroupScope::from_list(&t.groups).map_err(|e| format!("token {name:?}: groups: {e}"))?;
    let mut rights = std::collections::BTreeSet::new();
    for r in &t.rights {
        rights.insert(
            r.parse::<Right>()
                .map_err(|e| format!("token {name:?}: rights: {e}"))?,
        );
    }
    if rights.is_empty() {
        return Err(format!(
            "token {name:?}: rights: at least one of subsets, claims, admin"
        ));
    }
    Ok(TokenSpec {
        name: name.to_owned(),
        hash,
        groups,
        rights,
    })
}

impl Merge<'_> {
    /// A positive count from the file or a flag.
    fn count(
        &mut self,
        key: &Key,
        file: Option<&Spanned<u64>>,
        flag: Option<u64>,
        set: fn(&mut Settings, usize),
    ) {
        self.apply(
            key,
            file,
            flag,
            |src| {
                let n = match src {
                    Source::File(v) => *v,
                    Source::Flag(v) => v,
                };
                if n == 0 || usize::try_from(n).is_err() {
                    return Err(format!("{n} must be above 0"));
                }
                Ok(Value::Count(n))
            },
            |s, v| {
                if let Value::Count(n) = v {
                    set(s, usize::try_from(n).unwrap_or(usize::MAX));
                }
            },
        );
    }

    /// The `[[api.tokens]]` tables; each problem at its table's line.
    fn tokens(&mut self, tables: &[Spanned<TokenFile>]) {
        let mut specs = Vec::new();
        for t in tables {
            let origin = self.file_origin(t);
            match token_spec(t.get_ref()) {
                Ok(spec) => {
                    self.s.origins.entry(TOKENS_FIELD).or_insert(origin);
                    specs.push(spec);
                }
                Err(message) => self.issues.push(ConfigIssue {
                    field: TOKENS_FIELD,
                    origin,
                    message,
                }),
            }
        }
        // Names and secrets must be distinct.
        if let Err(e) = Authenticator::new(specs.clone()) {
            let origin = self
                .s
                .origins
                .get(TOKENS_FIELD)
                .cloned()
                .unwrap_or(Origin::Default);
            self.issues.push(ConfigIssue {
                field: TOKENS_FIELD,
                origin,
                message: e.to_string(),
            });
        }
        self.s.tokens = specs;
    }
}

/// The field name of the token tables in issues.
const TOKENS_FIELD: &str = "api.tokens";

impl Merge<'_> {
    /// Checks between fields, reported at the first field's origin.
    fn cross_checks(&mut self) {
        let s = self.s.clone();
        if s.echo_interval.is_zero() || s.echo_interval >= s.dead_after {
            let o = self.origin(&ECHO);
            self.issue(
                &ECHO,
                o,
                format!(
                    "{} ms must be above 0 and below openflow.dead_after_ms ({} ms)",
                    ms(s.echo_interval),
                    ms(s.dead_after)
                ),
            );
        }
        if s.handshake_timeout.is_zero() {
            let o = self.origin(&HANDSHAKE);
            self.issue(&HANDSHAKE, o, "must be above 0");
        }
        if s.lldp_interval.is_zero() || s.lldp_interval >= s.link_timeout {
            let o = self.origin(&LLDP);
            self.issue(
                &LLDP,
                o,
                format!(
                    "{} ms must be above 0 and below discovery.link_timeout_ms ({} ms)",
                    ms(s.lldp_interval),
                    ms(s.link_timeout)
                ),
            );
        }
        if s.max_lease < Duration::from_millis(1) || s.max_lease > Duration::from_secs(65535) {
            let o = self.origin(&MAX_LEASE);
            self.issue(
                &MAX_LEASE,
                o,
                format!(
                    "{} ms is out of range: 1 to 65535000 (the longest OpenFlow hard_timeout)",
                    ms(s.max_lease)
                ),
            );
        }
        // Without tokens, anyone who can reach the API may use it: only this host may.
        if s.tokens.is_empty() && !is_loopback(s.api_listen.ip()) {
            let o = self.origin(&API_LISTEN);
            self.issue(
                &API_LISTEN,
                o,
                format!(
                    "{} is not a loopback address and no [[api.tokens]] are configured: tsmd \
                     refuses to serve the API unauthenticated beyond this host; add tokens \
                     (`tsmd token` prints one) or listen on 127.0.0.1 or [::1]",
                    s.api_listen
                ),
            );
        }
        for (key, zero) in [
            (&IDEM_TTL, s.idempotency_ttl.is_zero()),
            (&EVENTS_KEEPALIVE, s.events_keepalive.is_zero()),
        ] {
            if zero {
                let o = self.origin(key);
                self.issue(key, o, "must be above 0");
            }
        }
        self.snoop_checks();
        if s.request_timeout.is_zero() {
            let o = self.origin(&REQUEST_TIMEOUT);
            self.issue(&REQUEST_TIMEOUT, o, "must be above 0");
        }
        if s.openflow_listen == s.api_listen && s.api_listen.port() != 0 {
            let o = self.origin(&API_LISTEN);
            self.issue(
                &API_LISTEN,
                o,
                format!("{} is also openflow.listen", s.api_listen),
            );
        }
        // Anything the core still refuses (it should not, after the checks above).
        if self.issues.is_empty() {
            if let Err(e) = s.core_config().validate() {
                self.issues.push(ConfigIssue {
                    field: "",
                    origin: Origin::Default,
                    message: e.to_string(),
                });
            }
        }
    }
}

impl Merge<'_> {
    /// The `[snoop]` table, then the `--snoop-*` flags.
    fn snoop(&mut self, f: &SnoopFile, over: &SnoopOverrides) {
        self.boolean(&SNOOP_ENABLED, f.enabled.as_ref(), over.enabled, |s, v| {
            s.snoop.enabled = v
        });
        self.boolean(&SNOOP_QUERIER, f.querier.as_ref(), over.querier, |s, v| {
            s.snoop.querier = v
        });
        self.apply(
            &SNOOP_ROBUSTNESS,
            f.robustness.as_ref(),
            over.robustness,
            |src| {
                let n = match src {
                    Source::File(v) => *v,
                    Source::Flag(v) => v,
                };
                // The range itself is `SnoopConfig::validate`'s (in `snoop_checks`).
                if n > u64::from(u8::MAX) {
                    return Err(format!("{n} must be 1-7"));
                }
                Ok(Value::Count(n))
            },
            |s, v| {
                if let Value::Count(n) = v {
                    s.snoop.robustness = u8::try_from(n).unwrap_or(u8::MAX);
                }
            },
        );
        self.millis(
            &SNOOP_QI,
            f.query_interval_ms.as_ref(),
            over.query_interval_ms,
            |s, v| s.snoop.query_interval = v,
        );
        self.millis(
            &SNOOP_QRI,
            f.query_response_interval_ms.as_ref(),
            over.query_response_interval_ms,
            |s, v| s.snoop.query_response_interval = v,
        );
        self.millis(
            &SNOOP_LMQI,
            f.last_member_query_interval_ms.as_ref(),
            over.last_member_query_interval_ms,
            |s, v| s.snoop.last_member_query_interval = v,
        );
        self.apply(
            &SNOOP_MAC,
            f.querier_mac.as_ref(),
            over.querier_mac.clone(),
            |src| {
                let t = match &src {
                    Source::File(t) => t.as_str(),
                    Source::Flag(t) => t.as_str(),
                };
                t.trim()
                    .parse::<MacAddr>()
                    .map(Value::Mac)
                    .map_err(|_| format!("{t:?} is not a MAC address (e.g. \"02:74:73:6d:00:01\")"))
            },
            |s, v| {
                if let Value::Mac(a) = v {
                    s.snoop.querier_mac = a;
                }
            },
        );
        self.apply(
            &SNOOP_V4,
            f.querier_v4.as_ref(),
            over.querier_v4,
            |src| {
                let a = match src {
                    Source::File(t) => t
                        .trim()
                        .parse::<Ipv4Addr>()
                        .map_err(|_| format!("{t:?} is not an IPv4 address"))?,
                    Source::Flag(a) => a,
                };
                // A query's source is a host's (or 0.0.0.0, RFC 4541 §2.1.1), never a group.
                if a.is_multicast() || a.is_broadcast() {
                    return Err(format!("{a} must be a unicast address or 0.0.0.0"));
                }
                Ok(Value::Ip(IpAddr::V4(a)))
            },
            |s, v| {
                if let Value::Ip(IpAddr::V4(a)) = v {
                    s.snoop.querier_v4 = a;
                }
            },
        );
        self.apply(
            &SNOOP_V6,
            f.querier_v6.as_ref(),
            over.querier_v6,
            |src| match src {
                Source::File(t) => t
                    .trim()
                    .parse::<Ipv6Addr>()
                    .map(|a| Value::Ip(IpAddr::V6(a)))
                    .map_err(|_| format!("{t:?} is not an IPv6 address")),
                Source::Flag(a) => Ok(Value::Ip(IpAddr::V6(a))),
            },
            |s, v| {
                if let Value::Ip(IpAddr::V6(a)) = v {
                    s.snoop.querier_v6 = a;
                }
            },
        );
        self.count(
            &SNOOP_MAX,
            f.max_receivers.as_ref(),
            over.max_receivers,
            |s, v| s.snoop.max_receivers = v,
        );
    }

    fn boolean(
        &mut self,
        key: &Key,
        file: Option<&Spanned<bool>>,
        flag: Option<bool>,
        set: fn(&mut Settings, bool),
    ) {
        self.apply(
            key,
            file,
            flag,
            |src| {
                Ok(Value::Bool(match src {
                    Source::File(v) => *v,
                    Source::Flag(v) => v,
                }))
            },
            |s, v| {
                if let Value::Bool(b) = v {
                    set(s, b);
                }
            },
        );
    }

    /// `SnoopConfig::validate`'s verdict, each problem at the field it names. `validate` stops
    /// at the first problem, so each one found is reported and its fields reset to the
    /// defaults before asking again: every problem at once, in at most one round per field.
    fn snoop_checks(&mut self) {
        let mut cfg = self.s.snoop.clone();
        let d = SnoopConfig::default();
        for _ in 0..10 {
            let Err(e) = cfg.validate() else {
                return;
            };
            let key = match &e {
                SnoopConfigError::Robustness(_) => {
                    cfg.robustness = d.robustness;
                    &SNOOP_ROBUSTNESS
                }
                SnoopConfigError::Intervals { response, .. } => {
                    // Blame the response interval unless only the query interval was given.
                    let qri_given = self.origin(&SNOOP_QRI) != Origin::Default;
                    let qi_given = self.origin(&SNOOP_QI) != Origin::Default;
                    let key = if response.is_zero() || qri_given || !qi_given {
                        &SNOOP_QRI
                    } else {
                        &SNOOP_QI
                    };
                    cfg.query_interval = d.query_interval;
                    cfg.query_response_interval = d.query_response_interval;
                    key
                }
                SnoopConfigError::LastMember => {
                    cfg.last_member_query_interval = d.last_member_query_interval;
                    &SNOOP_LMQI
                }
                SnoopConfigError::QuerierV6(_) => {
                    cfg.querier_v6 = d.querier_v6;
                    &SNOOP_V6
                }
                SnoopConfigError::QuerierMac(_) => {
                    cfg.querier_mac = d.querier_mac;
                    &SNOOP_MAC
                }
            };
            let o = self.origin(key);
            self.issue(key, o, e.to_string());
        }
    }
}

/// Whether `ip` is a loopback address (an IPv4-mapped IPv6 one included).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn check_filter(directive: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(directive)
        .map(|_| ())
        .map_err(|e| format!("{directive:?} is not a log filter (RUST_LOG syntax, e.g. \"info,controller=debug\"): {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn load(text: &str, over: &Overrides) -> Result<Settings, ConfigErrors> {
        Settings::from_parts(Some(Path::new("t.toml")), Some(text), over)
    }

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let s = Settings::from_parts(None, None, &Overrides::default()).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.core_config(), Config::default());
        let back = load(&s.to_toml(), &Overrides::default()).unwrap();
        assert_eq!(back.core_config(), s.core_config());
        assert_eq!(back.to_toml().lines().count(), s.to_toml().lines().count());
    }

    #[test]
    fn flags_override_the_file() {
        let over = Overrides {
            dead_after_ms: Some(9000),
            pool_v4: Some("239.1.0.0/30".into()),
            ..Overrides::default()
        };
        let s = load(
            "[openflow]\ndead_after_ms = 4000\necho_interval_ms = 500\n",
            &over,
        )
        .unwrap();
        assert_eq!(s.dead_after, Duration::from_secs(9));
        assert_eq!(s.echo_interval, Duration::from_millis(500));
        assert_eq!(
            s.origin("openflow.echo_interval_ms"),
            Origin::File {
                line: 3,
                column: 20
            }
        );
        assert_eq!(pool_text(s.pool_v4), "239.1.0.0/30");
        assert!(matches!(s.origin("subsets.pool_v4"), Origin::Flag { .. }));
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = load(
            "[openflow]\necho_interval_ms = 5000\n",
            &Overrides::default(),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("t.toml:2:20: openflow.echo_interval_ms: 5000 ms must be above 0 and below openflow.dead_after_ms (3000 ms)"), "{text}");
        let e = load(
            "[api]\nlisten = \"nope\"\n[subsets]\npool_v4 = \"ff18::/120\"\n",
            &Overrides::default(),
        )
        .unwrap_err();
        assert_eq!(e.issues.len(), 2, "{e}");
        assert!(
            e.to_string()
                .contains("t.toml:2:10: api.listen: \"nope\" is not an IP:PORT"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("t.toml:4:11: subsets.pool_v4: ff18:: is not an IPv4 address"),
            "{e}"
        );
        let e = load(
            "[openflow]\nlisten = \"0.0.0.0:6653\"\nbogus = 1\n",
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.toml:3:1: unknown field `bogus`"),
            "{e}"
        );
        let e = load("[openflow\n", &Overrides::default()).unwrap_err();
        assert!(e.to_string().starts_with("t.toml:1:"), "{e}");
    }

    #[test]
    fn the_snoop_section_reaches_the_core() {
        let over = Overrides {
            snoop: SnoopOverrides {
                querier: Some(false),
                query_interval_ms: Some(60_000),
                ..SnoopOverrides::default()
            },
            ..Overrides::default()
        };
        let s = load(
            "[snoop]\nrobustness = 3\nquerier = true\nquerier_mac = \"02:00:00:00:00:aa\"\n\
             querier_v4 = \"10.0.0.254\"\nmax_receivers = 100\n",
            &over,
        )
        .unwrap();
        let c = s.core_config().snoop;
        assert_eq!(c.robustness, 3);
        assert!(!c.querier, "the flag wins over the file");
        assert_eq!(c.query_interval, Duration::from_secs(60));
        assert_eq!(c.querier_mac, MacAddr([2, 0, 0, 0, 0, 0xaa]));
        assert_eq!(c.querier_v4, Ipv4Addr::new(10, 0, 0, 254));
        assert_eq!(c.max_receivers, 100);
        // The rest keeps the core's defaults.
        let d = SnoopConfig::default();
        assert_eq!(c.querier_v6, d.querier_v6);
        assert_eq!(c.last_member_query_interval, d.last_member_query_interval);
        assert_eq!(Settings::default().snoop, d);
        // What `tsmd check` prints loads back to the same.
        let back = load(&s.to_toml(), &Overrides::default()).unwrap();
        assert_eq!(back.core_config().snoop, c);
    }

    #[test]
    fn every_snoop_problem_names_its_field() {
        let e = load(
            "[snoop]\nrobustness = 9\nlast_member_query_interval_ms = 0\n\
             querier_v6 = \"2001:db8::1\"\nquerier_mac = \"01:00:5e:00:00:01\"\n\
             query_interval_ms = 5000\n",
            &Overrides::default(),
        )
        .unwrap_err();
        let text = e.to_string();
        let fields: Vec<&str> = e.issues.iter().map(|i| i.field).collect();
        assert_eq!(
            fields,
            [
                "snoop.robustness",
                "snoop.last_member_query_interval_ms",
                "snoop.querier_v6",
                "snoop.querier_mac",
                "snoop.query_interval_ms",
            ],
            "{text}"
        );
        assert!(
            text.contains("t.toml:2:14: snoop.robustness: snooping robustness 9 must be 1-7"),
            "{text}"
        );
        assert!(
            text.contains("t.toml:6:21: snoop.query_interval_ms: snooping query_response_interval"),
            "{text}"
        );
        let over = Overrides {
            snoop: SnoopOverrides {
                robustness: Some(300),
                querier_mac: Some("nope".into()),
                ..SnoopOverrides::default()
            },
            ..Overrides::default()
        };
        let text = load("", &over).unwrap_err().to_string();
        assert!(
            text.contains("--snoop-robustness (or TSMD_SNOOP_ROBUSTNESS): snoop.robustness: 300"),
            "{text}"
        );
        assert!(
            text.contains("--snoop-querier-mac (or TSMD_SNOOP_QUERIER_MAC): snoop.querier_mac: \"nope\" is not a MAC address"),
            "{text}"
        );
    }

    #[test]
    fn pools() {
        assert_eq!(
            pool_text(parse_pool("239.192.0.0/16", false).unwrap()),
            "239.192.0.0/16"
        );
        assert_eq!(
            pool_text(parse_pool("ff18::8000:0/112", true).unwrap()),
            "ff18::8000:0/112"
        );
        assert_eq!(
            pool_text(parse_pool("239.1.1.1-239.1.1.3", false).unwrap()),
            "239.1.1.1-239.1.1.3"
        );
        assert_eq!(
            pool_text(parse_pool("239.1.1.7", false).unwrap()),
            "239.1.1.7/32"
        );
        assert_eq!(parse_pool("none", true).unwrap(), None);
        assert!(parse_pool("239.1.1.1/16", false)
            .unwrap_err()
            .contains("host bits"));
        assert!(parse_pool("10.0.0.0/8", false)
            .unwrap_err()
            .contains("non-multicast"));
        assert!(parse_pool("239.1.1.1/33", false).is_err());
    }
}
