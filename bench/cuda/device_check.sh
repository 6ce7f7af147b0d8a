#!/usr/bin/env bash
# One-shot GPU check of the native engine's CUDA provider (issue 10), run from the
# repository root on the GPU machine:
#
#   bench/cuda/device_check.sh            # results in $OUT (default out/device_check)
#
# 1. builds joule with -DJOULE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 (only the targets
#    needed); where the machine lacks the system -dev packages of the full build, the
#    fallback bench/cuda/CMakeLists.txt builds the same code against .devdeps/
#    (made here by bench/cuda/prepare_devdeps.sh and carried along;
#    JOULE_DEVCHECK_FALLBACK=1 forces that path);
# 2. runs the CUDA tests (ctest -R cuda: every fixture vs the CPU provider and the
#    transformers greedy ids);
# 3. synthesizes codeparrot-small (f32) and TinyLlama-1.1B (f16) checkpoints, checks
#    CUDA against CPU logits at full size (1-token prompt: GEMV path; 8 tokens: GEMM);
# 4. benchmarks greedy generation (batch 1, 32 prompt ids, 64 new tokens) with joule
#    --provider cuda (bench_decode) and with Hugging Face transformers + PyTorch eager
#    (bench/cuda/hf_baseline.py) on the same GPU, NVML energy for both.
#
# $OUT receives: device_check.log (everything printed), results.md (tables),
# summary.json (all numbers). Takes about 4-6 minutes on an H100.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/out/device_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
T0=$(date +%s)

main() {
step() { echo; echo "=== [+$(($(date +%s) - T0))s] $*"; }
W=$(mktemp -d /tmp/joule-devcheck.XXXXXX)
J=$W/json
mkdir -p "$J"
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
NPROC=$(nproc)

step "machine"
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm --format=csv || true
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$J/device.txt" 2>/dev/null || true
nvcc --version | tail -2
gcc --version | head -1
cmake --version | head -1
git log --oneline -1 2>/dev/null || true

B=
if [ -z "${JOULE_DEVCHECK_FALLBACK:-}" ] && command -v pkg-config >/dev/null &&
    pkg-config --exists libcjson libmicrohttpd libcurl sqlite3 zlib; then
    step "full build (JOULE_CUDA=ON, sm_90)"
    if cmake -S . -B build-device -DCMAKE_BUILD_TYPE=Release -DJOULE_CUDA=ON \
        -DCMAKE_CUDA_ARCHITECTURES=90 -DJOULE_WERROR=OFF >"$W/cmake.log" 2>&1 &&
        cmake --build build-device -j"$NPROC" --target joule test_cuda bench_decode; then
        B=build-device
        JOULE=$B/joule
    else
        tail -30 "$W/cmake.log"
        echo "full build failed: trying the fallback build"
    fi
fi
if [ -z "$B" ]; then
    step "fallback build (cJSON and zlib from .devdeps; util, model, tokenizer, engine only)"
    if [ ! -f .devdeps/lib/libcjson.so.1 ]; then
        echo "missing .devdeps/: run bench/cuda/prepare_devdeps.sh on the build machine and carry .devdeps"
        exit 1
    fi
    cmake -S bench/cuda -B build-device-mini -DCMAKE_CUDA_ARCHITECTURES=90 >"$W/cmake.log" 2>&1 ||
        { cat "$W/cmake.log"; echo "configure failed"; exit 1; }
    cmake --build build-device-mini -j"$NPROC" || { echo "build failed"; exit 1; }
    B=build-device-mini
    JOULE=$B/joule-mini
fi

step "CUDA tests (ctest -R cuda)"
(cd $B && ctest -R cuda -V --timeout 300) 2>&1 | tee "$J/ctest.log"
echo "ctest exit status: ${PIPESTATUS[0]}"

step "synthesize checkpoints"
"$JOULE" synth --like codeparrot/codeparrot-small --dtype f32 --out "$W/codeparrot-small" --no-tokenizer
"$JOULE" synth --like TinyLlama/TinyLlama-1.1B-Chat-v1.0 --dtype f16 --out "$W/TinyLlama-1.1B" --no-tokenizer

step "full-size logits and greedy ids, CUDA vs CPU"
for m in codeparrot-small TinyLlama-1.1B; do
    for ids in 5 1,2,3,4,5,6,7,8; do
        n=$(echo "$ids" | tr ',' '\n' | wc -l)
        rm -f "$W/cuda.bin" "$W/cpu.bin"
        for p in cuda cpu; do
            "$JOULE" generate --model "$W/$m" --prompt-ids "$ids" --max-new-tokens 8 --greedy \
                --ignore-eos --provider $p --threads "$NPROC" --dump-logits "$W/$p.bin" --json \
                >"$J/gen_${m}_n${n}_$p.json" || echo "generate $m $p failed"
            cat "$J/gen_${m}_n${n}_$p.json"
        done
        python3 bench/cuda/summarize.py compare "$W/cuda.bin" "$W/cpu.bin" "$J/logits_${m}_n${n}.json"
    done
done

step "benchmark: joule native/cuda"
"$B/bench_decode" --model "$W/codeparrot-small" --provider cuda --runs 5 --warmup 1 --min-seconds 2 \
    --json "$J/joule_codeparrot-small.json" >/dev/null
"$B/bench_decode" --model "$W/TinyLlama-1.1B" --provider cuda --runs 5 --warmup 1 --min-seconds 2 \
    --json "$J/joule_TinyLlama-1.1B.json" >/dev/null

step "benchmark: Hugging Face transformers + PyTorch eager"
python3 bench/cuda/hf_baseline.py --model "$W/codeparrot-small" --dtype f32 --runs 5 --warmup 2 \
    --min-seconds 2 --json "$J/hf_codeparrot-small.json" >/dev/null
python3 bench/cuda/hf_baseline.py --model "$W/TinyLlama-1.1B" --dtype f16 --runs 5 --warmup 2 \
    --min-seconds 2 --json "$J/hf_TinyLlama-1.1B.json" >/dev/null

step "summary"
python3 bench/cuda/summarize.py table "$J" "$OUT"
nvidia-smi --query-gpu=name,temperature.gpu,power.draw,clocks.sm --format=csv || true
rm -rf "$W"
step "done"
}

main "$@" 2>&1 | tee -a "$OUT/device_check.log"
exit "${PIPESTATUS[0]}"
