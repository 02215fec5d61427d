//! tsmd's Prometheus metrics (`GET /metrics`, text exposition format 0.0.4), hand-written:
//! a few atomics and two small maps, no registry.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `tsmd_subset_install_seconds` | histogram | — (subset `POST` to ready: every switch acknowledged) |
//! | `tsmd_claim_seconds` | histogram | — (a claim request to its answer; [`Metrics::observe_claim`]) |
//! | `tsmd_openflow_messages_sent_total` | counter | `type` (`OFPT_FLOW_MOD`, …) |
//! | `tsmd_openflow_messages_received_total` | counter | `type` |
//! | `tsmd_openflow_errors_received_total` | counter | `type` (`OFPET_…`), `code` (`OFPGMFC_…`) |
//! | `tsmd_switches_connected` | gauge | — |
//! | `tsmd_subsets_live` | gauge | — (ready subsets) |
//! | `tsmd_groups` | gauge | — |
//! | `tsmd_http_requests_total` | counter | `method`, `route` (the route pattern), `status` |
//! | `tsmd_events_last_seq` | gauge | — (the newest event's seq) |
//! | `tsmd_idempotency_keys` | gauge | — (remembered answers) |
//! | `tsmd_snoop_*_total` | counter | — (IGMP / MLD snooping, one per [`SnoopCounters`] field: [`SNOOP_COUNTERS`]) |
//! | `tsmd_snoop_groups` | gauge | — (group addresses with a snooped member) |
//! | `tsmd_snoop_receivers` | gauge | — (receivers tracked: host, port and group) |
//!
//! Guarantees: recording never blocks for long (atomics; the two maps take a short lock) and
//! never allocates per OpenFlow message; label sets are bounded (route patterns, not paths;
//! unknown HTTP methods become `other`; at most [`MAX_ERROR_SERIES`] error series, the rest
//! counted under `type="other"`); the output parses as the exposition format (the tests read
//! it back with [`parse_exposition`], written apart from the renderer).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use openflow::error_msg::ErrorCode;
use openflow::header::MsgType;
use openflow::{Body, Message};

use crate::snoop::{SnoopCounters, Snooper};

/// How many distinct OpenFlow error (type, code) series are kept.
pub const MAX_ERROR_SERIES: usize = 256;
/// How many distinct HTTP (method, route, status) series are kept.
const MAX_HTTP_SERIES: usize = 1024;

/// Upper bounds (seconds) of the install-latency buckets: 100 µs to 10 s.
const INSTALL_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Upper bounds (seconds) of the claim-latency buckets: 10 µs to 1 s.
const CLAIM_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 1.0,
];

/// A latency histogram with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last one is `+Inf`.
    counts: Vec<AtomicU64>,
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self.bounds.partition_point(|b| *b < secs);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let le = match self.bounds.get(i) {
                Some(b) => format!("{b}"),
                None => "+Inf".to_owned(),
            };
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// Values read from the core at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    pub switches_connected: u64,
    pub subsets_live: u64,
    pub groups: u64,
    pub events_last_seq: u64,
    pub idempotency_keys: u64,
    pub snoop: SnoopGauges,
}

/// IGMP / MLD snooping as the core sees it at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnoopGauges {
    pub counters: SnoopCounters,
    /// Group addresses with at least one member (receivers, or members restored from a
    /// snapshot that have not reported again yet).
    pub groups: u64,
    /// Receivers tracked, over every group and port.
    pub receivers: u64,
}

impl SnoopGauges {
    /// Reads `s` (linear in the number of receivers, at most `max_receivers`).
    pub fn read(s: &Snooper) -> SnoopGauges {
        let groups = s.groups();
        let receivers = groups.iter().map(|g| s.receivers(*g).len() as u64).sum();
        SnoopGauges {
            counters: *s.counters(),
            groups: groups.len() as u64,
            receivers,
        }
    }
}

