#!/usr/bin/python3
"""A Mininet leaf-spine fabric on Open vSwitch userspace (datapath netdev, OpenFlow 1.3)
with a remote controller such as tsmd. Safe to run on a shared machine:

- Mininet's name-based cleanup (mininet.clean: `mn -c`, and what `mn` runs on any exception:
  killall by process name, deleting every bridge and every *-ethN link on the machine) is
  replaced by a no-op before Mininet is used. Only the Python API is used, never `mn`.
- Everything runs inside a network namespace this script creates (tsmmn-<pid>): its own
  ovsdb-server and ovs-vswitchd with OVS_RUNDIR/OVS_DBDIR/OVS_LOGDIR/OVS_SYSCONFDIR in a
  private temporary directory (never the system's OVS), Mininet's switches, links and hosts.
- On exit (normal, error, Ctrl-C, SIGTERM) it stops only what it started: net.stop() for
  Mininet's own objects, then its daemons by pid, then the namespace and the directory. The
  inside part runs in a private PID namespace as well, so if it dies outright the kernel
  kills everything it started, and nothing else.

The controller must be reachable from inside the namespace: run it with --controller-cmd
(started inside, stopped at exit), or start it yourself inside with
`ip netns exec tsmmn-<pid> ...` once the script prints the namespace name.

See README.md next to this file.
"""

import argparse
import glob
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

NETNS_ENV = "TSM_MN_NETNS"
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--controller", default="127.0.0.1:6653", metavar="IP:PORT",
                   help="remote controller address inside the namespace (default %(default)s)")
    p.add_argument("--controller-cmd", metavar="CMD",
                   help="command that starts the controller inside the namespace, e.g. "
                        "'target/debug/tsmd run' (stopped at exit)")
    p.add_argument("--spines", type=int, default=2)
    p.add_argument("--leaves", type=int, default=4)
    p.add_argument("--hosts-per-leaf", type=int, default=2)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--cli", action="store_true", help="open the Mininet CLI")
    mode.add_argument("--wait", type=float, metavar="SECONDS",
                      help="keep the fabric up this long (0 = until Ctrl-C / SIGTERM)")
    mode.add_argument("--selftest", action="store_true",
                      help="no controller: install a tree of OpenFlow 1.3 ALL groups with "
                           "ovs-ofctl, then check that every host pings every other and "
                           "that a UDP multicast from h1 reaches every other host once")
    p.add_argument("--connect-timeout", type=float, default=15.0,
                   help="seconds to wait for every switch to connect to the controller")
    p.add_argument("-v", "--verbose", action="store_true", help="Mininet log level info")
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------------
# Outside: create the namespace, run ourselves inside it, remove it afterwards.

def run_outside(argv):
    if os.geteuid() != 0:
        sys.exit("leafspine.py needs root (network namespaces)")
    ns = "tsmmn-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    child = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        env = dict(os.environ, **{NETNS_ENV: ns})
        # A private PID namespace too: when the inside process ends, however it ends, the
        # kernel kills every process left in it (daemons, controller, Mininet's shells).
        # Its own process group, so that signals reach it only through forward().
        child = subprocess.Popen(["ip", "netns", "exec", ns,
                                  "unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
                                  sys.executable, os.path.abspath(__file__)] + argv,
                                 env=env, process_group=0)

        def forward(signum, _frame):
            if child.poll() is None:
                os.killpg(child.pid, signum)
        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        return child.wait()
    finally:
        # Anything still alive inside our own namespace was started by us.
        out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        for pid in out.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
                print("leafspine.py: killed leftover pid %s in %s" % (pid, ns), file=sys.stderr)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", ns])
        # The inside part removes its OVS directory itself, unless it was killed outright.
        for d in glob.glob(os.path.join(tempfile.gettempdir(), ns + "-*")):
            shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Inside: private OVS, optional controller, Mininet.

def disable_name_based_cleanup():
    """Replace Mininet's cleanup (killall by name, delete all bridges and *-ethN links) with a
    no-op, wherever it could be reached from, and its machine-wide sysctl tuning too."""
    import mininet.clean
    def refuse(*_args, **_kwargs):
        print("leafspine.py: Mininet cleanup suppressed (it acts by name machine-wide)",
              file=sys.stderr)
    mininet.clean.cleanup = refuse
    mininet.clean.Cleanup.cleanup = classmethod(lambda cls: refuse())
    mininet.clean.killprocs = refuse
    mininet.clean.sh = lambda cmd: refuse()
    # Mininet also raises machine-wide sysctls (fs.file-max, kernel.pty.max, ...) on start.
    import mininet.net
    mininet.net.fixLimits = lambda: None


