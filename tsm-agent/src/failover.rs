//! Several controller URLs behind one call, shared by the agent library and `tsmctl`.
//!
//! A call goes to the controller that answered last (the first URL at start). It moves on to
//! the next URL, in the order given, when a controller cannot be reached (connect, send or
//! read failed, or the time limit passed) or answers with a server error (`5xx`). A follower
//! that points to the leader — a redirection with `Location`, or a problem whose `leader`
//! member is the leader's URL (design, "A follower's API points clients to the leader") — sends
//! the call there at once, whether or not the leader is one of the configured URLs. Any other
//! answer, even an error answer, is final: the next controller would give the same one.
//!
//! Guarantees: every configured URL is tried at most once per call, and at most
//! [`MAX_LEADER_HOPS`] leader redirections are followed (a loop of followers ends); the
//! reqwest client never follows redirections by itself (it would drop the bearer token on the
//! way to another host); [`FailoverError`] names the controller that answered or, when none
//! did, why each one failed. `Endpoints` is shared by reference between tasks.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use api::{Client, ClientError};
use reqwest::Url;

/// How long a connection attempt may take before the next controller is tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How many "the leader is there" answers one call follows.
pub const MAX_LEADER_HOPS: usize = 3;

/// One controller tried, and why it did not serve the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The controller's base URL.
    pub url: String,
    /// Why it failed: the transport's root cause, or the server error it answered.
    pub why: String,
}

/// Why a call through [`Endpoints`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FailoverError {
    /// A URL given cannot be used.
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
        /// Each controller tried, with why it failed.
        attempts: Vec<Attempt>,
    },

    /// A controller answered with an error (or every one that answered gave a server error:
    /// then this is the last of those).
    #[error("{url}: {source}")]
    Answer {
        /// The base URL of the controller that answered.
        url: String,
        /// The client's error, with the typed problem.
        #[source]
        source: ClientError,
    },
}

/// "cannot reach the controller at URL: why", or every URL with its reason.
pub fn unreachable_message(attempts: &[Attempt]) -> String {
    match attempts {
        [] => "no controller URL given".to_owned(),
        [one] => format!("cannot reach the controller at {}: {}", one.url, one.why),
        _ => {
            let each: Vec<String> = attempts
                .iter()
                .map(|a| format!("{} ({})", a.url, a.why))
                .collect();
            format!("cannot reach any controller: {}", each.join("; "))
        }
    }
}

/// The innermost cause of a transport error: "Connection refused (os error 111)" rather
/// than reqwest's "error sending request for url (…)".
pub fn root_cause(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    let mut cause: &dyn std::error::Error = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// How the HTTP clients behind [`Endpoints`] are set up.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EndpointOptions {
    /// Time limit of one request (connect to last byte).
    pub timeout: Duration,
    /// Time limit of a connection attempt (at most `timeout`).
    pub connect_timeout: Duration,
    /// Sent as `Authorization: Bearer` with every request.
    pub token: Option<String>,
}

impl EndpointOptions {
    /// A per-request time limit, connecting within [`CONNECT_TIMEOUT`], no token.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            connect_timeout: CONNECT_TIMEOUT,
            token: None,
        }
    }

    /// With a bearer token (`None`: none).
    pub fn token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_owned);
        self
    }

    /// With this connect time limit.
    pub fn connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }
}

/// What one answer means for the call.
enum Verdict<T> {
    Done(Result<T, ClientError>),
    /// Try the next controller: this one is down or failing.
    Next(String, Option<ClientError>),
    /// This one is a follower: the leader is at this base URL.
    Leader(Url, ClientError),
}

/// The controllers, tried in order; see the module docs.
#[derive(Debug)]
pub struct Endpoints {
    clients: Vec<Client>,
    /// Clients for long-lived streams (`/v1/events`): no overall time limit.
    streams: Vec<Client>,
    /// The index of the first controller to try: the one that last answered.
    current: AtomicUsize,
    /// A leader named by a follower that is none of the configured URLs.
    leader: Mutex<Option<Client>>,
    http: reqwest::Client,
    token: Option<String>,
}

