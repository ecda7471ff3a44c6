#!/usr/bin/env bash
# The embedded target against the smallest axum server on the same machine: wrk (pinned to core 1)
# drives each server (pinned to core 0) for the same time, three rounds interleaved. The embedded
# target validates the JWT on every call; the goal is at least 80 % of the minimal server's requests/s.
# Both servers get the same request (wrk sends the bearer token to both; the minimal one ignores it)
# and the minimal server answers with the very bytes of the embedded target's page (fetched first),
# so the ratio measures the server's work, not the size of what crosses loopback; a round against a
# 25-byte answer is printed too, for scale. Both servers run on the runtime tokenstorm picks for one
# core (current-thread); a round of the minimal server on #[tokio::main]'s multi-thread runtime is
# printed for scale.
# Usage: benches/target.sh [SECONDS, default 10] [CONNECTIONS, default 50] [ROUNDS, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}" connections="${2:-50}" rounds="${3:-3}"
if ! command -v wrk >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null; }
fi
cargo build --release --locked --quiet --bin tokenstorm --example minimal_axum
exec python3 - "$seconds" "$connections" "$rounds" <<'PY'
import re, sys
sys.path.insert(0, "benches")
from bench import *

seconds, connections, rounds = map(int, sys.argv[1:4])
minimal = [os.path.join(ROOT, "target", "release", "examples", "minimal_axum")]
path = "/api/v2/externalcontacts/contacts"

# The embedded target's default page, byte for byte, for the baseline to send back.
with served("benches/profiles/peers.toml") as base:
    bearer = token(base)
    page = urllib.request.urlopen(urllib.request.Request(
        base + path, headers={"Authorization": f"Bearer {bearer}"}), timeout=10).read()
body_file = tempfile.NamedTemporaryFile(suffix=".json")
body_file.write(page)
body_file.flush()


def wrk(name, base, headers):
    """Requests/s, and the server's CPU microseconds per request (steal time on a VM lowers the first
    but not the second, so the second is the steadier comparison)."""
    before = server_cpu(base)
    out, _, _ = measured(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", *headers, base + path])
    if re.search(r"Non-2xx", out):
        sys.exit(f"{name}: wrk saw errors:\n{out}")
    n = int(re.search(r"(\d+) requests in", out).group(1))
    return n / seconds, (server_cpu(base) - before) / n * 1e6


rates = {"minimal axum": [], "tokenstorm serve": []}
cpus = {"minimal axum": [], "tokenstorm serve": []}
for r in range(rounds):
    for name in rates:
        if name == "minimal axum":
            os.environ["BODY_FILE"] = body_file.name
            with served("benches/profiles/peers.toml", minimal) as base:
                rate, cpu = wrk(name, base, ["-H", f"Authorization: Bearer {bearer}"])
        else:
            with served("benches/profiles/peers.toml") as base:
                rate, cpu = wrk(name, base, ["-H", f"Authorization: Bearer {token(base)}"])
        rates[name].append(rate)
        cpus[name].append(cpu)
        print(f"round {r + 1} {name:<17} {rate:>9.0f} req/s  {cpu:6.2f} us server CPU/request", flush=True)
os.environ.pop("BODY_FILE", None)
with served("benches/profiles/peers.toml", minimal) as base:
    tiny, _ = wrk("minimal axum, tiny body", base, ["-H", f"Authorization: Bearer {bearer}"])
# The baseline runs on the runtime tokenstorm picks (one core: current-thread); #[tokio::main]'s
# multi-thread runtime, as a minimal server is usually written, for scale.
os.environ["BODY_FILE"], os.environ["MINIMAL_RUNTIME"] = body_file.name, "multi"
with served("benches/profiles/peers.toml", minimal) as base:
    multi, multi_cpu = wrk("minimal axum, multi-thread runtime", base, ["-H", f"Authorization: Bearer {bearer}"])
os.environ.pop("MINIMAL_RUNTIME")
a, b = median(rates["minimal axum"]), median(rates["tokenstorm serve"])
print(f"\nmedian: minimal axum {a:.0f} req/s, tokenstorm serve (JWT validated) {b:.0f} req/s, "
      f"both sending the same {len(page)}-byte page")
print(f"embedded target / minimal axum: {b / a:.2f}   (goal >= 0.80)")
ratios = [t / m for t, m in zip(rates["tokenstorm serve"], rates["minimal axum"])]
print(f"  per round: {' '.join(f'{x:.2f}' for x in ratios)}; median of the rounds' ratios {median(ratios):.2f}")
ca, cb = median(cpus["minimal axum"]), median(cpus["tokenstorm serve"])
print(f"server CPU per request: minimal axum {ca:.2f} us, tokenstorm serve {cb:.2f} us; "
      f"minimal / tokenstorm {ca / cb:.2f}   (the same goal, counted in CPU rather than requests/s)")
print(f"for scale: minimal axum answering 25 bytes: {tiny:.0f} req/s "
      f"(embedded target / that: {b / tiny:.2f})")
print(f"for scale: minimal axum on #[tokio::main]'s multi-thread runtime: {multi:.0f} req/s, {multi_cpu:.2f} us "
      f"(embedded target / that: {b / multi:.2f})")
PY
