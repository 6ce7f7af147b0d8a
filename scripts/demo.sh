#!/usr/bin/env bash
# The main job on an embedded default: build joule with every engine and provider this machine
# can have and run `joule demo` — two synthesized models, the HumanEval prompts, a short
# campaign over every serving configuration (native and ggml engines, CPU and, with an NVIDIA
# GPU and nvcc, CUDA), the statistical analysis and the HTML report. Extra arguments go to
# `joule demo` (e.g. --quick).
#   - llama.cpp (the ggml engine) comes from scripts/fetch-llama.sh (prebuilt libraries, seconds);
#     if that fails the demo goes on without the ggml engine and says so.
#   - CUDA is built only when nvcc is on the PATH and `nvidia-smi -L` lists a GPU (a CUDA build
#     takes long; without a GPU it would only report the provider unavailable).
set -euo pipefail
cd "$(dirname "$0")/.."
ggml=OFF
if scripts/fetch-llama.sh >/dev/null; then
  ggml=ON
else
  echo "demo: scripts/fetch-llama.sh failed: going on without the ggml engine (llama.cpp)" >&2
fi
cuda=OFF
if command -v nvcc >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  cuda=ON
fi
echo "demo: building joule (ggml engine $ggml, CUDA provider $cuda)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJOULE_GGML=$ggml -DJOULE_CUDA=$cuda >/dev/null
cmake --build build -j"$(nproc)" --target joule
exec ./build/joule demo "$@"
