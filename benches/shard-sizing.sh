#!/usr/bin/env bash
# Shard sizing: how many requests/s one `run --shard` process sustains, and what it costs in CPU.
# Starts `tokenstorm serve` (pinned to the last CPU when taskset exists) and runs one shard against it
# with --target-url (pinned to CPU 0) at each rate given, for DURATION each. Prints, per rate: arrivals,
# dropped, the pacer's lateness p99 (the generator falling behind), contacts p99, and the shard's CPU
# time (user + system) per 1,000 requests, from which requests/s per fully used core follows, and the
# CPU the served target spent meanwhile, and the shard's peak resident memory.
# Usage: benches/shard-sizing.sh [DURATION, default 15s] [RATE...; default 1000 2000 4000 8000]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-15s}"
shift || true
rates="${*:-1000 2000 4000 8000}"
cargo build --release --locked --quiet
python3 - "$duration" $rates <<'PY'
import json, os, re, shutil, subprocess, sys, tempfile
duration, rates = sys.argv[1], [int(r) for r in sys.argv[2:]]
bin_ = "./target/release/tokenstorm"
text = open("benches/shard-sizing.toml").read()
tmp = tempfile.mkdtemp()
cpus = os.cpu_count() or 1
pin = lambda cpu: ["taskset", "-c", str(cpu)] if shutil.which("taskset") and cpus > 1 else []
serve_profile = os.path.join(tmp, "serve.toml")
open(serve_profile, "w").write(text)
serve = subprocess.Popen(pin(cpus - 1) + [bin_, "serve", serve_profile, "--addr", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, text=True)
url = next(w for line in serve.stdout if "listening" in line for w in line.split() if w.startswith("http://"))
def serve_cpu():
    fields = open(f"/proc/{serve.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
print(f"{'rate/s':>8} {'arrivals':>9} {'dropped':>8} {'late p99':>9} {'contacts p99':>13} {'cpu s':>7} {'cpu ms/1k req':>14} {'req/s per core':>15} {'target cpu s':>13} {'max RSS':>8}")
try:
    for rate in rates:
        profile = os.path.join(tmp, f"rate-{rate}.toml")
        open(profile, "w").write(re.sub(r'(?m)^rate = ".*"$', f'rate = "{rate}/s"', text))
        out = os.path.join(tmp, f"out-{rate}")
        target_before = serve_cpu()
        child = subprocess.Popen(pin(0) + [bin_, "run", profile, "--shard", "0/1", "--target-url", url,
                                 "--duration", duration, "--quiet", "--out", out], stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        v = json.load(open(os.path.join(out, "report.json")))["variants"][0]
        r = v["requests"]
        cpu = usage.ru_utime + usage.ru_stime
        target_cpu = serve_cpu() - target_before
        per_core = r["sent"] / cpu if cpu else 0
        print(f"{rate:>8} {r['scheduled']:>9} {r['dropped']:>8} {r['pacer_lateness_ms']['p99']:>7.1f}ms "
              f"{v['endpoints']['contacts']['latency_ms']['p99']:>11.1f}ms {cpu:>7.1f} {1000 * cpu * 1000 / max(r['sent'], 1):>14.1f} {per_core:>15.0f} {target_cpu:>13.1f} {usage.ru_maxrss / 1024:>5.0f}MiB")
finally:
    serve.terminate()
    serve.wait()
PY
