#!/usr/bin/env bash
# Runs every test: installs what is missing, builds (incrementally), checks the thread-safety
# annotations with clang, then runs the whole suite with ctest. Exit code 0 only when all pass.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
# Every optional backend is required here (install-deps installs them all): CI builds and tests
# all of them, and a missing one fails the configure instead of being skipped quietly.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOTSWAP_WITH_XGBOOST=ON \
  -DHOTSWAP_WITH_TORCHSCRIPT=ON -DHOTSWAP_WITH_TENSORFLOW=ON >/dev/null
cmake --build build
bash scripts/check-thread-safety.sh build
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 600
