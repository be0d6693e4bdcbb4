#!/usr/bin/env bash
# Backends benchmark: the same small model on every engine — an MLP 32 -> 64 -> 64 -> 8 for
# ONNX Runtime, TorchScript and TensorFlow, a 100-tree XGBoost ensemble (depth 6, 16 features) —
# measured two ways in one run:
#   1. in-process Runs/s, one calling thread, one intra-op thread (build/bench/runtime_backends_bench)
#   2. served req/s through KServe V2 JSON: one hotswap server with all four deployed, wrk -t2
#      -c64 POSTing a one-row request to each in turn (alternated, BENCH_REPS times, medians)
#
#   bench/backends_bench.sh
#
# Writes bench/results/backends.md (overwritten). Everything it starts listens on / talks to
# 127.0.0.1 only and is stopped on exit.
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [10]   length of each wrk run
#   BENCH_REPS [3]       wrk repetitions per backend (alternated)
#   BENCH_RUNS [50000]   in-process Runs per backend
#   BENCH_CONNECTIONS [64]
#   BENCH_BUILD_DIR [build]
#   BENCH_SKIP_SETUP [0] 1: skip scripts/install-deps.sh and the builds
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
SECS="${BENCH_SECONDS:-10}"
REPS="${BENCH_REPS:-3}"
RUNS="${BENCH_RUNS:-50000}"
CONNS="${BENCH_CONNECTIONS:-64}"
BUILD="${BENCH_BUILD_DIR:-$here/build}"
OUT="$here/bench/results/backends.md"