/// The snooping counters' metric names (without `tsmd_snoop_` and `_total`) and help texts,
/// in the order of [`SnoopCounters`]' fields.
pub const SNOOP_COUNTERS: [(&str, &str); 12] = [
    ("packets", "IGMP and MLD packets snooped (well-formed, from other hosts)."),
    ("malformed", "Frames that claimed to be IGMP or MLD but could not be read."),
    ("non_edge", "IGMP and MLD packets ignored because they came from an inter-switch port."),
    ("own_queries", "Our own queries that came back to us (ignored)."),
    ("foreign_queries", "Queries from another querier."),
    ("reports", "Membership reports (v1/v2 reports, and v3 records that join or refresh)."),
    ("leaves", "Leaves of a tracked receiver."),
    ("fast_leaves", "Leaves that removed the last receiver of a port at once."),
    ("unknown_leaves", "Leaves from a receiver not tracked there."),
    ("expired", "Receivers whose membership timer ran out."),
    ("ignored", "Reports ignored: group not snooped, no usable source, unknown record type, or beyond max_receivers."),
    ("queries_sent", "Query frames sent (one per query and port set)."),
];

/// `c`'s values in the order of [`SNOOP_COUNTERS`]. The exhaustive pattern makes a new
/// counter field a compile error here until it is exported.
fn snoop_values(c: &SnoopCounters) -> [u64; 12] {
    let SnoopCounters {
        packets,
        malformed,
        non_edge,
        own_queries,
        foreign_queries,
        reports,
        leaves,
        fast_leaves,
        unknown_leaves,
        expired,
        ignored,
        queries_sent,
    } = *c;
    [
        packets,
        malformed,
        non_edge,
        own_queries,
        foreign_queries,
        reports,
        leaves,
        fast_leaves,
        unknown_leaves,
        expired,
        ignored,
        queries_sent,
    ]
}

/// Every metric of one tsmd.
#[derive(Debug)]
pub struct Metrics {
    install: Histogram,
    claim: Histogram,
    sent: Vec<AtomicU64>,
    received: Vec<AtomicU64>,
    errors: Mutex<BTreeMap<(String, String), u64>>,
    http: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// All zero.
    pub fn new() -> Metrics {
        Metrics {
            install: Histogram::new(INSTALL_BUCKETS),
            claim: Histogram::new(CLAIM_BUCKETS),
            sent: (0..256).map(|_| AtomicU64::new(0)).collect(),
            received: (0..256).map(|_| AtomicU64::new(0)).collect(),
            errors: Mutex::new(BTreeMap::new()),
            http: Mutex::new(BTreeMap::new()),
        }
    }

    /// A subset install took `d` from its `POST` to ready.
    pub fn observe_install(&self, d: Duration) {
        self.install.observe(d);
    }

    /// A claim took `d` from its request to its answer. For the claims code to call.
    pub fn observe_claim(&self, d: Duration) {
        self.claim.observe(d);
    }

    /// The install-latency histogram.
    pub fn install(&self) -> &Histogram {
        &self.install
    }

    /// The claim-latency histogram.
    pub fn claim(&self) -> &Histogram {
        &self.claim
    }

