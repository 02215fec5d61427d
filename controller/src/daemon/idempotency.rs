//! Where tsmd keeps the API's remembered answers (`Idempotency-Key`, [`api::idempotency`])
//! between runs: `idempotency.jsonl` beside the snapshot, one JSON record per line, appended
//! as answers are given and rewritten whole (atomically) when it grows past twice the bound.
//!
//! Guarantees: a line that cannot be read (the torn end of a write cut by a crash, or damage)
//! is skipped with a warning, never fatal: losing a remembered answer only means that its
//! retry runs again. Later lines for the same key win (the table keeps the newest answer).

use api::idempotency::{IdempotencyStore, Record};
use tracing::warn;

use super::store::SideFile;

/// The side file's name in the state directory.
pub const FILE: &str = "idempotency.jsonl";

/// [`IdempotencyStore`] over a [`SideFile`].
pub(crate) struct JournalStore {
    file: Box<dyn SideFile>,
}

impl JournalStore {
    pub(crate) fn new(file: Box<dyn SideFile>) -> JournalStore {
        JournalStore { file }
    }
}

fn lines(records: &[Record]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(records.len() * 256);
    for r in records {
        serde_json::to_writer(&mut out, r).map_err(|e| format!("encoding a record: {e}"))?;
        out.push(b'\n');
    }
    Ok(out)
}

impl IdempotencyStore for JournalStore {
    fn load(&mut self) -> Result<Vec<Record>, String> {
        let Some(bytes) = self.file.read().map_err(|e| e.to_string())? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Record>(line) {
                Ok(r) => out.push(r),
                Err(e) => warn!(
                    file = %self.file.describe(),
                    line = n + 1,
                    error = %e,
                    "skipping an unreadable idempotency record (its retry will run again)"
                ),
            }
        }
        Ok(out)
    }

    fn append(&mut self, records: &[Record]) -> Result<(), String> {
        let bytes = lines(records)?;
        self.file.append(&bytes).map_err(|e| e.to_string())
    }

    fn replace(&mut self, records: &[Record]) -> Result<(), String> {
        let bytes = lines(records)?;
        self.file.replace(&bytes).map_err(|e| e.to_string())
    }

    fn describe(&self) -> String {
        self.file.describe()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::daemon::store::{FileStore, Store};

    fn rec(key: &str, status: u16) -> Record {
        Record {
            scope: "t".into(),
            key: key.into(),
            fingerprint: "f".into(),
            stored_at_ms: 1,
            status,
            headers: vec![("location".into(), "/v1/subsets/239.1.1.1".into())],
            body: "{\"a\":\"b\\nc\"}".into(),
        }
    }

    #[test]
    fn appends_replaces_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let mut j = JournalStore::new(store.side_file(FILE).unwrap());
        assert_eq!(j.load().unwrap(), vec![]);
        j.append(&[rec("a", 201), rec("b", 404)]).unwrap();
        j.append(&[rec("a", 409)]).unwrap();
        assert_eq!(
            j.load().unwrap(),
            vec![rec("a", 201), rec("b", 404), rec("a", 409)]
        );
        // A crash in the middle of an append leaves half a line.
        let path = dir.path().join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"scope\":\"t\",\"ke");
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(j.load().unwrap().len(), 3);
        j.replace(&[rec("c", 201)]).unwrap();
        assert_eq!(j.load().unwrap(), vec![rec("c", 201)]);
        assert!(!dir.path().join(format!("{FILE}.tmp")).exists());
    }
}
