//! Bearer-token authentication and per-route authorisation (RFC 6750), enforced by the router
//! before any handler runs.
//!
//! - A token is configured by its SHA-256 digest ([`TokenHash`]), a name, the negotiating
//!   groups it may use ([`GroupScope`]: names, or `*` for all) and its [`Right`]s: `subsets`
//!   (on-demand subsets), `claims` (rendezvous claims and blocks), `admin` (groups, rendezvous
//!   plans, BIER, and everything the other two allow). An unsalted SHA-256 is safe here only
//!   because tokens are random and long (tsmd generates 256-bit ones): there is nothing to
//!   guess. A low-entropy password must never be used as a token.
//! - Every route has an [`Access`] in [`ROUTE_RULES`], a table keyed by method and path
//!   pattern: `{x}` matches one segment, `{*x}` the rest of the path. When the pattern has a
//!   `{name}` segment, that segment is the negotiating group the request concerns and must be
//!   in the token's scope. A route missing from the table needs `admin` (safe default).
//! - Answers: no token or an unknown token → 401 `unauthorized` with
//!   `WWW-Authenticate: Bearer realm="tsmd"` (plus `error="invalid_token"` for an unknown one);
//!   a known token without the right or the group → 403 `forbidden` naming the token, and the
//!   right or the group that is missing. A malformed `Authorization` header is 400
//!   `bad-header`.
//! - On success the [`Principal`] goes into the request's extensions, so [`RequestMeta`]
//!   carries it to the service, which enforces the scope where the path cannot show it:
//!   lists hold only the token's groups, and a resource named by address or id (e.g.
//!   `DELETE /v1/subsets/{address}`) of another group is answered as absent, so its existence
//!   does not leak (tsmd: `controller/src/daemon/scope.rs`; [`RequestMeta::authorize`] checks
//!   a right and a group).
//! - `GET /v1/events` for a scoped token: each event's [`Audience`] is decided when it is
//!   logged ([`EventScopes`]), and the stream withholds what the token may not see
//!   ([`crate::events`] says how the client still tells withheld seqs from lost ones).
//!
//! Without an [`Authenticator`] (no tokens configured) nothing is checked; tsmd then serves
//! the API on a loopback address only.
//!
//! [`RequestMeta`]: crate::RequestMeta
//! [`RequestMeta::authorize`]: crate::RequestMeta::authorize

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::events::EventKind;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Right {
    /// Create and delete on-demand subsets (`POST /v1/groups/{name}/subsets`).
    Subsets,
    /// Take, renew and release rendezvous claims and blocks.
    Claims,
    /// Manage groups, rendezvous plans and BIER; implies every other right.
    Admin,
}

impl Right {
    /// Every right, in the order the config lists them.
    pub const ALL: [Right; 3] = [Right::Subsets, Right::Claims, Right::Admin];

    /// The name used in the config and in problems.
    pub fn as_str(self) -> &'static str {
        match self {
            Right::Subsets => "subsets",
            Right::Claims => "claims",
            Right::Admin => "admin",
        }
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Right {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Right::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a right: one of subsets, claims, admin"))
    }
}

/// The negotiating groups a token may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupScope {
    /// Every group (`"*"` in the config).
    Any,
    /// Only these (by name).
    Only(BTreeSet<String>),
}

impl GroupScope {
    /// From the config's list: `["*"]` is every group; `"*"` mixed with names is refused.
    pub fn from_list<I, S>(list: I) -> Result<GroupScope, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names: BTreeSet<String> = list.into_iter().map(|s| s.as_ref().to_owned()).collect();
        if names.contains("*") {
            return if names.len() == 1 {
                Ok(GroupScope::Any)
            } else {
                Err("\"*\" (every group) cannot be combined with group names".to_owned())
            };
        }
        if names.is_empty() {
            return Err("a token needs at least one group (or \"*\" for every group)".to_owned());
        }
        for n in &names {
            n.parse::<crate::types::GroupName>()
                .map_err(|e| format!("{n:?} is not a group name: {e}"))?;
        }
        Ok(GroupScope::Only(names))
    }

    /// Whether `group` is in the scope.
    pub fn allows(&self, group: &str) -> bool {
        match self {
            GroupScope::Any => true,
            GroupScope::Only(names) => names.contains(group),
        }
    }

    /// The config's list form.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            GroupScope::Any => vec!["*".to_owned()],
            GroupScope::Only(names) => names.iter().cloned().collect(),
        }
    }
}

