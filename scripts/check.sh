#!/usr/bin/env bash
# The whole test suite, each build with warnings as errors and run by ctest:
#   build       release
#   build-asan  AddressSanitizer + UndefinedBehaviorSanitizer (leak detection on)
#   build-clang compiled with clang (no tests: the same code as build)
#   build-ggml  with the llama.cpp engine (prebuilt libraries of node-llama-cpp 3.22.1 from
#               the npm registry, SHA-256 checked, via scripts/fetch-llama.sh)
#   build-cuda  with the CUDA provider, wherever nvcc exists (GPU tests skip without a GPU),
#               and bench/cuda's fallback build of the GPU check
# plus a formatting check.
# Usage: scripts/check.sh [--fast]   (--fast: the release build only)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
fast=0
[ "${1:-}" = "--fast" ] && fast=1

run_suite() {
  local dir=$1; shift
  echo "== configure $dir ($*)"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  echo "== build $dir"
  cmake --build "$dir" -j"$JOBS"
  echo "== test $dir"
  (cd "$dir" && ctest --output-on-failure -j"$JOBS")
}

scripts/format.sh --check
run_suite build
if [ $fast -eq 0 ]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_suite build-asan -DJOULE_SANITIZE=ON
  scripts/fetch-llama.sh
  run_suite build-ggml -DJOULE_GGML=ON
  if command -v clang >/dev/null 2>&1; then
    # the code builds warning-free with clang as well as gcc (DESIGN.md); compile only
    echo "== build build-clang (clang, warnings as errors)"
    CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build-clang -j"$JOBS"
  fi
  if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
    # The CUDA provider must compile wherever nvcc exists; its GPU tests skip without a GPU.
    export PATH=$PATH:/usr/local/cuda/bin
    if ls src/engine/native/cuda/*.cu >/dev/null 2>&1; then
      run_suite build-cuda -DJOULE_CUDA=ON
      # The GPU check's fallback build (bench/cuda/CMakeLists.txt: what the GPU machine
      # builds without the -dev packages) must keep building; its tests need the GPU.
      echo "== build build-device-mini (bench/cuda fallback build)"
      bench/cuda/prepare_devdeps.sh >/dev/null
      cmake -S bench/cuda -B build-device-mini -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
      cmake --build build-device-mini -j"$JOBS"
    fi
  fi
fi
echo "== all suites passed"
