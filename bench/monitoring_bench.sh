#!/usr/bin/env bash
# Cost of monitoring: the same KServe V2 infer load (wrk, iris demo model, no request id so every
# answer is remembered for feedback under its x-request-id) against two servers started side by
# side, one with monitoring on (the default) and one with "monitoring": false, alternating runs;
# then a long run on the monitored server sampling its RSS and the prediction store's size, to
# show memory stays bounded once the store is full.
#
#   bench/monitoring_bench.sh
#
# Writes bench/results/monitoring.md (overwritten). Needs build/bin/hotswap and the demo model
# (cmake --build build --target hotswap hotswap_models) and wrk (scripts/install-deps.sh).
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [15]       length of every throughput run
#   BENCH_REPS [3]           runs per server, alternated
#   BENCH_CONNECTIONS [64]   wrk connections (2 wrk threads)
#   BENCH_LONG_SECONDS [120] the long run (memory)
#   BENCH_CAPACITY [200000]  prediction_store_capacity of the monitored server
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
SECS="${BENCH_SECONDS:-15}"
REPS="${BENCH_REPS:-3}"
CONNS="${BENCH_CONNECTIONS:-64}"
LONG="${BENCH_LONG_SECONDS:-120}"
CAPACITY="${BENCH_CAPACITY:-200000}"
HOTSWAP="$here/build/bin/hotswap"
MODEL="$here/build/models/demo/iris.onnx"
log() { echo "monitoring_bench: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for f in "$HOTSWAP" "$MODEL"; do [ -e "$f" ] || die "missing $f (cmake --build build --target hotswap hotswap_models)"; done
for c in wrk curl python3; do command -v "$c" >/dev/null || die "missing $c"; done

tmp="$(mktemp -d -t hotswap-monitoring-bench.XXXXXX)"
pids=()
cleanup() {
  local rc=$?
  set +e
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() {  # name monitoring(true|false) -> sets URL_<name>, PID_<name>, TOKEN_<name>
  local name="$1" port
  port="$(free_port)"
  mkdir -p "$tmp/$name"
  printf '{"monitoring": %s, "prediction_store_capacity": %s}\n' "$2" "$CAPACITY" >"$tmp/$name/config.json"
  "$HOTSWAP" serve --config "$tmp/$name/config.json" --data-dir "$tmp/$name/data" \
    --http "127.0.0.1:$port" --log-level warn >"$tmp/$name/log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do [ -s "$tmp/$name/data/admin.token" ] && break; sleep 0.1; done
  local token url="http://127.0.0.1:$port"
  token="$(cat "$tmp/$name/data/admin.token")"
  local auth="Authorization: Bearer $token"
  curl -fsS -H "$auth" -H 'Content-Type: application/json' -d '{"name":"iris"}' "$url/api/v1/models" >/dev/null
  curl -fsS -H "$auth" -F 'metadata={"framework":"onnx"};type=application/json' -F "artifact=@$MODEL" \
    "$url/api/v1/models/iris/versions" >/dev/null
  curl -fsS -H "$auth" -H 'Content-Type: application/json' -d '{"model":"iris","version":1}' \
    "$url/api/v1/deployments" >/dev/null
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "$url/v2/models/iris/ready" 2>/dev/null && break
    sleep 0.1
  done
  eval "URL_$name=$url PID_$name=$pid TOKEN_$name=$token"
}

log "starting two servers (monitoring on / off)"
start on true
start off false
cat >"$tmp/infer.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN_on"
EOF
# Same token header name for both; each server checks its own token, so write one script each.
sed "s/$TOKEN_on/$TOKEN_off/" "$tmp/infer.lua" >"$tmp/infer_off.lua"

before_load="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$tmp/runs.txt"
: >"$results"
for rep in $(seq "$REPS"); do
  for target in on off; do
    url_var="URL_$target"
    script="$tmp/infer.lua"
    [ "$target" = off ] && script="$tmp/infer_off.lua"
    out="$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$script" "${!url_var}/v2/models/iris/infer")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
    p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
    non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
    echo "$target $rep $rps $p50 $p99 ${non2xx:-0}" >>"$results"
    log "run $rep monitoring=$target: $rps req/s, p50 $p50, p99 $p99, non-2xx ${non2xx:-0}"
  done
done

log "long run: ${LONG}s on the monitored server, sampling RSS and the prediction store"
samples="$tmp/samples.txt"
: >"$samples"
wrk -t2 -c"$CONNS" -d"${LONG}s" -s "$tmp/infer.lua" "$URL_on/v2/models/iris/infer" >"$tmp/long.txt" 2>&1 &
wrk_pid=$!
start_s=$(date +%s)
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep 10
  t=$(( $(date +%s) - start_s ))
  rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$PID_on/status")"
  stored="$(curl -fsS "$URL_on/metrics" | awk '/^hotswap_predictions_stored / {print $2}')"
  evicted="$(curl -fsS "$URL_on/metrics" | awk '/^hotswap_predictions_evicted_unlabelled_total / {print $2}')"
  echo "$t $rss $stored $evicted" >>"$samples"
  log "t=${t}s RSS ${rss} kB, stored ${stored}, evicted ${evicted}"
done
wait "$wrk_pid" || true
long_rps="$(awk '/Requests\/sec/ {print $2}' "$tmp/long.txt")"
long_total="$(awk '/requests in/ {print $1}' "$tmp/long.txt")"

python3 - "$results" "$samples" "$here/bench/results/monitoring.md" "$SECS" "$REPS" "$CONNS" \
  "$LONG" "$CAPACITY" "$before_load" "${long_rps:-0}" "${long_total:-0}" <<'PY'
import sys, statistics, platform, os, subprocess
res, samples, out, secs, reps, conns, long_s, cap, load, long_rps, long_total = sys.argv[1:]
runs = {"on": [], "off": []}
def ms(v):
    v = v.strip()
    if v.endswith("us"): return float(v[:-2]) / 1000
    if v.endswith("ms"): return float(v[:-2])
    if v.endswith("s"): return float(v[:-1]) * 1000
    return float(v)
for line in open(res):
    t, rep, rps, p50, p99, non2xx = line.split()
    runs[t].append((float(rps), ms(p50), ms(p99), int(non2xx)))
med = {t: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v),
           statistics.median(r[2] for r in v)) for t, v in runs.items()}
