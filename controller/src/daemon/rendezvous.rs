//! Rendezvous groups in tsmd (`api::rendezvous`): the plan, claim and block routes as commands
//! and queries on the core task; the core's views and refusals as the API's DTOs and
//! problems; and the claim journal.
//!
//! **The claim journal.** A claim must never be lost once answered, and the claim path must
//! be fast (issue 5: p99 ≤ 500 µs over HTTP on loopback), so claims do not wait for a whole
//! snapshot. The core emits one [`JournalEntry`] per claim, block, renewal or release before
//! the answer; the core task appends it to `claims-<n>.log` (JSON lines) with one `write(2)`
//! before it carries out the answer, so an answered claim is in the kernel's page cache and
//! survives a crash or restart of tsmd. That write goes to a stage directory on tmpfs
//! (`store.journal_stage_dir`, default `/dev/shm`) when there is one: a write to the state
//! directory's disk file system can wait milliseconds for its journal commit, which would put
//! disk latency into every claim. A background thread copies new whole lines from the stage
//! to the state directory and calls `fdatasync` every [`SYNC_INTERVAL`] while there are new
//! entries (group commit), so a crash of the whole machine loses at most the last few
//! milliseconds of claims; at shutdown the journal is synced before tsmd exits. On start the
//! stage's copy of a segment wins over the disk's (it is the longer one); after a reboot only
//! the disk's is left. Without a stage the core appends to the disk file itself. On start, the snapshot is restored, the journal's
//! entries after the snapshot's `journal_seq` are replayed (leases that ended meanwhile are
//! dropped), a fresh snapshot is saved and the journal starts over. While running, a segment
//! that passes [`SEGMENT_BYTES`] is closed, a snapshot is asked for, and closed segments are
//! deleted once a saved snapshot covers them. Without a state directory (the in-memory store)
//! every journal entry asks for a whole snapshot instead.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use api::{
    ApiError, Block, BlockId, BlockRequest, Claim, ClaimId, ClaimRequest, Dpid as ApiDpid,
    GroupName, PlanProgress, PlanState, RendezvousPlan, RendezvousRequest, RenewRequest,
    RequestMeta, SwitchBudget as ApiBudget,
};
use tokio::sync::watch;
use tracing::{debug, error, info, info_span, Instrument};

use super::{ms, TsmdService};
use crate::command::Command;
use crate::daemon::clock::Clock;
use crate::daemon::driver::Done;
use crate::daemon::store::{Store, StoreError};
use crate::event::EventKind;
use crate::rendezvous::{
    BlockInfo, ClaimInfo, JournalEntry, PlanInfo, PlanSpec, PlanStatus, RvCommand, RvError,
    RvReply, SwitchBudget,
};
use crate::snapshot::Snapshot;

/// How often new journal entries are fsynced.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(5);
/// The default stage directory's parent (tmpfs on Linux).
pub const DEFAULT_STAGE_ROOT: &str = "/dev/shm";
/// The state directory's file naming its stage directory (`<root>/tsmd-journal-<id>`).
const STAGE_ID_FILE: &str = "journal-id";
/// A journal segment is closed after this many bytes.
pub const SEGMENT_BYTES: u64 = 16 << 20;

// -------------------------------------------------------------------------------------------
// DTOs.

fn group_name(name: &str) -> Result<GroupName, ApiError> {
    name.parse().map_err(|e| ApiError::Internal {
        reason: format!("group {name:?} cannot be shown: {e}"),
    })
}

fn budget_dto(b: &SwitchBudget) -> ApiBudget {
    ApiBudget {
        dpid: ApiDpid(b.dpid.0),
        groups_needed: b.groups_needed,
        groups_available: b.groups_available,
        flows_needed: b.flows_needed,
        flows_available: b.flows_available,
    }
}

fn state_dto(s: PlanStatus) -> PlanState {
    match s {
        PlanStatus::Installing => PlanState::Installing,
        PlanStatus::Ready => PlanState::Ready,
        PlanStatus::Failed => PlanState::Failed,
        PlanStatus::OverBudget => PlanState::OverBudget,
    }
}

/// The API's form of a plan.
pub(crate) fn plan_dto(p: &PlanInfo) -> Result<RendezvousPlan, ApiError> {
    Ok(RendezvousPlan {
        group: group_name(&p.group)?,
        version: p.version,
        members_version: p.members_version,
        k: p.spec.k,
        copies: p.spec.copies,
        base: p.spec.base,
        members: p.members.clone(),
        subsets: p.subsets,
        addresses: p.addresses,
        state: state_dto(p.state),
        progress: PlanProgress {
            switches_total: p.progress.switches_total,
            switches_done: p.progress.switches_done,
            messages_total: p.progress.messages_total,
            messages_done: p.progress.messages_done,
        },
        error: p.error.clone(),
        budget: p.budget.iter().map(budget_dto).collect(),
    })
}

