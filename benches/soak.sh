#!/usr/bin/env bash
# Soak: runs profiles/soak.toml (10 minutes at 2,000 requests/s, 5,000 sessions, tokens turning over
# every 30 s) and samples the process's resident memory and open file descriptors every second.
# Prints the figures and fails if memory grows over the second half of the run by more than 3 %, or if
# the open descriptors grow (last minute's mean more than 10 % above the second minute's). The first
# minutes are a warm-up, not growth with run length: the embedded target (same process) keeps each
# token's record 60 s past its expiry, so its records fill for a few token lifetimes before sweeps
# balance them (run split, the target settled after 240 s and the client after 300 s). Growth from
# 60 s is printed too. Usage: benches/soak.sh [DURATION, default 10m]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10m}"
out="$(mktemp -d)"
cargo build --release --locked --quiet
./target/release/tokenstorm run profiles/soak.toml --duration "$duration" --quiet --out "$out/report" > "$out/summary.txt" &
pid=$!
echo "t_s,rss_kib,fds" > "$out/samples.csv"
t0=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l || true)
  # Seconds since the start by the clock, not by counting samples (each takes a little over a second).
  [ -n "$rss" ] && echo "$(( $(date +%s) - t0 )),$rss,$fds" >> "$out/samples.csv"
  sleep 1
done
wait "$pid" || true
python3 - "$out/samples.csv" "$out/report/report.json" "$duration" <<'PY'
import csv, json, os, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]))]
rss = [(int(r["t_s"]), int(r["rss_kib"]), int(r["fds"])) for r in rows]
at = lambda s: min(rss, key=lambda r: abs(r[0] - s))
# The run's end is its last sample before the drain and the report: writing the report (charts, page)
# is a one-off peak after the load, not growth with run length, and is printed on its own.
d = sys.argv[3]
run_s = int(float(d[:-1]) * {"s": 1, "m": 60, "h": 3600}[d[-1]]) if d[-1] in "smh" else int(d)
start, end = at(60), at(run_s - 5)
print(f"samples: {len(rss)} s")
print(f"RSS at 10 s: {at(10)[1] / 1024:.1f} MiB, at 60 s: {start[1] / 1024:.1f} MiB, at the end of the load ({end[0]} s): {end[1] / 1024:.1f} MiB, while writing the report: {max(r[1] for r in rss if r[0] > end[0]) / 1024 if rss[-1][0] > end[0] else 0:.1f} MiB")
half = at(run_s // 2)
growth = (end[1] - start[1]) / start[1]
second_half = (end[1] - half[1]) / half[1]
print(f"RSS growth from 60 s to the end of the load: {100 * growth:+.1f} %; over the second half: {(end[1] - half[1]) / 1024:+.1f} MiB ({100 * second_half:+.1f} %, goal <= 3 %)")
mean = lambda xs: sum(xs) / max(len(xs), 1)
fds_second = [r[2] for r in rss if 60 <= r[0] < 120]
fds_last = [r[2] for r in rss if r[0] >= rss[-1][0] - 60]
print(f"open fds: mean {mean(fds_second):.0f} in the second minute, {mean(fds_last):.0f} in the last minute (max {max(fds_last)})")
report = json.load(open(sys.argv[2]))
v = report["variants"][0]
print(f"requests: scheduled {v['requests']['scheduled']}, dropped {v['requests']['dropped']}, conservation ok: {v['conservation']['ok']}")
print(f"report.json: {os.path.getsize(sys.argv[2]) / 1024:.0f} KiB, {len(v['timeseries']['buckets'])} time-series buckets")
# Descriptors follow the connections in use, which settle as the pool warms; what must not happen is growth.
ok = second_half <= 0.03 and mean(fds_last) <= 1.1 * mean(fds_second) and v["conservation"]["ok"]
print("PASS: flat" if ok else "FAIL: growth")
sys.exit(0 if ok else 1)
PY