impl Endpoints {
    /// Clients of `urls` (at least one; each `http` or `https`).
    pub fn new(urls: &[String], options: &EndpointOptions) -> Result<Self, FailoverError> {
        let urls: Vec<&str> = urls
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            return Err(FailoverError::BadUrl {
                url: String::new(),
                reason: "no controller URL given".to_owned(),
            });
        }
        let build = |timeout: Option<Duration>| {
            let mut b = reqwest::Client::builder()
                .connect_timeout(options.connect_timeout.min(options.timeout))
                .redirect(reqwest::redirect::Policy::none())
                .tcp_nodelay(true);
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            b.build().map_err(|e| FailoverError::BadUrl {
                url: urls.join(","),
                reason: format!("cannot set up HTTP: {e}"),
            })
        };
        let http = build(Some(options.timeout))?;
        let stream_http = build(None)?;
        let token = options.token.clone();
        let make = |url: &str, http: &reqwest::Client| client_of(url, http, token.as_deref());
        let clients = urls
            .iter()
            .map(|u| make(u, &http))
            .collect::<Result<Vec<_>, _>>()?;
        let streams = urls
            .iter()
            .map(|u| make(u, &stream_http))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            clients,
            streams,
            current: AtomicUsize::new(0),
            leader: Mutex::new(None),
            http,
            token,
        })
    }

    /// The configured base URLs, in order.
    pub fn urls(&self) -> Vec<String> {
        self.clients
            .iter()
            .map(|c| c.base_url().to_string())
            .collect()
    }

    /// The client calls go to first now (the last one that answered).
    pub fn current(&self) -> Client {
        if let Some(leader) = self.leader_client() {
            return leader;
        }
        let i = self.current.load(Ordering::Relaxed) % self.clients.len();
        self.clients[i].clone()
    }

    /// Clients for long-lived streams, in the order to try them: the current one first.
    pub fn stream_clients(&self) -> Vec<Client> {
        let n = self.streams.len();
        let first = self.current.load(Ordering::Relaxed) % n;
        (0..n)
            .map(|k| self.streams[(first + k) % n].clone())
            .collect()
    }

    fn leader_client(&self) -> Option<Client> {
        self.leader.lock().ok().and_then(|l| l.clone())
    }

    fn set_leader(&self, leader: Option<Client>) {
        if let Ok(mut l) = self.leader.lock() {
            *l = leader;
        }
    }

    /// Runs `call` against the first controller that serves it; see the module docs.
    ///
    /// `call` may run more than once, against different controllers, so it must be safe to
    /// repeat (a POST carries an `Idempotency-Key`).
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, FailoverError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let n = self.clients.len();
        let start = self.current.load(Ordering::Relaxed) % n;
        let mut tried = vec![false; n];
        let mut attempts = Vec::new();
        let mut last_answer: Option<(String, ClientError)> = None;
        let mut hops = 0;
        // A leader learnt earlier goes first; if it fails, the configured list follows.
        let mut next: Option<(Option<usize>, Client)> = self.leader_client().map(|c| (None, c));
        loop {
            let (index, client) = match next.take() {
                Some(target) => target,
                None => {
                    let Some(i) = (0..n).map(|k| (start + k) % n).find(|i| !tried[*i]) else {
                        break;
                    };
                    (Some(i), self.clients[i].clone())
                }
            };
            if let Some(i) = index {
                tried[i] = true;
            }
            let url = client.base_url().to_string();
            match judge(call(client.clone()).await, client.base_url()) {
                Verdict::Done(result) => {
                    match index {
                        Some(i) => {
                            self.current.store(i, Ordering::Relaxed);
                            self.set_leader(None);
                        }
                        None => self.set_leader(Some(client)),
                    }
                    return result.map_err(|source| FailoverError::Answer { url, source });
                }
                Verdict::Next(why, answer) => {
                    tracing::debug!(controller = %url, %why, "trying the next controller");
                    if index.is_none() {
                        self.set_leader(None);
                    }
                    attempts.push(Attempt {
                        url: url.clone(),
                        why,
                    });
                    if let Some(source) = answer {
                        last_answer = Some((url, source));
                    }
                }
                Verdict::Leader(leader, answer) => {
                    hops += 1;
                    tracing::debug!(follower = %url, leader = %leader, "redirected to the leader");
                    if hops > MAX_LEADER_HOPS {
                        attempts.push(Attempt {
                            url: url.clone(),
                            why: format!("more than {MAX_LEADER_HOPS} leader redirections"),
                        });
                        last_answer = Some((url, answer));
                        continue;
                    }
                    let known = self
                        .clients
                        .iter()
                        .position(|c| same_origin(c.base_url(), &leader));
                    next = match known {
                        Some(j) => Some((Some(j), self.clients[j].clone())),
                        None => match client_of(leader.as_str(), &self.http, self.token.as_deref())
                        {
                            Ok(c) => Some((None, c)),
                            Err(_) => {
                                attempts.push(Attempt {
                                    url: url.clone(),
                                    why: format!("named an unusable leader URL {leader}"),
                                });
                                None
                            }
                        },
                    };
                }
            }
        }
        match last_answer {
            Some((url, source)) => Err(FailoverError::Answer { url, source }),
            None => Err(FailoverError::Unreachable { attempts }),
        }
    }
}