loss = 1 - med["on"][0] / med["off"][0]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rows = [l.split() for l in open(samples)]
with open(out, "w") as f:
    f.write("# Monitoring cost and memory bound\n\n")
    f.write(f"Produced by `bench/monitoring_bench.sh` (BENCH_SECONDS={secs}, BENCH_REPS={reps}, "
            f"BENCH_CONNECTIONS={conns}, BENCH_LONG_SECONDS={long_s}, BENCH_CAPACITY={cap}) on "
            f"{os.cpu_count()} cores ({cpu}), {platform.platform()}; load average before: {load}. "
            "Two servers side by side, the iris demo model, wrk -t2, the request carries no `id`, so the "
            "monitored server remembers every answer under its x-request-id for feedback joins; runs "
            "alternate between the servers.\n\n")
    f.write("## Throughput, monitoring on vs off (same run)\n\n| run | monitoring | req/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|---|\n")
    for t in ("on", "off"):
        for i, r in enumerate(runs[t], 1):
            f.write(f"| {i} | {t} | {r[0]:.0f} | {r[1]:.3f} | {r[2]:.3f} | {r[3]} |\n")
    f.write(f"\n**Median: on {med['on'][0]:.0f} req/s (p50 {med['on'][1]:.3f} ms, p99 {med['on'][2]:.3f} ms), "
            f"off {med['off'][0]:.0f} req/s (p50 {med['off'][1]:.3f} ms, p99 {med['off'][2]:.3f} ms): "
            f"throughput loss {loss*100:.1f}%** (target ≤ 10%).\n\n")
    f.write(f"## Memory over a long run\n\n{long_s} s of the same load on the monitored server "
            f"({long_total} requests, {float(long_rps):.0f} req/s), prediction store capacity {cap}:\n\n"
            "| t (s) | RSS (MiB) | predictions stored | evicted unlabelled |\n|---|---|---|---|\n")
    for t, rss, stored, ev in rows:
        f.write(f"| {t} | {int(rss)/1024:.1f} | {float(stored):.0f} | {float(ev):.0f} |\n")
    if len(rows) >= 3:
        f.write(f"\nRSS from the third sample to the last: {int(rows[2][1])/1024:.1f} → {int(rows[-1][1])/1024:.1f} MiB "
                "while the evictions keep growing: memory is bounded by the store's capacity, not by traffic.\n")
print(open(out).read())
PY