/// The API's form of a claim.
pub(crate) fn claim_dto(c: &ClaimInfo) -> Result<Claim, ApiError> {
    Ok(Claim {
        id: ClaimId(c.id),
        group: group_name(&c.group)?,
        address: c.addr,
        members: c.members.clone(),
        copy: c.copy,
        plan_version: c.plan_version,
        members_version: c.members_version,
        expires_at: Clock::unix_ms(c.expires_at),
        owner: c.owner.clone(),
    })
}

/// The API's form of a block.
pub(crate) fn block_dto(b: &BlockInfo) -> Result<Block, ApiError> {
    Ok(Block {
        id: BlockId(b.id),
        group: group_name(&b.group)?,
        base: b.base,
        k: b.k,
        members: b.members.clone(),
        members_version: b.members_version,
        plan_version: b.plan_version,
        copies: b.copies.clone(),
        expires_at: Clock::unix_ms(b.expires_at),
        owner: b.owner.clone(),
    })
}

/// A core refusal as the API's problem, naming the culprit.
pub(crate) fn api_error(e: RvError, max_lease: Duration) -> ApiError {
    let conflict = |resource: String, e: &RvError| ApiError::Conflict {
        resource,
        reason: e.to_string(),
    };
    match e {
        RvError::UnknownGroup { group } => ApiError::UnknownGroup { group },
        RvError::KOutOfRange { group, k, n } => ApiError::KOutOfRange {
            group,
            k: u64::from(k),
            n: n as u64,
        },
        RvError::NoCopies => ApiError::InvalidField {
            path: "body.copies".to_owned(),
            reason: "must be at least 1".to_owned(),
        },
        RvError::BadBase { base, why } => ApiError::InvalidField {
            path: "body.base".to_owned(),
            reason: format!("{base}: {why}"),
        },
        ref e @ RvError::RangeOverlap { first, last, .. } => {
            conflict(format!("address range {first} - {last}"), e)
        }
        RvError::TooManyAddresses { addresses, max, .. } => ApiError::InvalidField {
            path: "body".to_owned(),
            reason: format!(
                "the plan would have {addresses} addresses (copies × C(n, k)); at most {max}"
            ),
        },
        RvError::OverBudget { group, switches } => ApiError::OverBudget {
            group,
            switches: switches.iter().map(budget_dto).collect(),
        },
        RvError::UnknownHosts { hosts, .. } => ApiError::UnknownHosts { hosts },
        ref e @ RvError::Unplannable { ref group, .. } => {
            conflict(format!("rendezvous plan of group {group}"), e)
        }
        RvError::NoPlan { group } => ApiError::NotFound {
            resource: format!("rendezvous plan of group {group}"),
        },
        ref e @ RvError::NotReady { ref group, .. } => {
            conflict(format!("rendezvous plan of group {group}"), e)
        }
        RvError::WrongSize { group, size, k } => ApiError::WrongSubsetSize {
            group,
            size: size as u64,
            k: u64::from(k),
        },
        RvError::NotMembers { group, members } => ApiError::NotGroupMembers { group, members },
        RvError::Exhausted {
            group,
            members,
            copies,
        } => ApiError::RendezvousExhausted {
            group,
            members,
            copies,
        },
        ref e @ RvError::BlockExhausted { ref group, .. } => {
            conflict(format!("rendezvous plan of group {group}"), e)
        }
        RvError::Expired { id, block } => ApiError::ClaimExpired {
            id: if block {
                BlockId(id).to_string()
            } else {
                ClaimId(id).to_string()
            },
        },
        ref e @ RvError::PlanInUse { ref group, .. } => {
            conflict(format!("rendezvous plan of group {group}"), e)
        }
        RvError::BadLease { lease, max } => ApiError::LeaseOutOfRange {
            lease_ms: u64::try_from(lease.as_millis()).unwrap_or(u64::MAX),
            max_lease_ms: ms(max.max(max_lease)),
        },
        ref e @ RvError::GroupIds { dpid } => conflict(format!("switch {dpid}"), e),
    }
}

/// Logs a rendezvous event (the driver's log line for it).
pub(crate) fn log_event(seq: u64, kind: &EventKind) {
    match kind {
        EventKind::PlanChanged {
            group,
            version,
            members_version,
            state,
        } => info!(seq, %group, version, members_version, ?state, "rendezvous plan"),
        EventKind::PlanDeleted { group } => info!(seq, %group, "rendezvous plan deleted"),
        other => debug!(seq, event = ?other, "rendezvous"),
    }
}

