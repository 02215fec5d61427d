//! The agent's background follower of `GET /v1/events` (the typed
//! [`api::events::EventStream`]).
//!
//! It reads the stream of the controller that answered last (the next one when it fails),
//! resumes after the last sequence number it saw, and resynchronises — re-reads every
//! group's membership version and checks the blocks held ([`crate::Agent::resync`]) — when:
//! - it starts following (what happened before is unknown);
//! - a sequence number is skipped (`seq` ≠ previous + 1: events were lost). The previous
//!   position includes the `id`-only messages the server sends after events it withholds
//!   from a token scoped to some groups ([`api::events::EventStream::position_before_last_event`]),
//!   so a scoped agent's filtered stream is not mistaken for a lossy one;
//! - the controller says so: a `gap` item, a `410 events-gone` answer to the resume point,
//!   or a `restored` event (the controller reloaded its state);
//! - a group is deleted (its plan, claims and blocks end with it).
//!
//! A `group_put` event (members or address changed) makes it read that group's membership
//! version, which then makes the local claims of older blocks stale.
//!
//! Guarantees: the follower never stops on a bad event or a failed read (it logs and goes on
//! or reconnects); it reconnects with a growing pause (100 ms to 2 s); [`SyncStatus`] counts
//! what it did.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use api::events::{EventKind, Received, Reconnect};
use api::{ApiError, Client, ClientError};

use crate::agent::Inner;

/// What the follower has done (counters for tests, logs and the CLI).
#[derive(Debug, Default)]
pub(crate) struct SyncStats {
    /// The last sequence number + 1 (0: none yet).
    next_seq: AtomicU64,
    events: AtomicU64,
    gaps: AtomicU64,
    resyncs: AtomicU64,
    connected: AtomicBool,
}

/// A snapshot of the event follower's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncStatus {
    /// The last sequence number seen.
    pub last_seq: Option<u64>,
    /// Events seen.
    pub events: u64,
    /// Gaps detected (skipped sequence numbers, `gap` items, `events-gone` answers).
    pub gaps: u64,
    /// Resynchronisations done.
    pub resyncs: u64,
    /// Whether a stream is open now.
    pub connected: bool,
}

impl SyncStats {
    pub(crate) fn status(&self) -> SyncStatus {
        let next = self.next_seq.load(Ordering::Acquire);
        SyncStatus {
            last_seq: next.checked_sub(1),
            events: self.events.load(Ordering::Acquire),
            gaps: self.gaps.load(Ordering::Acquire),
            resyncs: self.resyncs.load(Ordering::Acquire),
            connected: self.connected.load(Ordering::Acquire),
        }
    }

    fn last_seq(&self) -> Option<u64> {
        self.next_seq.load(Ordering::Acquire).checked_sub(1)
    }

    /// The server moved the stream's position to `seq` without sending the events up to it
    /// (withheld from a token scoped to some groups, or the start of a stream): they are not
    /// lost, the next event is expected at `seq + 1`.
    fn moved_to(&self, seq: u64) {
        self.next_seq
            .fetch_max(seq.saturating_add(1), Ordering::AcqRel);
    }

    /// Records `seq`; whether it skipped some (a gap).
    fn saw(&self, seq: u64) -> bool {
        let expected = self.next_seq.swap(seq.saturating_add(1), Ordering::AcqRel);
        expected != 0 && seq != expected
    }

    fn forget_position(&self) {
        self.next_seq.store(0, Ordering::Release);
    }
}

/// What one item asks of the follower.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Nothing,
    /// Read this group's membership version.
    Group(String),
    /// Re-read everything.
    Resync,
}

fn action(kind: &EventKind) -> Action {
    match kind {
        EventKind::GroupPut { group, .. } => Action::Group(group.clone()),
        EventKind::GroupDeleted { .. } | EventKind::Restored => Action::Resync,
        _ => Action::Nothing,
    }
}

