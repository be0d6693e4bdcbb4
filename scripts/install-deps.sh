#!/usr/bin/env bash
# The one idempotent install script: everything the build, the product and the tests need on a
# fresh Debian bookworm machine of this project's kind. Safe to run again; does nothing when all
# is present. Both README commands call it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

APT_PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config clang-14 gcovr
  # C++ libraries (Debian bookworm -dev packages)
  libabsl-dev nlohmann-json3-dev libsimdjson-dev libsqlite3-dev libssl-dev libfmt-dev
  libcli11-dev libgtest-dev libgmock-dev libmicrohttpd-dev libcurl4-openssl-dev
  # tools the tests and scripts use
  sqlite3 curl python3-venv
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "install-deps: all dependencies present" >&2