    /// An OpenFlow message was sent.
    pub fn sent(&self, kind: MsgType) {
        if let Some(c) = self.sent.get(usize::from(kind.value())) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An OpenFlow message was received (an `OFPT_ERROR` is also counted by type and code).
    pub fn received(&self, msg: &Message) {
        if let Some(c) = self.received.get(usize::from(msg.kind().value())) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if let Body::Error(e) = &msg.body {
            self.error(e.typed());
        }
    }

    fn error(&self, code: ErrorCode) {
        let text = code.to_string();
        let (t, c) = text.split_once('/').unwrap_or((text.as_str(), ""));
        let mut map = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        let key = (t.to_owned(), c.to_owned());
        let key = if map.contains_key(&key) || map.len() < MAX_ERROR_SERIES {
            key
        } else {
            ("other".to_owned(), "other".to_owned())
        };
        *map.entry(key).or_insert(0) += 1;
    }

    /// An HTTP request to `route` was answered with `status`.
    pub fn http(&self, method: &str, route: &str, status: u16) {
        let method = match method {
            "GET" => "GET",
            "PUT" => "PUT",
            "POST" => "POST",
            "DELETE" => "DELETE",
            "HEAD" => "HEAD",
            "PATCH" => "PATCH",
            "OPTIONS" => "OPTIONS",
            _ => "other",
        };
        let mut map = self.http.lock().unwrap_or_else(|e| e.into_inner());
        let key = (method, route.to_owned(), status);
        if map.contains_key(&key) || map.len() < MAX_HTTP_SERIES {
            *map.entry(key).or_insert(0) += 1;
        } else {
            *map.entry((method, "other".to_owned(), status)).or_insert(0) += 1;
        }
    }

    /// The exposition text.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        self.install.render(
            &mut out,
            "tsmd_subset_install_seconds",
            "Time from a subset POST until every switch acknowledged its rules.",
        );
        self.claim.render(
            &mut out,
            "tsmd_claim_seconds",
            "Time from a claim request until its answer.",
        );
        for (name, help, counts) in [
            (
                "tsmd_openflow_messages_sent_total",
                "OpenFlow messages sent to switches, by type.",
                &self.sent,
            ),
            (
                "tsmd_openflow_messages_received_total",
                "OpenFlow messages received from switches, by type.",
                &self.received,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (i, c) in counts.iter().enumerate() {
                let n = c.load(Ordering::Relaxed);
                if n > 0 {
                    let t = MsgType::from(i as u8).to_string();
                    let _ = writeln!(out, "{name}{{type=\"{}\"}} {n}", escape(&t));
                }
            }
        }
        let name = "tsmd_openflow_errors_received_total";
        let _ = writeln!(
            out,
            "# HELP {name} OFPT_ERROR messages received, by error type and code."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for ((t, c), n) in self.errors.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "{name}{{type=\"{}\",code=\"{}\"}} {n}",
                escape(t),
                escape(c)
            );
        }
        for (name, help, v) in [
            (
                "tsmd_switches_connected",
                "Switches with a ready OpenFlow session.",
                g.switches_connected,
            ),
            (
                "tsmd_subsets_live",
                "Subsets installed and acknowledged.",
                g.subsets_live,
            ),
            ("tsmd_groups", "Negotiating groups.", g.groups),
            (
                "tsmd_events_last_seq",
                "The sequence number of the newest event.",
                g.events_last_seq,
            ),
            (
                "tsmd_idempotency_keys",
                "Remembered answers to idempotent POSTs.",
                g.idempotency_keys,
            ),
            (
                "tsmd_snoop_groups",
                "Group addresses with at least one member learned by IGMP / MLD snooping.",
                g.snoop.groups,
            ),
            (
                "tsmd_snoop_receivers",
                "Receivers tracked by IGMP / MLD snooping (host, port and group).",
                g.snoop.receivers,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {v}");
        }
        for ((short, help), v) in SNOOP_COUNTERS.iter().zip(snoop_values(&g.snoop.counters)) {
            let name = format!("tsmd_snoop_{short}_total");
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {v}");
        }
        let name = "tsmd_http_requests_total";
        let _ = writeln!(
            out,
            "# HELP {name} HTTP requests answered, by route and status."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for ((m, r, s), n) in self.http.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "{name}{{method=\"{m}\",route=\"{}\",status=\"{s}\"}} {n}",
                escape(r)
            );
        }
        out
    }
}