/// Who may see an event of `GET /v1/events`; decided once, when the event is logged
/// ([`EventScopes::attribute`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every token: the fabric (switches, ports, links, hosts, switch errors) and `restored`,
    /// which concern no group.
    Everyone,
    /// Tokens whose scope holds this group.
    Group(Arc<str>),
    /// Only tokens scoped to every group (`*`): the event concerns a group the log cannot
    /// name (a subset, claim or block it never saw start), or a kind it does not know.
    AllGroups,
}

impl GroupScope {
    /// Whether a token with this scope may see an event meant for `audience`.
    pub fn sees(&self, audience: &Audience) -> bool {
        match (self, audience) {
            (GroupScope::Any, _) | (_, Audience::Everyone) => true,
            (GroupScope::Only(names), Audience::Group(g)) => names.contains(&**g),
            (GroupScope::Only(_), Audience::AllGroups) => false,
        }
    }
}

/// Which group each event concerns, for the scope filter of `GET /v1/events`.
///
/// Most kinds name their group. Those that name a subset by address (`subset_removed`,
/// `subset_rerouted`, `subset_degraded`) or a claim or block by id (`claim_renewed`,
/// `block_renewed`) get the group the index learned when that resource started
/// (`subset_ready`, `claim_taken`, `block_taken`), or was told about at start for resources
/// restored from the store ([`EventScopes::learn_subset`] and friends). An entry is dropped
/// when its resource ends (`subset_removed`, `claim_ended`, `block_ended`), so the index holds
/// only live resources.
#[derive(Debug, Default)]
pub struct EventScopes {
    subsets: HashMap<IpAddr, Arc<str>>,
    claims: HashMap<u64, Arc<str>>,
    blocks: HashMap<u64, Arc<str>>,
}

impl EventScopes {
    /// Records that the live subset at `address` belongs to `group`.
    pub fn learn_subset(&mut self, address: IpAddr, group: &str) {
        self.subsets.insert(address, Arc::from(group));
    }

    /// Records that live claim `id` belongs to `group`.
    pub fn learn_claim(&mut self, id: u64, group: &str) {
        self.claims.insert(id, Arc::from(group));
    }

    /// Records that live block `id` belongs to `group`.
    pub fn learn_block(&mut self, id: u64, group: &str) {
        self.blocks.insert(id, Arc::from(group));
    }

    /// How many live resources the index knows (subsets, claims, blocks).
    pub fn len(&self) -> usize {
        self.subsets.len() + self.claims.len() + self.blocks.len()
    }

