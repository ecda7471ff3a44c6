#!/usr/bin/env bash
# Stale keep-alive connections measured: a server that closes every connection idle for IDLE_MS
# (benches/idle_server.py; 20 ms by default), and one session calling it at rates whose gaps sit just
# above that, so requests keep meeting a connection as the server closes it. Prints per rate the
# calls, their connect_errors and the stale_connection_resends. Run a build before the resend to see
# the failures it removes: TOKENSTORM=path/to/old/tokenstorm benches/stale.sh
# Usage: benches/stale.sh [RATES, default "48 49 49.5"] [SECONDS, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
rates="${1:-48 49 49.5}" seconds="${2:-20}" port=18089
bin="${TOKENSTORM:-target/release/tokenstorm}"
[ -n "${TOKENSTORM:-}" ] || cargo build --release --locked --quiet
dir=$(mktemp -d)
IDLE_MS="${IDLE_MS:-20}" PORT=$port python3 benches/idle_server.py & server=$!
trap 'kill $server; rm -rf "$dir"' EXIT
sleep 1
for rate in $rates; do
  cat > "$dir/p.toml" <<TOML
duration = "${seconds}s"
[target]
kind = "http"
token_base = "http://127.0.0.1:$port"
api_base = "http://127.0.0.1:$port"
[target.http]
proxy_from_env = false
[[target.orgs]]
name = "org0"
client_id = "client0"
client_secret_env = "STALE_SECRET"
deployment_id = "d0"
[load]
orgs = 1
sessions = 1
rate = "$rate/s"
[[variant]]
name = "naive"
client = "naive"
TOML
  STALE_SECRET=x "$bin" run "$dir/p.toml" --out "$dir/out" --quiet >/dev/null
  python3 - "$dir/out/report.json" "$rate" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["variants"][0]["endpoints"]["contacts"]
print(f"{sys.argv[2]}/s: {c['requests']} calls, connect_error {c['outcomes']['connect_error']}, "
      f"stale_connection_resends {c.get('stale_connection_resends', 'n/a')}")
PY
done
