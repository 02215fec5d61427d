//! What tsmd adds around the API for issue 5: the token table, the idempotency table and its
//! persister, the event log, the metrics, and the readiness flag; built once at start.
//!
//! Guarantees:
//! - Without tokens the API is served only on a loopback address ([`check_exposure`]): the
//!   address actually bound is checked, not only the configured one.
//! - Remembered idempotent answers are loaded from `idempotency.jsonl` in the state directory
//!   before the API serves, and written back by a persister that is flushed at shutdown after
//!   the HTTP server stopped (so every answer given is on disk when tsmd exits cleanly).

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use api::auth::Authenticator;
use api::events::EventLog;
use api::idempotency::{persist, Idempotency, IdempotencyConfig, IdempotencyStore};
use api::RouterConfig;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::idempotency::JournalStore;
use super::metrics::Metrics;
use super::settings::{is_loopback, Settings};
use super::store::SideFile;
use super::DaemonError;

/// Refuses to serve the API unauthenticated on anything but loopback.
pub(crate) fn check_exposure(settings: &Settings, http: SocketAddr) -> Result<(), DaemonError> {
    if settings.tokens.is_empty() && !is_loopback(http.ip()) {
        return Err(DaemonError::Unprotected { addr: http });
    }
    Ok(())
}

/// The shared pieces (cheap to clone: all `Arc`s).
#[derive(Clone, Debug)]
pub(crate) struct Observability {
    pub metrics: Arc<Metrics>,
    pub events: Arc<EventLog>,
    pub idempotency: Arc<Idempotency>,
    /// The OpenFlow acceptor runs (set by the task that runs it).
    pub ready: Arc<AtomicBool>,
    pub auth: Option<Arc<Authenticator>>,
}

/// The idempotency persister, stopped last.
#[derive(Debug)]
pub(crate) struct IdemPersister {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), String>>,
}

impl IdemPersister {
    /// Writes what is left and ends.
    pub(crate) async fn finish(mut self) -> Result<(), String> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task
            .await
            .map_err(|e| format!("the idempotency persister failed: {e}"))?
    }
}

impl Observability {
    /// Builds everything; loads remembered answers from `side` (the store's
    /// `idempotency.jsonl`; `None`: kept in memory only). `first_seq` is
    /// the seq of the first event the core will emit.
    pub(crate) async fn start(
        settings: &Settings,
        side: Option<Box<dyn SideFile>>,
        first_seq: u64,
    ) -> Result<(Observability, Option<IdemPersister>), DaemonError> {
        let auth = if settings.tokens.is_empty() {
            None
        } else {
            let a = Authenticator::new(settings.tokens.clone()).map_err(DaemonError::Tokens)?;
            Some(Arc::new(a))
        };
        let config =
            IdempotencyConfig::new(settings.idempotency_ttl, settings.idempotency_max_keys);
        let (idempotency, persister) = match side {
            None => (Arc::new(Idempotency::new(config)), None),
            Some(file) => {
                let mut journal = JournalStore::new(file);
                let described = journal.describe();
                let (journal, loaded) = tokio::task::spawn_blocking(move || {
                    let r = journal.load();
                    (journal, r)
                })
                .await
                .map_err(|e| DaemonError::Task {
                    task: "idempotency store",
                    reason: e.to_string(),
                })?;
                let records = loaded.map_err(|error| DaemonError::Idempotency {
                    store: described.clone(),
                    error,
                })?;
                let n = records.len();
                let idem = Arc::new(Idempotency::restore(config, records));
                info!(store = %described, loaded = n, kept = idem.len(), "idempotency answers restored");
                let (stop, stopped) = oneshot::channel::<()>();
                let task = tokio::spawn(persist(idem.clone(), Box::new(journal), async move {
                    let _ = stopped.await;
                }));
                (
                    idem,
                    Some(IdemPersister {
                        stop: Some(stop),
                        task,
                    }),
                )
            }
        };
        let events = Arc::new(
            EventLog::new(settings.events_buffer, first_seq)
                .with_keepalive(settings.events_keepalive),
        );
        if auth.is_none() {
            warn!("no API tokens configured: the API is unauthenticated (loopback only)");
        }
        Ok((
            Observability {
                metrics: Arc::new(Metrics::new()),
                events,
                idempotency,
                ready: Arc::new(AtomicBool::new(false)),
                auth,
            },
            persister,
        ))
    }

    /// How the router is wrapped.
    pub(crate) fn router_config(&self) -> RouterConfig {
        let config = RouterConfig::new().idempotency(self.idempotency.clone());
        match &self.auth {
            Some(a) => config.auth(a.clone()),
            None => config,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::daemon::TsmdService;
    use api::{ApiError, Service};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    #[tokio::test]
    async fn health_is_not_ready_without_the_acceptor_or_the_core() {
        let settings = Settings::default();
        let (obs, persister) = Observability::start(&settings, None, 1).await.unwrap();
        assert!(persister.is_none());
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let svc = TsmdService::new(tx, Duration::from_secs(1), Duration::from_secs(1))
            .with_observability(obs.clone());
        // Before the OpenFlow acceptor runs: 503.
        let e = svc.health().await.unwrap_err();
        assert!(matches!(&e, ApiError::NotReady { reason } if reason.contains("OpenFlow")));
        assert_eq!(e.status().as_u16(), 503);
        // Accepting, but the core task is gone: 503 too.
        obs.ready.store(true, Ordering::Release);
        drop(rx);
        let e = svc.health().await.unwrap_err();
        assert!(matches!(&e, ApiError::NotReady { reason } if reason.contains("core")));
    }

    #[test]
    fn exposure() {
        let mut s = Settings::default();
        assert!(check_exposure(&s, "127.0.0.1:1".parse().unwrap()).is_ok());
        assert!(check_exposure(&s, "[::ffff:127.0.0.1]:1".parse().unwrap()).is_ok());
        assert!(check_exposure(&s, "10.1.2.3:1".parse().unwrap()).is_err());
        s.tokens = vec![api::TokenSpec {
            name: "t".into(),
            hash: api::TokenHash::of("x"),
            groups: api::GroupScope::Any,
            rights: [api::Right::Admin].into_iter().collect(),
        }];
        assert!(check_exposure(&s, "10.1.2.3:1".parse().unwrap()).is_ok());
    }
}
