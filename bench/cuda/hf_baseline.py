#!/usr/bin/env python3
"""Hugging Face transformers + PyTorch eager baseline for bench_decode.

Loads a checkpoint directory with AutoModelForCausalLM.from_pretrained(dir, dtype=...)
(torch_dtype on transformers older than 4.56), moves it to cuda:0 and runs greedy
generate() at batch 1 on the same prompt as bench_decode (ids 1, 2, ... mod vocab),
with exactly --new-tokens new tokens (min_new_tokens = max_new_tokens, so EOS does
not stop it). A run repeats generate until --min-seconds have passed; per run:

  e2e ms/token    = wall time of the generate calls / new tokens
  decode ms/token = (median generate(N) - median generate(1)) / (N - 1), per run
  J/token         = NVML total-energy delta (device 0, pynvml) over the run / new tokens

and the medians over --runs runs are reported as JSON (stdout and --json FILE).
No torch.compile, default attention implementation, default TF32 settings: the
study's plain TORCH/CUDA configuration.
"""
import argparse
import json
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    dt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    ver = tuple(int(x) for x in transformers.__version__.split(".")[:2] if x.isdigit())
    kw = {"dtype": dt} if ver >= (4, 56) else {"torch_dtype": dt}
    t_load = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(a.model, **kw)
    model.to("cuda:0")
    model.eval()
    t_load = time.perf_counter() - t_load
    cfg = model.config
    vocab = cfg.vocab_size
    ids = torch.tensor([[1 + i % (vocab - 1) for i in range(a.prompt_len)]], device="cuda:0")
    mask = torch.ones_like(ids)
    eos = cfg.eos_token_id if cfg.eos_token_id is not None else 0
    if isinstance(eos, (list, tuple)):
        eos = eos[0]

    def generate(n):
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n,
                                 min_new_tokens=n, do_sample=False, num_beams=1,
                                 pad_token_id=eos, use_cache=True)
        torch.cuda.synchronize()
        if out.shape[1] != a.prompt_len + n:
            raise SystemExit("hf_baseline: generate made %d tokens, not %d" % (out.shape[1] - a.prompt_len, n))

    nvml = None
    try:
        import pynvml
        pynvml.nvmlInit()
        nvml = (pynvml, pynvml.nvmlDeviceGetHandleByIndex(0))
    except Exception as e:  # no NVML: energy is null
        print("hf_baseline: NVML unavailable: %s" % e, file=sys.stderr)

    def energy_mj():
        if nvml is None:
            return None
        return float(nvml[0].nvmlDeviceGetTotalEnergyConsumption(nvml[1]))

    for _ in range(a.warmup):
        generate(a.new_tokens)
    t1 = []
    for _ in range(5):
        t = time.perf_counter()
        generate(1)
        t1.append(time.perf_counter() - t)
    t_one = statistics.median(t1)

    e2e, dec, jpt, gens = [], [], [], 0
    for r in range(a.runs):
        times = []
        e0 = energy_mj()
        t0 = time.perf_counter()
        while True:
            t = time.perf_counter()
            generate(a.new_tokens)
            times.append(time.perf_counter() - t)
            if time.perf_counter() - t0 >= a.min_seconds:
                break
        e1 = energy_mj()
        toks = len(times) * a.new_tokens
        gens += len(times)
        e2e.append(sum(times) * 1e3 / toks)
        dec.append((statistics.median(times) - t_one) * 1e3 / (a.new_tokens - 1))
        jpt.append((e1 - e0) * 1e-3 / toks if e0 is not None and e1 is not None else None)
        print("run %d: %d generations, %.4f ms/token e2e, %.4f ms/token decode, %s J/token"
              % (r, len(times), e2e[-1], dec[-1], "%.4f" % jpt[-1] if jpt[-1] is not None else "-"),
              file=sys.stderr)

    res = {
        "system": "hf-transformers",
        "provider": "cuda",
        "model": a.model.rstrip("/").split("/")[-1],
        "arch": cfg.model_type,
        "dtype": a.dtype,
        "prompt_tokens": a.prompt_len,
        "new_tokens": a.new_tokens,
        "runs": a.runs,
        "generations": gens,
        "e2e_ms_per_token": statistics.median(e2e),
        "decode_ms_per_token": statistics.median(dec),
        "gpu_j_per_token": statistics.median(jpt) if all(j is not None for j in jpt) else None,
        "e2e_ms_per_token_runs": e2e,
        "gpu_j_per_token_runs": jpt,
        "load_s": t_load,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "attn_implementation": getattr(cfg, "_attn_implementation", None),
        "device": torch.cuda.get_device_name(0),
    }
    txt = json.dumps(res, indent=1)
    print(txt)
    if a.json:
        with open(a.json, "w") as f:
            f.write(txt + "\n")
    if nvml is not None:
        nvml[0].nvmlShutdown()


if __name__ == "__main__":
    main()
