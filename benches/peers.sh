#!/usr/bin/env bash
# tokenstorm against oha and wrk: same target (`tokenstorm serve`, pinned to core 0), same duration and
# connection count, same request path, each client pinned to core 1, three rounds interleaved. Prints
# per tool the median requests/s, client CPU per request (user + system time of the client process /
# requests) and the target's CPU per request (what the tool's requests cost the server), and the
# ratios tokenstorm/oha. tokenstorm runs its full token lifecycle with recording on.
# Usage: benches/peers.sh [SECONDS, default 10] [CONNECTIONS, default 50] [ROUNDS, default 3]
# PEERS_EXPORT=1: tokenstorm also serves its live metrics (--metrics-addr) and a scraper reads them
# every second, as Prometheus would: the cost of live export.
# PEERS_EXPORT=otlp: tokenstorm pushes OTLP/HTTP metrics every second (--out otlp=URL) to a sink on
# 127.0.0.1 that reads each request and answers 200, as a collector would.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}" connections="${2:-50}" rounds="${3:-3}"
if ! command -v wrk >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null; }
fi
# The unlocked build of oha needs a newer rustc than this project's.
command -v oha >/dev/null || cargo install oha --locked
cargo build --release --locked --quiet
exec python3 - "$seconds" "$connections" "$rounds" <<'PY'
import json, os, re, sys, tempfile
sys.path.insert(0, "benches")
from bench import *

seconds, connections, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
profile = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
text = open("benches/profiles/peers.toml").read()
text = text.replace("sessions = 50", f"sessions = {connections}").replace("connections = 50", f"connections = {connections}")
profile.write(text.replace('duration = "10s"', f'duration = "{seconds}s"'))
profile.close()

results = {"oha": [], "wrk": [], "tokenstorm": []}
export = os.environ.get("PEERS_EXPORT") == "1"
otlp = os.environ.get("PEERS_EXPORT") == "otlp"
METRICS = "127.0.0.1:9464"


def otlp_sink():
    """An OTLP/HTTP receiver that reads each request whole and answers 200; returns its URL."""
    import http.server
    import threading

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1/metrics"


OTLP_URL = otlp_sink() if otlp else None


def scrape_every_second(stop):
    import urllib.request
    while not stop.wait(1.0):
        try:
            urllib.request.urlopen(f"http://{METRICS}/metrics", timeout=1).read()
        except OSError:
            pass
with served(profile.name) as base:
    # The path and query the widget's contacts call sends (the profile's default API call): every tool
    # asks for the same thing, so the target's cost per request compares like with like.
    url = f"{base}/api/v2/externalcontacts/contacts?pageSize=25&pageNumber=1"
    auth = f"Authorization: Bearer {token(base)}"
    for r in range(rounds):
        for tool in ("oha", "wrk", "tokenstorm"):
            target_before = server_cpu(base)
            if tool == "oha":
                out, wall, cpu = measured(["oha", "-z", f"{seconds}s", "-c", str(connections), "--no-tui",
                                           "--output-format", "json", "-H", auth, url])
                data = json.loads(out)
                codes = data.get("statusCodeDistribution", {})
                n, ok = sum(codes.values()), codes.get("200", 0)
                secs = data["summary"]["total"]
            elif tool == "wrk":
                out, wall, cpu = measured(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-H", auth, url])
                n = int(re.search(r"(\d+) requests in", out).group(1))
                bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
                ok, secs = n - (int(bad.group(1)) if bad else 0), seconds
            else:
                extra = ("--metrics-addr", METRICS, "--metrics-linger", "1s") if export else ()
                extra += ("--out", f"otlp={OTLP_URL}") if otlp else ()
                cmd, out_dir = tokenstorm_run(profile.name, base, extra)
                import threading
                stop = threading.Event()
                scraper = threading.Thread(target=scrape_every_second, args=(stop,), daemon=True)
                if export:
                    scraper.start()
                out, wall, cpu = measured(cmd)
                stop.set()
                v = report(out_dir)
                n, ok, secs = calls(v), v["endpoints"]["contacts"]["outcomes"]["ok"], v["elapsed_s"]
            target = (server_cpu(base) - target_before) / n * 1e6
            results[tool].append((n / secs, cpu / n * 1e6, ok / n, target))
            print(f"round {r + 1} {tool:<10} {n / secs:>10.0f} req/s  {cpu / n * 1e6:6.2f} us CPU/request  target {target:6.2f} us/request  ok {100 * ok / n:.1f} %", flush=True)

print(f"\n{seconds} s x {rounds} rounds, {connections} connections, target pinned to core {SERVER_CORE}, clients to core {CLIENT_CORE}" + (", tokenstorm scraped every second" if export else "") + (", tokenstorm pushing OTLP every second" if otlp else ""))
print(f"{'tool':<11} {'median req/s':>13} {'median us CPU/request':>22} {'target us CPU/request':>22}")
med = {}
for tool, rs in results.items():
    med[tool] = (median([x[0] for x in rs]), median([x[1] for x in rs]), median([x[3] for x in rs]))
    print(f"{tool:<11} {med[tool][0]:>13.0f} {med[tool][1]:>22.2f} {med[tool][2]:>22.2f}")
print(f"tokenstorm/oha cpu-per-request: {med['tokenstorm'][1] / med['oha'][1]:.2f}   (goal <= 1.0)")
print(f"tokenstorm/oha throughput:      {med['tokenstorm'][0] / med['oha'][0]:.2f}   (goal >= 1.0 within noise)")
print(f"tokenstorm/wrk cpu-per-request: {med['tokenstorm'][1] / med['wrk'][1]:.2f}")
print(f"target cost tokenstorm/oha:     {med['tokenstorm'][2] / med['oha'][2]:.2f}   (what each tool's requests cost the server)")
PY
