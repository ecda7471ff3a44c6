#!/usr/bin/env bash
# Messaging sockets at scale: N chat widgets (default 100,000) on WebSockets against `tokenstorm serve`
# in another process (pinned to the other core), spread over several 127.0.0.x source addresses.
# Phase 1 (idle): the widgets arrive at RATE a second, configure their sessions and idle (pings every
# 15 s, echoes every 30 s, no message before the run ends) for HOLD seconds once all are open. Phase 2
# (messaging): BUSY widgets (default the smaller of N and 10,000) each send a message every second
# for BUSY_HOLD seconds. Prints the kernel limits it depends on, sockets reached (the report's peak of
# open sockets over those configured), both processes' peak RSS (VmHWM) and bytes per idle socket
# (peak RSS minus RSS before the first socket, over the sockets), CPU microseconds per idle socket
# per second, and CPU microseconds per message of each side.
#
# Needs a file-descriptor limit of N / SHARDS + 1,000 for each process (a socket is a descriptor on
# each side): the script raises `ulimit -n` and fails if it cannot (raising the hard limit needs
# CAP_SYS_RESOURCE, which root in a container may lack, and fs.nr_open at least that high). Where the
# hard limit is lower, SHARDS=K runs K pairs of `serve` and `run` at once, each pair N / K widgets
# on its own port (as a sharded run does on several machines); the figures are the pairs' sums.
# Usage: benches/messaging.sh [N, default 100000] [RATE, default 2000] [HOLD s, default 40]
#        [BUSY, default min(N, 10000)] [BUSY_HOLD s, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}" rate="${2:-2000}" hold="${3:-40}"
busy="${4:-$((n < 10000 ? n : 10000))}" busy_hold="${5:-20}"
shards="${SHARDS:-1}"

need=$((n / shards + 1000))
echo "kernel: net.ipv4.ip_local_port_range = $(cat /proc/sys/net/ipv4/ip_local_port_range | tr '\t' ' ')," \
  "fs.nr_open = $(cat /proc/sys/fs/nr_open), net.core.somaxconn = $(cat /proc/sys/net/core/somaxconn)," \
  "net.ipv4.tcp_max_syn_backlog = $(cat /proc/sys/net/ipv4/tcp_max_syn_backlog)," \
  "vm.max_map_count = $(cat /proc/sys/vm/max_map_count)"
if [ "$(cat /proc/sys/fs/nr_open)" -lt "$need" ]; then
  echo "fs.nr_open is below the $need descriptors $n sockets need: sysctl -w fs.nr_open=$need" >&2
  exit 1
fi
if [ "$(ulimit -n)" -lt "$need" ] && ! ulimit -n "$need" 2>/dev/null; then
  echo "cannot raise the descriptor limit to $need (soft $(ulimit -Sn), hard $(ulimit -Hn)):" \
    "raising the hard limit needs CAP_SYS_RESOURCE (root in a container may lack it: start the" \
    "container with --ulimit nofile=$need:$need), or raise it where the shell starts (limits.conf," \
    "systemd LimitNOFILE); at this hard limit N can be at most $(( $(ulimit -Hn) - 10000 ))" >&2
  exit 1
fi
echo "descriptor limit: $(ulimit -n) (needs $need)"
cargo build --release --locked --quiet
exec python3 - "$n" "$rate" "$hold" "$busy" "$busy_hold" "$shards" <<'PY'
import contextlib, math, os, re, subprocess, sys, tempfile, time
sys.path.insert(0, "benches")
from bench import *

n, rate, hold, busy, busy_hold, shards = (int(a) for a in sys.argv[1:])
lo, hi = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
# Each source address reaches the target's one port through the ephemeral range; half of it per
# address leaves room for sockets in TIME_WAIT from a run before.
per_source = (hi - lo + 1) // 2
TEMPLATE = open("benches/profiles/messaging.toml").read()