/// A label value as the format wants it: `\`, `"` and newline escaped.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// One sample line of the exposition format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Reads the text exposition format 0.0.4 strictly: `# HELP` and `# TYPE` lines, sample
/// lines `name{label="value",…} value`; every sample's family must have been typed before it;
/// a histogram's buckets must be cumulative, end with `le="+Inf"` and equal `_count`. Written
/// apart from [`Metrics::render`] so that a test of one checks the other.
pub fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |m: String| format!("line {}: {m}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, tail) = (parts.next(), parts.next(), parts.next());
            match (kw, name) {
                (Some("HELP"), Some(name)) if valid_name(name) => {}
                (Some("TYPE"), Some(name)) if valid_name(name) => {
                    let t = tail.unwrap_or_default();
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                        return Err(at(format!("unknown type {t:?}")));
                    }
                    if types.insert(name.to_owned(), t.to_owned()).is_some() {
                        return Err(at("family typed twice".to_owned()));
                    }
                }
                _ => return Err(at("malformed comment".to_owned())),
            }
            continue;
        }
        let (name, labels, value) = parse_sample(line).map_err(at)?;
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(&name)
            .to_owned();
        let Some(t) = types.get(&family) else {
            return Err(at(format!("sample of untyped family {family}")));
        };
        if t == "counter" && !family.ends_with("_total") {
            return Err(at("a counter's name must end in _total".to_owned()));
        }
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    check_histograms(&types, &samples)?;
    Ok(samples)
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

type Parsed = (String, BTreeMap<String, String>, f64);

fn parse_sample(line: &str) -> Result<Parsed, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let (labels, rest) = match line[name_end..].strip_prefix('{') {
        Some(body) => parse_labels(body)?,
        None => (BTreeMap::new(), &line[name_end..]),
    };
    let value_text = rest
        .strip_prefix(' ')
        .ok_or("expected one space before the value")?;
    let value_text = value_text.split(' ').next().unwrap_or_default(); // an optional timestamp
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok((name.to_owned(), labels, value))
}

/// `a="x",b="y"}` → the labels and what follows the `}`.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut i = 0;
    loop {
        let rest = s.get(i..).ok_or("unterminated labels")?;
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let key = &rest[..eq];
        if !valid_name(key) || key.contains(':') {
            return Err(format!("bad label name {key:?}"));
        }
        let quoted = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let end = loop {
            let (j, c) = chars.next().ok_or("unterminated label value")?;
            match c {
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => value.push('\n'),
                    Some(e @ ('\\' | '"')) => value.push(e),
                    _ => return Err("bad escape".to_owned()),
                },
                '"' => break j,
                c => value.push(c),
            }
        };
        if labels.insert(key.to_owned(), value).is_some() {
            return Err(format!("label {key} twice"));
        }
        // Past `key="value"`.
        let mut next = i + eq + 2 + end + 1;
        match s.get(next..).and_then(|t| t.chars().next()) {
            Some(',') => next += 1,
            Some('}') => {}
            _ => return Err("expected , or } after a label".to_owned()),
        }
        i = next;
    }
}

