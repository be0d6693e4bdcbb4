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
  libcli11-dev libgtest-dev libgmock-dev libcurl4-openssl-dev
  # tools the tests and scripts use
  sqlite3 curl python3-venv
  # PostgreSQL registry backend: libpq, and a server for its tests
  libpq-dev postgresql
  # benchmarks
  wrk nginx-light
  # optional inference backends (docs/backends.md): XGBoost's and LibTorch's C/C++ libraries,
  # and Debian's Python packages of the same versions, which write the backends' test models
  # (run with /usr/bin/python3; the project venv is not involved)
  libxgboost-dev python3-xgboost libtorch-dev python3-torch
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


# --- ONNX Runtime (the inference engine) -------------------------------------------------------
# Installed into $here/.deps/onnxruntime/{include,lib} (git-ignored), which CMake finds by
# default (cmake/FindOnnxRuntime.cmake; -DONNXRUNTIME_ROOT=DIR overrides):
#   lib/      the shared library from the npm package onnxruntime-node (it ships
#             bin/napi-v6/linux/<arch>/libonnxruntime.so.1); --ignore-scripts: no postinstall
#             downloads.
#   include/  the C/C++ API headers from Debian trixie's libonnxruntime-dev, fetched with a
#             private apt configuration under .deps/apt-trixie (no system-wide apt source, nothing
#             from trixie installed on the system) and unpacked with dpkg -x. An older API header
#             works with a newer runtime; a probe checks OrtGetApiBase()->GetApi(ORT_API_VERSION).
ORT_NPM_VERSION="1.30.0"
ort_root="$here/.deps/onnxruntime"
ort_stamp="$ort_root/.installed"
ort_want="onnxruntime-node@$ORT_NPM_VERSION"
if [ "$(cat "$ort_stamp" 2>/dev/null || true)" != "$ort_want" ]; then
  echo "install-deps: installing ONNX Runtime ($ort_want + trixie libonnxruntime-dev headers)" >&2
  case "$(uname -m)" in
    x86_64) ort_arch=x64 ;;
    aarch64) ort_arch=arm64 ;;
    *) echo "install-deps: no ONNX Runtime build for $(uname -m)" >&2; exit 1 ;;
  esac
  command -v npm >/dev/null || {
    echo "install-deps: npm not found; installing Debian's npm" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq --no-install-recommends npm >/dev/null
  }
  rm -rf "$ort_root" "$here/.deps/ort-npm" "$here/.deps/apt-trixie"
  mkdir -p "$here/.deps/ort-npm" "$ort_root/lib"

  # 1. runtime library (npm)
  npm install --prefix "$here/.deps/ort-npm" "onnxruntime-node@$ORT_NPM_VERSION" \
    --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  ort_bin="$here/.deps/ort-npm/node_modules/onnxruntime-node/bin/napi-v6"
  [ -f "$ort_bin/linux/$ort_arch/libonnxruntime.so.1" ] || {
    echo "install-deps: onnxruntime-node@$ORT_NPM_VERSION has no linux/$ort_arch/libonnxruntime.so.1" >&2
    exit 1
  }
  # Keep only this platform's library (the package carries every platform's, ~250 MB).
  find "$ort_bin" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
  find "$ort_bin/linux" -mindepth 1 -maxdepth 1 ! -name "$ort_arch" -exec rm -rf {} +
  ln -s "../../ort-npm/node_modules/onnxruntime-node/bin/napi-v6/linux/$ort_arch/libonnxruntime.so.1" \
    "$ort_root/lib/libonnxruntime.so.1"
  ln -s libonnxruntime.so.1 "$ort_root/lib/libonnxruntime.so"

  # 2. headers (Debian trixie, private apt state; the system's apt configuration is untouched)
  apt_dir="$here/.deps/apt-trixie"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/prefs.d" "$apt_dir/deb"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    >"$apt_dir/sources.list"
  apt_opts=(
    -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=-
    -o Dir::Etc::Preferences="$apt_dir/preferences" -o Dir::Etc::PreferencesParts="$apt_dir/prefs.d"
    -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
    -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root
    -o APT::Architecture="$(dpkg --print-architecture)" -o APT::Architectures="$(dpkg --print-architecture)"
    -o Acquire::Languages=none -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
  )
  apt-get -qq "${apt_opts[@]}" update >/dev/null || {
    echo "install-deps: cannot read Debian trixie's package index (needed for libonnxruntime-dev headers)" >&2
    exit 1
  }
  (cd "$apt_dir/deb" && apt-get -qq "${apt_opts[@]}" download libonnxruntime-dev >/dev/null)
  ort_deb="$(ls "$apt_dir"/deb/libonnxruntime-dev_*.deb)"
  dpkg -x "$ort_deb" "$apt_dir/root"
  cp -r "$apt_dir/root/usr/include/onnxruntime" "$ort_root/include"
  ort_headers_version="$(dpkg-deb -f "$ort_deb" Version)"
  rm -rf "$apt_dir"

  # 3. the headers' API version must be served by the runtime
  probe_dir="$(mktemp -d)"
  cat >"$probe_dir/probe.c" <<'EOF'
