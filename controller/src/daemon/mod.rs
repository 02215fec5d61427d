//! `tsmd`, the tokio shell around the core (feature `daemon`): OpenFlow connections, the HTTP
//! API, the store, the clock, signals. The core ([`crate::machine::Controller`]) does the
//! thinking; this module only moves bytes and time to it and carries out what it asks.
//!
//! ```text
//!  switches ─TCP─► conn tasks ─(decoded batches)─┐                 ┌─► conn writers (1 write/turn)
//!                                                ▼                 │
//!  HTTP ─► api::router ─► TsmdService ─(mpsc + oneshot)─► driver task (owns Controller)
//!                                                ▲                 │
//!                            sleep_until(poll_timeout)             ├─► persister (Store, coalesced)
//!                                                                  └─► events (broadcast, logs)
//! ```
//!
//! - [`start`] takes the listeners from the caller (tests bind 127.0.0.1:0) and returns a
//!   [`Handle`]; [`run`] binds the configured addresses, starts, and serves until SIGINT or
//!   SIGTERM, then shuts down gracefully.
//! - The driver task, the switch connections and the HTTP server run on one thread of their
//!   own (`driver::DaemonThread`, a single-threaded runtime), whatever runtime calls [`start`]:
//!   a request never waits for another thread to wake up. The persister stays on the caller's.
//! - Shutdown: stop accepting switches and HTTP requests, let the core task persist its last
//!   snapshot, flush and close every switch connection (switches keep their rules; leases are
//!   enforced by the switches' hard timeouts), finish the last save.
//!
//! Modules: [`settings`] (config file, flags, validation), [`cli`], [`clock`] (the core's
//! time), [`store`] (`Store`, `FileStore`), [`logging`]; internal: `driver` (the core task),
//! `conn` (switch connections), `service` (the `api::Service`), `errors` (core refusals as API
//! problems). Issue 5: [`metrics`] (`GET /metrics`), [`tokens`] (`tsmd token`); internal:
//! `events` (core events → `GET /v1/events`), `idempotency` (`idempotency.jsonl`), `observe`
//! (tokens, idempotency table, event log, metrics, readiness, built at start).

pub mod cli;
pub mod clock;
mod conn;
mod driver;
mod errors;
mod events;
mod idempotency;
pub mod logging;
pub mod metrics;
mod observe;
mod rules_view;
mod service;
pub mod settings;
pub mod store;
pub mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

pub use clock::Clock;
pub use service::TsmdService;
pub use settings::{ConfigErrors, LogFormat, Overrides, Settings};
pub use store::{FileStore, MemoryStore, Store, StoreError};

use crate::event::Event;
use crate::machine::Controller;
use crate::snapshot::RestoreError;

/// Messages the core task's queue holds before senders wait.
const CORE_QUEUE: usize = 4096;
/// How long in-flight HTTP requests get at shutdown.
const HTTP_DRAIN: Duration = Duration::from_secs(3);

