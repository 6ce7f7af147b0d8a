#!/usr/bin/env bash
# The main job on an embedded default: build joule, then run it on a bundled model.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target joule
./build/joule generate --model tests/fixtures/models/llama --prompt "def fibonacci(n):" \
  --max-new-tokens 16 --json
