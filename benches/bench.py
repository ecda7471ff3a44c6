"""Shared driver of the shell benchmarks in benches/: starts `tokenstorm serve` pinned to one core, runs
load generators pinned to the other, and measures each one's CPU time through wait4's resource usage.

Only 127.0.0.1 is ever contacted. Figures vary from run to run (about 20 % on loopback); the scripts
interleave tools and rounds and print medians.
"""

import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "tokenstorm")
SECRET = "tokenstorm-dev-secret"
SERVER_CORE, CLIENT_CORE = "0", "1"


def pinned(core, cmd):
    return (["taskset", "-c", core] if shutil.which("taskset") else []) + cmd


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Base URL -> pid of the target serving it (taskset execs the server in place, so the pid is the server's).
SERVERS = {}


def server_cpu(base):
    """CPU seconds (user + system) the target at `base` has used so far, from /proc."""
    fields = open(f"/proc/{SERVERS[base]}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def served(profile, cmd=None):
    """A target on SERVER_CORE until the block ends; yields its base URL."""
    port = free_port()
    cmd = cmd or [BIN, "serve", profile, "--addr", f"127.0.0.1:{port}"]
    env = dict(os.environ, TOKENSTORM_SERVE_SECRET=SECRET, PORT=str(port))
    proc = subprocess.Popen(pinned(SERVER_CORE, cmd), stdout=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        else:
            sys.exit(f"the target on port {port} did not come up")
        SERVERS[f"http://127.0.0.1:{port}"] = proc.pid
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def token(base, org=0):
    import base64

    basic = base64.b64encode(f"org-{org:04d}-client:{SECRET}".encode()).decode()
    req = urllib.request.Request(
        f"{base}/oauth/token",
        data=b"grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["access_token"]


def measured(cmd, rss_samples=None):
    """Runs cmd on CLIENT_CORE; returns (stdout, wall seconds, cpu seconds). With a dict for
    rss_samples, fills it with (RSS KiB, open fds) by second of the run."""
    with Cpu() as cpu:
        stdout, wall = _run(cmd, rss_samples)
    return stdout, wall, cpu.seconds


def _run(cmd, rss_samples):
    out = tempfile.TemporaryFile()
    started = time.time()
    proc = subprocess.Popen(pinned(CLIENT_CORE, cmd), stdout=out, stderr=subprocess.DEVNULL)
    samples = {}
    while proc.poll() is None:
        if rss_samples is not None:
            with contextlib.suppress(OSError):
                status = open(f"/proc/{proc.pid}/status").read()
                rss = next(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmRSS"))
                fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
                samples[round(time.time() - started)] = (rss, fds)
        time.sleep(0.2 if rss_samples is not None else 0.05)
    # poll() reaped the child, so its CPU time is now in the children's times that Cpu reads.
    wall = time.time() - started
    out.seek(0)
    if rss_samples is not None:
        rss_samples.update(samples)
    return out.read().decode(errors="replace"), wall


class Cpu:
    """CPU time (user + system) of children reaped between enter and exit."""

    def __enter__(self):
        u = os.times()
        self.start = u.children_user + u.children_system
        return self

    def __exit__(self, *exc):
        u = os.times()
        self.seconds = u.children_user + u.children_system - self.start


def tokenstorm_run(profile, base, extra=()):
    out_dir = tempfile.mkdtemp(prefix="tokenstorm-bench-")
    cmd = [BIN, "run", profile, "--target-url", base, "--quiet", "--json", "--out", out_dir, *extra]
    return cmd, out_dir


def report(out_dir):
    with open(os.path.join(out_dir, "report.json")) as f:
        return json.load(f)["variants"][0]


def calls(variant):
    return sum(variant["endpoints"][e]["requests"] for e in ("token", "refresh", "contacts"))


def median(xs):
    return statistics.median(xs) if xs else float("nan")