/// Why the daemon could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigErrors),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the saved state in {store} cannot be restored: {error}")]
    Restore { store: String, error: RestoreError },
    #[error("the core configuration is invalid: {0}")]
    Core(#[from] crate::machine::ConfigError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{what} listener: {source}")]
    Listener {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
    #[error("logging: {0}")]
    Log(#[from] logging::LogError),
    #[error("the {task} task failed: {reason}")]
    Task { task: &'static str, reason: String },
    #[error(
        "refusing to serve the API on {addr} without tokens: only a loopback address may be \
         unauthenticated; configure [[api.tokens]] (tsmd token) or listen on 127.0.0.1 / [::1]"
    )]
    Unprotected { addr: SocketAddr },
    #[error("api.tokens: {0}")]
    Tokens(api::auth::AuthConfigError),
    #[error("the remembered idempotent answers in {store} cannot be read: {error}")]
    Idempotency { store: String, error: String },
}

/// A running daemon. Dropping it without [`Handle::shutdown`] still stops it (the tasks wind
/// down on their own, and the last snapshot is saved), but nobody waits for that.
#[derive(Debug)]
pub struct Handle {
    of_addr: SocketAddr,
    http_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    events: broadcast::Sender<Event>,
    /// A receiver made before the core started (see [`Handle::events_from_start`]).
    first_events: Option<broadcast::Receiver<Event>>,
    /// `GET /v1/events`' source: closed at shutdown so open streams end.
    event_log: Arc<api::events::EventLog>,
    tasks: Option<Tasks>,
}

#[derive(Debug)]
struct Tasks {
    core: JoinHandle<()>,
    accept: JoinHandle<()>,
    http: JoinHandle<std::io::Result<()>>,
    persister: JoinHandle<Result<(), StoreError>>,
    idempotency: Option<observe::IdemPersister>,
}

fn failed(task: &'static str, e: tokio::task::JoinError) -> DaemonError {
    DaemonError::Task {
        task,
        reason: e.to_string(),
    }
}

impl Handle {
    /// Where switches connect.
    pub fn of_addr(&self) -> SocketAddr {
        self.of_addr
    }

    /// Where the HTTP API listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The API's base URL (`http://ADDR`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The core's events from now on (a receiver that lags loses the oldest).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The core's events from its start (the first 1,024 kept; then as [`subscribe`]), once:
    /// switches that were already waiting connect before any later `subscribe` can run.
    ///
    /// [`subscribe`]: Handle::subscribe
    pub fn events_from_start(&mut self) -> Option<broadcast::Receiver<Event>> {
        self.first_events.take()
    }

    /// Resolves if the core task ends before shutdown was asked for (a bug: it only ends at
    /// shutdown). After this, [`Handle::shutdown`] still stops the rest.
    pub async fn core_stopped(&mut self) {
        match self.tasks.as_mut() {
            Some(t) if !t.core.is_finished() => {
                let _ = (&mut t.core).await;
            }
            _ => std::future::pending::<()>().await,
        }
    }

    /// Stops accepting, persists, closes every connection, and waits for the last save.
    pub async fn shutdown(mut self) -> Result<(), DaemonError> {
        let started = tokio::time::Instant::now();
        let _ = self.shutdown.send(true);
        self.event_log.close();
        let Some(t) = self.tasks.take() else {
            return Ok(());
        };
        let core = if t.core.is_finished() {
            // `core_stopped` already saw it end.
            Ok(())
        } else {
            t.core.await
        };
        let _ = t.accept.await;
        let http = match tokio::time::timeout(HTTP_DRAIN, t.http).await {
            Ok(r) => r,
            Err(_) => {
                warn!("HTTP requests did not finish in time");
                Ok(Ok(()))
            }
        };
        let saved = t.persister.await;
        if let Some(p) = t.idempotency {
            if let Err(e) = p.finish().await {
                error!(error = %e, "the last idempotency answers were not saved");
            }
        }
        info!(
            took_ms = started.elapsed().as_millis() as u64,
            "tsmd stopped"
        );
        core.map_err(|e| failed("core", e))?;
        http.map_err(|e| failed("HTTP", e))?
            .map_err(|source| DaemonError::Listener {
                what: "HTTP",
                source,
            })?;
        saved
            .map_err(|e| failed("persister", e))?
            .map_err(DaemonError::Store)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.event_log.close();
    }
}

/// Starts tsmd on the given listeners with the file store in `settings.state_dir`.
pub async fn start(
    settings: Settings,
    openflow: TcpListener,
    http: TcpListener,
) -> Result<Handle, DaemonError> {
    let dir = settings.state_dir.clone();
    let store = tokio::task::spawn_blocking(move || FileStore::open(&dir))
        .await
        .map_err(|e| DaemonError::Task {
            task: "store",
            reason: e.to_string(),
        })??;
    start_with_store(settings, Box::new(store), openflow, http).await
}

/// Starts tsmd on the given listeners with any store: loads and restores its snapshot, then
/// spawns the core task, the switch acceptor, the HTTP server and the persister.
pub async fn start_with_store(
    settings: Settings,
    mut store: Box<dyn Store>,
    openflow: TcpListener,
    http: TcpListener,
) -> Result<Handle, DaemonError> {
    let of_addr = openflow
        .local_addr()
        .map_err(|source| DaemonError::Listener {
            what: "OpenFlow",
            source,
        })?;
    let http_addr = http.local_addr().map_err(|source| DaemonError::Listener {
        what: "HTTP",
        source,
    })?;
    observe::check_exposure(&settings, http_addr)?;
    let described = store.describe();
    let (store, loaded) = tokio::task::spawn_blocking(move || {
        let r = store.load();
        (store, r)
    })
    .await
    .map_err(|e| DaemonError::Task {
        task: "store",
        reason: e.to_string(),
    })?;
    let loaded = loaded?;
    let clock = Clock::new();
    let config = settings.core_config();
    let ctl = match &loaded {
        Some(snap) => Controller::restore(config, snap, clock.now()).map_err(|error| {
            DaemonError::Restore {
                store: described.clone(),
                error,
            }
        })?,
        None => Controller::new(config)?,
    };
    // Taken before the claim journal wraps the store.
    let idem_side = store.side_file(idempotency::FILE);
    // Claims and blocks answered after the last snapshot come back from the claim journal.
    let (store, ctl, journal) =
        service::rendezvous::start_journal(store, ctl, settings.journal_stage_dir.clone()).await?;
    info!(
        openflow = %of_addr,
        api = %http_addr,
        state = %described,
        restored_groups = ctl.groups().len(),
        restored_subsets = ctl.subsets().len(),
        dropped_expired = loaded.as_ref().map_or(0, |s| s.subsets.len()).saturating_sub(ctl.subsets().len()),
        "tsmd started"
    );

    let settings = Arc::new(settings);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (core_tx, core_rx) = mpsc::channel(CORE_QUEUE);
    let (persist_tx, persist_rx) = watch::channel(None);
    let (events, first_events) = broadcast::channel(1024);

    let first_seq = loaded.as_ref().map_or(1, |s| s.next_seq.max(1));
    let (obs, idem_persister) =
        observe::Observability::start(&settings, idem_side, first_seq).await?;
    service::scope::seed_events(&obs.events, &ctl);
    let persister = tokio::spawn(store::persister(store, persist_rx));
    let mut driver = driver::Driver::new(
        ctl,
        clock,
        settings.clone(),
        core_rx,
        shutdown_rx.clone(),
        persist_tx,
        events.clone(),
    );
    if let Some(j) = journal {
        driver.set_journal(j);
    }
    driver.set_observers(obs.metrics.clone(), obs.events.clone());
    // The core, the switch connections and the HTTP server share one thread of their own.
    let thread =
        driver::DaemonThread::start(shutdown_rx.clone()).map_err(|e| DaemonError::Task {
            task: "daemon thread",
            reason: e.to_string(),
        })?;
    let adopt = |what, l| {
        thread
            .adopt(l)
            .map_err(|source| DaemonError::Listener { what, source })
    };
    let (openflow, http) = (adopt("OpenFlow", openflow)?, adopt("HTTP", http)?);
    let core = thread.spawn(driver.run());
    let accepting = obs.ready.clone();
    let accept_loop = conn::accept_loop(openflow, core_tx.clone(), shutdown_rx.clone());
    let accept = thread.spawn(async move {
        // Ready (GET /healthz) while switches can connect.
        accepting.store(true, std::sync::atomic::Ordering::Release);
        accept_loop.await;
        accepting.store(false, std::sync::atomic::Ordering::Release);
    });
    let service = TsmdService::new(core_tx, settings.max_lease, settings.request_timeout)
        .with_observability(obs.clone());
    let app = api::router_with(Arc::new(service), obs.router_config());
    let mut http_stop = shutdown_rx;
    let http = thread.spawn(async move {
        // Answers are small and someone waits for each: no Nagle delay.
        let http = axum::serve::ListenerExt::tap_io(http, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(http, app)
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await
    });
    Ok(Handle {
        of_addr,
        http_addr,
        shutdown,
        events,
        first_events: Some(first_events),
        event_log: obs.events.clone(),
        tasks: Some(Tasks {
            core,
            accept,
            http,
            persister,
            idempotency: idem_persister,
        }),
    })
}

/// Binds a listener (with `SO_REUSEADDR`, so a restarted tsmd gets its port back at once).
pub fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, DaemonError> {
    let err = |source| DaemonError::Bind { what, addr, source };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(err)?;
    socket.set_reuseaddr(true).map_err(err)?;
    socket.bind(addr).map_err(err)?;
    socket.listen(1024).map_err(err)
}

/// Runs tsmd with `settings` until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(settings: Settings) -> Result<(), DaemonError> {
    // Handlers first: a signal that comes as soon as the startup line is out must shut down
    // gracefully, not kill the process.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;
    let openflow = bind("OpenFlow", settings.openflow_listen)?;
    let http = bind("HTTP API", settings.api_listen)?;
    let mut handle = start(settings, openflow, http).await?;
    let crashed = tokio::select! {
        _ = int.recv() => {
            info!("SIGINT: shutting down");
            false
        }
        _ = term.recv() => {
            info!("SIGTERM: shutting down");
            false
        }
        () = handle.core_stopped() => true,
    };
    let r = handle.shutdown().await;
    if crashed {
        error!("the core task ended unexpectedly");
        return Err(DaemonError::Task {
            task: "core",
            reason: "ended unexpectedly".to_owned(),
        });
    }
    r
}
