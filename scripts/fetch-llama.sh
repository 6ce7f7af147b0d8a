#!/usr/bin/env bash
# Get llama.cpp for joule's ggml engine (-DJOULE_GGML=ON) from the npm registry only,
# pinned to node-llama-cpp 3.22.1, into third_party/llama.cpp (git-ignored):
#   src/       the llama.cpp source (git clone of the package's llama/gitRelease.bundle)
#   prebuilt/  @node-llama-cpp/linux-x64's CPU libraries of the same release (libllama,
#              libggml, libggml-base and the per-CPU libggml-cpu-*.so variants)
#   build/     (--source only) static libraries built here with CMake
#   MODE       "prebuilt" or "source": what -DJOULE_GGML=ON links
#
# Usage: scripts/fetch-llama.sh [--prebuilt | --source]
#   --prebuilt (default)  link the prebuilt CPU libraries: seconds, no compiler work
#   --source              build static libs (CPU; GGML_CUDA=ON when JOULE_CUDA=ON and nvcc exists)
# Both tarballs (npm pack, or curl from the registry when npm is absent) are checked against
# pinned SHA-256 sums. Re-running is cheap (cached download).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=3.22.1
SHA_SRC=a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f  # node-llama-cpp
SHA_BIN=0d953e1503d5ab4608d8ed5b739132308c81ac05ffeb760d2a7f30e08a9f90e0  # @node-llama-cpp/linux-x64
DEST=third_party/llama.cpp
JOBS=${JOBS:-2}
mode=prebuilt
case "${1:-}" in
  ""|--prebuilt) mode=prebuilt ;;
  --source) mode=source ;;
  -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
  *) echo "fetch-llama: unknown option $1" >&2; exit 2 ;;
esac

mkdir -p "$DEST/download"
src_tgz="$DEST/download/node-llama-cpp-$VERSION.tgz"
bin_tgz="$DEST/download/node-llama-cpp-linux-x64-$VERSION.tgz"
if [ ! -f "$src_tgz" ] || [ ! -f "$bin_tgz" ]; then
  if command -v npm >/dev/null; then
    (cd "$DEST/download" && npm pack --silent "node-llama-cpp@$VERSION" "@node-llama-cpp/linux-x64@$VERSION" >/dev/null)
  else
    # the same tarballs straight from the registry (no Node.js needed); checked below
    REG=${NPM_REGISTRY:-https://registry.npmjs.org}
    curl -fsSL -o "$src_tgz" "$REG/node-llama-cpp/-/node-llama-cpp-$VERSION.tgz"
    curl -fsSL -o "$bin_tgz" "$REG/@node-llama-cpp/linux-x64/-/linux-x64-$VERSION.tgz"
  fi
fi
check() {
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "fetch-llama: checksum mismatch for $1: $got (want $2)" >&2
    rm -f "$1"
    exit 1
  fi
}
check "$src_tgz" "$SHA_SRC"
check "$bin_tgz" "$SHA_BIN"

if [ ! -f "$DEST/src/include/llama.h" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tar xzf "$src_tgz" -C "$tmp" package/llama/gitRelease.bundle
  rm -rf "$DEST/src"
  git -c advice.detachedHead=false clone -q "$tmp/package/llama/gitRelease.bundle" "$DEST/src"
fi
if [ ! -f "$DEST/prebuilt/libllama.v0.5.0.so" ]; then
  tmp2=$(mktemp -d)
  tar xzf "$bin_tgz" -C "$tmp2"
  rm -rf "$DEST/prebuilt"
  mkdir -p "$DEST/prebuilt"
  cp "$tmp2"/package/bins/linux-x64/*.so "$DEST/prebuilt/"
  rm -rf "$tmp2"
fi

if [ "$mode" = source ]; then
  cuda=OFF
  if [ "${JOULE_CUDA:-OFF}" = ON ] && { command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; }; then
    cuda=ON
    export PATH=$PATH:/usr/local/cuda/bin
  fi
  start=$(date +%s)
  cmake -S "$DEST/src" -B "$DEST/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_COMMON=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=ON -DGGML_OPENMP=OFF -DGGML_CUDA=$cuda \
    -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-native}" >/dev/null
  cmake --build "$DEST/build" -j"$JOBS" --target llama
  echo "fetch-llama: built llama.cpp (CUDA $cuda) in $(( $(date +%s) - start )) s"
fi
echo "$mode" > "$DEST/MODE"
echo "fetch-llama: $mode ready in $DEST; configure joule with -DJOULE_GGML=ON"
