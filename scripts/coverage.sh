#!/usr/bin/env bash
# Line coverage of src/: builds an instrumented copy in build-coverage/, runs the whole suite
# there, prints gcovr's summary and writes build-coverage/coverage.html. Fails below 85%.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
cmake -S . -B build-coverage -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHOTSWAP_COVERAGE=ON >/dev/null
cmake --build build-coverage
find build-coverage -name '*.gcda' -delete
ctest --test-dir build-coverage --output-on-failure -j"$(nproc)" --timeout 900
gcovr --root . --filter 'src/' --exclude '.*_test\.cpp' --exclude 'src/.*/.*_test_util\.h' \
      --exclude 'src/registry/registry_suite\.h' --gcov-ignore-parse-errors \
      --html-details build-coverage/coverage.html --print-summary --fail-under-line 85 build-coverage
