//! Network namespaces, veth pairs and processes inside them, for tests and benchmarks that run
//! switches on real interfaces. Needs root (`ip netns`, `setns`).
//!
//! Guarantees (machine hygiene on a shared host):
//! - names are unique per process and call ([`unique_tag`]: the pid and a counter), so
//!   parallel tests and other users never collide; interface names stay within Linux's 15
//!   bytes when built as `prefix + tag + suffix` of at most 5 more bytes;
//! - a [`Netns`] deletes its namespace when dropped, also while a panic unwinds: first it
//!   kills, by pid, every process still inside it (`ip netns pids`), then `ip netns del` by
//!   name, which also removes the veth ends inside it and so their peers;
//! - a [`Daemon`] (a process started in a namespace) is stopped by its pid when dropped:
//!   SIGTERM, then SIGKILL if it has not exited within two seconds; it is always reaped.

use std::fs::File;
use std::io;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short tag unique to this process and call: the pid and a counter in hex (at most 10
/// characters; 8 for pids below 2^24 and fewer than 256 calls).
pub fn unique_tag() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{:x}", std::process::id(), n)
}

fn run_checked(cmd: &mut Command, what: &str) -> io::Result<Output> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A network namespace this process created; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `tsm-<label>-<tag>` with loopback up and IPv6 off (so hosts send no router or
    /// neighbour solicitations of their own into the switches).
    pub fn create(label: &str) -> io::Result<Netns> {
        let name = format!("tsm-{label}-{}", unique_tag());
        run_checked(
            Command::new("ip").args(["netns", "add", &name]),
            &format!("ip netns add {name}"),
        )?;
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        // Through /proc rather than sysctl(8), which minimal systems lack; /proc/sys/net is
        // the namespace's own.
        ns.exec(&[
            "sh",
            "-c",
            "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && \
             echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6",
        ])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command inside the namespace and waits; an exit status other than 0 is an
    /// error carrying its stderr.
    pub fn exec(&self, args: &[&str]) -> io::Result<Output> {
        run_checked(
            Command::new("ip")
                .args(["netns", "exec", &self.name])
                .args(args),
            &format!("[{}] {}", self.name, args.join(" ")),
        )
    }

    /// The same, with environment variables set.
    pub fn exec_env(&self, env: &[(&str, &str)], args: &[&str]) -> io::Result<Output> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_checked(&mut cmd, &format!("[{}] {}", self.name, args.join(" ")))
    }

    /// Starts a long-running process inside the namespace (stdout and stderr to `log`, if
    /// given). It is stopped when the returned [`Daemon`] is dropped.
    pub fn spawn(
        &self,
        env: &[(&str, &str)],
        args: &[&str],
        log: Option<&std::path::Path>,
    ) -> io::Result<Daemon> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        match log {
            Some(p) => {
                let f = File::create(p)?;
                cmd.stdout(f.try_clone()?).stderr(f);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        // `ip netns exec` execs the command, so the child's pid is the command's.
        let child = cmd.spawn()?;
        Ok(Daemon {
            child,
            what: args.join(" "),
        })
    }

    /// Moves the calling thread into the namespace. Sockets it opens afterwards live there,
    /// and keep living there when used from other threads.
    pub fn enter(&self) -> io::Result<()> {
        let f = File::open(format!("/var/run/netns/{}", self.name))?;
        setns(&f, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
    }

    /// Runs `f` on a new thread inside the namespace and returns its result.
    pub fn run<R, F>(&self, f: F) -> io::Result<R>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        self.spawn_thread(f)?.join()
    }

    /// Starts `f` on a new thread inside the namespace.
    pub fn spawn_thread<R, F>(&self, f: F) -> io::Result<NsThread<R>>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let file = File::open(format!("/var/run/netns/{}", self.name))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name(format!("in-{}", self.name))
            .spawn(move || match setns(&file, CloneFlags::CLONE_NEWNET) {
                Ok(()) => {
                    let _ = tx.send(Ok(()));
                    Some(f())
                }
                // The closure never runs outside the namespace.
                Err(e) => {
                    let _ = tx.send(Err(e));
                    None
                }
            })?;
        match rx.recv() {
            Ok(Ok(())) => Ok(NsThread(handle)),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(io::Error::from(e))
            }
            Err(_) => Err(io::Error::other("namespace thread died")),
        }
    }

    /// An interface's kernel counter (`rx_packets`, `tx_packets`, `rx_dropped`, ...).
    pub fn counter(&self, dev: &str, counter: &str) -> io::Result<u64> {
        let path = format!("/sys/class/net/{dev}/statistics/{counter}");
        let out = self.exec(&["cat", &path])?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|e| io::Error::other(format!("{path}: {e}")))
    }

    /// Pids of the processes inside the namespace.
    pub fn pids(&self) -> Vec<i32> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .stdin(Stdio::null())
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Creates a veth pair with end `a` in namespace `a_ns` and end `b` in `b_ns`, both up.
pub fn veth(a: &str, a_ns: &Netns, b: &str, b_ns: &Netns) -> io::Result<()> {
    for n in [a, b] {
        if n.len() > 15 {
            return Err(io::Error::other(format!(
                "interface name {n:?} is longer than 15 bytes"
            )));
        }
    }
    run_checked(
        Command::new("ip").args([
            "link", "add", a, "netns", &a_ns.name, "type", "veth", "peer", "name", b, "netns",
            &b_ns.name,
        ]),
        &format!("ip link add {a} type veth peer name {b}"),
    )?;
    a_ns.exec(&["ip", "link", "set", a, "up"])?;
    b_ns.exec(&["ip", "link", "set", b, "up"])?;
    Ok(())
}

/// A thread running inside a namespace.
#[derive(Debug)]
pub struct NsThread<R>(std::thread::JoinHandle<Option<R>>);

impl<R> NsThread<R> {
    /// Waits for the thread's result.
    pub fn join(self) -> io::Result<R> {
        match self.0.join() {
            Ok(Some(r)) => Ok(r),
            Ok(None) => Err(io::Error::other("could not enter the namespace")),
            Err(_) => Err(io::Error::other("thread inside the namespace panicked")),
        }
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

/// A process running inside a namespace; stopped by pid on drop.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    what: String,
}

impl Daemon {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited (and how).
    pub fn try_wait(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> io::Result<Option<std::process::ExitStatus>> {
        if let Some(s) = self.child.try_wait()? {
            return Ok(Some(s));
        }
        let pid = i32::try_from(self.child.id()).map_err(io::Error::other)?;
        kill(Pid::from_raw(pid), Signal::SIGTERM).map_err(io::Error::from)?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait()? {
                return Ok(Some(s));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(None)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.terminate(Duration::from_secs(2)) {
            tracing::warn!(what = %self.what, "did not exit on SIGTERM; killing");
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
