#!/usr/bin/env bash
# Runs the product: installs what is missing, builds if needed, then `hotswap serve` on the
# embedded defaults (SQLite registry and local artifact files in ./hotswap-data,
# http://127.0.0.1:8080). Extra arguments go to `hotswap serve` (see `build/bin/hotswap serve --help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target hotswap
exec build/bin/hotswap serve "$@"