// -------------------------------------------------------------------------------------------
// The service.

fn unexpected(what: &str, other: &Done) -> ApiError {
    ApiError::Internal {
        reason: format!("unexpected answer to {what}: {other:?}"),
    }
}

impl TsmdService {
    async fn rv(&self, command: RvCommand, what: &str) -> Result<RvReply, ApiError> {
        match self
            .command_or_timeout(Command::Rendezvous(command), what)
            .await?
        {
            Done::Rendezvous(r) => Ok(r),
            other => Err(unexpected(what, &other)),
        }
    }
}

pub(super) async fn put_plan(
    svc: &TsmdService,
    _meta: RequestMeta,
    group: GroupName,
    req: RendezvousRequest,
) -> Result<RendezvousPlan, ApiError> {
    let span =
        info_span!("api", op = "put_rendezvous", group = %group, trace_id = tracing::field::Empty);
    async move {
        let command = RvCommand::PutPlan {
            group: group.to_string(),
            spec: PlanSpec {
                k: req.k,
                copies: req.copies,
                base: req.base,
            },
        };
        match svc.rv(command, "rendezvous plan").await? {
            RvReply::Plan(p) => plan_dto(&p),
            other => Err(ApiError::Internal {
                reason: format!("unexpected answer to a plan: {other:?}"),
            }),
        }
    }
    .instrument(span)
    .await
}

pub(super) async fn plan(svc: &TsmdService, group: GroupName) -> Result<RendezvousPlan, ApiError> {
    let name = group.to_string();
    svc.query(move |v| match v.ctl.rendezvous_plan(&name) {
        Some(p) => plan_dto(&p),
        None if v.ctl.group(&name).is_some() => Err(ApiError::NotFound {
            resource: format!("rendezvous plan of group {name}"),
        }),
        None => Err(ApiError::UnknownGroup { group: name }),
    })
    .await?
}

pub(super) async fn plans(svc: &TsmdService) -> Result<Vec<RendezvousPlan>, ApiError> {
    svc.query(|v| {
        v.ctl
            .rendezvous_plans()
            .iter()
            .map(plan_dto)
            .collect::<Result<Vec<_>, _>>()
    })
    .await?
}

pub(super) async fn delete_plan(svc: &TsmdService, group: GroupName) -> Result<(), ApiError> {
    let span = info_span!("api", op = "delete_rendezvous", group = %group, trace_id = tracing::field::Empty);
    async move {
        svc.rv(
            RvCommand::DeletePlan {
                group: group.to_string(),
            },
            "rendezvous plan removal",
        )
        .await
        .map(|_| ())
    }
    .instrument(span)
    .await
}

/// Takes a claim for `owner` (the token's name; `None` without tokens), who alone (or an
/// admin) may renew or release it (`scope::check_lease`).
pub(super) async fn claim(
    svc: &TsmdService,
    group: GroupName,
    req: ClaimRequest,
    owner: Option<String>,
) -> Result<Claim, ApiError> {
    let started = std::time::Instant::now();
    let command = RvCommand::Claim {
        group: group.to_string(),
        members: req.members,
        lease: Duration::from_millis(req.lease_ms),
        owner,
    };
    match svc.rv(command, "claim").await? {
        RvReply::Claim(c) => {
            // Answered claims only: a refusal is not a claim latency.
            if let Some(m) = svc.metrics() {
                m.observe_claim(started.elapsed());
            }
            claim_dto(&c)
        }
        other => Err(ApiError::Internal {
            reason: format!("unexpected answer to a claim: {other:?}"),
        }),
    }
}

pub(super) async fn renew_claim(
    svc: &TsmdService,
    id: ClaimId,
    req: RenewRequest,
) -> Result<Claim, ApiError> {
    let command = RvCommand::RenewClaim {
        id: id.0,
        lease: Duration::from_millis(req.lease_ms),
    };
    match svc.rv(command, "claim renewal").await? {
        RvReply::Claim(c) => claim_dto(&c),
        other => Err(ApiError::Internal {
            reason: format!("unexpected answer to a renewal: {other:?}"),
        }),
    }
}

pub(super) async fn release_claim(svc: &TsmdService, id: ClaimId) -> Result<(), ApiError> {
    svc.rv(RvCommand::ReleaseClaim { id: id.0 }, "claim release")
        .await
        .map(|_| ())
}

pub(super) async fn claims(svc: &TsmdService) -> Result<Vec<Claim>, ApiError> {
    svc.query(|v| {
        v.ctl
            .claims()
            .iter()
            .map(claim_dto)
            .collect::<Result<Vec<_>, _>>()
    })
    .await?
}

