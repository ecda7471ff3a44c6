#!/usr/bin/env bash
# The embedded target against the smallest axum server on the same machine: wrk (pinned to core 1)
# drives each server (pinned to core 0) for the same time, three rounds interleaved. The embedded
# target validates the JWT on every call; the goal is at least 80 % of the minimal server's requests/s.
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
rates = {"minimal axum": [], "tokenstorm serve": []}
for r in range(rounds):
    for name in rates:
        with served("benches/profiles/peers.toml", minimal if name == "minimal axum" else None) as base:
            headers = ["-H", f"Authorization: Bearer {token(base)}"] if name != "minimal axum" else []
            out, _, _ = measured(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", *headers,
                                  f"{base}/api/v2/externalcontacts/contacts"])
            n = int(re.search(r"(\d+) requests in", out).group(1))
            if re.search(r"Non-2xx", out):
                sys.exit(f"{name}: wrk saw errors:\n{out}")
            rates[name].append(n / seconds)
            print(f"round {r + 1} {name:<17} {n / seconds:>9.0f} req/s", flush=True)
a, b = median(rates["minimal axum"]), median(rates["tokenstorm serve"])
print(f"\nmedian: minimal axum {a:.0f} req/s, tokenstorm serve (JWT validated) {b:.0f} req/s")
print(f"embedded target / minimal axum: {b / a:.2f}   (goal >= 0.80)")
PY