class PrivateOvs:
    """ovsdb-server + ovs-vswitchd in a private directory, as children of this process."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix=os.environ[NETNS_ENV] + "-")
        for var in ("OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"):
            os.environ[var] = self.dir  # inherited by Mininet's ovs-vsctl/ovs-ofctl calls
        self.procs = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def start(self):
        subprocess.run(["ovsdb-tool", "create", self.path("conf.db"), SCHEMA], check=True)
        self.spawn(["ovsdb-server", "--remote=punix:" + self.path("db.sock"),
                    "--pidfile=" + self.path("ovsdb.pid"),
                    "--log-file=" + self.path("ovsdb.log"),
                    "--unixctl=" + self.path("ovsdb.ctl"), self.path("conf.db")], "ovsdb")
        deadline = time.monotonic() + 10
        while True:
            # Without the checksum offload flag, UDP between hosts arrives with bad checksums
            # on the userspace datapath and the receiving kernel drops it.
            r = subprocess.run(["ovs-vsctl", "--no-wait", "init", "--", "set", "Open_vSwitch",
                                ".", "other_config:userspace-tso-enable=true"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("ovsdb-server did not come up: " + r.stderr)
            time.sleep(0.02)
        self.spawn(["ovs-vswitchd", "unix:" + self.path("db.sock"),
                    "--pidfile=" + self.path("vswitchd.pid"),
                    "--log-file=" + self.path("vswitchd.log"),
                    "--unixctl=" + self.path("vswitchd.ctl")], "vswitchd")

    def spawn(self, argv, name):
        err = open(self.path(name + ".stderr"), "w")
        self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.DEVNULL, stderr=err))

    def stop(self):
        for p in reversed(self.procs):
            stop_process(p)
        shutil.rmtree(self.dir, ignore_errors=True)


def stop_process(p, grace=3.0):
    if p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def leaf_spine_topo(spines, leaves, hosts_per_leaf):
    from mininet.topo import Topo

    topo = Topo()
    sw = {}
    n = 0
    # s1..sS are spines, then the leaves; dpid = switch number, as in the Rust harness.
    for i in range(spines + leaves):
        n += 1
        sw[i] = topo.addSwitch("s%d" % n, dpid="%016x" % n)
    h = 0
    for leaf in range(leaves):
        # Leaf ports 1..S go to the spines, then the hosts.
        for spine in range(spines):
            topo.addLink(sw[spines + leaf], sw[spine])
        for _ in range(hosts_per_leaf):
            h += 1
            host = topo.addHost("h%d" % h, ip="10.0.0.%d/8" % h,
                                mac="02:00:00:00:00:%02x" % h)
            topo.addLink(host, sw[spines + leaf])
    return topo


def configure_hosts(net):
    for i, host in enumerate(net.hosts, start=1):
        intf = host.defaultIntf()
        host.cmd("ip -6 addr add fd00::%d/64 dev %s nodad" % (i, intf))
        # Sending to a group address needs a route; there is no default route.
        host.cmd("ip route add 224.0.0.0/4 dev %s" % intf)
        host.cmd("ip -6 route add ff00::/8 dev %s" % intf)


def ofctl(switch, *args):
    subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", args[0], switch.name] + list(args[1:]),
                   check=True)


def install_tree(net, spines, leaves, hosts_per_leaf):
    """A loop-free tree through spine s1: ALL groups that flood everything along it (an ALL
    group never sends a copy back out of the ingress port, OF1.3 section 5.6.1)."""
    sws = net.switches
    for i, sw in enumerate(sws):
        if i == 0:
            ports = list(range(1, leaves + 1))  # spine s1: one port per leaf
        elif i < spines:
            continue  # other spines stay off the tree
        else:
            ports = [1] + [spines + k + 1 for k in range(hosts_per_leaf)]
        buckets = ",".join("bucket=output:%d" % p for p in ports)
        ofctl(sw, "add-group", "group_id=1,type=all," + buckets)
        ofctl(sw, "add-flow", "actions=group:1")
    # Wait for the datapath flow cache to see the new rules.
    subprocess.run(["ovs-appctl", "-t", os.path.join(os.environ["OVS_RUNDIR"], "vswitchd.ctl"),
                    "revalidator/wait"], check=True)


MCAST_RX = r"""
import socket, struct, sys, select, time
g, port, ip = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", port))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(g) + socket.inet_aton(ip))
print("ready", flush=True)
n, end = 0, time.time() + 2
while time.time() < end:
    r, _, _ = select.select([s], [], [], max(0, end - time.time()))
    if r:
        s.recv(2048); n += 1
