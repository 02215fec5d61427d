//! The agent's errors: [`AgentError`] for everything that talks to a controller, and
//! [`LocalClaimError`] for the local claims of a held block (no I/O, so no transport error).
//!
//! A refusal by the controller keeps the typed problem ([`api::ApiError`]) so a caller
//! matches on `ApiError::RendezvousExhausted { .. }` rather than on text.

use std::net::IpAddr;

use api::{ApiError, ClientError};

use crate::failover::{unreachable_message, Attempt, FailoverError};

/// A failed call of the agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// A controller URL cannot be used.
    #[error("controller URL {url:?} is unusable: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },

    /// No controller could be reached (every one is named, with why).
    #[error("{}", unreachable_message(.attempts))]
    Unreachable {
        /// Each controller tried, with why it failed.
        attempts: Vec<Attempt>,
    },

    /// A controller refused the request with a problem this crate knows.
    #[error("{url} refused: {error}")]
    Refused {
        /// The controller that answered.
        url: String,
        /// HTTP status.
        status: u16,
        /// The typed problem, naming the culprit.
        error: Box<ApiError>,
    },

    /// A controller answered with something else than the API's success or problem.
    #[error("{url}: {source}")]
    Answer {
        /// The controller that answered.
        url: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },

    /// A claim request that cannot be sent as given.
    #[error("invalid request: {0}")]
    Invalid(String),

    /// The agent needs a tokio runtime (it spawns its renewal and event tasks).
    #[error("no tokio runtime: the agent must be created inside one")]
    NoRuntime,
}

impl AgentError {
    /// The typed problem, if a controller refused with one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            AgentError::Refused { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether no controller could be reached (as opposed to a refusal).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, AgentError::Unreachable { .. })
    }

    /// The exit status of the CLIs: 2 when no controller could be reached or a URL is
    /// unusable, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            AgentError::BadUrl { .. } | AgentError::Unreachable { .. } => 2,
            _ => 1,
        }
    }
}

impl From<FailoverError> for AgentError {
    fn from(e: FailoverError) -> Self {
        match e {
            FailoverError::BadUrl { url, reason } => AgentError::BadUrl { url, reason },
            FailoverError::Unreachable { attempts } => AgentError::Unreachable { attempts },
            FailoverError::Answer {
                url,
                source: ClientError::Api { status, error, .. },
            } => AgentError::Refused { url, status, error },
            FailoverError::Answer { url, source } => AgentError::Answer { url, source },
        }
    }
}

/// Why a local claim from a held block was refused. Nothing is taken when one of these is
/// returned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocalClaimError {
    /// Some members are not in the block's member list.
    #[error("{} not member(s) of group {group} (members version {members_version})", list(.members))]
    NotMembers {
        /// The group.
        group: String,
        /// The members asked for that are not in the list.
        members: Vec<IpAddr>,
        /// The member list's version the block was taken on.
        members_version: u64,
    },

    /// The subset's size is not the plan's `k`.
    #[error("a subset of group {group} needs exactly k = {k} members, not {size}")]
    WrongSize {
        /// The group.
        group: String,
        /// How many members were named.
        size: usize,
        /// The plan's subset size.
        k: usize,
    },

    /// A member was named twice.
    #[error("member {member} is named twice")]
    Duplicate {
        /// The member.
        member: IpAddr,
    },

    /// The group's membership changed since the block was taken: the block's member list
    /// (and so its addresses) is out of date. Take a new block (`Agent::refresh_block`).
    #[error(
        "the members of group {group} changed (version {latest}, the block has {block}): \
         take a new block"
    )]
    StaleMembers {
        /// The group.
        group: String,
        /// The members version of the block.
        block: u64,
        /// The latest version seen (events or renew answers).
        latest: u64,
    },

    /// Every copy of this subset in the block is in use by this process.
    #[error("all {copies} copies of subset {} held by block {block} are in use", list(.members))]
    Exhausted {
        /// The block.
        block: String,
        /// The subset.
        members: Vec<IpAddr>,
        /// How many copies the block holds.
        copies: usize,
    },

    /// The block's lease ended (released, expired, or its renewal was refused).
    #[error("block {block} is no longer held: {reason}")]
    BlockEnded {
        /// The block.
        block: String,
        /// Why.
        reason: String,
    },

    /// The block has more addresses than local claims track.
    #[error("block {block} has {addresses} addresses; local claims track at most {max}")]
    TooLarge {
        /// The block.
        block: String,
        /// copies · C(n, k).
        addresses: u128,
        /// The limit.
        max: u64,
    },

    /// The address arithmetic failed (a plan larger than 64 bits of subsets, an address
    /// past the end of the address space).
    #[error("cannot compute the address: {0}")]
    Rank(#[from] controller::rank::RankError),
}

fn list(items: &[IpAddr]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