/// Takes a block for `owner`, as [`claim`].
pub(super) async fn take_block(
    svc: &TsmdService,
    group: GroupName,
    req: BlockRequest,
    owner: Option<String>,
) -> Result<Block, ApiError> {
    let command = RvCommand::TakeBlock {
        group: group.to_string(),
        copies: req.copies,
        lease: Duration::from_millis(req.lease_ms),
        owner,
    };
    match svc.rv(command, "block").await? {
        RvReply::Block(b) => block_dto(&b),
        other => Err(ApiError::Internal {
            reason: format!("unexpected answer to a block: {other:?}"),
        }),
    }
}

pub(super) async fn renew_block(
    svc: &TsmdService,
    id: BlockId,
    req: RenewRequest,
) -> Result<Block, ApiError> {
    let command = RvCommand::RenewBlock {
        id: id.0,
        lease: Duration::from_millis(req.lease_ms),
    };
    match svc.rv(command, "block renewal").await? {
        RvReply::Block(b) => block_dto(&b),
        other => Err(ApiError::Internal {
            reason: format!("unexpected answer to a renewal: {other:?}"),
        }),
    }
}

pub(super) async fn release_block(svc: &TsmdService, id: BlockId) -> Result<(), ApiError> {
    svc.rv(RvCommand::ReleaseBlock { id: id.0 }, "block release")
        .await
        .map(|_| ())
}

pub(super) async fn blocks(svc: &TsmdService) -> Result<Vec<Block>, ApiError> {
    svc.query(|v| {
        v.ctl
            .blocks()
            .iter()
            .map(block_dto)
            .collect::<Result<Vec<_>, _>>()
    })
    .await?
}

// -------------------------------------------------------------------------------------------
// The journal.

/// Why the journal failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    #[error("claim journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("claim journal {path}:{line}: not a journal entry: {reason}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// The claim journal of a state directory. See the module header.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    /// Where the core appends: the open segment's stage file, or its disk file without a
    /// stage. The syncer clones the `Arc` and works outside the lock: holding it through an
    /// fdatasync (milliseconds on a busy disk) stalled the core's appends.
    current: Arc<Mutex<Arc<File>>>,
    /// The stage directory, when there is one.
    stage: Option<PathBuf>,
    /// With a stage: the open segment's copy from stage to disk (the syncer's, and the
    /// core's when it closes a segment).
    copier: Arc<Mutex<Option<Copier>>>,
    segment: u64,
    bytes: u64,
    /// Closed segments and the last sequence number in each.
    closed: Vec<(u64, u64)>,
    last_seq: u64,
    /// `journal_seq` of the newest snapshot the store saved.
    saved: Arc<AtomicU64>,
    dirty: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    syncer: Option<JoinHandle<()>>,
    buf: Vec<u8>,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("claims-{n:08}.log"))
}

fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let io = |source| JournalError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        let name = e.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|s| s.strip_prefix("claims-"))
            .and_then(|s| s.strip_suffix(".log"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((n, e.path()));
    }
    out.sort();
    Ok(out)
}

/// Reads one segment; a last line cut short by a crash is ignored.
fn read_segment(path: &Path) -> Result<Vec<JournalEntry>, JournalError> {
    let file = File::open(path).map_err(|source| JournalError::Io {
        path: path.to_owned(),
        source,
    })?;
    let lines: Vec<String> = std::io::BufReader::new(file)
        .split(b'\n')
        .map(|l| l.map(|b| String::from_utf8_lossy(&b).into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|source| JournalError::Io {
            path: path.to_owned(),
            source,
        })?;
    let ends_complete = std::fs::read(path)
        .map(|b| b.last() == Some(&b'\n') || b.is_empty())
        .unwrap_or(true);
    let mut out = Vec::new();
    let n = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<JournalEntry>(&line) {
            Ok(e) => out.push(e),
            Err(_) if i + 1 == n && !ends_complete => break,
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.to_owned(),
                    line: i + 1,
                    reason: e.to_string(),
                })
            }
        }
    }
    Ok(out)
}

/// Copies a stage segment's new whole lines to its disk file.
#[derive(Debug)]
struct Copier {
    stage: Arc<File>,
    disk: File,
    /// Bytes of the stage file already on disk.
    copied: u64,
    path: PathBuf,
}

impl Copier {
    /// Copies up to the last complete line and fdatasyncs the disk file when anything moved.
    fn copy_and_sync(&mut self) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; 64 << 10];
        let mut moved = false;
        loop {
            let n = self.stage.read_at(&mut buf, self.copied)?;
            // A read can race an append: copy whole lines only, the rest next time.
            let whole = buf[..n]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            if whole == 0 {
                break;
            }
            self.disk.write_all(&buf[..whole])?;
            self.copied += whole as u64;
            moved = true;
            if n < buf.len() {
                break;
            }
        }
        if moved {
            self.disk.sync_data()?;
        }
        Ok(())
    }
}

