#!/usr/bin/env bash
# Serving benchmark: HotSwap's KServe V2 REST path against an nginx ceiling, in one run, plus
# fixed-rate (open-loop) latency while versions are hot-swapped.
#
#   bench/serve_bench.sh
#
# Writes bench/results/serve.md and bench/results/serve.json (both overwritten). Everything it
# starts (hotswap, nginx, load generators, the redeploy loop) listens on / talks to 127.0.0.1
# only and is stopped on exit. Idempotent: fresh temp dir and free ports every run.
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [20]        length of every measured phase (wrk runs and fixed-rate runs)
#   BENCH_REPS [3]            wrk repetitions per target (alternated nginx, hotswap, ...)
#   BENCH_RATE [10000]        fixed rate for the loadgen phases, req/s
#   BENCH_CONNECTIONS [64]    wrk and loadgen connections
#   BENCH_SWAP_EVERY [2]      seconds between redeploys in the swapping phase
#   BENCH_WARMUP [2]          loadgen warm-up seconds (same rate, not recorded)
#   BENCH_SKIP_SETUP [0]      1: skip scripts/install-deps.sh and the builds
#   BENCH_KEEP_TMP [0]        1: keep the temp dir (logs, raw outputs) and print its path
#   BENCH_RESULTS_DIR [bench/results]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

SECS="${BENCH_SECONDS:-20}"
REPS="${BENCH_REPS:-3}"
RATE="${BENCH_RATE:-10000}"
CONNS="${BENCH_CONNECTIONS:-64}"
SWAP_EVERY="${BENCH_SWAP_EVERY:-2}"
WARMUP="${BENCH_WARMUP:-2}"
RESULTS_DIR="${BENCH_RESULTS_DIR:-$here/bench/results}"
WRK_THREADS=2

