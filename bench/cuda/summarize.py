#!/usr/bin/env python3
"""Helpers for bench/cuda/device_check.sh (standard library only).

  summarize.py compare CUDA.bin CPU.bin OUT.json   max |cuda - cpu| of two --dump-logits files
  summarize.py table JSONDIR OUTDIR                results.md + summary.json from the run's JSON
"""
import array
import glob
import json
import os
import re
import sys


def compare(a_path, b_path, out_path):
    a, b = array.array("f"), array.array("f")
    try:
        with open(a_path, "rb") as f:
            a.frombytes(f.read())
        with open(b_path, "rb") as f:
            b.frombytes(f.read())
    except (OSError, ValueError) as e:
        a = array.array("f")
        print("compare: %s" % e, file=sys.stderr)
    res = {"n": len(b)}
    if len(a) != len(b) or not len(b):
        res.update(ok=False, error="lengths differ: %d vs %d" % (len(a), len(b)))
    else:
        err = max(abs(x - y) if x == x else float("inf") for x, y in zip(a, b))
        scale = max(1.0, max(abs(y) for y in b))
        res.update(max_abs_err=err, scale=scale, rel_err=err / scale, tolerance=1e-3,
                   ok=err / scale <= 1e-3)
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res))
    return 0 if res["ok"] else 1


def fmt(x, p=3):
    return "-" if x is None else ("%.*f" % (p, x))


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def table(jdir, out):
    rows, summary = [], {"models": []}
    dev = None
    for jp in sorted(glob.glob(os.path.join(jdir, "joule_*.json"))):
        name = os.path.basename(jp)[len("joule_"):-len(".json")]
        hp = os.path.join(jdir, "hf_%s.json" % name)
        j = load(jp)
        h = load(hp)
        if not j:
            continue
        dev = dev or (h or {}).get("device")
        ent = {"model": name, "dtype": j.get("dtype"), "joule": j, "hf": h}
        if h:
            ent["speedup_e2e"] = h["e2e_ms_per_token"] / j["e2e_ms_per_token"]
            ent["speedup_decode"] = (h["decode_ms_per_token"] / j["decode_ms_per_token"]
                                     if j["decode_ms_per_token"] > 0 else None)
            if h.get("gpu_j_per_token") and j.get("gpu_j_per_token"):
                ent["energy_ratio"] = h["gpu_j_per_token"] / j["gpu_j_per_token"]
        summary["models"].append(ent)
        for sysname, r in (("joule native/cuda", j), ("HF transformers + PyTorch eager", h)):
            if not r:
                continue
            rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                name, r.get("dtype"), sysname, fmt(r["e2e_ms_per_token"]),
                fmt(r["decode_ms_per_token"]), fmt(r.get("gpu_j_per_token"), 4),
                r.get("generations")))
        if h:
            rows.append("| %s | | **ratio HF / joule** | **%.1f×** | **%s×** | **%s×** | |" % (
                name, ent["speedup_e2e"], fmt(ent.get("speedup_decode"), 1),
                fmt(ent.get("energy_ratio"), 1)))
    checks = []
    summary["logits_checks"] = []
    for cp in sorted(glob.glob(os.path.join(jdir, "logits_*.json"))):
        c = load(cp) or {}
        key = os.path.basename(cp)[7:-5]
        gc = load(os.path.join(jdir, "gen_%s_cuda.json" % key)) or {}
        gp = load(os.path.join(jdir, "gen_%s_cpu.json" % key)) or {}
        c["ids_cuda"], c["ids_cpu"] = gc.get("ids"), gp.get("ids")
        same = c["ids_cuda"] is not None and c["ids_cuda"] == c["ids_cpu"]
        summary["logits_checks"].append(dict(c, check=key, ids_equal=same))
        checks.append("| %s | %s | %s | %s | %s |" % (key, fmt(c.get("max_abs_err"), 6), fmt(c.get("rel_err"), 6),
                                                      "ok" if c.get("ok") else "FAIL", "yes" if same else "no"))
    tests = None
    try:
        with open(os.path.join(jdir, "ctest.log")) as f:
            lines = [l.strip() for l in f if "% tests passed" in l or re.search(r"\d+ passed, \d+ failed", l)]
        tests = lines[-2:] if lines else None
    except OSError:
        pass
    summary["ctest"] = tests
    try:
        with open(os.path.join(jdir, "device.txt")) as f:
            dev = f.read().strip() or dev
    except OSError:
        pass
    summary["device"] = dev
    md = ["# CUDA provider device check", "", "Device: %s" % (dev or "?"), "",
          "Batch 1, prompt 32 ids, 64 greedy new tokens; medians over runs; each run repeats",
          "generation for >= 2 s. e2e = wall time of the generate calls / new tokens (both",
          "systems); J = NVML total energy of GPU 0 over the run / new tokens.", "",
          "| model | dtype | system | e2e ms/token | decode ms/token | GPU J/token | generations |",
          "|---|---|---|---|---|---|---|"] + rows
    if checks:
        md += ["", "Full-size prompt logits, CUDA vs CPU provider (tolerance 1e-3 of max(1, max|logit|));",
               "n1 = 1-token prompt (GEMV path), n8 = 8 tokens (GEMM path); 8 greedy ids compared too",
               "(random weights: near-ties can make ids differ without an error):", "",
               "| check | max abs err | relative | logits | same ids |", "|---|---|---|---|---|"] + checks
    md += ["", "ctest -R cuda: %s" % ("; ".join(tests) if tests else "no result")]
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3], sys.argv[4]))
    if len(sys.argv) == 4 and sys.argv[1] == "table":
        sys.exit(table(sys.argv[2], sys.argv[3]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