    /// Whether the index knows no live resource.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The audience of an event of `kind`, learning from it (call once per event, in order).
    pub fn attribute(&mut self, kind: &EventKind) -> Audience {
        let named = |g: &str| Audience::Group(Arc::from(g));
        let known =
            |g: Option<&Arc<str>>| g.map_or(Audience::AllGroups, |g| Audience::Group(g.clone()));
        match kind {
            EventKind::Restored
            | EventKind::SwitchUp { .. }
            | EventKind::SwitchDown { .. }
            | EventKind::PortUp { .. }
            | EventKind::PortDown { .. }
            | EventKind::LinkUp { .. }
            | EventKind::LinkDown { .. }
            | EventKind::HostAdded { .. }
            | EventKind::HostMoved { .. }
            | EventKind::HostAddrs { .. }
            | EventKind::HostRemoved { .. }
            | EventKind::SwitchError { .. } => Audience::Everyone,
            EventKind::GroupPut { group, .. }
            | EventKind::GroupDeleted { group }
            | EventKind::GroupMembers { group, .. }
            | EventKind::PlanChanged { group, .. }
            | EventKind::PlanDeleted { group } => named(group),
            EventKind::SubsetReady { address, group, .. } => {
                self.learn_subset(*address, group);
                named(group)
            }
            EventKind::SubsetRemoved { address, .. } => {
                known(self.subsets.remove(address).as_ref())
            }
            EventKind::SubsetRerouted { address } | EventKind::SubsetDegraded { address, .. } => {
                known(self.subsets.get(address))
            }
            EventKind::ClaimTaken { id, group, .. } => {
                self.learn_claim(id.0, group);
                named(group)
            }
            EventKind::ClaimRenewed { id, .. } => known(self.claims.get(&id.0)),
            EventKind::ClaimEnded { id, group, .. } => {
                self.claims.remove(&id.0);
                named(group)
            }
            EventKind::BlockTaken { id, group, .. } => {
                self.learn_block(id.0, group);
                named(group)
            }
            EventKind::BlockRenewed { id, .. } => known(self.blocks.get(&id.0)),
            EventKind::BlockEnded { id, group, .. } => {
                self.blocks.remove(&id.0);
                named(group)
            }
            // Not described yet: whether it concerns a group is unknown, so only tokens that
            // may see every group get it.
            EventKind::Other { .. } | EventKind::Unknown => Audience::AllGroups,
        }
    }
}

/// Who made a request: the configured token it presented (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name in the config (in logs, problems, and the idempotency key scope).
    pub name: String,
    /// The groups it may use.
    pub groups: GroupScope,
    /// Its rights.
    pub rights: BTreeSet<Right>,
}

impl Principal {
    /// Whether it has `right` (`admin` has every right).
    pub fn has(&self, right: Right) -> bool {
        self.rights.contains(&Right::Admin) || self.rights.contains(&right)
    }

    /// `Ok` when it has `right` (if any) and may use `group` (if any); else the 403.
    pub fn check(&self, right: Option<Right>, group: Option<&str>) -> Result<(), ApiError> {
        if let Some(right) = right {
            if !self.has(right) {
                return Err(ApiError::Forbidden {
                    reason: format!(
                        "token {:?} lacks the right {right:?} (it has: {})",
                        self.name,
                        rights_text(&self.rights)
                    ),
                    token: Some(self.name.clone()),
                    right: Some(right.as_str().to_owned()),
                    group: None,
                });
            }
        }
        if let Some(group) = group {
            if !self.groups.allows(group) {
                return Err(ApiError::Forbidden {
                    reason: format!(
                        "token {:?} may not use group {group:?} (it may use: {})",
                        self.name,
                        self.groups.to_list().join(", ")
                    ),
                    token: Some(self.name.clone()),
                    right: None,
                    group: Some(group.to_owned()),
                });
            }
        }
        Ok(())
    }
}

fn rights_text(rights: &BTreeSet<Right>) -> String {
    if rights.is_empty() {
        return "none".to_owned();
    }
    rights
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SHA-256 digest of a token, as the config stores it (64 lowercase hex digits).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// The digest of `secret`.
    pub fn of(secret: &str) -> TokenHash {
        TokenHash(Sha256::digest(secret.as_bytes()).into())
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({self})")
    }
}

impl FromStr for TokenHash {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a SHA-256 digest: expected 64 hex digits");
        if s.len() != 64 || !s.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            let pair = s.get(2 * i..2 * i + 2).ok_or_else(bad)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(TokenHash(out))
    }
}

/// A fresh token: `tsm_` and 256 random bits as 64 hex digits (from the system's random
/// source; an error when it has none, never a weak token).
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no system randomness: {e}"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("tsm_{hex}"))
}

