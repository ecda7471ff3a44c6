#!/usr/bin/env bash
# Pacing: the open model at 5k, 20k and 50k requests/s for 30 s each against `tokenstorm serve` on the
# other core. Prints the achieved rate against the target (goal: within 0.1 %), pacer lateness p99
# (actual send minus intended send; goal under 1 ms while the target keeps up) and client CPU per
# request (goal: at 5k no more than 2x what it is at 50k). Then oha paces the same rates against the
# same target with as many connections (`oha -q RATE -c 64`, with one valid token), for comparison.
# Usage: benches/pacing.sh [SECONDS, default 30] [RATES, default "5000 20000 50000"]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}" rates="${2:-5000 20000 50000}"
# The unlocked build of oha needs a newer rustc than this project's.
command -v oha >/dev/null || cargo install oha --locked
cargo build --release --locked --quiet
exec python3 - "$seconds" "$rates" <<'PY'
import json, re, sys, tempfile
sys.path.insert(0, "benches")
from bench import *

seconds, rates = int(sys.argv[1]), [int(r) for r in sys.argv[2].split()]
text = open("benches/profiles/pacing.toml").read().replace('duration = "30s"', f'duration = "{seconds}s"')
rows = []
# The target needs a valid profile only for its [server] and orgs; any rate will do.
target = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
target.write(text.replace("RATE", "1000"))
target.close()
with served(target.name) as base:
    for rate in rates:
        profile = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
        profile.write(text.replace("RATE", str(rate)))
        profile.close()
        cmd, out_dir = tokenstorm_run(profile.name, base)
        _, wall, cpu = measured(cmd)
        v = report(out_dir)
        r = v["requests"]
        achieved = r["sent"] / v["planned_duration_s"]
        lateness = r["pacer_lateness_ms"]["p99"]
        # After the start-up: every session fetches its first token in the first second or so, and
        # arrivals waiting on those tokens can fill max_in_flight; from 2 s on the rate is the pacer's.
        steady = [b for b in v["timeseries"]["buckets"] if b["t_s"] >= 2 and b["scheduled"] > 0]
        steady_error = -sum(b["dropped"] for b in steady) / max(sum(b["scheduled"] for b in steady), 1)
        rows.append((rate, achieved, r["dropped"], lateness, cpu / max(calls(v), 1) * 1e6, v["endpoints"]["contacts"]["latency_ms"]["p99"], steady_error))
        print(f"{rate:>6}/s: sent {r['sent']} dropped {r['dropped']} in {seconds} s", flush=True)
    connections = re.search(r"max_connections = (\d+)", text).group(1)
    url = f"{base}/api/v2/externalcontacts/contacts"
    auth = f"Authorization: Bearer {token(base)}"
    oha = []
    for rate in rates:
        out, _, cpu = measured(["oha", "-z", f"{seconds}s", "-q", str(rate), "-c", connections, "--no-tui",
                                "--output-format", "json", "-H", auth, url])
        data = json.loads(out)
        n = sum(data.get("statusCodeDistribution", {}).values())
        oha.append((rate, n / seconds, cpu / max(n, 1) * 1e6, data["latencyPercentiles"]["p99"] * 1e3))
        print(f"{rate:>6}/s: oha sent {n} in {seconds} s", flush=True)
print(f"\n{'target/s':>9} {'achieved/s':>11} {'error':>8} {'from 2 s':>9} {'dropped':>8} {'lateness p99':>13} {'us CPU/req':>11} {'contacts p99':>13}")
for rate, achieved, dropped, lateness, cpu, p99, steady in rows:
    print(f"{rate:>9} {achieved:>11.1f} {100 * (achieved - rate) / rate:>7.3f}% {100 * steady:>8.3f}% {dropped:>8} {lateness:>10.3f} ms {cpu:>11.2f} {p99:>10.2f} ms")
print("error: the whole run; from 2 s: after every session has its first token (goal: within 0.1 %)")
if len(rows) > 1:
    print(f"CPU per request at {rows[0][0]}/s over {rows[-1][0]}/s: {rows[0][4] / rows[-1][4]:.2f}x   (goal <= 2x)")
print(f"\noha, same target, {connections} connections:")
print(f"{'target/s':>9} {'achieved/s':>11} {'error':>8} {'us CPU/req':>11} {'p99':>10}")
for rate, achieved, cpu, p99 in oha:
    print(f"{rate:>9} {achieved:>11.1f} {100 * (achieved - rate) / rate:>7.3f}% {cpu:>11.2f} {p99:>7.2f} ms")
if len(oha) > 1:
    print(f"oha's CPU per request at {oha[0][0]}/s over {oha[-1][0]}/s: {oha[0][2] / oha[-1][2]:.2f}x")
for (rate, _, _, _, ours, _, _), (_, _, theirs, _) in zip(rows, oha):
    print(f"tokenstorm/oha CPU per request at {rate}/s: {ours / theirs:.2f}")
PY
