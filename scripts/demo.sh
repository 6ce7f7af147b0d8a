#!/usr/bin/env bash
# The main job on an embedded default: build joule and run `joule demo` — two synthesized
# models, the HumanEval prompts, a short campaign over every serving configuration this
# machine has, the statistical analysis and the HTML report. Extra arguments go to
# `joule demo` (e.g. --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target joule
exec ./build/joule demo "$@"