/// One configured token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// A name for logs and problems (unique).
    pub name: String,
    /// The SHA-256 digest of the secret.
    pub hash: TokenHash,
    /// The groups it may use.
    pub groups: GroupScope,
    /// Its rights.
    pub rights: BTreeSet<Right>,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, with or without a token (`/healthz`, the OpenAPI document, Swagger UI).
    Open,
    /// Any valid token (reads). A `{name}` in the pattern must still be in its scope.
    Read,
    /// A valid token with this right (and the `{name}` group in its scope).
    Need(Right),
}

/// One row of the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRule {
    /// The HTTP method (`HEAD` is checked as `GET`).
    pub method: &'static str,
    /// The path pattern: literal segments, `{x}` for one segment, `{*x}` for the rest.
    /// A segment named `{name}` is the negotiating group.
    pub pattern: &'static str,
    /// What the route needs.
    pub access: Access,
}

const fn rule(method: &'static str, pattern: &'static str, access: Access) -> RouteRule {
    RouteRule {
        method,
        pattern,
        access,
    }
}

use Access::{Need, Open, Read};

/// Every route and what it needs; the first match wins. A route not listed needs `admin`.
/// Add a row here with every new route.
pub const ROUTE_RULES: &[RouteRule] = &[
    // Public: liveness and the contract itself.
    rule("GET", "/healthz", Open),
    rule("GET", "/v1/openapi.json", Open),
    rule("GET", "/v1/docs", Open),
    rule("GET", "/v1/docs/", Open),
    rule("GET", "/v1/docs/{*file}", Open),
    // Observability: any valid token.
    rule("GET", "/metrics", Read),
    rule("GET", "/v1/events", Read),
    // Fabric and lists: any valid token; the service keeps only the token's groups.
    rule("GET", "/v1/switches", Read),
    rule("GET", "/v1/links", Read),
    rule("GET", "/v1/hosts", Read),
    rule("GET", "/v1/groups", Read),
    rule("GET", "/v1/subsets", Read),
    rule("GET", "/v1/subsets/{address}", Read),
    rule("GET", "/v1/rendezvous", Read),
    rule("GET", "/v1/claims", Read),
    rule("GET", "/v1/claims/{id}", Read),
    rule("GET", "/v1/blocks", Read),
    rule("GET", "/v1/blocks/{id}", Read),
    rule("GET", "/v1/switches/{dpid}/{*rest}", Read),
    rule("GET", "/v1/bier/{*rest}", Read),
    // One group: readable by tokens scoped to it.
    rule("GET", "/v1/groups/{name}", Read),
    rule("GET", "/v1/groups/{name}/{*rest}", Read),
    // Groups, rendezvous plans and BIER: admin.
    rule("PUT", "/v1/groups/{name}", Need(Right::Admin)),
    rule("DELETE", "/v1/groups/{name}", Need(Right::Admin)),
    rule("PUT", "/v1/groups/{name}/rendezvous", Need(Right::Admin)),
    rule("DELETE", "/v1/groups/{name}/rendezvous", Need(Right::Admin)),
    rule("PUT", "/v1/groups/{name}/bier", Need(Right::Admin)),
    rule("DELETE", "/v1/groups/{name}/bier", Need(Right::Admin)),
    // A BIER lease is a sender's transaction, like a subset. The group of
    // `/v1/bier/leases/{address}` is checked by the service (another group's: as absent).
    rule("POST", "/v1/groups/{name}/bier", Need(Right::Subsets)),
    rule("DELETE", "/v1/bier/leases/{address}", Need(Right::Subsets)),
    // On-demand subsets. The group of `/v1/subsets/{address}` is checked by the service
    // (another group's: as absent).
    rule("POST", "/v1/groups/{name}/subsets", Need(Right::Subsets)),
    rule("DELETE", "/v1/subsets/{address}", Need(Right::Subsets)),
    // Claims and blocks. The group of `/v1/claims/{id}` and `/v1/blocks/{id}` (another
    // group's: as absent) and the holder (another token's: 403 unless admin) are checked by
    // the service.
    rule("POST", "/v1/groups/{name}/claims", Need(Right::Claims)),
    rule("POST", "/v1/groups/{name}/blocks", Need(Right::Claims)),
    rule("POST", "/v1/claims/{id}/renew", Need(Right::Claims)),
    rule("DELETE", "/v1/claims/{id}", Need(Right::Claims)),
    rule("POST", "/v1/blocks/{id}/renew", Need(Right::Claims)),
    rule("DELETE", "/v1/blocks/{id}", Need(Right::Claims)),
];

