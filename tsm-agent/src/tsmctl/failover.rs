//! Several controller URLs behind one call: each request goes to the first controller, and
//! to the next one only when a controller cannot be reached (connect, send or read failed,
//! or the time limit passed). An answer, even an error answer, is final: the next controller
//! would give the same one.
//!
//! Guarantees: URLs are tried in the order given; a controller that answered is used for the
//! rest of the run (a command makes several calls only in sequence); [`CtlError`] says which
//! controller answered or, when none did, why each one failed.

use std::future::Future;
use std::time::Duration;

use api::{ApiError, Client, ClientError};

/// How long a connection attempt may take before the next controller is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

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
        attempts: Vec<(String, String)>,
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
}

impl CtlError {
    /// The process exit status: 2 when no controller could be reached or a URL is unusable,
    /// 1 for every answer that is an error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::BadUrl { .. } | CtlError::Unreachable { .. } => 2,
            CtlError::Answer { .. } | CtlError::Output(_) => 1,
        }
    }
}

fn unreachable_message(attempts: &[(String, String)]) -> String {
    match attempts {
        [(url, why)] => format!("cannot reach the controller at {url}: {why}"),
        _ => {
            let each: Vec<String> = attempts
                .iter()
                .map(|(url, why)| format!("{url} ({why})"))
                .collect();
            format!("cannot reach any controller: {}", each.join("; "))
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

/// The innermost cause of a transport error: "Connection refused (os error 111)" rather
/// than reqwest's "error sending request for url (…)".
fn root_cause(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// The controllers of one run, tried in order.
#[derive(Debug)]
pub struct Controllers {
    clients: Vec<Client>,
    /// The index of the first controller to try: the one that last answered.
    current: usize,
}

impl Controllers {
    /// Clients of `urls` (at least one), with a bearer token and a per-request time limit.
    pub fn new(urls: &[String], token: Option<&str>, timeout: Duration) -> Result<Self, CtlError> {
        if urls.is_empty() {
            return Err(CtlError::BadUrl {
                url: String::new(),
                reason: "no controller URL given".to_owned(),
            });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| CtlError::BadUrl {
                url: urls.join(","),
                reason: format!("cannot set up HTTP: {e}"),
            })?;
        let clients = urls
            .iter()
            .map(|url| {
                let client = Client::new(url.trim()).map_err(|e| CtlError::BadUrl {
                    url: url.clone(),
                    reason: match e {
                        ClientError::BaseUrl { reason, .. } => reason,
                        other => other.to_string(),
                    },
                })?;
                let client = client.with_http_client(http.clone());
                Ok(match token {
                    Some(token) => client.with_bearer(token),
                    None => client,
                })
            })
            .collect::<Result<Vec<_>, CtlError>>()?;
        Ok(Self {
            clients,
            current: 0,
        })
    }

    /// Runs `call` against the first controller that can be reached.
    ///
    /// `call` may run more than once, against different controllers, so it must be safe to
    /// repeat (a POST carries an `Idempotency-Key`).
    pub async fn call<T, F, Fut>(&mut self, call: F) -> Result<T, CtlError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut attempts = Vec::new();
        let n = self.clients.len();
        for i in (0..n).map(|k| (self.current + k) % n) {
            let client = self.clients[i].clone();
            let url = client.base_url().to_string();
            match call(client).await {
                Err(ClientError::Transport { source, .. }) => {
                    attempts.push((url, root_cause(&source)));
                }
                Ok(value) => {
                    self.current = i;
                    return Ok(value);
                }
                Err(source) => {
                    self.current = i;
                    return Err(CtlError::Answer { source });
                }
            }
        }
        Err(CtlError::Unreachable { attempts })
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
        let e = CtlError::Unreachable {
            attempts: vec![("http://a/".into(), "refused".into())],
        };
        assert_eq!(
            e.to_string(),
            "cannot reach the controller at http://a/: refused"
        );
        assert_eq!(e.exit_code(), 2);
        let e = CtlError::Unreachable {
            attempts: vec![
                ("http://a/".into(), "refused".into()),
                ("http://b/".into(), "timed out".into()),
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
