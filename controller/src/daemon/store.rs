//! Where the core's durable state ([`Snapshot`]) lives between runs: the [`Store`] trait, the
//! default [`FileStore`] (one JSON file in the state directory) and a [`MemoryStore`] for
//! tests and demos; and the persister task that writes the newest snapshot off the core task.
//!
//! Guarantees:
//! - [`FileStore::save`] is atomic: it writes a temporary file, fsyncs it, renames it over
//!   `state.json` and fsyncs the directory, so after a crash the file holds either the old or
//!   the new snapshot, whole.
//! - A state directory is used by one daemon at a time: [`FileStore::open`] takes an exclusive
//!   `flock` on `state_dir/lock` (held until the store is dropped) and fails if another holds it.
//! - A snapshot that cannot be read is an error naming the file, line and column, never a
//!   silent fresh start.
//! - The persister coalesces: while a save runs, newer snapshots replace older unsaved ones,
//!   so the core never waits for the disk and the disk sees at most one write in flight.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::fcntl::{Flock, FlockArg};
use tokio::sync::watch;
use tracing::{debug, error};

use crate::snapshot::Snapshot;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("state directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state directory {path} is in use by another tsmd (lock {lock} is held)")]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: not a tsmd snapshot: {reason}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("encoding the snapshot: {0}")]
    Encode(String),
}

/// Durable storage of the core's snapshot. Calls block (the daemon runs them on a blocking
/// thread).
pub trait Store: Send + 'static {
    /// The stored snapshot, or `None` when nothing was ever saved.
    fn load(&mut self) -> Result<Option<Snapshot>, StoreError>;
    /// Replaces the stored snapshot, atomically.
    fn save(&mut self, snapshot: &Snapshot) -> Result<(), StoreError>;
    /// Where it stores (for logs).
    fn describe(&self) -> String;
    /// The directory of the claim journal (`daemon::service::rendezvous`), when the store
    /// has one; without it every claim asks for a whole snapshot.
    fn journal_dir(&self) -> Option<PathBuf> {
        None
    }
    /// A named file beside the snapshot (`idempotency.jsonl`: remembered API answers), when
    /// the store keeps such files.
    fn side_file(&self, name: &str) -> Option<Box<dyn SideFile>> {
        let _ = name;
        None
    }
}

/// A file beside the snapshot: read whole, appended to (then synced), or replaced
/// atomically (temporary file, fsync, rename, fsync of the directory). Calls block.
pub trait SideFile: Send + 'static {
    /// Its bytes, or `None` when it does not exist.
    fn read(&mut self) -> Result<Option<Vec<u8>>, StoreError>;
    /// Adds bytes at the end.
    fn append(&mut self, bytes: &[u8]) -> Result<(), StoreError>;
    /// Replaces the whole content.
    fn replace(&mut self, bytes: &[u8]) -> Result<(), StoreError>;
    /// Where it is (for logs).
    fn describe(&self) -> String;
}

/// A [`SideFile`] in the state directory (covered by the directory's lock).
#[derive(Debug)]
struct FileSide {
    dir: PathBuf,
    file: PathBuf,
    tmp: PathBuf,
}

impl SideFile for FileSide {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        match std::fs::read(&self.file) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Read {
                path: self.file.clone(),
                source,
            }),
        }
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let werr = |source| StoreError::Write {
            path: self.file.clone(),
            source,
        };
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .map_err(werr)?;
        f.write_all(bytes).map_err(werr)?;
        f.sync_data().map_err(werr)
    }

    fn replace(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let werr = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Write { path, source }
        };
        let mut f = File::create(&self.tmp).map_err(werr(&self.tmp))?;
        f.write_all(bytes).map_err(werr(&self.tmp))?;
        f.sync_all().map_err(werr(&self.tmp))?;
        drop(f);
        std::fs::rename(&self.tmp, &self.file).map_err(werr(&self.file))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(werr(&self.dir))
    }

    fn describe(&self) -> String {
        self.file.display().to_string()
    }
}

/// The default store: `state.json` in a directory of its own.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    file: PathBuf,
    tmp: PathBuf,
    _lock: Flock<File>,
}

impl FileStore {
    /// Opens (creating it if needed) the state directory and locks it.
    pub fn open(dir: &Path) -> Result<FileStore, StoreError> {
        let dir_err = |source| StoreError::Dir {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(dir_err)?;
        let lock_path = dir.join("lock");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(dir_err)?;
        let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock).map_err(|_| {
            StoreError::Locked {
                path: dir.to_owned(),
                lock: lock_path.clone(),
            }
        })?;
        Ok(FileStore {
            dir: dir.to_owned(),
            file: dir.join("state.json"),
            tmp: dir.join("state.json.tmp"),
            _lock: lock,
        })
    }

    /// The snapshot file.
    pub fn path(&self) -> &Path {
        &self.file
    }
}

/// Reads a snapshot from JSON text, naming `path` in errors.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<Snapshot, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    })
}

impl Store for FileStore {
    fn load(&mut self) -> Result<Option<Snapshot>, StoreError> {
        match std::fs::read(&self.file) {
            Ok(bytes) => decode(&self.file, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Read {
                path: self.file.clone(),
                source,
            }),
        }
    }