/// The stage directory of the state directory `dir` under `root`, both created if needed; `None`
/// (with a warning) when it cannot be used.
fn stage_dir(dir: &Path, root: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let id_file = dir.join(STAGE_ID_FILE);
    let id = match std::fs::read_to_string(&id_file) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
        _ => {
            // Unique per state directory: a new state directory never meets an old stage.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let id = format!("{:x}-{:x}", nanos, std::process::id());
            let written = File::create(&id_file)
                .and_then(|mut f| f.write_all(id.as_bytes()).and_then(|()| f.sync_all()));
            if let Err(e) = written {
                tracing::warn!(file = %id_file.display(), error = %e, "claim journal: no stage (cannot write its id); appending to the disk directly");
                return None;
            }
            id
        }
    };
    let stage = root.join(format!("tsmd-journal-{id}"));
    // The root too, when missing (a configured directory under /run, a test's own one).
    match std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&stage)
    {
        Ok(()) => Some(stage),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && stage.is_dir() => Some(stage),
        Err(e) => {
            tracing::warn!(stage = %stage.display(), error = %e, "claim journal: no stage; appending to the disk directly");
            None
        }
    }
}

/// Opens for appending, and reading (the syncer reads stage files back).
fn open_append(path: &Path) -> Result<File, JournalError> {
    OpenOptions::new()
        .read(true)
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| JournalError::Io {
            path: path.to_owned(),
            source,
        })
}

/// Creates segment `n`: the file the core appends to, and with a stage the copier that
/// takes it to the disk file.
fn open_segment(
    dir: &Path,
    stage: Option<&Path>,
    n: u64,
) -> Result<(Arc<File>, Option<Copier>), JournalError> {
    let disk = open_append(&segment_path(dir, n))?;
    let Some(st) = stage else {
        return Ok((Arc::new(disk), None));
    };
    let path = segment_path(st, n);
    let staged = Arc::new(open_append(&path)?);
    let copier = Copier {
        stage: staged.clone(),
        disk,
        copied: 0,
        path,
    };
    Ok((staged, Some(copier)))
}

impl Journal {
    /// Opens the journal in `dir`: every entry found (in order) and a journal that appends to
    /// a new segment. `saved` is where the store reports the `journal_seq` of what it saved.
    /// With `stage_root`, appends are staged in a directory under it (see the module header).
    pub fn open_staged(
        dir: &Path,
        stage_root: Option<&Path>,
        saved: Arc<AtomicU64>,
    ) -> Result<(Journal, Vec<JournalEntry>), JournalError> {
        let stage = stage_root.and_then(|root| stage_dir(dir, root));
        let mut numbers: Vec<u64> = segments(dir)?.into_iter().map(|(n, _)| n).collect();
        if let Some(st) = &stage {
            numbers.extend(segments(st)?.into_iter().map(|(n, _)| n));
        }
        numbers.sort_unstable();
        numbers.dedup();
        let mut entries = Vec::new();
        let mut closed = Vec::new();
        for n in &numbers {
            let disk_path = segment_path(dir, *n);
            let mut seg = if disk_path.exists() {
                read_segment(&disk_path)?
            } else {
                Vec::new()
            };
            if let Some(st) = &stage {
                let staged = segment_path(st, *n);
                if staged.exists() {
                    // What the syncer had not copied yet when tsmd stopped.
                    let last = seg.last().map_or(0, |e| e.seq);
                    seg.extend(read_segment(&staged)?.into_iter().filter(|e| e.seq > last));
                }
            }
            let last = seg.last().map_or(0, |e| e.seq);
            entries.extend(seg);
            closed.push((*n, last));
        }
        let segment = numbers.last().map_or(1, |n| n + 1);
        let (current, copier) = open_segment(dir, stage.as_deref(), segment)?;
        let current = Arc::new(Mutex::new(current));
        let copier = Arc::new(Mutex::new(copier));
        let dirty = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let syncer = {
            let (current, copier) = (current.clone(), copier.clone());
            let (dirty, stop) = (dirty.clone(), stop.clone());
            std::thread::Builder::new()
                .name("tsmd-journal".to_owned())
                .spawn(move || loop {
                    std::thread::sleep(SYNC_INTERVAL);
                    let done = stop.load(Ordering::Acquire);
                    if dirty.swap(false, Ordering::AcqRel) {
                        sync_once(&current, &copier);
                    }
                    if done {
                        return;
                    }
                })
                .ok()
        };
        let last_seq = entries.last().map_or(0, |e| e.seq);
        Ok((
            Journal {
                dir: dir.to_owned(),
                current,
                stage,
                copier,
                segment,
                bytes: 0,
                closed,
                last_seq,
                saved,
                dirty,
                stop,
                syncer,
                buf: Vec::with_capacity(512),
            },
            entries,
        ))
    }

