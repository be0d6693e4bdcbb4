#!/usr/bin/env bash
# Runs the product: installs what is missing, builds if needed, starts `hotswap serve` on the
# embedded defaults (SQLite registry and local artifact files in ./hotswap-data, HTTP on
# 127.0.0.1:8080), registers and deploys the demo iris classifier on first start, and prints a
# working curl line. Ctrl-C stops the server gracefully.
#
# Environment: HOTSWAP_DATA_DIR (default ./hotswap-data), HOTSWAP_HTTP (default 127.0.0.1:8080).
# Extra arguments go to `hotswap serve` (see `build/bin/hotswap serve --help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target hotswap hotswap_models

data_dir="${HOTSWAP_DATA_DIR:-./hotswap-data}"
address="${HOTSWAP_HTTP:-127.0.0.1:8080}"
hotswap=build/bin/hotswap

"$hotswap" serve --data-dir "$data_dir" --http "$address" "$@" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' INT TERM EXIT

export HOTSWAP_URL="http://$address"
for _ in $(seq 1 300); do
  curl -fs "$HOTSWAP_URL/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "run.sh: the server exited; see the log above" >&2; exit 1; }
  sleep 0.1
done
export HOTSWAP_TOKEN="$(cat "$data_dir/admin.token")"

if ! "$hotswap" model show iris >/dev/null 2>&1; then
  echo "run.sh: registering the demo model (iris classifier, built by models/make_demo_model.py)"
  "$hotswap" model register iris --description "Iris flower classifier (demo)" --tag demo=true
  "$hotswap" version upload iris build/models/demo/iris.onnx \
    --metadata build/models/demo/iris.metadata.json
fi
if ! "$hotswap" --json endpoint list | grep -q '"endpoint": "iris"'; then
  "$hotswap" deploy iris
fi

cat <<MSG

HotSwap is serving the demo model on $HOTSWAP_URL. Try:

  curl -s -H "Authorization: Bearer \$(cat $data_dir/admin.token)" \\
       -d '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}' \\
       $HOTSWAP_URL/v2/models/iris/infer

  export HOTSWAP_URL=$HOTSWAP_URL HOTSWAP_TOKEN=\$(cat $data_dir/admin.token)
  $hotswap endpoint list        # what is serving
  $hotswap --help               # everything else

Ctrl-C stops the server.
MSG
wait "$server"