#include <stdio.h>
#include "onnxruntime_c_api.h"
int main(void) {
  const OrtApiBase* base = OrtGetApiBase();
  const OrtApi* api = base->GetApi(ORT_API_VERSION);
  printf("runtime %s, header API %d: %s\n", base->GetVersionString(), ORT_API_VERSION,
         api ? "ok" : "NOT SUPPORTED");
  return api ? 0 : 1;
}
EOF
  gcc -o "$probe_dir/probe" "$probe_dir/probe.c" -I"$ort_root/include" "$ort_root/lib/libonnxruntime.so.1" \
    -Wl,-rpath,"$ort_root/lib"
  probe_out="$("$probe_dir/probe")" || {
    echo "install-deps: ONNX Runtime headers and library do not fit: $probe_out" >&2
    exit 1
  }
  rm -rf "$probe_dir"
  printf 'runtime: npm onnxruntime-node %s (%s)\nheaders: Debian trixie libonnxruntime-dev %s\nprobe: %s\n' \
    "$ORT_NPM_VERSION" "$ort_arch" "$ort_headers_version" "$probe_out" >"$ort_root/VERSIONS"
  echo "$ort_want" >"$ort_stamp"
  echo "install-deps: ONNX Runtime ready: $probe_out" >&2
fi

# --- Python venv for the model-building scripts and test references -----------------------------
# .venv/ (git-ignored), packages pinned in models/requirements.txt; reinstalled when that file
# changes.
venv="$here/.venv"
py_req="$here/models/requirements.txt"
py_stamp="$venv/.models-requirements.sha256"
py_want="$(sha256sum "$py_req" | cut -d' ' -f1)"
if [ "$(cat "$py_stamp" 2>/dev/null || true)" != "$py_want" ]; then
  echo "install-deps: setting up the Python venv $venv (models/requirements.txt)" >&2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$py_req"
  echo "$py_want" >"$py_stamp"
fi