log() { echo "backends_bench: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ "${BENCH_SKIP_SETUP:-0}" != 1 ]; then
  "$here/scripts/install-deps.sh"
  cmake --build "$BUILD" --target hotswap runtime_backends_bench hotswap_models \
    hotswap_xgboost_models hotswap_torchscript_models hotswap_tensorflow_models
fi
HOTSWAP="$BUILD/bin/hotswap"
MODELS="$BUILD/models"
for f in "$HOTSWAP" "$BUILD/bench/runtime_backends_bench" "$MODELS/torchscript/bench_mlp.pt" \
  "$MODELS/torchscript/bench_mlp.onnx" "$MODELS/tensorflow/bench_mlp.tar" "$MODELS/xgboost/xgb_bench.json"; do
  [ -e "$f" ] || die "missing $f"
done
command -v wrk >/dev/null || die "missing wrk (scripts/install-deps.sh)"

tmp="$(mktemp -d -t hotswap-backends-bench.XXXXXX)"
HS_PID=""
cleanup() {
  local rc=$?
  set +e
  if [ -n "$HS_PID" ]; then
    kill -TERM "$HS_PID" 2>/dev/null
    wait "$HS_PID" 2>/dev/null
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# --- 1. in-process -------------------------------------------------------------------------------
log "in-process: $RUNS Runs per backend"
"$BUILD/bench/runtime_backends_bench" --runs "$RUNS" >"$tmp/inprocess.md"
load_after_inprocess="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- 2. served -----------------------------------------------------------------------------------
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$HOTSWAP" serve --data-dir "$tmp/data" --http "127.0.0.1:$port" --log-level warn >"$tmp/serve.log" 2>&1 &
HS_PID=$!
HS="http://127.0.0.1:$port"
for _ in $(seq 200); do curl -fsS -o /dev/null "$HS/readyz" 2>/dev/null && break; sleep 0.1; done
TOKEN="$(cat "$tmp/data/admin.token")"
auth=(-H "Authorization: Bearer $TOKEN")
schema='{"inputs":[{"name":"input","datatype":"FP32","shape":[-1,32]}],"outputs":[{"name":"output","datatype":"FP32","shape":[-1,8]}]}'
register() {  # endpoint framework file [schema]
  local meta="{\"framework\":\"$2\"${4:+,\"schema\":$4}}"
  curl -fsS "${auth[@]}" -d "{\"name\":\"$1\"}" "$HS/api/v1/models" >/dev/null
  curl -fsS "${auth[@]}" -F "metadata=$meta" -F "artifact=@$3" "$HS/api/v1/models/$1/versions" >/dev/null
  local id
  id="$(curl -fsS "${auth[@]}" -d "{\"model\":\"$1\",\"version\":1}" "$HS/api/v1/deployments" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
  for _ in $(seq 600); do
    state="$(curl -fsS "${auth[@]}" "$HS/api/v1/deployments/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')"
    [ "$state" != pending ] && break
    sleep 0.1
  done
  [ "$state" = succeeded ] || die "deploying $1: $state ($(cat "$tmp/serve.log" | tail -3))"
}
register mlp-onnx onnx "$MODELS/torchscript/bench_mlp.onnx"
register mlp-torchscript torchscript "$MODELS/torchscript/bench_mlp.pt" "$schema"
register mlp-tensorflow tensorflow "$MODELS/tensorflow/bench_mlp.tar"
register trees-xgboost xgboost "$MODELS/xgboost/xgb_bench.json"
rss_kib="$(awk '/VmRSS/ {print $2}' /proc/$HS_PID/status)"

row() {  # n features -> one row of n values
  python3 -c "import sys; print(','.join(f'{0.1 * ((i * 7) % 11 - 5):.1f}' for i in range(int(sys.argv[1]))))" "$1"
}
body_mlp="{\"inputs\":[{\"name\":\"input\",\"shape\":[1,32],\"datatype\":\"FP32\",\"data\":[$(row 32)]}]}"
body_xgb="{\"inputs\":[{\"name\":\"input\",\"shape\":[1,16],\"datatype\":\"FP32\",\"data\":[$(row 16)]}]}"
DONE_LUA='
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKJSON {\"rps\":%.1f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"errors\":%d}\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end'
for target in mlp-onnx mlp-torchscript mlp-tensorflow trees-xgboost; do
  body="$body_mlp"
  [ "$target" = trees-xgboost ] && body="$body_xgb"
  curl -fsS "${auth[@]}" -d "$body" "$HS/v2/models/$target/infer" >"$tmp/$target.answer" ||
    die "$target does not answer"
  {
    echo 'wrk.method = "POST"'
    echo "wrk.body = '$body'"
    echo 'wrk.headers["Content-Type"] = "application/json"'
    echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
    printf '%s\n' "$DONE_LUA"
  } >"$tmp/$target.lua"
done
for rep in $(seq "$REPS"); do
  for target in mlp-onnx mlp-torchscript mlp-tensorflow trees-xgboost; do
    wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$tmp/$target.lua" "$HS/v2/models/$target/infer" \
      >"$tmp/$target.$rep.txt" 2>&1
    grep '^WRKJSON ' "$tmp/$target.$rep.txt" | sed 's/^WRKJSON //' >"$tmp/$target.$rep.json"
    log "wrk $target #$rep: $(cat "$tmp/$target.$rep.json")"
  done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- report --------------------------------------------------------------------------------------
python3 - "$tmp" "$OUT" <<PY
import json, statistics, subprocess, sys, platform, os
tmp, out = sys.argv[1], sys.argv[2]
targets = ["mlp-onnx", "mlp-torchscript", "mlp-tensorflow", "trees-xgboost"]
reps = int("$REPS")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
L = ["# Backends: the same small model on every engine", "",
     "Generated by \`bench/backends_bench.sh\` (overwrites this file).", "",
     f"- date: $started (UTC); code: {commit}",
     f"- machine: {os.cpu_count()} CPUs, {cpu}, Linux {platform.release()}",
     f"- load average at start: **$load_start**; after the in-process part: $load_after_inprocess; at end: $load_end",
     "- models: MLP 32 -> 64 -> 64 -> 8 FP32 (ONNX and TorchScript exported from one torch module, "
     "TensorFlow the same architecture as a SavedModel), XGBoost binary:logistic with 100 trees of depth 6 on 16 features; "
     "one row per request / Run", "",
     "## In-process: one calling thread, intra_op_threads = 1", "",
     "\`build/bench/runtime_backends_bench --runs $RUNS\`", ""]
L += open(f"{tmp}/inprocess.md").read().strip().splitlines()
L += ["", f"## Served: KServe V2 JSON, wrk -t2 -c$CONNS -d${SECS}s, median of {reps} alternated runs", "",
      "\`hotswap serve --log-level warn\`, the four versions deployed side by side (TorchScript registered with its schema), "
      "then per backend: \`wrk -t2 -c$CONNS -d${SECS}s --latency -s infer.lua \$HS/v2/models/<endpoint>/infer\` "
      "(POST one row, Authorization header). wrk and the server share the 2 cores.", "",
      "| endpoint | req/s | p50 ms | p99 ms | errors | runs (req/s) |", "| --- | ---: | ---: | ---: | ---: | --- |"]
for t in targets:
    runs = [json.load(open(f"{tmp}/{t}.{r}.json")) for r in range(1, reps + 1)]
    med = lambda k: statistics.median(x[k] for x in runs)
    each = ", ".join(format(x["rps"], ",.0f") for x in runs)
    L.append(f"| {t} | {med('rps'):,.0f} | {med('p50_us') / 1000:.2f} | {med('p99_us') / 1000:.2f} | "
             f"{sum(x['errors'] for x in runs)} | {each} |")
L += ["", f"Server RSS with all four loaded: {int('$rss_kib') / 1024:.0f} MiB.", ""]
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
PY
log "wrote $OUT"
