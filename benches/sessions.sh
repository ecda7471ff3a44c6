#!/usr/bin/env bash
# Sessions at scale: 1,000,000 sessions arriving over a run (10,000 a second for 100 s), 100,000 alive
# once the first have lived their 10 s, across 10,000 orgs, each session with a token of its own,
# against `tokenstorm serve` on the other core. Samples the client's RSS every second. Goals: under
# 1 GiB RSS, flat once concurrency is steady (from 20 s on); prints bytes of RSS per session alive and
# the client's CPU microseconds per session. Usage: benches/sessions.sh [SECONDS, default 100]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-100}"
cargo build --release --locked --quiet
exec python3 - "$seconds" <<'PY'
import sys, tempfile
sys.path.insert(0, "benches")
from bench import *

seconds = int(sys.argv[1])
profile = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
profile.write(open("benches/profiles/sessions.toml").read().replace('duration = "100s"', f'duration = "{seconds}s"'))
profile.close()
samples = {}
with served(profile.name) as base:
    cmd, out_dir = tokenstorm_run(profile.name, base)
    _, wall, cpu = measured(cmd, samples)
v = report(out_dir)
s, r = v["sessions"], v["requests"]
at = lambda t: samples[min(samples, key=lambda x: abs(x - t))][0]
peak = max(x[0] for x in samples.values())
steady = [at(t) for t in range(20, seconds + 1, 10)]
print(f"sessions arrived {s['arrived']}, refused {s['refused']}, peak alive {s['peak_concurrent']}, mean alive {s['mean_concurrent']:.0f}, orgs 10000")
print(f"tokens fetched {v['endpoints']['token']['requests']}, API calls {v['endpoints']['contacts']['requests']}, dropped {r['dropped']}, ok {100 * r['outcomes']['ok'] / max(r['sent'], 1):.2f} %")
print(f"peak RSS {peak / 1024:.1f} MiB (goal < 1024 MiB); RSS by 10 s from 20 s (MiB): " + " ".join(f"{x / 1024:.1f}" for x in steady))
print(f"RSS change 20 s -> {seconds} s: {100 * (steady[-1] - steady[0]) / steady[0]:+.1f} %   (flat once 100,000 are alive)")
print(f"{peak * 1024 / max(s['peak_concurrent'], 1):.0f} bytes of peak RSS per session alive")
print(f"client CPU {cpu:.1f} s: {cpu / max(s['arrived'], 1) * 1e6:.1f} us per session, {cpu / max(calls(v), 1) * 1e6:.1f} us per call")
PY