fn client_of(
    url: &str,
    http: &reqwest::Client,
    token: Option<&str>,
) -> Result<Client, FailoverError> {
    let client = Client::new(url).map_err(|e| FailoverError::BadUrl {
        url: url.to_owned(),
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
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Sorts one answer of the controller at `base`.
fn judge<T>(result: Result<T, ClientError>, base: &Url) -> Verdict<T> {
    let error = match result {
        Ok(value) => return Verdict::Done(Ok(value)),
        Err(error) => error,
    };
    if let ClientError::Transport { source, .. } = &error {
        return Verdict::Next(root_cause(source), None);
    }
    if let Some(leader) = leader_of(&error, base) {
        return Verdict::Leader(leader, error);
    }
    match error.status() {
        Some(status) if status >= 500 => {
            let why = format!("answered HTTP {status}: {}", short(&error));
            Verdict::Next(why, Some(error))
        }
        _ => Verdict::Done(Err(error)),
    }
}

/// The first line of an error, without the request.
fn short(error: &ClientError) -> String {
    match error {
        ClientError::Api { error, .. } => error.to_string(),
        ClientError::Problem { problem, .. } => problem.detail.clone(),
        ClientError::UnexpectedStatus { body, .. } => {
            body.lines().next().unwrap_or_default().to_owned()
        }
        other => other.to_string(),
    }
}

/// The leader's base URL when `error` is a follower pointing to it: a redirection (its
/// `Location`, resolved against the request, cut to the origin plus `base`'s path), or a
/// problem with a `leader` member.
fn leader_of(error: &ClientError, base: &Url) -> Option<Url> {
    let target = match error {
        ClientError::Redirect {
            request, location, ..
        } => {
            let request_url = request.split_once(' ').map(|(_, u)| u)?;
            Url::parse(request_url).ok()?.join(location).ok()?
        }
        ClientError::Problem { problem, .. } => {
            let leader = problem.extensions.get("leader")?.as_str()?;
            Url::parse(leader).ok()?
        }
        _ => return None,
    };
    if !matches!(target.scheme(), "http" | "https") || target.cannot_be_a_base() {
        return None;
    }
    let mut leader = target;
    leader.set_path(base.path());
    leader.set_query(None);
    leader.set_fragment(None);
    // A redirection to the very same controller is not a leader elsewhere.
    if same_origin(&leader, base) {
        return None;
    }
    Some(leader)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem_with_leader(leader: &str) -> ClientError {
        let mut extensions = serde_json::Map::new();
        extensions.insert("leader".into(), leader.into());
        ClientError::Problem {
            request: "POST http://10.0.0.1:8080/v1/groups/g/claims".into(),
            problem: Box::new(api::Problem {
                type_uri: "https://tsm.invalid/problems/not-leader".into(),
                title: "Not the leader".into(),
                status: 503,
                detail: "this controller is a follower".into(),
                instance: None,
                extensions,
            }),
        }
    }

    #[test]
    fn leaders_are_found_in_redirections_and_problems() {
        let base = Url::parse("http://10.0.0.1:8080/").unwrap();
        let redirect = ClientError::Redirect {
            request: "POST http://10.0.0.1:8080/v1/groups/g/claims".into(),
            status: 307,
            location: "http://10.0.0.2:8080/v1/groups/g/claims".into(),
        };
        assert_eq!(
            leader_of(&redirect, &base).unwrap().as_str(),
            "http://10.0.0.2:8080/"
        );
        assert_eq!(
            leader_of(&problem_with_leader("http://10.0.0.3:9000"), &base)
                .unwrap()
                .as_str(),
            "http://10.0.0.3:9000/"
        );
        // Relative, or back to the same controller: not a leader elsewhere.
        let relative = ClientError::Redirect {
            request: "GET http://10.0.0.1:8080/v1/claims".into(),
            status: 308,
            location: "/v1/claims/".into(),
        };
        assert!(leader_of(&relative, &base).is_none());
        assert!(leader_of(&problem_with_leader("not a url"), &base).is_none());
    }

    #[test]
    fn unreachable_names_every_url() {
        let one = [Attempt {
            url: "http://a/".into(),
            why: "refused".into(),
        }];
        assert_eq!(
            unreachable_message(&one),
            "cannot reach the controller at http://a/: refused"
        );
        let two = [
            one[0].clone(),
            Attempt {
                url: "http://b/".into(),
                why: "timed out".into(),
            },
        ];
        assert_eq!(
            unreachable_message(&two),
            "cannot reach any controller: http://a/ (refused); http://b/ (timed out)"
        );
    }

    #[test]
    fn unusable_urls_are_refused() {
        let o = EndpointOptions::new(Duration::from_secs(1));
        assert!(Endpoints::new(&[], &o).is_err());
        assert!(Endpoints::new(&[" ".into()], &o).is_err());
        let e = Endpoints::new(&["ftp://x".into()], &o).unwrap_err();
        assert!(e.to_string().contains("ftp://x"), "{e}");
    }
}