    /// Appends one entry with one write. `Ok(true)`: a segment was closed, ask for a snapshot.
    pub fn append(&mut self, e: &JournalEntry) -> Result<bool, JournalError> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, e).map_err(|err| JournalError::Corrupt {
            path: segment_path(&self.dir, self.segment),
            line: 0,
            reason: err.to_string(),
        })?;
        self.buf.push(b'\n');
        let path = || segment_path(&self.dir, self.segment);
        let file = self
            .current
            .lock()
            .map_err(|_| JournalError::Io {
                path: path(),
                source: std::io::Error::other("journal lock poisoned"),
            })?
            .clone();
        // One write(2) on an O_APPEND file: the entry lands whole, even while a sync runs.
        (&*file)
            .write_all(&self.buf)
            .map_err(|source| JournalError::Io {
                path: path(),
                source,
            })?;
        self.dirty.store(true, Ordering::Release);
        self.bytes += self.buf.len() as u64;
        self.last_seq = e.seq;
        self.collect();
        if self.bytes >= SEGMENT_BYTES {
            self.rotate()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Closes the current segment and starts a new one.
    fn rotate(&mut self) -> Result<(), JournalError> {
        let next = self.segment + 1;
        let poisoned = |path: PathBuf| JournalError::Io {
            path,
            source: std::io::Error::other("journal lock poisoned"),
        };
        let (file, copier) = open_segment(&self.dir, self.stage.as_deref(), next)?;
        if copier.is_some() {
            let mut g = self
                .copier
                .lock()
                .map_err(|_| poisoned(segment_path(&self.dir, self.segment)))?;
            // The closed segment goes to disk whole before its stage copy is dropped.
            if let Some(mut old) = std::mem::replace(&mut *g, copier) {
                old.copy_and_sync().map_err(|source| JournalError::Io {
                    path: segment_path(&self.dir, self.segment),
                    source,
                })?;
                let _ = std::fs::remove_file(&old.path);
            }
        }
        let old = {
            let mut g = self
                .current
                .lock()
                .map_err(|_| poisoned(segment_path(&self.dir, self.segment)))?;
            std::mem::replace(&mut *g, file)
        };
        if self.stage.is_none() {
            let _ = old.sync_data();
        }
        self.closed.push((self.segment, self.last_seq));
        self.segment = next;
        self.bytes = 0;
        Ok(())
    }

    /// Deletes closed segments that a saved snapshot covers.
    fn collect(&mut self) {
        let saved = self.saved.load(Ordering::Acquire);
        let dir = self.dir.clone();
        let stage = self.stage.clone();
        self.closed.retain(|(n, last)| {
            if *last <= saved {
                let _ = std::fs::remove_file(segment_path(&dir, *n));
                if let Some(st) = &stage {
                    let _ = std::fs::remove_file(segment_path(st, *n));
                }
                false
            } else {
                true
            }
        });
    }

    /// Syncs what is written (through to the disk with a stage).
    pub fn sync(&self) {
        sync_once(&self.current, &self.copier);
    }

    /// Stops the syncer without the final copy: the state a crash of tsmd leaves.
    #[cfg(test)]
    fn crash(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.syncer.take() {
            let _ = t.join();
        }
        // No final copy, no sync, no clean-up: what a killed tsmd leaves.
        std::mem::forget(self);
    }
}

