//! `tsmctl`'s side of the shared failover ([`crate::failover`]): [`Controllers`] (the
//! configured controllers of one run) and [`CtlError`], a failed command with its exit status
//! and the one-line message an operator reads.
//!
//! Each request goes to the first controller that serves it: the next one is tried when a
//! controller cannot be reached or answers with a server error (`5xx`), and a follower that
//! names the leader sends it there; any other answer, even an error answer, is final.

use std::future::Future;
use std::time::Duration;

use api::{ApiError, Client, ClientError};

use crate::failover::{unreachable_message, Attempt, EndpointOptions, Endpoints, FailoverError};

/// A failed `tsmctl` command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtlError {
    /// A URL given on the command line cannot be used.
    #[error("controller URL {url:?} is unusable: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },

    /// No controller answered.
    #[error("{}", unreachable_message(.attempts))]
    Unreachable {
        /// Each URL tried, with why it failed.
        attempts: Vec<Attempt>,
    },

    /// A controller answered with an error (or with something that is not the API's).
    #[error("{}", answer_message(.source))]
    Answer {
        /// The client's error.
        #[source]
        source: ClientError,
    },

    /// The answer could not be printed.
    #[error("cannot print the answer: {0}")]
    Output(String),

    /// The controller accepted the request but what it started failed (a plan's install).
    #[error("{0}")]
    Failed(String),
}

impl CtlError {
    /// The process exit status: 2 when no controller could be reached or a URL is unusable,
    /// 1 for every answer that is an error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::BadUrl { .. } | CtlError::Unreachable { .. } => 2,
            CtlError::Answer { .. } | CtlError::Output(_) | CtlError::Failed(_) => 1,
        }
    }
}

fn answer_message(error: &ClientError) -> String {
    match error {
        ClientError::Api { error, .. } => describe(error),
        ClientError::Problem { problem, .. } => {
            let what = if problem.detail.is_empty() {
                &problem.title
            } else {
                &problem.detail
            };
            format!("{what} ({}, HTTP {})", problem.type_uri, problem.status)
        }
        ClientError::UnexpectedStatus {
            request,
            status,
            body,
        } => {
            let line = body.lines().next().unwrap_or_default();
            format!("{request} answered HTTP {status}: {line}")
        }
        other => other.to_string(),
    }
}

/// A typed problem as one line an operator reads: what is wrong, naming the culprit.
pub fn describe(error: &ApiError) -> String {
    let list = |items: &[std::net::IpAddr]| {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match error {
        ApiError::NotGroupMembers { group, members } if members.len() == 1 => {
            format!("member {} is not in group {group}", list(members))
        }
        ApiError::NotGroupMembers { group, members } => {
            format!("members {} are not in group {group}", list(members))
        }
        ApiError::UnknownGroup { group } => format!("there is no group named {group}"),
        ApiError::UnknownHosts { hosts } if hosts.len() == 1 => {
            format!("host {} is unknown: not seen on any edge port", list(hosts))
        }
        ApiError::UnknownHosts { hosts } => {
            format!(
                "hosts {} are unknown: not seen on any edge port",
                list(hosts)
            )
        }
        ApiError::NotFound { resource } => format!("{resource} not found"),
        // Every other detail already names its culprit.
        other => other.to_string(),
    }
}

impl From<FailoverError> for CtlError {
    fn from(e: FailoverError) -> Self {
        match e {
            FailoverError::BadUrl { url, reason } => CtlError::BadUrl { url, reason },
            FailoverError::Unreachable { attempts } => CtlError::Unreachable { attempts },
            FailoverError::Answer { source, .. } => CtlError::Answer { source },
        }
    }
}

/// The controllers of one run ([`Endpoints`]), tried in order.
#[derive(Debug)]
pub struct Controllers {
    endpoints: Endpoints,
}

impl Controllers {
    /// Clients of `urls` (at least one), with a bearer token and a per-request time limit.
    pub fn new(urls: &[String], token: Option<&str>, timeout: Duration) -> Result<Self, CtlError> {
        let options = EndpointOptions::new(timeout).token(token);
        Ok(Self {
            endpoints: Endpoints::new(urls, &options)?,
        })
    }

    /// The shared endpoints (for calls that outlive one request, such as event streams).
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Runs `call` against the first controller that serves it.
    ///
    /// `call` may run more than once, against different controllers, so it must be safe to
    /// repeat (a POST carries an `Idempotency-Key`).
    pub async fn call<T, F, Fut>(&mut self, call: F) -> Result<T, CtlError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        Ok(self.endpoints.call(call).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_read_as_one_line_naming_the_culprit() {
        let one = ApiError::NotGroupMembers {
            group: "storage".into(),
            members: vec!["10.0.0.9".parse().unwrap()],
        };
        assert_eq!(describe(&one), "member 10.0.0.9 is not in group storage");
        let two = ApiError::NotGroupMembers {
            group: "storage".into(),
            members: vec!["10.0.0.9".parse().unwrap(), "fd00::9".parse().unwrap()],
        };
        assert_eq!(
            describe(&two),
            "members 10.0.0.9, fd00::9 are not in group storage"
        );
    }

    #[test]
    fn unreachable_names_every_url() {
        let attempt = |url: &str, why: &str| Attempt {
            url: url.into(),
            why: why.into(),
        };
        let e = CtlError::Unreachable {
            attempts: vec![attempt("http://a/", "refused")],
        };
        assert_eq!(
            e.to_string(),
            "cannot reach the controller at http://a/: refused"
        );
        assert_eq!(e.exit_code(), 2);
        let e = CtlError::Unreachable {
            attempts: vec![
                attempt("http://a/", "refused"),
                attempt("http://b/", "timed out"),
            ],
        };
        assert_eq!(
            e.to_string(),
            "cannot reach any controller: http://a/ (refused); http://b/ (timed out)"
        );
    }

    #[test]
    fn unusable_urls_are_refused() {
        let t = Duration::from_secs(1);
        assert!(Controllers::new(&[], None, t).is_err());
        let e = Controllers::new(&["ftp://x".into()], None, t).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("ftp://x"), "{e}");
    }
}