log() { echo "serve_bench: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- 0. dependencies and builds ----------------------------------------------------------------
LOADGEN="$here/build/bench/loadgen"
if [ "${BENCH_SKIP_SETUP:-0}" != 1 ]; then
  log "installing dependencies (scripts/install-deps.sh)"
  "$here/scripts/install-deps.sh"
  log "building hotswap and the demo models"
  cmake --build "$here/build" --target hotswap hotswap_models
  GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
  [ -x "$GO" ] || die "Go not found (set GO=/path/to/go)"
  if [ -z "${GOCACHE:-}" ] && ! { [ -n "${HOME:-}" ] && [ -w "$HOME" ]; }; then
    export GOCACHE="$here/build/bench/gocache"
  fi
  log "building the load generator"
  mkdir -p "$here/build/bench"
  # Standard library only: no module downloads, no toolchain downloads.
  GOTOOLCHAIN=local GOPROXY=off GOFLAGS= "$GO" -C "$here/bench/loadgen" build -o "$LOADGEN" .
fi
HOTSWAP="$here/build/bin/hotswap"
MODEL="$here/build/models/demo/iris.onnx"
for f in "$HOTSWAP" "$LOADGEN" "$MODEL"; do [ -e "$f" ] || die "missing $f"; done
for c in wrk nginx curl python3; do command -v "$c" >/dev/null || die "missing $c (scripts/install-deps.sh)"; done
NGINX="$(command -v nginx)"

# --- temp dir, cleanup -------------------------------------------------------------------------
tmp="$(mktemp -d -t hotswap-serve-bench.XXXXXX)"
pids=()  # everything we start, stopped in reverse order on exit
cleanup() {
  local rc=$?
  set +e
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_http() {  # url, what, pid
  for _ in $(seq 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { log "ERROR: $2 exited during start-up; its log:"; return 1; }
    sleep 0.1
  done
  log "ERROR: $2 did not answer at $1 within 20 s; its log:"
  return 1
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
machine_busy() {  # "BUSY_PCT<TAB>top processes" over 1 s, whole machine (before we start anything)
  python3 - <<'PY'
import os, time
def procs():
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                s = open(f"/proc/{p}/stat").read()
            except OSError:
                continue
            comm, rest = s[s.index("(") + 1:s.rindex(")")], s[s.rindex(")") + 2:].split()
            out[p] = (comm, int(rest[11]) + int(rest[12]))
    return out
def cpu():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f), f[3] + f[4]
a, pa = cpu(), procs(); time.sleep(1); b, pb = cpu(), procs()
total, idle = b[0] - a[0], b[1] - a[1]
hz = os.sysconf("SC_CLK_TCK")
top = sorted(((v[1] - pa[p][1], v[0]) for p, v in pb.items() if p in pa), reverse=True)[:5]
busy = 100 * (total - idle) / total if total else 0
print(f"{busy:.0f}\t" + (", ".join(f"{c} {100 * d / hz:.0f}%" for d, c in top if d > 0) or "none"))
PY
}
proc_ticks() {  # utime+stime of the given pids, in clock ticks
  local t=0 p f
  for p in "$@"; do
    f=($(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null)) || continue
    t=$((t + f[11] + f[12]))
  done
  echo "$t"
}
CLK_TCK="$(getconf CLK_TCK)"

# --- machine -----------------------------------------------------------------------------------
mkdir -p "$tmp/wrk" "$tmp/nginx"
START_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
LOAD_START="$(loadavg)"
busy="$(machine_busy)"
BUSY_START="${busy%%$'\t'*}"
top_procs="${busy#*$'\t'}"
log "start $START_DATE; load average $LOAD_START; CPU busy ${BUSY_START}% (whole machine, before we start anything)"

# --- 1. hotswap ---------------------------------------------------------------------------------
HS_PORT="$(free_port)"
HS_URL="http://127.0.0.1:$HS_PORT"
"$HOTSWAP" serve --data-dir "$tmp/data" --http "127.0.0.1:$HS_PORT" --log-level warn \
  >"$tmp/hotswap.log" 2>&1 &
HS_PID=$!
pids+=("$HS_PID")
wait_http "$HS_URL/v2/health/live" hotswap "$HS_PID" || { tail -20 "$tmp/hotswap.log" >&2; exit 1; }
for _ in $(seq 50); do [ -s "$tmp/data/admin.token" ] && break; sleep 0.1; done
export HOTSWAP_URL="$HS_URL"
HOTSWAP_TOKEN="$(cat "$tmp/data/admin.token")"
export HOTSWAP_TOKEN
AUTH="Authorization: Bearer $HOTSWAP_TOKEN"

"$HOTSWAP" model register iris >/dev/null
"$HOTSWAP" version upload iris "$MODEL" --framework onnx --tag bench=v1 >/dev/null
"$HOTSWAP" version upload iris "$MODEL" --framework onnx --tag bench=v2 >/dev/null

# deploy VERSION: POST /api/v1/deployments (retrying 409 "in progress"), poll until it leaves
# pending; prints one JSON line.
deploy() {
  local v=$1 t0 t1 out code id state conflicts=0
  t0=$(date +%s%N)
  while :; do
    out="$(curl -sS -w '\n%{http_code}' -XPOST -H "$AUTH" -H 'Content-Type: application/json' \
      "$HS_URL/api/v1/deployments" -d "{\"model\":\"iris\",\"version\":$v}" 2>&1)" || true
    code="${out##*$'\n'}"
    [ "$code" = 409 ] && { conflicts=$((conflicts + 1)); sleep 0.05; continue; }
    break
  done
  id="$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$out" | head -1)"
  state="$(sed -n 's/.*"state":"\([^"]*\)".*/\1/p' <<<"$out" | head -1)"
  if [ "$code" = 202 ] && [ -n "$id" ]; then
    for _ in $(seq 600); do
      case "$state" in pending | progressing | promoting) ;; *) break ;; esac
      sleep 0.05
      out="$(curl -sS -H "$AUTH" "$HS_URL/api/v1/deployments/$id" 2>&1)" || true
      state="$(sed -n 's/.*"state":"\([^"]*\)".*/\1/p' <<<"$out" | head -1)"
    done
  fi
  t1=$(date +%s%N)
  local msg
  msg="$(sed -n 's/.*"message":"\([^"]*\)".*/\1/p' <<<"$out" | head -1 | tr -d '\\')"
  [ "$code" = 202 ] || msg="$(head -c 300 <<<"$out" | tr -d '\\"\n')"
  printf '{"at_ms":%d,"version":%d,"http":"%s","id":"%s","state":"%s","elapsed_ms":%d,"conflicts":%d,"message":"%s"}\n' \
    $((t0 / 1000000)) "$v" "$code" "$id" "${state:-unknown}" $(((t1 - t0) / 1000000)) "$conflicts" "$msg"
}
first="$(deploy 1)"
log "deploy v1: $first"
grep -q '"state":"succeeded"' <<<"$first" || die "initial deployment failed: $first"

BODY='{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'
printf '%s' "$BODY" >"$tmp/body.json"
INFER_URL="$HS_URL/v2/models/iris/infer"
probe="$(curl -sS -i -XPOST -H "$AUTH" -H 'Content-Type: application/json' --data-binary @"$tmp/body.json" "$INFER_URL")"
grep -q '^HTTP/1.1 200' <<<"$probe" || die "infer probe failed: $probe"

RSS_FILE="$tmp/rss.txt"
rss() {  # label
  local r h
  r="$(awk '/^VmRSS:/ {print $2}' "/proc/$HS_PID/status" 2>/dev/null || echo 0)"
  h="$(awk '/^VmHWM:/ {print $2}' "/proc/$HS_PID/status" 2>/dev/null || echo 0)"
  kill -0 "$HS_PID" 2>/dev/null || die "hotswap (pid $HS_PID) is no longer running after: $1"
  echo "$1 ${r:-0} ${h:-0} $(loadavg)" >>"$RSS_FILE"
  log "RSS after $1: VmRSS ${r} kB, VmHWM ${h} kB"
}
rss "start+deploy"

# --- 2. nginx (the ceiling) ---------------------------------------------------------------------
NG_PORT="$(free_port)"
while [ "$NG_PORT" = "$HS_PORT" ]; do NG_PORT="$(free_port)"; done
NG_URL="http://127.0.0.1:$NG_PORT/"
ng="$tmp/nginx"
cat >"$ng/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path $ng/body;
  proxy_temp_path $ng/proxy;
  fastcgi_temp_path $ng/fastcgi;
  uwsgi_temp_path $ng/uwsgi;
  scgi_temp_path $ng/scgi;
  server {
    listen 127.0.0.1:$NG_PORT;
    location / {
      default_type application/json;
      return 200 '{"model_name":"iris","outputs":[]}';
    }
  }
}
EOF
"$NGINX" -p "$ng" -c "$ng/nginx.conf" -e "$ng/error.log" >"$ng/stdout.log" 2>&1 &
NG_PID=$!
pids+=("$NG_PID")
wait_http "$NG_URL" nginx "$NG_PID" || { cat "$ng/error.log" >&2; exit 1; }
ng_workers() { ps -o pid= --ppid "$NG_PID" | tr -d ' '; }

# --- 3. wrk, alternated ------------------------------------------------------------------------
DONE_LUA='
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKJSON {\"requests\":%.0f,\"duration_us\":%.0f,\"bytes\":%.0f,\"rps\":%.1f,\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,\"p99_9_us\":%.0f,\"max_us\":%.0f,\"mean_us\":%.1f,\"errors\":{\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d}}\n",
    summary.requests, summary.duration, summary.bytes, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end'
printf '%s\n' "$DONE_LUA" >"$tmp/report.lua"
{
  echo 'wrk.method = "POST"'
  echo "wrk.body = '$BODY'"
  echo 'wrk.headers["Content-Type"] = "application/json"'
  echo "wrk.headers[\"Authorization\"] = \"Bearer $HOTSWAP_TOKEN\""
  printf '%s\n' "$DONE_LUA"
} >"$tmp/infer.lua"

run_wrk() {  # target rep
  local target=$1 rep=$2 url script ppids t0 t1
  if [ "$target" = nginx ]; then
    url="$NG_URL"; script="$tmp/infer.lua"; ppids=($(ng_workers))  # the same POST request
  else
    url="$INFER_URL"; script="$tmp/infer.lua"; ppids=("$HS_PID")
  fi
  t0="$(proc_ticks "${ppids[@]}")"
  wrk -t"$WRK_THREADS" -c"$CONNS" -d"${SECS}s" --latency -s "$script" "$url" >"$tmp/wrk/$target-$rep.txt" 2>&1 &
  local wp=$!
  pids+=("$wp")
  wait "$wp" || die "wrk against $target failed: $(cat "$tmp/wrk/$target-$rep.txt")"
  t1="$(proc_ticks "${ppids[@]}")"
  grep '^WRKJSON ' "$tmp/wrk/$target-$rep.txt" | sed 's/^WRKJSON //' >"$tmp/wrk/$target-$rep.json"
  [ -s "$tmp/wrk/$target-$rep.json" ] || die "no wrk summary for $target: $(cat "$tmp/wrk/$target-$rep.txt")"
  echo "$((t1 - t0)) $CLK_TCK $(loadavg)" >"$tmp/wrk/$target-$rep.cpu"
  log "wrk $target #$rep: $(grep -E 'Requests/sec|Non-2xx|Socket errors' "$tmp/wrk/$target-$rep.txt" | tr -s ' ' | tr '\n' ';')"
}
log "wrk: $REPS x (nginx, hotswap), ${SECS}s each, -t$WRK_THREADS -c$CONNS"
for rep in $(seq "$REPS"); do
  run_wrk nginx "$rep"
  run_wrk hotswap "$rep"
done
rss "wrk"

# --- 4. fixed rate: steady, then while redeploying ---------------------------------------------
run_loadgen() {  # phase
  local lp
  "$LOADGEN" -url "$INFER_URL" -rate "$RATE" -duration "${SECS}s" -warmup "${WARMUP}s" \
    -connections "$CONNS" -body-file "$tmp/body.json" -header "$AUTH" \
    -count-header x-hotswap-model-version -out "$tmp/$1.json" 2>"$tmp/$1.txt" &
  lp=$!
  pids+=("$lp")
  wait "$lp" || log "loadgen ($1) exited non-zero: $(cat "$tmp/$1.txt")"
  [ -s "$tmp/$1.json" ] || die "loadgen ($1) wrote no report: $(cat "$tmp/$1.txt")"
  log "$(cat "$tmp/$1.txt")"
}
log "fixed rate: $RATE req/s for ${SECS}s (+${WARMUP}s warm-up), steady"
echo "$(loadavg)" >"$tmp/steady.load"
run_loadgen steady
rss "fixed-rate steady"

swap_loop() {
  local v=2 t0 now left
  sleep "$WARMUP"
  while :; do
    t0=$(date +%s%N)
    deploy "$v" >>"$tmp/swaps.jsonl"
    v=$((3 - v))
    now=$(date +%s%N)
    left=$((SWAP_EVERY * 1000000000 - (now - t0)))
    if ((left > 0)); then sleep "$(awk -v n="$left" 'BEGIN { printf "%.3f", n / 1e9 }')"; fi
  done
}
log "fixed rate: $RATE req/s for ${SECS}s (+${WARMUP}s warm-up), redeploying 1<->2 every ${SWAP_EVERY}s"
echo "$(loadavg)" >"$tmp/swapping.load"
: >"$tmp/swaps.jsonl"
swap_loop &
SWAP_PID=$!
pids+=("$SWAP_PID")
run_loadgen swapping
kill -TERM "$SWAP_PID" 2>/dev/null || true
wait "$SWAP_PID" 2>/dev/null || true
sleep 0.5  # let an in-flight deployment finish before reading memory
rss "fixed-rate swapping"
log "swaps: $(grep -c . "$tmp/swaps.jsonl" || true) redeploys, states: $(sed -n 's/.*"state":"\([^"]*\)".*/\1/p' "$tmp/swaps.jsonl" | sort | uniq -c | tr -s ' ' | tr '\n' ',')"

# --- 5. report ---------------------------------------------------------------------------------
mkdir -p "$RESULTS_DIR"
git_rev="$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$here" diff --quiet HEAD -- src 2>/dev/null || git_rev="$git_rev (src/ has uncommitted changes)"
export BM_TMP="$tmp" BM_RESULTS="$RESULTS_DIR" BM_DATE="$START_DATE" BM_END="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  BM_NPROC="$(nproc)" BM_CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
  BM_KERNEL="$(uname -srm)" BM_LOAD_START="$LOAD_START" BM_LOAD_END="$(loadavg)" BM_BUSY_START="$BUSY_START" \
  BM_TOP_PROCS="$top_procs" BM_SECS="$SECS" BM_REPS="$REPS" BM_RATE="$RATE" BM_CONNS="$CONNS" \
  BM_THREADS="$WRK_THREADS" BM_SWAP_EVERY="$SWAP_EVERY" BM_WARMUP="$WARMUP" BM_GIT="$git_rev" \
  BM_NGINX_V="$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')" \
  BM_WRK_V="$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)" BM_BODY="$BODY" BM_FIRST_DEPLOY="$first"
python3 - <<'PY'
import glob, json, os, statistics

E = os.environ
tmp, out_dir = E["BM_TMP"], E["BM_RESULTS"]
reps, secs, rate = int(E["BM_REPS"]), int(E["BM_SECS"]), int(E["BM_RATE"])
conns, threads = int(E["BM_CONNS"]), int(E["BM_THREADS"])

def load(p):
    with open(p) as f:
        return json.load(f)

def wrk_runs(target):
    runs = []
    for rep in range(1, reps + 1):
        r = load(f"{tmp}/wrk/{target}-{rep}.json")
        ticks, tck, *la = open(f"{tmp}/wrk/{target}-{rep}.cpu").read().split()
        r["rep"] = rep
        r["server_cpu_s"] = int(ticks) / int(tck)
        r["server_cpu_us_per_req"] = round(1e6 * r["server_cpu_s"] / r["requests"], 1) if r["requests"] else None
        r["load_avg_after"] = " ".join(la)
        r["non2xx_or_errors"] = sum(r["errors"].values())
        runs.append(r)
    return runs

def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None

wrk = {}
for t in ("nginx", "hotswap"):
    runs = wrk_runs(t)
    wrk[t] = {"runs": runs, "median": {k: med(runs, k) for k in
              ("rps", "p50_us", "p90_us", "p99_us", "p99_9_us", "max_us", "server_cpu_us_per_req")}}
n, h = wrk["nginx"]["median"], wrk["hotswap"]["median"]
ratio = lambda a, b: round(a / b, 3) if a and b else None
wrk["ratio_hotswap_over_nginx"] = {k: ratio(h[k], n[k]) for k in ("rps", "p50_us", "p99_us", "server_cpu_us_per_req")}

steady, swapping = load(f"{tmp}/steady.json"), load(f"{tmp}/swapping.json")
steady["load_avg_before"] = open(f"{tmp}/steady.load").read().strip()
swapping["load_avg_before"] = open(f"{tmp}/swapping.load").read().strip()
swaps = [json.loads(l) for l in open(f"{tmp}/swaps.jsonl") if l.strip()]
fixed = {"steady": steady, "swapping": swapping,
         "ratio_swapping_over_steady": {k: ratio(swapping["latency_ms"][k], steady["latency_ms"][k])
                                        for k in ("p50", "p90", "p99", "p99_9", "max")},
         "redeploys": swaps}
rss = []
for line in open(f"{tmp}/rss.txt"):
    *label, r, hwm, l1, l5, l15 = line.split()
    rss.append({"after": " ".join(label), "vm_rss_kb": int(r), "vm_hwm_kb": int(hwm), "load_avg": f"{l1} {l5} {l15}"})

meta = {
    "date": E["BM_DATE"], "finished": E["BM_END"], "git": E["BM_GIT"],
    "machine": {"nproc": int(E["BM_NPROC"]), "cpu": E["BM_CPU"], "kernel": E["BM_KERNEL"],
                "load_avg_start": E["BM_LOAD_START"], "load_avg_end": E["BM_LOAD_END"],
                "cpu_busy_pct_1s_before_start": int(E["BM_BUSY_START"]),
                "top_processes_at_start": E["BM_TOP_PROCS"]},
    "tools": {"nginx": E["BM_NGINX_V"], "wrk": E["BM_WRK_V"]},
    "params": {"seconds": secs, "reps": reps, "rate": rate, "connections": conns, "wrk_threads": threads,
               "swap_every_s": int(E["BM_SWAP_EVERY"]), "warmup_s": int(E["BM_WARMUP"])},
}
commands = [
    f"hotswap serve --data-dir $TMP/data --http 127.0.0.1:$HS_PORT --log-level warn",
    "hotswap model register iris",
    "hotswap version upload iris build/models/demo/iris.onnx --framework onnx --tag bench=v1   # -> 1",
    "hotswap version upload iris build/models/demo/iris.onnx --framework onnx --tag bench=v2   # -> 2",
    "curl -XPOST -H 'Authorization: Bearer $HOTSWAP_TOKEN' $HS/api/v1/deployments -d '{\"model\":\"iris\",\"version\":1}'   # poll GET /api/v1/deployments/{id}",
    "nginx -p $TMP/nginx -c $TMP/nginx/nginx.conf -e $TMP/nginx/error.log   # worker_processes auto; access_log off; keepalive_requests 1000000; return 200 '{\"model_name\":\"iris\",\"outputs\":[]}'",
    f"wrk -t{threads} -c{conns} -d{secs}s --latency -s infer.lua http://127.0.0.1:$NG_PORT/   # the same POST request and headers as hotswap gets; nginx discards the body",
    f"wrk -t{threads} -c{conns} -d{secs}s --latency -s infer.lua $HS/v2/models/iris/infer   # POST {E['BM_BODY']} with Authorization",
    f"   (alternated nginx, hotswap, {reps} times; medians per metric)",
    f"build/bench/loadgen -url $HS/v2/models/iris/infer -rate {rate} -duration {secs}s -warmup {meta['params']['warmup_s']}s -connections {conns} -body-file body.json -header 'Authorization: Bearer $HOTSWAP_TOKEN' -count-header x-hotswap-model-version   # steady",
    f"   same again while a loop POSTs /api/v1/deployments version 2,1,2,... every {meta['params']['swap_every_s']} s (waits for each to finish; first after the warm-up)",
]
doc = {"meta": meta, "commands": commands, "wrk": wrk, "fixed_rate": fixed, "rss": rss,
       "first_deploy": json.loads(E["BM_FIRST_DEPLOY"])}
with open(f"{out_dir}/serve.json", "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")

# ---- markdown ----
def f0(x): return "–" if x is None else f"{x:,.0f}"
def fms_us(x): return "–" if x is None else f"{x / 1000:.2f}"
def fx(x): return "–" if x is None else f"{x:.2f}×"
L = []
m = meta["machine"]
L += ["# Serving benchmark: HotSwap V2 REST vs an nginx ceiling", "",
      "Generated by `bench/serve_bench.sh` (overwrites this file and `serve.json`).", "",
      f"- date: {meta['date']} → {meta['finished']} (UTC); code: {meta['git']}",
      f"- machine: {m['nproc']} CPUs, {m['cpu']}, {m['kernel']}",
      f"- load average at start: **{m['load_avg_start']}** (whole machine {m['cpu_busy_pct_1s_before_start']}% busy in the second before start; "
      f"busiest processes then, % of one core: {m['top_processes_at_start']}); at end: {m['load_avg_end']}",
      f"- tools: nginx {meta['tools']['nginx']}, {meta['tools']['wrk']}, loadgen (bench/loadgen, Go net/http, open loop)",
      "- everything on loopback; load generator and servers share the same cores, so each side's numbers include the other's CPU use.",
      "", "## Commands", "", "```"] + commands + ["```", ""]
L += [f"## Closed loop: wrk -t{threads} -c{conns} -d{secs}s, median of {reps} alternated runs", "",
      "| | req/s | p50 ms | p99 ms | server CPU µs/req |",
      "| --- | ---: | ---: | ---: | ---: |",
      f"| nginx (ceiling: same POST, fixed 35-byte JSON answer) | {f0(n['rps'])} | {fms_us(n['p50_us'])} | {fms_us(n['p99_us'])} | {n['server_cpu_us_per_req'] or '–'} |",
      f"| hotswap (POST V2 infer, iris classifier) | {f0(h['rps'])} | {fms_us(h['p50_us'])} | {fms_us(h['p99_us'])} | {h['server_cpu_us_per_req'] or '–'} |",
      f"| ratio hotswap / nginx | {fx(wrk['ratio_hotswap_over_nginx']['rps'])} | {fx(wrk['ratio_hotswap_over_nginx']['p50_us'])} | {fx(wrk['ratio_hotswap_over_nginx']['p99_us'])} | {fx(wrk['ratio_hotswap_over_nginx']['server_cpu_us_per_req'])} |",
      "", "Every run (wrk latencies are closed-loop, i.e. not corrected for coordinated omission):", "",
      "| run | target | req/s | p50 ms | p90 ms | p99 ms | max ms | errors (connect/read/write/non-2xx/timeout) | server CPU µs/req | load avg after |",
      "| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
for rep in range(reps):
    for t in ("nginx", "hotswap"):
        r = wrk[t]["runs"][rep]
        e = r["errors"]
        L.append(f"| {rep + 1} | {t} | {f0(r['rps'])} | {fms_us(r['p50_us'])} | {fms_us(r['p90_us'])} | {fms_us(r['p99_us'])} | {fms_us(r['max_us'])} | "
                 f"{e['connect']}/{e['read']}/{e['write']}/{e['status']}/{e['timeout']} | {r['server_cpu_us_per_req']} | {r['load_avg_after']} |")
def counts(r):
    c = r.get("counts") or {}
    return ", ".join(f"v{k}: {v:,}" for k, v in sorted(c.items())) or "–"
def errs(r):
    s = f"{r['errors']:,} errors, {r['non2xx']:,} non-2xx, {r['unsent']:,} unsent"
    return s
sl, wl = steady["latency_ms"], swapping["latency_ms"]
rr = fixed["ratio_swapping_over_steady"]
ok_swaps = sum(1 for s in swaps if s["state"] == "succeeded")
L += ["", f"## Open loop: loadgen at {rate:,} req/s for {secs} s ({conns} connections, latency from the scheduled send time)", "",
      "| | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | responses per x-hotswap-model-version | load avg before |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
      f"| steady | {steady['achieved_rate']:,.0f} | {sl['p50']:.3f} | {sl['p90']:.3f} | {sl['p99']:.3f} | {sl['p99_9']:.3f} | {sl['max']:.3f} | {errs(steady)} | {counts(steady)} | {steady['load_avg_before']} |",
      f"| swapping 1↔2 every {meta['params']['swap_every_s']} s | {swapping['achieved_rate']:,.0f} | {wl['p50']:.3f} | {wl['p90']:.3f} | {wl['p99']:.3f} | {wl['p99_9']:.3f} | {wl['max']:.3f} | {errs(swapping)} | {counts(swapping)} | {swapping['load_avg_before']} |",
      f"| ratio swapping / steady | | {fx(rr['p50'])} | {fx(rr['p90'])} | {fx(rr['p99'])} | {fx(rr['p99_9'])} | {fx(rr['max'])} | | | |",
      "", f"Client-side queueing (scheduled → actually sent, included in the latencies above): steady p50 {steady['queue_delay_ms']['p50']:.3f} / p99 {steady['queue_delay_ms']['p99']:.3f} ms, "
      f"swapping p50 {swapping['queue_delay_ms']['p50']:.3f} / p99 {swapping['queue_delay_ms']['p99']:.3f} ms; scheduler max lag {steady['scheduler_max_lag_ms']:.1f} / {swapping['scheduler_max_lag_ms']:.1f} ms. "
      "A large queueing delay means every connection was busy (server or machine could not keep up), not a client bug.",
      "", f"Redeploys during the swapping run: {len(swaps)} requested, {ok_swaps} succeeded"
      + (f"; states: {', '.join(sorted(set(s['state'] for s in swaps)))}" if swaps else "")
      + (f"; time from POST to a finished deployment: median {statistics.median(s['elapsed_ms'] for s in swaps)} ms, max {max(s['elapsed_ms'] for s in swaps)} ms" if swaps else "")
      + f"; 409 conflicts retried: {sum(s['conflicts'] for s in swaps)}."]
bad = [s for s in swaps if s["state"] != "succeeded"]
if bad:
    L += ["", "Redeploys that did not succeed:", ""] + [f"- v{s['version']}: http {s['http']}, state {s['state']}: {s['message']}" for s in bad]
for name, r in (("steady", steady), ("swapping", swapping)):
    if r["errors"] or r["non2xx"]:
        L += ["", f"**{name}: {r['errors']} transport errors, {r['non2xx']} non-2xx.** Status codes: {r['status_codes']}; errors: {r['error_messages']}; samples: {r['non2xx_samples']}"]
L += ["", "## Memory of the hotswap process (/proc/PID/status)", "",
      "| after | VmRSS MiB | VmHWM MiB | load avg |", "| --- | ---: | ---: | --- |"]
for x in rss:
    L.append(f"| {x['after']} | {x['vm_rss_kb'] / 1024:.1f} | {x['vm_hwm_kb'] / 1024:.1f} | {x['load_avg']} |")
L += ["", "Raw numbers: `serve.json`. Numbers from a busy machine are only comparable within one run "
      "(DESIGN.md: ±30% run to run); check the load average above before comparing runs.", ""]
with open(f"{out_dir}/serve.md", "w") as f:
    f.write("\n".join(L))
PY
log "wrote $RESULTS_DIR/serve.md and $RESULTS_DIR/serve.json"
sed -n '/^## Closed loop/,/^Every run/p;/^## Open loop/,/^Client-side/p' "$RESULTS_DIR/serve.md" | grep '^|' >&2 || true
