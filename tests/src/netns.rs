//! Named network namespaces owned by the test process.
//!
//! Guarantees:
//! - Every name this module makes is `tsmt-<pid>-<counter>[-suffix]`: unique on the machine
//!   while this process lives, and recognisable as ours afterwards.
//! - A [`Netns`] deletes its namespace when dropped, also while a panicking test unwinds.
//! - [`Netns::run`] runs a closure on a fresh thread that has entered the namespace
//!   (`setns(CLONE_NEWNET)`); the calling thread never changes namespace. A socket is bound to
//!   the namespace it was created in for life, so sockets made inside `run` keep working from
//!   any thread afterwards.
//! - [`reap_stale`] (run once per process, before the first namespace is made) removes what a
//!   test process that was killed outright (SIGKILL, no unwinding) left behind: only
//!   namespaces and directories named `tsmt-<pid>-...` whose `<pid>` no longer runs, and only
//!   processes that live inside such a namespace.

use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use nix::sched::{setns, CloneFlags};

use crate::cmd;
use crate::error::{Error, Result};

/// Prefix of every namespace and directory name this crate makes.
pub const NAME_PREFIX: &str = "tsmt-";

/// Where `ip netns` keeps its bind mounts.
const NETNS_DIR: &str = "/run/netns";

static COUNTER: AtomicU64 = AtomicU64::new(1);
static REAP: Once = Once::new();

/// A fresh name `tsmt-<pid>-<n>`, never returned twice in this process.
pub fn unique_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{NAME_PREFIX}{}-{n}", std::process::id())
}

/// A network namespace created with `ip netns add`, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace with a fresh unique name and its loopback up.
    pub fn new() -> Result<Netns> {
        Netns::create(&unique_name())
    }

    /// Creates a namespace named exactly `name` (which should start with a name from
    /// [`unique_name`], so that it is unique and reaped if this process dies) with its
    /// loopback up. Fails if the name is taken.
    pub fn create(name: &str) -> Result<Netns> {
        REAP.call_once(reap_stale);
        cmd::run(Command::new("ip").args(["netns", "add", name]))?;
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (as `ip netns list` shows it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's file under `/run/netns`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.name)
    }

    /// Runs `f` on a new thread inside the namespace and returns its result. Sockets that `f`
    /// creates belong to the namespace and can be used from any thread afterwards. A panic in
    /// `f` is passed on to the caller.
    pub fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let file = File::open(self.path())
            .map_err(|e| Error::io(format!("opening {}", self.path().display()), e))?;
        let name = &self.name;
        std::thread::scope(|scope| {
            let handle = scope.spawn(move || -> Result<T> {
                setns(&file, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::sys(format!("entering namespace {name}"), e))?;
                Ok(f())
            });
            match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// `ip netns exec NAME program`: a command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `program args...` inside the namespace to completion and returns its stdout.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        cmd::run(self.command(program).args(args))
    }

    /// `ip -n NAME args...`.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        cmd::run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// `ip -n NAME -batch -` with `lines` on stdin (one process for many changes).
    pub fn ip_batch(&self, lines: &[String]) -> Result<String> {
        if lines.is_empty() {
            return Ok(String::new());
        }
        let mut input = lines.join("\n");
        input.push('\n');
        cmd::run_with_input(
            Command::new("ip").args(["-n", &self.name, "-batch", "-"]),
            Some(&input),
        )
    }

    /// Pids of the processes whose network namespace is this one (`ip netns pids`).
    pub fn pids(&self) -> Result<Vec<u32>> {
        let out = cmd::run(Command::new("ip").args(["netns", "pids", &self.name]))?;
        Ok(out
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = cmd::run(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("tsm-tests: cannot delete namespace {}: {e}", self.name);
        }
    }
}

/// Names of the namespaces that exist now (`/run/netns`).
pub fn list_names() -> Vec<String> {
    std::fs::read_dir(NETNS_DIR)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The pid embedded in one of our names, `tsmt-<pid>-...`.
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(NAME_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// Whether `pid` is a running (not zombie) process.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "pid (comm) S ...".
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// Removes leftovers of dead test processes (see the module header). Errors are printed, not
/// returned: this is best-effort hygiene before the real work starts.
pub fn reap_stale() {
    let me = std::process::id();
    for name in list_names() {
        let Some(owner) = owner_pid(&name) else {
            continue;
        };
        if owner == me || pid_alive(owner) {
            continue;
        }
        let stale = Netns { name };
        match stale.pids() {
            Ok(pids) => {
                for pid in pids {
                    eprintln!(
                        "tsm-tests: killing pid {pid} left in namespace {} by dead pid {owner}",
                        stale.name
                    );
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            Err(e) => eprintln!("tsm-tests: {e}"),
        }
        // Dropping `stale` deletes the namespace.
    }
    if let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) {
        for entry in dir.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(owner) = owner_pid(&name) {
                if owner != me && !pid_alive(owner) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_reads_our_names_only() {
        assert_eq!(owner_pid("tsmt-123-4"), Some(123));
        assert_eq!(owner_pid("tsmt-123-4-h1"), Some(123));
        assert_eq!(owner_pid("tsm-123-4"), None);
        assert_eq!(owner_pid("tsmt-x-4"), None);
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name(), unique_name());
    }
}
