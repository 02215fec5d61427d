//! The harness's one error type. Every variant names what was being done and on what, so a
//! failed fixture explains itself in the test output.

use std::time::Duration;

/// What went wrong while building, using or tearing down a harness object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A helper program (`ip`, `ovs-vsctl`, ...) ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, shell-quoted loosely for reading.
        command: String,
        /// How it ended (exit code or signal).
        status: String,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
    /// A helper program could not be started at all (not installed?).
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The error from the OS.
        source: std::io::Error,
    },
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the object it was done to.
        what: String,
        /// The error from the OS.
        source: std::io::Error,
    },
    /// A system call made through `nix` failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done, with the object it was done to.
        what: String,
        /// The errno.
        source: nix::Error,
    },
    /// A condition polled with a deadline did not become true.
    #[error("{what} not reached within {waited:?}")]
    Timeout {
        /// The condition.
        what: String,
        /// How long it was polled.
        waited: Duration,
    },
    /// No host of that name in the fabric.
    #[error("no host named {0:?} in this fabric")]
    UnknownHost(String),
    /// No switch of that name in the fabric.
    #[error("no switch named {0:?} in this fabric")]
    UnknownSwitch(String),
    /// No inter-switch link with that index.
    #[error("no inter-switch link #{index} (the fabric has {count})")]
    UnknownLink {
        /// The index asked for.
        index: usize,
        /// How many links there are.
        count: usize,
    },
    /// A topology description that cannot be built.
    #[error("bad topology {name:?}: {reason}")]
    BadTopology {
        /// The topology's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Output of an OVS tool that did not look as expected.
    #[error("cannot read {what} from: {text:?}")]
    Parse {
        /// What was being read.
        what: String,
        /// The offending text (a line or the whole output).
        text: String,
    },
    /// A probe that cannot be sent as asked (wrong address family, empty receiver list, ...).
    #[error("bad probe: {0}")]
    BadProbe(String),
}

/// Results of the harness.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn sys(what: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys {
            what: what.into(),
            source,
        }
    }
}