def profile_for(widgets, think, hold_s, pair=0):
    """The bench profile for `widgets` arriving at `rate` (or all in one second when fewer)."""
    r = min(max(rate // shards, 1), widgets)
    arrive = max(round((widgets / r - 1) * 1000), 1) / 1000
    sources = max(2, math.ceil(widgets / per_source))
    text = TEMPLATE.replace("sessions = 100000", f"sessions = {widgets}")
    text = text.replace('target = "2000/s"', f'target = "{r}/s"')
    text = text.replace('duration = "49s"', f'duration = "{round(arrive * 1000)}ms"')
    text = text.replace('duration = "39s"', f'duration = "{hold_s - 1}s"')
    text = re.sub(r"^think = .*$", f"think = {think}", text, flags=re.M)
    # Each pair its own addresses: a socket bound before connecting takes its port at bind time, for
    # every destination at once, from the half of the ephemeral range bind uses.
    addresses = ", ".join(f'"127.{1 + pair}.{i // 250}.{2 + i % 250}"' for i in range(sources))
    text = re.sub(r"^source_addresses = .*$", f"source_addresses = [{addresses}]", text, flags=re.M)
    f = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    f.write(text)
    f.close()
    return f.name, 1 + arrive + 1 + hold_s - 1, sources


def status(pid):
    """(VmRSS KiB, VmHWM KiB, CPU seconds) of `pid`, from /proc. Not its descriptors: listing 100,000
    of them four times a second would cost the machine more than the idle sockets do."""
    fields = {l.split(":")[0]: l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("Vm")}
    stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return int(fields["VmRSS"]), int(fields["VmHWM"]), cpu


def total(statuses):
    """The pairs' statuses added up: (RSS KiB, peak RSS KiB, CPU seconds)."""
    return tuple(sum(col) for col in zip(*statuses))


def phase(widgets, think, hold_s):
    """Runs one phase on `shards` pairs of target and client at once (each N / shards widgets);
    returns the pairs' reports, the phase's length, the source addresses per pair, samples by time
    of (clients' summed status, targets' summed status), and the targets' summed status before and
    after."""
    counts = [widgets // shards + (1 if i < widgets % shards else 0) for i in range(shards)]
    planned = [profile_for(c, think, hold_s, pair) for pair, c in enumerate(counts)]
    samples = []
    with contextlib.ExitStack() as stack:
        bases = [stack.enter_context(served(path)) for path, _, _ in planned]
        servers = [SERVERS[base] for base in bases]
        server_before = total(status(s) for s in servers)
        runs = [tokenstorm_run(path, base) for (path, _, _), base in zip(planned, bases)]
        started = time.time()
        procs = [subprocess.Popen(pinned(CLIENT_CORE, cmd), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for cmd, _ in runs]
        while any(p.poll() is None for p in procs):
            try:
                # taskset execs each client in place: samples start once all are tokenstorm.
                if all(open(f"/proc/{p.pid}/comm").read().strip() == "tokenstorm" for p in procs):
                    clients = total(status(p.pid) for p in procs)
                    samples.append((time.time() - started, clients, total(status(s) for s in servers)))
            except (OSError, KeyError, ValueError):
                pass
            time.sleep(0.25)
        errs = [p.stderr.read().decode(errors="replace") for p in procs]
        server_after = total(status(s) for s in servers)
    reports = []
    for (_, out_dir), proc, err in zip(runs, procs, errs):
        if not os.path.exists(os.path.join(out_dir, "report.json")):
            sys.exit(f"tokenstorm run exited {proc.returncode} without a report: {err[-2000:]}")
        reports.append(report(out_dir))
    return reports, planned[0][1], planned[0][2], samples, server_before, server_after


def window(samples, start, end):
    """The samples nearest to `start` and `end` seconds into the run."""
    near = lambda t: min(samples, key=lambda s: abs(s[0] - t))
    return near(start), near(end)


def all_open_at(vs):
    """Seconds into the run by which 99 % of the peak of open sockets were open in every pair (the
    reports' per-bucket series; a run starts within a fraction of a second of its process), or None."""
    times = []
    for v in vs:
        m = v["messaging"]
        peak = max((row["open"] for row in m["series"]), default=0)
        at = next((row["t_s"] + m["bucket_s"] for row in m["series"] if peak and row["open"] >= 0.99 * peak), None)
        if at is None:
            return None
        times.append(at)
    return max(times)


def sockets_reached(vs):
    """The pairs' peaks of open sockets added up, and their counts added up."""
    peak = sum(max((row["open"] for row in v["messaging"]["series"]), default=0) for v in vs)
    counts = {}
    for v in vs:
        for k, c in v["messaging"]["counts"].items():
            counts[k] = counts.get(k, 0) + c
    return peak, counts


# Phase 1: idle sockets.
v, length, sources, samples, sb, sa = phase(n, '{ dist = "uniform", min = "60s", max = "120s" }', hold)
peak_open, counts = sockets_reached(v)
configured = counts["configured_new"] + counts["configured_resumed"]
client_hwm = max(s[1][1] for s in samples)
client_base = samples[0][1][0]
server_hwm = sa[1]
print(f"\nphase 1: {n} widgets arriving at {min(rate, n)}/s over {sources} source addresses per pair, {shards} pair(s) of target and client, holding {hold} s")
print(f"sockets reached: peak open {peak_open} / configured {configured} / widgets {n}"
      f" (connect attempts {counts['connect_attempts']}, failed {counts['connect_failed']}, refused {counts['refused_capacity'] + counts['refused_unavailable'] + counts['refused_origin'] + counts['refused_other']}, lost {counts['lost']})")
print(f"client peak RSS {client_hwm / 1024:.1f} MiB ({(client_hwm - client_base) * 1024 / max(peak_open, 1):.0f} bytes per idle socket over {client_base / 1024:.1f} MiB at the first sample)")
print(f"server peak RSS {server_hwm / 1024:.1f} MiB ({(server_hwm - sb[0]) * 1024 / max(peak_open, 1):.0f} bytes per idle socket over {sb[0] / 1024:.1f} MiB before the run)")
opened = all_open_at(v)
if opened is None or opened + 5 > length - 2:
    print("idle CPU: not measured (the sockets were never all open with 5 s of the run left)")
else:
    a, b = window(samples, opened + 3, length - 2)
    secs = b[0] - a[0]
    for side, i in (("client", 1), ("server", 2)):
        cpu = b[i][2] - a[i][2]
        print(f"{side} idle CPU: {cpu / secs * 100:.1f} % of a core, {cpu / secs / max(peak_open, 1) * 1e6:.2f} us per idle socket per second ({secs:.0f} s from {a[0]:.0f} s)")
    connect_window = (samples[0], window(samples, opened, opened)[0])
    for side, i in (("client", 1), ("server", 2)):
        cpu = connect_window[1][i][2] - connect_window[0][i][2]
        print(f"{side} CPU while connecting: {cpu / max(peak_open, 1) * 1e6:.0f} us per socket (connect, upgrade, configure; {opened:.1f} s to open all)")

# Phase 2: every widget sends a message a second.
v, length, sources, samples, _, _ = phase(busy, '{ dist = "fixed", value = "1s" }', busy_hold)
peak_open, counts = sockets_reached(v)
p50 = sum(r["messaging"]["message_ms"]["p50"] for r in v) / len(v)
print(f"\nphase 2: {busy} widgets, a message each every 1 s, holding {busy_hold} s")
print(f"sockets reached: peak open {peak_open}; messages sent {counts['messages_sent']}, answered {counts['messages_answered']}, unanswered {counts['messages_unanswered']}, rate limited {counts['rate_limited']}; round trip p50 {p50:.2f} ms")
opened = all_open_at(v)
if opened is None or opened + 5 > length - 2:
    print("CPU per message: not measured (the sockets were never all open with 5 s of the run left)")
else:
    a, b = window(samples, opened + 3, length - 2)
    secs = b[0] - a[0]
    # The next message goes one think (1 s) after the last one's answer.
    messages = peak_open * secs / (1 + p50 / 1000)
    for side, i in (("client", 1), ("server", 2)):
        cpu = b[i][2] - a[i][2]
        print(f"{side} CPU per message: {cpu / messages * 1e6:.1f} us ({cpu / secs * 100:.1f} % of a core for {messages / secs:.0f} messages/s, pings and echoes included; {secs:.0f} s from {a[0]:.0f} s)")
PY