    fn save(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let mut bytes =
            serde_json::to_vec_pretty(snapshot).map_err(|e| StoreError::Encode(e.to_string()))?;
        bytes.push(b'\n');
        let werr = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Write { path, source }
        };
        let mut f = File::create(&self.tmp).map_err(werr(&self.tmp))?;
        f.write_all(&bytes).map_err(werr(&self.tmp))?;
        f.sync_all().map_err(werr(&self.tmp))?;
        drop(f);
        std::fs::rename(&self.tmp, &self.file).map_err(werr(&self.file))?;
        // The rename is durable only once the directory entry is.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(werr(&self.dir))?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.file.display().to_string()
    }

    fn journal_dir(&self) -> Option<PathBuf> {
        Some(self.dir.clone())
    }

    fn side_file(&self, name: &str) -> Option<Box<dyn SideFile>> {
        Some(Box::new(FileSide {
            dir: self.dir.clone(),
            file: self.dir.join(name),
            tmp: self.dir.join(format!("{name}.tmp")),
        }))
    }
}

/// A store in memory, shared by its clones (a test can read what the daemon saved).
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    snapshot: Option<Snapshot>,
    saves: u64,
    /// The side files, by name.
    sides: std::collections::BTreeMap<String, Vec<u8>>,
}

/// A [`SideFile`] of a [`MemoryStore`].
#[derive(Debug)]
struct MemorySide {
    inner: Arc<Mutex<MemoryInner>>,
    name: String,
}

impl SideFile for MemorySide {
    fn read(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .inner
            .lock()
            .ok()
            .and_then(|i| i.sides.get(&self.name).cloned()))
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        if let Ok(mut i) = self.inner.lock() {
            i.sides
                .entry(self.name.clone())
                .or_default()
                .extend_from_slice(bytes);
        }
        Ok(())
    }

    fn replace(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        if let Ok(mut i) = self.inner.lock() {
            i.sides.insert(self.name.clone(), bytes.to_vec());
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("memory:{}", self.name)
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// The last snapshot saved.
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.inner.lock().ok().and_then(|i| i.snapshot.clone())
    }

    /// How many saves were made.
    pub fn saves(&self) -> u64 {
        self.inner.lock().map_or(0, |i| i.saves)
    }
}

impl Store for MemoryStore {
    fn load(&mut self) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.snapshot())
    }

    fn save(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        if let Ok(mut i) = self.inner.lock() {
            i.snapshot = Some(snapshot.clone());
            i.saves += 1;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }

    fn side_file(&self, name: &str) -> Option<Box<dyn SideFile>> {
        Some(Box::new(MemorySide {
            inner: self.inner.clone(),
            name: name.to_owned(),
        }))
    }
}

/// Writes the newest snapshot the watch channel holds until the sender is dropped, then
/// writes the last one if it was not written yet. Returns the store and the last save's error.
pub(crate) async fn persister(
    mut store: Box<dyn Store>,
    mut rx: watch::Receiver<Option<Arc<Snapshot>>>,
) -> Result<(), StoreError> {
    let mut last: Result<(), StoreError> = Ok(());
    // `changed` still reports a value sent just before the sender went away.
    while rx.changed().await.is_ok() {
        let Some(snap) = rx.borrow_and_update().clone() else {
            continue;
        };
        let r = tokio::task::spawn_blocking(move || {
            let r = store.save(&snap);
            (store, r)
        })
        .await;
        match r {
            Ok((s, r)) => {
                store = s;
                match &r {
                    Ok(()) => debug!(store = %store.describe(), "state saved"),
                    Err(e) => {
                        error!(error = %e, "saving the state failed; retrying on the next change")
                    }
                }
                last = r;
            }
            Err(e) => {
                return Err(StoreError::Encode(format!("the save thread failed: {e}")));
            }
        }
    }
    last
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn snap(seq: u64) -> Snapshot {
        // Through JSON, so parts with `#[serde(default)]` take their defaults.
        serde_json::from_value(serde_json::json!({
            "version": crate::snapshot::SNAPSHOT_VERSION,
            "next_seq": seq,
            "trace_counter": 0,
            "groups": [],
            "subsets": [],
        }))
        .unwrap()
    }

    #[test]
    fn file_store_saves_atomically_locks_and_reports_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = FileStore::open(dir.path()).unwrap();
        assert_eq!(s.load().unwrap(), None);
        s.save(&snap(7)).unwrap();
        s.save(&snap(8)).unwrap();
        assert_eq!(s.load().unwrap(), Some(snap(8)));
        assert!(!dir.path().join("state.json.tmp").exists());
        // A second daemon on the same directory is refused while the first holds it.
        let e = FileStore::open(dir.path()).unwrap_err();
        assert!(matches!(e, StoreError::Locked { .. }), "{e}");
        drop(s);
        let mut s = FileStore::open(dir.path()).unwrap();
        std::fs::write(s.path(), b"{\n  \"version\": 1,\n  oops\n}").unwrap();
        let e = s.load().unwrap_err();
        assert!(e.to_string().contains("state.json:3:"), "{e}");
    }

    #[tokio::test]
    async fn persister_coalesces_and_writes_the_last_snapshot() {
        let store = MemoryStore::new();
        let (tx, rx) = watch::channel(None);
        for i in 1..=100 {
            tx.send_replace(Some(Arc::new(snap(i))));
        }
        drop(tx);
        persister(Box::new(store.clone()), rx).await.unwrap();
        assert_eq!(store.snapshot(), Some(snap(100)));
        assert!(store.saves() <= 2, "{} saves", store.saves());
    }
}
