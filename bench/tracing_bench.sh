#!/usr/bin/env bash
# Tracing overhead: the same KServe V2 infer load (wrk, keep-alive) against a server with tracing
# off (the default) and one exporting every request's spans (trace_sample_ratio 1.0) to a local
# OTLP/HTTP receiver, alternated in one run.
#
#   bench/tracing_bench.sh
#
# Writes bench/results/tracing-raw.md (overwritten); bench/results/tracing.md is the hand-written
# summary of a run. Everything listens on 127.0.0.1 and is stopped on exit.
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [10]        length of every wrk run
#   BENCH_REPS [3]            wrk repetitions per configuration (alternated)
#   BENCH_CONNECTIONS [64]    wrk connections
#   BENCH_RATIOS [1.0]        sample ratios to measure besides "off" (e.g. "1.0 0.01")
#   BENCH_RESULTS_DIR [bench/results]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
SECS="${BENCH_SECONDS:-10}"
REPS="${BENCH_REPS:-3}"
CONNS="${BENCH_CONNECTIONS:-64}"
RATIOS="${BENCH_RATIOS:-1.0}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$here/bench/results}"
HOTSWAP="$here/build/bin/hotswap"
MODEL="$here/build/models/demo/iris.onnx"
log() { echo "tracing_bench: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for f in "$HOTSWAP" "$MODEL"; do [ -e "$f" ] || die "missing $f (build hotswap and hotswap_models)"; done
for c in wrk curl python3; do command -v "$c" >/dev/null || die "missing $c"; done

tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
proc_ticks() { local f; f=($(sed 's/.*) //' "/proc/$1/stat")); echo $((f[11] + f[12])); }
CLK_TCK="$(getconf CLK_TCK)"

# A minimal OTLP/HTTP receiver: accepts POST /v1/traces, counts spans (cheaply, by "spanId").
COL_PORT="$(free_port)"
cat >"$tmp/collector.py" <<'PY'
import http.server, sys, threading
spans = 0
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global spans
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            spans += body.count(b'"spanId"')
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"{}")
    def do_GET(self):
        out = str(spans).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(out))); self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$tmp/collector.py" "$COL_PORT" &
pids+=($!)

start_server() {  # name, extra flags...
  local name=$1; shift
  local port; port="$(free_port)"
  "$HOTSWAP" serve --data-dir "$tmp/$name" --http "127.0.0.1:$port" --log-level warn "$@" \
    >"$tmp/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/health/ready" 2>/dev/null && break; sleep 0.1; done
  for _ in $(seq 50); do [ -s "$tmp/$name/admin.token" ] && break; sleep 0.1; done
  local token; token="$(cat "$tmp/$name/admin.token")"
  HOTSWAP_URL="http://127.0.0.1:$port" HOTSWAP_TOKEN="$token" "$HOTSWAP" model register iris >/dev/null
  HOTSWAP_URL="http://127.0.0.1:$port" HOTSWAP_TOKEN="$token" "$HOTSWAP" version upload iris "$MODEL" --framework onnx >/dev/null
  HOTSWAP_URL="http://127.0.0.1:$port" HOTSWAP_TOKEN="$token" "$HOTSWAP" deploy iris --version 1 >/dev/null
  for _ in $(seq 100); do
    curl -fsS -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v2/models/iris/ready" 2>/dev/null && break
    sleep 0.1
  done
  {
    echo 'wrk.method = "POST"'
    echo "wrk.body = '{\"inputs\":[{\"name\":\"input\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[5.1,3.5,1.4,0.2]}]}'"
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo "wrk.headers[\"Authorization\"] = \"Bearer $token\""
  } >"$tmp/$name.lua"
  echo "$port $pid" >"$tmp/$name.addr"
}

configs=(off)
start_server off
for r in $RATIOS; do
  configs+=("ratio-$r")
  start_server "ratio-$r" --otlp-endpoint "http://127.0.0.1:$COL_PORT" --trace-sample-ratio "$r"
done

{
  echo "# Tracing overhead — raw output of bench/tracing_bench.sh"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ); $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //');"
  echo "load average at start $(cut -d' ' -f1-3 /proc/loadavg); wrk -t2 -c$CONNS -d${SECS}s, $REPS reps alternated."
  echo
  echo "| config | rep | req/s | p50 | p99 | server CPU µs/req |"
  echo "| --- | --- | --- | --- | --- | --- |"
} >"$tmp/raw.md"
for rep in $(seq "$REPS"); do
  for c in "${configs[@]}"; do
    read -r port pid <"$tmp/$c.addr"
    t0="$(proc_ticks "$pid")"
    wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$tmp/$c.lua" "http://127.0.0.1:$port/v2/models/iris/infer" >"$tmp/wrk-$c-$rep.txt"
    t1="$(proc_ticks "$pid")"
    rps="$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk-$c-$rep.txt")"
    p50="$(awk '$1=="50%" {print $2}' "$tmp/wrk-$c-$rep.txt")"
    p99="$(awk '$1=="99%" {print $2}' "$tmp/wrk-$c-$rep.txt")"
    reqs="$(awk '/requests in/ {print $1}' "$tmp/wrk-$c-$rep.txt")"
    cpu="$(python3 -c "print(f'{($t1-$t0)/$CLK_TCK*1e6/max($reqs,1):.1f}')")"
    errs="$(grep -E 'Non-2xx|Socket errors' "$tmp/wrk-$c-$rep.txt" | tr -s ' ' || true)"
    log "$c #$rep: $rps req/s, p50 $p50, p99 $p99, $cpu µs CPU/req ${errs:+($errs)}"
    echo "| $c | $rep | $rps | $p50 | $p99 | $cpu |" >>"$tmp/raw.md"
  done
done
sleep 2  # let the exporter send its last batch
{
  echo
  echo "Spans received by the local receiver: $(curl -fsS "http://127.0.0.1:$COL_PORT/")"
  for c in "${configs[@]}"; do
    [ "$c" = off ] && continue
    read -r port pid <"$tmp/$c.addr"
    echo
    echo "$c /metrics:"
    echo '```'
    curl -fsS "http://127.0.0.1:$port/metrics" | grep '^hotswap_trace_' || true
    echo '```'
  done
} >>"$tmp/raw.md"
mkdir -p "$RESULTS_DIR"
cp "$tmp/raw.md" "$RESULTS_DIR/tracing-raw.md"
cat "$tmp/raw.md"