/// What a route needs when the table does not list it.
pub const DEFAULT_ACCESS: Access = Need(Right::Admin);

/// The access a request needs and the group it concerns (the `{name}` segment, decoded).
pub fn route_access(rules: &[RouteRule], method: &Method, path: &str) -> (Access, Option<String>) {
    match rule_for(rules, method, path) {
        Some((r, group)) => (r.access, group),
        None => (DEFAULT_ACCESS, group_of_unlisted(path)),
    }
}

/// The first rule that matches, with the `{name}` group; `None` when no rule lists the route.
pub fn rule_for<'r>(
    rules: &'r [RouteRule],
    method: &Method,
    path: &str,
) -> Option<(&'r RouteRule, Option<String>)> {
    let method = if *method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    rules
        .iter()
        .filter(|r| r.method == method)
        .find_map(|r| match_pattern(r.pattern, path).map(|g| (r, g)))
}

/// `Some(group)` when `path` matches `pattern` (`group` is the `{name}` segment, if any).
fn match_pattern(pattern: &str, path: &str) -> Option<Option<String>> {
    let mut want = pattern.split('/');
    let mut have = path.split('/');
    let mut group = None;
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(group),
            (Some(w), Some(h)) => {
                if w.starts_with("{*") {
                    // The rest: at least one non-empty segment.
                    return (!h.is_empty()).then_some(group);
                }
                if w.starts_with('{') {
                    if h.is_empty() {
                        return None;
                    }
                    if w == "{name}" {
                        group = Some(percent_decode(h));
                    }
                } else if w != h {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// A route that the table does not list still names its group when it is under
/// `/v1/groups/{name}/`, so a scoped admin token cannot reach other groups through it.
fn group_of_unlisted(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v1/groups/")?;
    let name = rest.split('/').next()?;
    (!name.is_empty()).then(|| percent_decode(name))
}

/// Percent-decoding of one path segment (as axum's `Path` decodes it), so `%61` is `a`.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a token table cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthConfigError {
    /// Two tokens share a name.
    #[error("two tokens are named {name:?}")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// Two tokens have the same digest (the same secret).
    #[error("tokens {first:?} and {second:?} have the same sha256 (the same secret)")]
    DuplicateHash {
        /// The first token's name.
        first: String,
        /// The second token's name.
        second: String,
    },
}

/// The configured tokens and the route table: decides every request.
#[derive(Debug, Clone)]
pub struct Authenticator {
    tokens: HashMap<TokenHash, Arc<Principal>>,
    rules: Vec<RouteRule>,
}

impl Authenticator {
    /// An authenticator over these tokens with [`ROUTE_RULES`].
    pub fn new(tokens: impl IntoIterator<Item = TokenSpec>) -> Result<Self, AuthConfigError> {
        let mut by_hash: HashMap<TokenHash, Arc<Principal>> = HashMap::new();
        let mut names = BTreeSet::new();
        for t in tokens {
            if !names.insert(t.name.clone()) {
                return Err(AuthConfigError::DuplicateName { name: t.name });
            }
            if let Some(first) = by_hash.get(&t.hash) {
                return Err(AuthConfigError::DuplicateHash {
                    first: first.name.clone(),
                    second: t.name,
                });
            }
            by_hash.insert(
                t.hash,
                Arc::new(Principal {
                    name: t.name,
                    groups: t.groups,
                    rights: t.rights,
                }),
            );
        }
        Ok(Authenticator {
            tokens: by_hash,
            rules: ROUTE_RULES.to_vec(),
        })
    }

    /// With extra rules, checked before the built-in table (for routes a program adds).
    pub fn with_rules(mut self, extra: &[RouteRule]) -> Self {
        let mut rules = extra.to_vec();
        rules.append(&mut self.rules);
        self.rules = rules;
        self
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The principal of a presented token, if it is configured.
    pub fn principal(&self, secret: &str) -> Option<Arc<Principal>> {
        self.tokens.get(&TokenHash::of(secret)).cloned()
    }

    /// Decides a request: `Ok(None)` for an open route, `Ok(Some(principal))` when allowed,
    /// else the 400/401/403 problem. `authorization` is the raw header, if sent.
    pub fn decide(
        &self,
        method: &Method,
        path: &str,
        authorization: Option<&str>,
    ) -> Result<Option<Arc<Principal>>, ApiError> {
        let (access, group) = route_access(&self.rules, method, path);
        let bearer = authorization.map(crate::meta::parse_bearer).transpose()?;
        if access == Access::Open {
            // A token on an open route is neither needed nor checked, but it is passed on.
            return Ok(bearer.and_then(|b| self.principal(b.secret())));
        }
        let Some(bearer) = bearer else {
            return Err(ApiError::Unauthorized {
                reason: format!(
                    "{method} {path} needs a bearer token (Authorization: Bearer <token>)"
                ),
            });
        };
        let Some(principal) = self.principal(bearer.secret()) else {
            return Err(ApiError::Unauthorized {
                reason: "the bearer token is not one of the configured tokens".to_owned(),
            });
        };
        let right = match access {
            Access::Need(r) => Some(r),
            _ => None,
        };
        principal.check(right, group.as_deref())?;
        Ok(Some(principal))
    }
}

/// The middleware: decides the request, puts the [`Principal`] into its extensions.
pub(crate) async fn middleware(
    State(auth): State<Arc<Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = match req.headers().get(axum::http::header::AUTHORIZATION) {
        None => None,
        Some(v) => match v.to_str() {
            Ok(s) => Some(s.trim().to_owned()),
            Err(_) => {
                return ApiError::BadHeader {
                    header: "authorization".to_owned(),
                    reason: "not visible ASCII".to_owned(),
                }
                .into_response()
            }
        },
    };
    match auth.decide(req.method(), req.uri().path(), header.as_deref()) {
        Ok(principal) => {
            if let Some(p) = principal {
                req.extensions_mut().insert(p);
            }
            next.run(req).await
        }
        Err(e) => {
            let unknown_token = header.is_some() && matches!(e, ApiError::Unauthorized { .. });
            let mut response = e.into_response();
            if unknown_token {
                // RFC 6750 §3.1: a token was presented but is not valid.
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static(
                        "Bearer realm=\"tsmd\", error=\"invalid_token\"",
                    ),
                );
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, secret: &str, groups: &[&str], rights: &[Right]) -> TokenSpec {
        TokenSpec {
            name: name.to_owned(),
            hash: TokenHash::of(secret),
            groups: GroupScope::from_list(groups).unwrap(),
            rights: rights.iter().copied().collect(),
        }
    }

    fn auth() -> Authenticator {
        Authenticator::new([
            spec("ops", "s-ops", &["*"], &[Right::Admin]),
            spec("storage", "s-storage", &["storage"], &[Right::Subsets]),
            spec(
                "claimer",
                "s-claimer",
                &["storage", "hpc"],
                &[Right::Claims],
            ),
        ])
        .unwrap()
    }

    fn bearer(secret: &str) -> String {
        format!("Bearer {secret}")
    }

    #[test]
    fn sha256_of_a_known_string() {
        // FIPS 180-2 appendix B.1: SHA-256("abc").
        assert_eq!(
            TokenHash::of("abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let h: TokenHash = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            .parse()
            .unwrap();
        assert_eq!(h, TokenHash::of("abc"));
        assert!("ba78".parse::<TokenHash>().is_err());
        assert!("zz".repeat(32).parse::<TokenHash>().is_err());
    }

    #[test]
    fn patterns() {
        assert_eq!(
            match_pattern("/v1/groups/{name}/subsets", "/v1/groups/a%2Db/subsets"),
            Some(Some("a-b".to_owned()))
        );
        assert_eq!(match_pattern("/v1/groups/{name}", "/v1/groups/"), None);
        assert_eq!(match_pattern("/v1/groups/{name}", "/v1/groups/a/b"), None);
        assert_eq!(
            match_pattern("/v1/docs/{*f}", "/v1/docs/x/y.js"),
            Some(None)
        );
        assert_eq!(match_pattern("/v1/docs/{*f}", "/v1/docs/"), None);
        let (a, g) = route_access(ROUTE_RULES, &Method::PATCH, "/v1/groups/x/whatever");
        assert_eq!((a, g.as_deref()), (DEFAULT_ACCESS, Some("x")));
        let (a, _) = route_access(ROUTE_RULES, &Method::HEAD, "/healthz");
        assert_eq!(a, Open);
    }

    #[test]
    fn every_listed_route_has_one_rule() {
        // No row shadows a later one for the same method and pattern.
        for (i, r) in ROUTE_RULES.iter().enumerate() {
            for later in &ROUTE_RULES[i + 1..] {
                assert!(
                    !(r.method == later.method && r.pattern == later.pattern),
                    "{} {} twice",
                    r.method,
                    r.pattern
                );
            }
        }
    }

    #[test]
    fn every_documented_operation_has_a_rule() {
        // A route without a row would need `admin`: add its row to ROUTE_RULES.
        let doc = serde_json::to_value(crate::openapi()).unwrap();
        let mut missing = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let Ok(m) = method.to_uppercase().parse::<Method>() else {
                    continue;
                };
                // Any segment value stands for a parameter.
                let concrete = path
                    .split('/')
                    .map(|s| if s.starts_with('{') { "x" } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                if rule_for(ROUTE_RULES, &m, &concrete).is_none() {
                    missing.push(format!("{m} {path}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "add rows to auth::ROUTE_RULES for {missing:?}"
        );
    }

    #[test]
    fn decisions() {
        let a = auth();
        let post = Method::POST;
        let sub = "/v1/groups/storage/subsets";
        // Open routes need nothing.
        assert_eq!(a.decide(&Method::GET, "/healthz", None), Ok(None));
        // No token: 401.
        assert!(matches!(
            a.decide(&post, sub, None),
            Err(ApiError::Unauthorized { .. })
        ));
        assert!(matches!(
            a.decide(&Method::GET, "/metrics", None),
            Err(ApiError::Unauthorized { .. })
        ));
        // Unknown token: 401; malformed header: 400.
        assert!(matches!(
            a.decide(&post, sub, Some(&bearer("nope"))),
            Err(ApiError::Unauthorized { .. })
        ));
        assert!(matches!(
            a.decide(&post, sub, Some("Basic eA==")),
            Err(ApiError::BadHeader { .. })
        ));
        // The right and the group.
        let p = a.decide(&post, sub, Some(&bearer("s-storage"))).unwrap();
        assert_eq!(p.unwrap().name, "storage");
        let e = a
            .decide(&post, "/v1/groups/hpc/subsets", Some(&bearer("s-storage")))
            .unwrap_err();
        assert!(
            matches!(&e, ApiError::Forbidden { group: Some(g), right: None, .. } if g == "hpc"),
            "{e:?}"
        );
        let e = a
            .decide(&post, sub, Some(&bearer("s-claimer")))
            .unwrap_err();
        assert!(
            matches!(&e, ApiError::Forbidden { right: Some(r), .. } if r == "subsets"),
            "{e:?}"
        );
        assert!(a
            .decide(&post, "/v1/groups/hpc/claims", Some(&bearer("s-claimer")))
            .is_ok());
        // Admin: everything, including routes the table does not know.
        for (m, p) in [
            (Method::PUT, "/v1/groups/x"),
            (post.clone(), sub),
            (Method::PATCH, "/v1/unknown"),
        ] {
            assert!(a.decide(&m, p, Some(&bearer("s-ops"))).is_ok(), "{m} {p}");
        }
        // Unknown routes need admin.
        let e = a
            .decide(&Method::PATCH, "/v1/unknown", Some(&bearer("s-storage")))
            .unwrap_err();
        assert!(matches!(&e, ApiError::Forbidden { right: Some(r), .. } if r == "admin"));
        // Reads: any token, but a group read stays in scope.
        assert!(a
            .decide(&Method::GET, "/v1/subsets", Some(&bearer("s-claimer")))
            .is_ok());
        assert!(a
            .decide(&Method::GET, "/v1/groups/hpc", Some(&bearer("s-storage")))
            .is_err());
    }

    #[test]
    fn events_are_attributed_to_their_group() {
        use crate::rendezvous::ClaimId;
        let mut idx = EventScopes::default();
        let addr: IpAddr = "239.200.0.1".parse().unwrap();
        let g = |n: &str| Audience::Group(Arc::from(n));
        assert_eq!(
            idx.attribute(&EventKind::SwitchUp {
                dpid: crate::Dpid(1)
            }),
            Audience::Everyone
        );
        // A subset named by address only: before it was seen, nobody scoped gets it.
        let removed = EventKind::SubsetRemoved {
            address: addr,
            reason: crate::events::RemovalReason::Expired,
        };
        assert_eq!(idx.attribute(&removed), Audience::AllGroups);
        let ready = EventKind::SubsetReady {
            address: addr,
            group: "g1".into(),
            trace_id: None,
        };
        assert_eq!(idx.attribute(&ready), g("g1"));
        assert_eq!(
            idx.attribute(&EventKind::SubsetRerouted { address: addr }),
            g("g1")
        );
        assert_eq!(idx.attribute(&removed), g("g1"));
        assert!(idx.is_empty(), "a removed subset is forgotten");
        // Claims: renewed by id only.
        idx.learn_claim(9, "g2");
        let renewed = EventKind::ClaimRenewed {
            id: ClaimId(9),
            expires_at: 1,
        };
        assert_eq!(idx.attribute(&renewed), g("g2"));
        let ended = EventKind::ClaimEnded {
            id: ClaimId(9),
            group: "g2".into(),
            address: addr,
            reason: "released".into(),
        };
        assert_eq!(idx.attribute(&ended), g("g2"));
        assert_eq!(idx.attribute(&renewed), Audience::AllGroups);
        // Who sees what.
        let scoped = GroupScope::from_list(["g1"]).unwrap();
        assert!(scoped.sees(&Audience::Everyone));
        assert!(scoped.sees(&g("g1")));
        assert!(!scoped.sees(&g("g2")));
        assert!(!scoped.sees(&Audience::AllGroups));
        assert!(GroupScope::Any.sees(&Audience::AllGroups));
    }

    #[test]
    fn config_errors() {
        let e = Authenticator::new([
            spec("a", "same", &["*"], &[Right::Admin]),
            spec("b", "same", &["*"], &[Right::Admin]),
        ])
        .unwrap_err();
        assert!(matches!(e, AuthConfigError::DuplicateHash { .. }));
        let e = Authenticator::new([
            spec("a", "1", &["*"], &[Right::Admin]),
            spec("a", "2", &["*"], &[Right::Admin]),
        ])
        .unwrap_err();
        assert!(matches!(e, AuthConfigError::DuplicateName { .. }));
        assert!(GroupScope::from_list(["*", "a"]).is_err());
        assert!(GroupScope::from_list(Vec::<String>::new()).is_err());
        assert!(GroupScope::from_list([".bad"]).is_err());
        assert_eq!("claims".parse::<Right>(), Ok(Right::Claims));
        assert!("root".parse::<Right>().is_err());
    }
}