# --- TensorFlow (the tensorflow backend's engine) -----------------------------------------------
# tensorflow-cpu from PyPI into the project venv (pinned in tests/models/requirements-tensorflow.txt,
# with models/requirements.txt as constraints; about 1 GB unpacked). Its wheel carries TensorFlow's
# C API (TF_LoadSessionFromSavedModel etc. live in tensorflow/libtensorflow_cc.so.2) and its
# headers (tensorflow/include); .deps/tensorflow/{include,lib} link to them, where CMake looks
# (-DTENSORFLOW_ROOT=DIR overrides). A probe compiles against the headers, opens the library the
# way the backend does (dlopen, RTLD_LOCAL | RTLD_DEEPBIND) and calls TF_Version().
tf_req="$here/tests/models/requirements-tensorflow.txt"
tf_stamp="$venv/.tensorflow-requirements.sha256"
tf_want="$(cat "$py_req" "$tf_req" | sha256sum | cut -d' ' -f1)"
tf_root="$here/.deps/tensorflow"
if [ "$(cat "$tf_stamp" 2>/dev/null || true)" != "$tf_want" ] || [ ! -e "$tf_root/lib/libtensorflow_cc.so.2" ]; then
  echo "install-deps: installing tensorflow-cpu into $venv (tests/models/requirements-tensorflow.txt)" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$py_req" -r "$tf_req"
  tf_pkg="$("$venv/bin/python" -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("tensorflow").origin))')"
  [ -f "$tf_pkg/libtensorflow_cc.so.2" ] && [ -f "$tf_pkg/include/tensorflow/c/c_api.h" ] || {
    echo "install-deps: $tf_pkg has no libtensorflow_cc.so.2 or C API headers" >&2
    exit 1
  }
  rm -rf "$tf_root"
  mkdir -p "$tf_root/lib" "$tf_root/include"
  # Only what tensorflow/c/c_api.h includes: the wheel's include/ also holds TensorFlow's own
  # Abseil, which must not shadow Debian's.
  for d in tensorflow tsl xla; do ln -s "$tf_pkg/include/$d" "$tf_root/include/$d"; done
  ln -s "$tf_pkg/libtensorflow_cc.so.2" "$tf_root/lib/libtensorflow_cc.so.2"
  ln -s "$tf_pkg/libtensorflow_framework.so.2" "$tf_root/lib/libtensorflow_framework.so.2"
  probe_dir="$(mktemp -d)"
  cat >"$probe_dir/probe.c" <<'EOF2'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include "tensorflow/c/c_api.h"
int main(int argc, char** argv) {
  void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) { printf("dlopen: %s\n", dlerror()); return 1; }
  const char* (*version)(void) = (const char* (*)(void))dlsym(h, "TF_Version");
  void* load = dlsym(h, "TF_LoadSessionFromSavedModel");
  if (!version || !load) { printf("no C API symbols\n"); return 1; }
  printf("TensorFlow C API %s\n", version());
  return argc > 2;
}
EOF2
  gcc -o "$probe_dir/probe" "$probe_dir/probe.c" -I"$tf_root/include" -ldl
  tf_probe="$("$probe_dir/probe" "$tf_root/lib/libtensorflow_cc.so.2")" || {
    echo "install-deps: TensorFlow's C API is not usable: $tf_probe" >&2
    exit 1
  }
  rm -rf "$probe_dir"
  echo "$tf_probe" >"$tf_root/VERSIONS"
  echo "$tf_want" >"$tf_stamp"
  echo "install-deps: TensorFlow ready: $tf_probe" >&2
fi

# --- MinIO (a real S3 server for the S3 tests) ---------------------------------------------------
# Built from the Go module proxy with the machine's Go toolchain into .deps/bin/minio (about three
# minutes the first time; the Go build cache makes later builds fast). MinIO publishes no semver
# tags, so the pin is the module proxy's pseudo-version of a release commit.
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
minio_bin="$here/.deps/bin/minio"
minio_stamp="$here/.deps/bin/minio.version"
if [ "$(cat "$minio_stamp" 2>/dev/null || true)" != "$MINIO_VERSION" ] || [ ! -x "$minio_bin" ]; then
  go_cmd="$(command -v go || echo /usr/local/go/bin/go)"
  [ -x "$go_cmd" ] || { echo "install-deps: Go is needed to build MinIO (go install)" >&2; exit 1; }
  echo "install-deps: building MinIO $MINIO_VERSION (go install; a few minutes the first time)" >&2
  mkdir -p "$here/.deps/bin"
  GOBIN="$here/.deps/bin" GOFLAGS=-mod=mod "$go_cmd" install "github.com/minio/minio@$MINIO_VERSION"
  echo "$MINIO_VERSION" >"$minio_stamp"
fi

echo "install-deps: all dependencies present" >&2