/// One round of the syncer: copy the stage's new lines to disk and sync, or sync the disk
/// file the core appends to.
fn sync_once(current: &Mutex<Arc<File>>, copier: &Mutex<Option<Copier>>) {
    if let Ok(mut g) = copier.lock() {
        if let Some(c) = g.as_mut() {
            if let Err(e) = c.copy_and_sync() {
                error!(error = %e, "claim journal: copying the stage to disk failed");
            }
            return;
        }
    }
    let file = current.lock().map(|f| f.clone());
    if let Ok(f) = file {
        if let Err(e) = f.sync_data() {
            error!(error = %e, "claim journal: fdatasync failed");
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.syncer.take() {
            let _ = t.join();
        }
        self.sync();
        // After a clean stop the disk holds everything; the stage copy can go.
        if let Ok(mut g) = self.copier.lock() {
            if let Some(c) = g.take() {
                if c.copied == c.stage.metadata().map_or(u64::MAX, |m| m.len()) {
                    let _ = std::fs::remove_file(&c.path);
                }
            }
        }
        // Only when empty: segments a snapshot does not cover yet stay for the next start.
        if let Some(st) = &self.stage {
            let _ = std::fs::remove_dir(st);
        }
    }
}

/// A store that reports the `journal_seq` of every snapshot it saved (so the journal can drop
/// segments a snapshot covers).
pub struct JournaledStore {
    pub inner: Box<dyn Store>,
    pub saved: Arc<AtomicU64>,
}

impl Store for JournaledStore {
    fn load(&mut self) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load()
    }

    fn save(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.inner.save(snapshot)?;
        self.saved
            .fetch_max(snapshot.rendezvous.journal_seq, Ordering::AcqRel);
        Ok(())
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// The driver's handling of a journal entry: append it (before the answer that follows it
/// goes out); ask for a snapshot when a segment closed, or for every entry without a journal.
pub(crate) fn on_journal(
    journal: &mut Option<Journal>,
    e: &JournalEntry,
    snapshot: impl FnOnce() -> Snapshot,
    persist: &watch::Sender<Option<Arc<Snapshot>>>,
) {
    let want_snapshot = match journal.as_mut() {
        Some(j) => match j.append(e) {
            Ok(rotated) => rotated,
            Err(err) => {
                error!(error = %err, seq = e.seq, "cannot append to the claim journal; saving a snapshot instead");
                true
            }
        },
        None => true,
    };
    if want_snapshot {
        persist.send_replace(Some(Arc::new(snapshot())));
    }
}

/// At start (after the restore): with a state directory, opens the claim journal, replays it
/// into the core, saves a fresh snapshot, and wraps the store so saved snapshots let old
/// segments go. Without one, nothing changes.
pub(crate) async fn start_journal(
    store: Box<dyn Store>,
    ctl: crate::machine::Controller,
    stage_root: Option<PathBuf>,
) -> Result<(Box<dyn Store>, crate::machine::Controller, Option<Journal>), super::super::DaemonError>
{
    let Some(dir) = store.journal_dir() else {
        return Ok((store, ctl, None));
    };
    let failed = |reason: String| super::super::DaemonError::Task {
        task: "claim journal",
        reason,
    };
    let (store, ctl, journal) = tokio::task::spawn_blocking(move || {
        let (mut store, mut ctl) = (store, ctl);
        let saved = Arc::new(AtomicU64::new(0));
        let r = open_and_replay(
            &dir,
            stage_root.as_deref(),
            store.as_mut(),
            &mut ctl,
            saved.clone(),
        );
        let store: Box<dyn Store> = Box::new(JournaledStore {
            inner: store,
            saved,
        });
        (store, ctl, r)
    })
    .await
    .map_err(|e| failed(e.to_string()))?;
    let (journal, _) = journal.map_err(failed)?;
    Ok((store, ctl, Some(journal)))
}

/// Opens the journal in `dir`, replays it into the restored core, saves a fresh snapshot and
/// drops the replayed segments. Blocking.
pub(crate) fn open_and_replay(
    dir: &Path,
    stage_root: Option<&Path>,
    store: &mut dyn Store,
    ctl: &mut crate::machine::Controller,
    saved: Arc<AtomicU64>,
) -> Result<(Journal, usize), String> {
    let (mut journal, entries) =
        Journal::open_staged(dir, stage_root, saved.clone()).map_err(|e| e.to_string())?;
    let applied = ctl.replay_journal(&entries);
    if !entries.is_empty() {
        let snap = ctl.snapshot();
        store.save(&snap).map_err(|e| e.to_string())?;
        saved.fetch_max(snap.rendezvous.journal_seq, Ordering::AcqRel);
        journal.collect();
    }
    info!(entries = entries.len(), applied, "claim journal replayed");
    Ok((journal, applied))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::rendezvous::JournalOp;

    fn entry(seq: u64) -> JournalEntry {
        JournalEntry {
            seq,
            op: JournalOp::Release { id: seq },
        }
    }

    #[test]
    fn journal_appends_reopens_and_collects() {
        let dir = tempfile::tempdir().unwrap();
        let saved = Arc::new(AtomicU64::new(0));
        {
            let (mut j, found) = Journal::open_staged(dir.path(), None, saved.clone()).unwrap();
            assert!(found.is_empty());
            for s in 1..=3 {
                assert!(!j.append(&entry(s)).unwrap());
            }
        }
        // A crash mid-write leaves half a line: ignored.
        let segs = segments(dir.path()).unwrap();
        let mut f = OpenOptions::new().append(true).open(&segs[0].1).unwrap();
        f.write_all(b"{\"seq\":4,\"op\":\"rel").unwrap();
        drop(f);
        let (mut j, found) = Journal::open_staged(dir.path(), None, saved.clone()).unwrap();
        assert_eq!(found, vec![entry(1), entry(2), entry(3)]);
        j.append(&entry(4)).unwrap();
        // A snapshot covering 3 lets the first segment go.
        saved.store(3, Ordering::Release);
        j.append(&entry(5)).unwrap();
        drop(j);
        let (_j, found) = Journal::open_staged(dir.path(), None, saved).unwrap();
        assert_eq!(found, vec![entry(4), entry(5)]);
    }

    fn disk_entries(dir: &Path) -> Vec<JournalEntry> {
        segments(dir)
            .unwrap()
            .into_iter()
            .flat_map(|(_, p)| read_segment(&p).unwrap())
            .collect()
    }

    #[test]
    fn a_staged_journal_survives_a_crash_before_the_copy_to_disk() {
        let (dir, root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let saved = Arc::new(AtomicU64::new(0));
        let (mut j, _) =
            Journal::open_staged(dir.path(), Some(root.path()), saved.clone()).unwrap();
        let stage = j.stage.clone().unwrap();
        assert!(stage.starts_with(root.path()), "{}", stage.display());
        j.append(&entry(1)).unwrap();
        j.rotate().unwrap();
        // A closed segment is on disk whole, and its stage copy is gone.
        assert_eq!(disk_entries(dir.path()), vec![entry(1)]);
        assert_eq!(segments(&stage).unwrap().len(), 1);
        j.append(&entry(2)).unwrap();
        j.append(&entry(3)).unwrap();
        j.crash();
        // As if the syncer had not copied yet: the open segment's disk file is empty.
        let (last, path) = segments(dir.path()).unwrap().pop().unwrap();
        assert_eq!(last, 2);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        let (j, found) = Journal::open_staged(dir.path(), Some(root.path()), saved).unwrap();
        assert_eq!(found, vec![entry(1), entry(2), entry(3)]);
        assert_eq!(
            j.stage.as_ref(),
            Some(&stage),
            "the state directory keeps its stage"
        );
    }

    #[test]
    fn the_syncer_copies_the_stage_and_a_clean_stop_leaves_all_on_disk() {
        let (dir, root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let saved = Arc::new(AtomicU64::new(0));
        let (mut j, _) =
            Journal::open_staged(dir.path(), Some(root.path()), saved.clone()).unwrap();
        let stage = j.stage.clone().unwrap();
        j.append(&entry(1)).unwrap();
        j.append(&entry(2)).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while disk_entries(dir.path()) != vec![entry(1), entry(2)] {
            assert!(
                std::time::Instant::now() < deadline,
                "the syncer never copied"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        j.append(&entry(3)).unwrap();
        drop(j);
        assert_eq!(disk_entries(dir.path()), vec![entry(1), entry(2), entry(3)]);
        assert!(!stage.exists(), "stage left behind");
        // As after a reboot (an empty tmpfs): the disk alone has every entry.
        let (_j, found) = Journal::open_staged(dir.path(), Some(root.path()), saved).unwrap();
        assert_eq!(found, vec![entry(1), entry(2), entry(3)]);
    }

    #[test]
    fn a_missing_stage_root_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, base) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let root = base.path().join("run").join("tsmd");
        let saved = Arc::new(AtomicU64::new(0));
        let (mut j, _) = Journal::open_staged(dir.path(), Some(&root), saved).unwrap();
        let stage = j.stage.clone().expect("a stage under the new root");
        assert!(stage.starts_with(&root));
        let mode = std::fs::metadata(&root).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        j.append(&entry(1)).unwrap();
        drop(j);
        assert_eq!(disk_entries(dir.path()), vec![entry(1)]);
    }

    #[test]
    fn an_unusable_stage_falls_back_to_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, b"x").unwrap();
        let saved = Arc::new(AtomicU64::new(0));
        let (mut j, _) = Journal::open_staged(dir.path(), Some(&not_a_dir), saved).unwrap();
        assert!(j.stage.is_none());
        j.append(&entry(1)).unwrap();
        drop(j);
        assert_eq!(disk_entries(dir.path()), vec![entry(1)]);
    }

    #[test]
    fn a_corrupt_line_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            segment_path(dir.path(), 1),
            b"{\"seq\":1,\"op\":\"release\",\"id\":1}\nnonsense\n{\"seq\":2,\"op\":\"release\",\"id\":2}\n",
        )
        .unwrap();
        let e = Journal::open_staged(dir.path(), None, Arc::new(AtomicU64::new(0))).unwrap_err();
        assert!(e.to_string().contains(":2:"), "{e}");
    }
}