print(n, flush=True)
"""

MCAST_TX = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
s.sendto(b"leafspine selftest", (sys.argv[1], int(sys.argv[2])))
"""


def selftest(net, args):
    install_tree(net, args.spines, args.leaves, args.hosts_per_leaf)
    loss = net.pingAll(timeout=2)
    ok = loss == 0
    print("selftest: pingall loss %s%%" % loss)
    group, port = "239.1.2.3", 5001
    receivers = net.hosts[1:]
    procs = [h.popen([sys.executable, "-c", MCAST_RX, group, str(port), h.IP()],
                     stdout=subprocess.PIPE, text=True) for h in receivers]
    for p in procs:
        p.stdout.readline()  # "ready": joined and listening
    net.hosts[0].cmd(sys.executable, "-c", shlex.quote(MCAST_TX), group, str(port))
    counts = {h.name: int(p.communicate()[0].strip() or -1) for h, p in zip(receivers, procs)}
    print("selftest: multicast from h1 received %s" % counts)
    ok = ok and all(c == 1 for c in counts.values())
    print("selftest: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def wait_connected(net, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["ovs-vsctl", "--format=csv", "--data=bare", "--no-headings",
                              "--columns=is_connected", "list", "Controller"],
                             capture_output=True, text=True).stdout
        if out.split().count("true") == len(net.switches):
            return True
        time.sleep(0.1)
    return False


def run_inside(args):
    disable_name_based_cleanup()
    from mininet.log import setLogLevel
    from mininet.net import Mininet
    from mininet.node import OVSSwitch, RemoteController
    from functools import partial

    class QuietRemoteController(RemoteController):
        """Mininet probes the controller with a throw-away TCP connection (telnet), which a
        controller would count as a switch that never said HELLO; connection status comes
        from OVS instead (wait_connected)."""

        def checkListening(self):
            pass

    setLogLevel("info" if args.verbose else "warning")
    ns = os.environ[NETNS_ENV]

    def stop_on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, stop_on_signal)

    ovs = PrivateOvs()
    controller = None
    net = None
    try:
        ovs.start()
        if args.controller_cmd:
            controller = subprocess.Popen(shlex.split(args.controller_cmd))
        ip, _, port = args.controller.rpartition(":")
        switch = partial(OVSSwitch, datapath="user", protocols="OpenFlow13",
                         failMode="secure")
        net = Mininet(topo=leaf_spine_topo(args.spines, args.leaves, args.hosts_per_leaf),
                      switch=switch, controller=None, autoSetMacs=False,
                      waitConnected=False, build=False)
        if not args.selftest:
            net.addController("c0", controller=QuietRemoteController, ip=ip, port=int(port))
        net.build()
        net.start()
        configure_hosts(net)
        print("leafspine.py: namespace %s, OVS dir %s, %d switches, %d hosts"
              % (ns, ovs.dir, len(net.switches), len(net.hosts)), flush=True)
        if args.selftest:
            return selftest(net, args)
        print("leafspine.py: controller tcp:%s inside %s "
              "(start one there with: ip netns exec %s <cmd>)" % (args.controller, ns, ns),
              flush=True)
        if wait_connected(net, args.connect_timeout):
            print("leafspine.py: all switches connected", flush=True)
        else:
            print("leafspine.py: not all switches connected within %ss"
                  % args.connect_timeout, flush=True)
        if args.cli:
            from mininet.cli import CLI
            CLI(net)
        elif args.wait is not None:
            end = time.monotonic() + args.wait if args.wait > 0 else None
            while end is None or time.monotonic() < end:
                time.sleep(0.2)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        if net is not None:
            net.stop()
        if controller is not None:
            stop_process(controller)
        ovs.stop()


def main():
    args = parse_args(sys.argv[1:])
    if os.environ.get(NETNS_ENV):
        sys.exit(run_inside(args))
    sys.exit(run_outside(sys.argv[1:]))


if __name__ == "__main__":
    main()