/// The agent's background follower; ends when the agent is gone (or is aborted).
pub(crate) async fn follow(agent: Weak<Inner>) {
    let mut pause = Duration::from_millis(100);
    loop {
        let Some(inner) = agent.upgrade() else {
            return;
        };
        for client in inner.endpoints.stream_clients() {
            if follow_one(&inner, &client).await {
                pause = Duration::from_millis(100);
            }
        }
        drop(inner);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// Reads one controller's stream until it ends; whether it was open at all.
async fn follow_one(inner: &Arc<Inner>, client: &Client) -> bool {
    let stats = &inner.sync;
    let last = stats.last_seq();
    let mut stream = match client.events_with(last, Reconnect::never()).await {
        Ok(s) => s,
        Err(ClientError::Api { error, .. }) if matches!(*error, ApiError::EventsGone { .. }) => {
            // The resume point is gone: start from now, after reading the state.
            tracing::info!(after = ?last, "events lost; resynchronising");
            stats.gaps.fetch_add(1, Ordering::AcqRel);
            stats.forget_position();
            resync(inner).await;
            return true;
        }
        Err(e) => {
            tracing::debug!(controller = %client.base_url(), error = %e, "events unavailable");
            return false;
        }
    };
    stats.connected.store(true, Ordering::Release);
    tracing::debug!(controller = %client.base_url(), after = ?last, "following events");
    if last.is_none() {
        resync(inner).await;
    }
    while let Some(item) = stream.next().await {
        match item {
            Ok(Received::Event(ev)) => {
                stats.events.fetch_add(1, Ordering::AcqRel);
                // Seqs withheld by the token's scope are not a gap: the server said so.
                if let Some(p) = stream.position_before_last_event() {
                    stats.moved_to(p);
                }
                let skipped = stats.saw(ev.seq);
                match (skipped, action(&ev.kind)) {
                    (true, _) | (_, Action::Resync) => {
                        if skipped {
                            tracing::info!(seq = ev.seq, "events were skipped; resynchronising");
                            stats.gaps.fetch_add(1, Ordering::AcqRel);
                        }
                        resync(inner).await;
                    }
                    (false, Action::Group(group)) => read_group(inner, &group).await,
                    (false, Action::Nothing) => {}
                }
            }
            Ok(Received::Gap(gap)) => {
                tracing::info!(
                    after = gap.after,
                    first = gap.first_available,
                    "the controller lost events for us; resynchronising"
                );
                stats.gaps.fetch_add(1, Ordering::AcqRel);
                // The stream goes on from `first_available`.
                stats.next_seq.store(gap.first_available, Ordering::Release);
                resync(inner).await;
            }
            Err(e) => {
                tracing::debug!(error = %e, "event stream ended");
                break;
            }
        }
    }
    stats.connected.store(false, Ordering::Release);
    true
}

async fn read_group(inner: &Arc<Inner>, group: &str) {
    let Ok(name) = group.parse::<api::GroupName>() else {
        return;
    };
    let name = &name;
    match inner
        .endpoints
        .call(|c| async move { c.group(name).await })
        .await
    {
        Ok(g) => inner.observe(g.name.as_str(), g.version),
        Err(e) => {
            tracing::debug!(group, error = %e, "cannot read the group; resynchronising");
            resync(inner).await;
        }
    }
}

async fn resync(inner: &Arc<Inner>) {
    match inner.resync().await {
        Ok(()) => {
            inner.sync.resyncs.fetch_add(1, Ordering::AcqRel);
        }
        Err(e) => tracing::warn!(error = %e, "resynchronisation failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_sequence_numbers_are_gaps() {
        let s = SyncStats::default();
        assert!(!s.saw(5), "the first event sets the position");
        assert!(!s.saw(6));
        assert!(s.saw(8));
        assert!(s.saw(3), "going back is a gap too (another controller)");
        assert_eq!(s.status().last_seq, Some(3));
    }

    #[test]
    fn positions_the_server_moved_to_are_not_gaps() {
        let s = SyncStats::default();
        assert!(!s.saw(5));
        // 6..=9 withheld by scope, then 10.
        s.moved_to(9);
        assert!(!s.saw(10));
        // A position behind the agent's changes nothing; a real jump is still a gap.
        s.moved_to(3);
        assert!(!s.saw(11));
        assert!(s.saw(13));
    }

    #[test]
    fn membership_events_ask_for_the_group() {
        let put = EventKind::GroupPut {
            group: "storage".into(),
            address: "239.1.1.1".parse().unwrap(),
            members: vec![],
        };
        assert_eq!(action(&put), Action::Group("storage".into()));
        assert_eq!(action(&EventKind::Restored), Action::Resync);
        assert_eq!(
            action(&EventKind::GroupDeleted {
                group: "storage".into()
            }),
            Action::Resync
        );
        assert_eq!(action(&EventKind::Unknown), Action::Nothing);
    }
}