fn check_histograms(types: &BTreeMap<String, String>, samples: &[Sample]) -> Result<(), String> {
    for (family, t) in types {
        if t != "histogram" {
            continue;
        }
        let buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
            .collect();
        let mut last = -1.0f64;
        let mut last_le = f64::NEG_INFINITY;
        for b in &buckets {
            let le = b
                .labels
                .get("le")
                .ok_or(format!("{family}: bucket without le"))?;
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().map_err(|_| format!("{family}: bad le {le:?}"))?
            };
            if le <= last_le || b.value < last {
                return Err(format!("{family}: buckets not increasing at le={le}"));
            }
            last_le = le;
            last = b.value;
        }
        if last_le != f64::INFINITY {
            return Err(format!("{family}: no +Inf bucket"));
        }
        let count = samples
            .iter()
            .find(|s| s.name == format!("{family}_count"))
            .ok_or(format!("{family}: no _count"))?;
        if count.value != last {
            return Err(format!(
                "{family}: _count {} != +Inf bucket {last}",
                count.value
            ));
        }
        if !samples.iter().any(|s| s.name == format!("{family}_sum")) {
            return Err(format!("{family}: no _sum"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use openflow::error_msg::{ErrorMsg, GroupModFailedCode};
    use openflow::Xid;

    #[test]
    fn output_parses_and_counts_move() {
        let m = Metrics::new();
        m.observe_install(Duration::from_micros(700));
        m.observe_install(Duration::from_millis(30));
        m.observe_claim(Duration::from_micros(20));
        m.sent(MsgType::FlowMod);
        m.sent(MsgType::FlowMod);
        m.received(&Message::new(
            Xid(1),
            ErrorMsg::new(GroupModFailedCode::OutOfGroups, vec![]),
        ));
        m.http("GET", "/v1/groups/{name}", 200);
        m.http("BREW", "unmatched", 405);
        let text = m.render(&Gauges {
            switches_connected: 3,
            ..Gauges::default()
        });
        let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let get = |name: &str, labels: &[(&str, &str)]| {
            samples
                .iter()
                .find(|s| {
                    s.name == name
                        && labels
                            .iter()
                            .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
                })
                .map(|s| s.value)
        };
        assert_eq!(get("tsmd_subset_install_seconds_count", &[]), Some(2.0));
        assert_eq!(
            get("tsmd_subset_install_seconds_bucket", &[("le", "0.001")]),
            Some(1.0)
        );
        assert_eq!(get("tsmd_claim_seconds_count", &[]), Some(1.0));
        assert_eq!(
            get(
                "tsmd_openflow_messages_sent_total",
                &[("type", "OFPT_FLOW_MOD")]
            ),
            Some(2.0)
        );
        assert_eq!(
            get(
                "tsmd_openflow_errors_received_total",
                &[
                    ("type", "OFPET_GROUP_MOD_FAILED"),
                    ("code", "OFPGMFC_OUT_OF_GROUPS")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(get("tsmd_switches_connected", &[]), Some(3.0));
        // Every snooping counter is a family of its own, zero until counted.
        for (short, _) in SNOOP_COUNTERS {
            assert_eq!(get(&format!("tsmd_snoop_{short}_total"), &[]), Some(0.0));
        }
        assert_eq!(get("tsmd_snoop_groups", &[]), Some(0.0));
        assert_eq!(
            get(
                "tsmd_http_requests_total",
                &[("method", "other"), ("status", "405")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn snooping_counters_keep_their_names() {
        let g = Gauges {
            snoop: SnoopGauges {
                counters: SnoopCounters {
                    packets: 11,
                    reports: 7,
                    leaves: 2,
                    fast_leaves: 1,
                    queries_sent: 3,
                    malformed: 5,
                    ..SnoopCounters::default()
                },
                groups: 4,
                receivers: 9,
            },
            ..Gauges::default()
        };
        let text = Metrics::new().render(&g);
        let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let value = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
        for (name, v) in [
            ("tsmd_snoop_packets_total", 11.0),
            ("tsmd_snoop_reports_total", 7.0),
            ("tsmd_snoop_leaves_total", 2.0),
            ("tsmd_snoop_fast_leaves_total", 1.0),
            ("tsmd_snoop_queries_sent_total", 3.0),
            ("tsmd_snoop_malformed_total", 5.0),
            ("tsmd_snoop_expired_total", 0.0),
            ("tsmd_snoop_groups", 4.0),
            ("tsmd_snoop_receivers", 9.0),
        ] {
            assert_eq!(value(name), Some(v), "{name} in\n{text}");
        }
        assert!(text.contains("# TYPE tsmd_snoop_reports_total counter\n"));
        assert!(text.contains("# TYPE tsmd_snoop_receivers gauge\n"));
    }

    #[test]
    fn the_parser_refuses_what_is_not_the_format() {
        for bad in [
            "x 1\n",                                              // untyped family
            "# TYPE x_total counter\nx_total{a=1} 1\n",           // unquoted label
            "# TYPE x_total counter\nx_total{a=\"1\"}1\n",        // no space
            "# TYPE x counter\nx 1\n",                            // counter without _total
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 0\nh_count 1\n",
            "# TYPE g gauge\ng{a=\"x\\q\"} 1\n",                  // bad escape
        ] {
            assert!(parse_exposition(bad).is_err(), "{bad}");
        }
        let ok =
            parse_exposition("# HELP g A gauge.\n# TYPE g gauge\ng{a=\"q\\\"\\n\",b=\"2\"} 1.5\n")
                .unwrap();
        assert_eq!(ok[0].labels["a"], "q\"\n");
        assert_eq!(ok[0].labels["b"], "2");
    }
}
