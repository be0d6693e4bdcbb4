#!/usr/bin/env bash
# Runs every test: installs what is missing, builds (incrementally), checks the thread-safety
# annotations with clang, then runs the whole suite with ctest. Exit code 0 only when all pass.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build
bash scripts/check-thread-safety.sh build
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 600
