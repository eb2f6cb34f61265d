#!/usr/bin/env python3
"""Side-by-side forward-pass benchmark: kvlm against llama.cpp on the same
GGUF files, the same thread count, in one run.

    pip install -r bench/requirements.txt   # llama-cpp-python builds llama.cpp from source
    python3 bench/compare_llamacpp.py [--threads 2] [--reps 3] [--prompt 512] [--gen 128]
                                      [--models tinyllama:f16,tinyllama:q8_0,...]

For each model (made by bench/make_bench_models.py when missing) it runs,
alternating engine by engine for --reps rounds:
  - kvlm:      build/kvlm bench forward --json (one process per round);
  - llama.cpp: llama_cpp.Llama.eval() of the same pseudo-random prompt, then
               --gen single-token evals (the same work kvlm's bench does).
It reports medians and the kvlm/llama.cpp ratio, writes
bench/out/compare.csv and bench/out/compare.png, and prints a markdown table.
Both engines run the prompt in 512-token batches with an f16 KV cache for
llama.cpp (its default) and kvlm's default KV type unless --kv-type is given.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "bench" / "models"
OUT = ROOT / "bench" / "out"


def ensure_model(shape: str, typ: str) -> Path:
    p = MODELS_DIR / f"{shape}-{typ}.gguf"
    if not p.exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "make_bench_models.py"), "--shape", shape,
                        "--type", typ, "--out", str(MODELS_DIR)], check=True)
    return p


def prompt_tokens(n: int, vocab: int) -> list[int]:
    # the same LCG as `kvlm bench forward`
    rng, out = 12345, []
    for _ in range(n):
        rng = (rng * 1664525 + 1013904223) & 0xFFFFFFFF
        out.append((rng >> 8) % vocab)
    return out


def run_kvlm(model: Path, args) -> tuple[float, float]:
    cmd = [str(ROOT / "build" / "kvlm"), "bench", "forward", "-m", str(model), "--threads", str(args.threads),
           "--prompt", str(args.prompt), "--gen", str(args.gen), "--reps", "1", "--json"]
    if args.kv_type:
        cmd += ["--kv-type", args.kv_type]
    r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return r["prefill_tokens_per_s"], r["decode_tokens_per_s"]


def run_llamacpp(llm, vocab: int, args) -> tuple[float, float]:
    toks = prompt_tokens(args.prompt, vocab)
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(toks)
    t1 = time.perf_counter()
    tok = toks[0]
    for _ in range(args.gen):
        llm.eval([tok])
        tok = (tok * 7 + 1) % vocab
    t2 = time.perf_counter()
    return args.prompt / (t1 - t0), args.gen / (t2 - t1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--kv-type", default=None)
    ap.add_argument("--models", default="tinyllama:f16,tinyllama:q8_0,tinyllama:q4_0,qwen2.5-0.5b:q8_0")
    args = ap.parse_args()
    import llama_cpp  # noqa: E402  (imported late: only this script needs it)

    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in args.models.split(","):
        shape, typ = spec.split(":")
        model = ensure_model(shape, typ)
        llm = llama_cpp.Llama(model_path=str(model), n_ctx=args.prompt + args.gen + 8, n_batch=512,
                              n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
        vocab = llm.n_vocab()
        k_pp, k_tg, l_pp, l_tg = [], [], [], []
        run_llamacpp(llm, vocab, argparse.Namespace(prompt=16, gen=2))  # warm-up
        for r in range(args.reps):
            print(f"\r{shape} {typ}: round {r + 1}/{args.reps}", end="", file=sys.stderr, flush=True)
            a, b = run_kvlm(model, args)
            k_pp.append(a)
            k_tg.append(b)
            a, b = run_llamacpp(llm, vocab, args)
            l_pp.append(a)
            l_tg.append(b)
        print(file=sys.stderr)
        del llm
        row = dict(model=shape, type=typ, threads=args.threads,
                   kvlm_prefill=statistics.median(k_pp), llamacpp_prefill=statistics.median(l_pp),
                   kvlm_decode=statistics.median(k_tg), llamacpp_decode=statistics.median(l_tg))
        row["prefill_ratio"] = row["kvlm_prefill"] / row["llamacpp_prefill"]
        row["decode_ratio"] = row["kvlm_decode"] / row["llamacpp_decode"]
        rows.append(row)

    with open(OUT / "compare.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    print(f"| model | type | kvlm pp{args.prompt} | llama.cpp pp{args.prompt} | ratio | kvlm tg{args.gen} "
          f"| llama.cpp tg{args.gen} | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['type']} | {r['kvlm_prefill']:.1f} | {r['llamacpp_prefill']:.1f} | "
              f"{r['prefill_ratio']:.2f} | {r['kvlm_decode']:.2f} | {r['llamacpp_decode']:.2f} | "
              f"{r['decode_ratio']:.2f} |")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        labels = [f"{r['model']}\n{r['type']}" for r in rows]
        x = range(len(rows))
        for ax, key, title in ((axes[0], "prefill", f"prefill {args.prompt} tokens"),
                               (axes[1], "decode", f"decode {args.gen} tokens")):
            ax.bar([i - 0.2 for i in x], [r[f"kvlm_{key}"] for r in rows], 0.4, label="kvlm")
            ax.bar([i + 0.2 for i in x], [r[f"llamacpp_{key}"] for r in rows], 0.4, label="llama.cpp")
            ax.set_xticks(list(x))
            ax.set_xticklabels(labels, fontsize=8)
            ax.set_ylabel("tokens/s")
            ax.set_title(f"{title}, {args.threads} threads")
            ax.legend()
        fig.tight_layout()
        fig.savefig(OUT / "compare.png", dpi=110)
        print(f"plot: {OUT / 'compare.png'}", file=sys.stderr)
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)


if __name__ == "__main__":
    main()
