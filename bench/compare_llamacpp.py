#!/usr/bin/env python3
"""Side-by-side forward-pass benchmark: kvlm against llama.cpp on the same
GGUF files, the same thread count, in one run.

    pip install -r bench/requirements.txt   # llama-cpp-python builds llama.cpp from source
    sh bench/compare.sh [THREADS]           # builds the probes, then runs this script
    python3 bench/compare_llamacpp.py [--threads 2] [--reps 3] [--models tinyllama:f16,...]
                                      [--tests pp512,pp2048,tg128,tg2048,b4,b8] [--membw GB/s] [--peak F32,INT8[,BF16]]
    python3 bench/compare_llamacpp.py --report bench/out/compare.csv ...   # tables + plot, no runs

Tests (both engines, alternating engine by engine for --reps rounds, medians):
  pp512, tg128  one 512-token prompt (512-token batches) then 128 single-token
                decode steps (kvlm: `bench forward --prompt 512 --gen 128`);
  pp2048        a 2048-token prompt in 512-token batches (`--prompt 2048 --gen 0`);
  tg2048        32 decode steps after a 2048-token prompt: decode with 2048
                tokens of context (`--prompt 2048 --gen 32`; a model with 2048
                positions gets a 2016-token prompt); pp2048 and tg2048 are n/a
                for models with fewer than 2048 positions (GPT-2);
  b1, b4, b8    batched decode: N sequences, each with its own --bprompt-token
                prompt, then --bgen steps that each decode one token of every
                sequence in one forward pass (kvlm: `bench forward --seqs N`
                through kvlm_session_eval_batch; llama.cpp: one llama_batch with
                N seq ids through the low-level API, n_seq_max = N). Reported as
                tokens/s over all sequences; b1 is the single-sequence rate at
                the same context, the denominator of the batching gain.
llama.cpp runs when `import llama_cpp` works; otherwise (or when its batched
API is missing) its columns say n/a.
A model given as shape:type:bf16mm (type f16 or bf16) runs kvlm with
--bf16-matmul (BF16 activations, vdpbf16ps) and llama.cpp as usual; its row
says type "f16 bf16mm", and kvlm's prefill % is of the BF16 peak.

Machine limits (--membw from bench/membw, --peak from bench/peak):
  decode % = tokens/s x bytes read per token / bandwidth, bytes per token =
             the matmul weights (every 2-D weight but the embedding lookup;
             the tied embedding counts as the output head) + the KV cache read
             at the mean context (kvlm's f32 KV; llama.cpp reads f16 KV);
  prefill % = tokens/s x FLOPs per token / peak, FLOPs per token = 2 x the
             matmul weights but the output head (a prompt wants the logits
             of its last token only) + attention (4 x heads x head_dim x mean context per
             layer); the peak is the f32 FMA peak for float weights and the
             int8 peak for quantized ones (bench/peak: the faster of 256- and
             512-bit FMAs; the faster of 256- and 512-bit vpdpbusd where the
             CPU has AVX-512 VNNI, else vpmaddubsw + vpmaddwd; vdpbf16ps for
             kvlm's bf16mm rows).
Writes bench/out/compare.csv, bench/out/compare.png and prints markdown tables.
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
KVLM = ROOT / "build" / "kvlm"
DEFAULT_MODELS = ("tinyllama:f16,tinyllama:f16:bf16mm,tinyllama:q8_0,tinyllama:q4_0,tinyllama:q4_k,tinyllama:q5_k,"
                  "tinyllama:q6_k,qwen2.5-0.5b:f16,qwen2.5-0.5b:f16:bf16mm,qwen2.5-0.5b:q8_0,qwen2.5-0.5b:q4_k,"
                  "gpt2-124m:f32,gpt2-124m:f16")
# bytes per block, elements per block (GGUF layouts)
TYPE_SIZE = {"f32": (4, 1), "f16": (2, 1), "bf16": (2, 1), "q8_0": (34, 32), "q4_0": (18, 32),
             "q5_0": (22, 32), "q4_K": (144, 256), "q5_K": (176, 256), "q6_K": (210, 256)}


def ensure_model(shape: str, typ: str) -> Path:
    p = MODELS_DIR / f"{shape}-{typ}.gguf"
    if not p.exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "make_bench_models.py"), "--shape", shape,
                        "--type", typ, "--out", str(MODELS_DIR)], check=True)
    return p


def model_costs(model: Path) -> dict:
    """Matmul weight elements and bytes per token, attention constants (from kvlm inspect)."""
    d = json.loads(subprocess.run([str(KVLM), "inspect", str(model), "--json", "--tensors"], check=True,
                                  capture_output=True, text=True).stdout)
    elems = nbytes = head = 0
    names = {t["name"] for t in d["tensors"]}
    for t in d["tensors"]:
        ne = t["ne"]
        if len(ne) != 2 or t["name"] in ("position_embd.weight",):
            continue
        if t["name"] == "token_embd.weight" and "output.weight" in names:
            continue  # a lookup, not a matmul
        n = ne[0] * ne[1]
        bb, be = TYPE_SIZE[t["type"]]
        elems += n
        nbytes += n // be * bb
        if t["name"] in ("output.weight", "token_embd.weight"):
            head = n  # the output head (tied: the embedding)
    return dict(elems=elems, head_elems=head, bytes=nbytes, n_layers=d["n_layers"], n_heads=d["n_heads"],
                n_ctx=d["n_ctx_train"],
                head_dim=d["head_dim"], kv_f32=d["kv_bytes_per_token"]["f32"], kv_f16=d["kv_bytes_per_token"]["f16"])


def prefill_flops(c: dict, ctx_mean: float) -> float:
    # a prompt's logits are wanted for its last token only: both engines
    # skip the output head for the others, so it is not counted per token
    return 2.0 * (c["elems"] - c["head_elems"]) + 4.0 * c["n_layers"] * c["n_heads"] * c["head_dim"] * ctx_mean


def prompt_tokens(n: int, vocab: int, seed: int = 12345) -> list[int]:
    # the same LCG as `kvlm bench forward` (sequence k of --seqs continues the stream)
    rng, out = seed, []
    for _ in range(n):
        rng = (rng * 1664525 + 1013904223) & 0xFFFFFFFF
        out.append((rng >> 8) % vocab)
    return out


def kvlm_json(model: Path, threads: int, *extra: str) -> dict:
    cmd = [str(KVLM), "bench", "forward", "-m", str(model), "--threads", str(threads), "--reps", "1",
           "--json", *extra]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


# ---- llama.cpp ---------------------------------------------------------------

def lc_open(llama_cpp, model: Path, threads: int, n_ctx: int):
    return llama_cpp.Llama(model_path=str(model), n_ctx=n_ctx, n_batch=512, n_threads=threads,
                           n_threads_batch=threads, verbose=False)


def lc_prefill_decode(llm, vocab: int, prompt: int, gen: int) -> tuple[float, float]:
    toks = prompt_tokens(prompt, vocab)
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(toks)
    t1 = time.perf_counter()
    tok = toks[0]
    for _ in range(gen):
        llm.eval([tok])
        tok = (tok * 7 + 1) % vocab
    t2 = time.perf_counter()
    return prompt / (t1 - t0), (gen / (t2 - t1) if gen else 0.0)


class LcBatched:
    """N sequences in one llama.cpp context through the low-level API."""

    def __init__(self, lc, model: Path, threads: int, n_seq: int, n_ctx_seq: int):
        self.lc = lc
        f = lambda *names: next(getattr(lc, n) for n in names if hasattr(lc, n))  # noqa: E731
        mp = lc.llama_model_default_params()
        self.model = f("llama_model_load_from_file", "llama_load_model_from_file")(str(model).encode(), mp)
        cp = lc.llama_context_default_params()
        cp.n_ctx = n_seq * n_ctx_seq + 64
        cp.n_batch = 512
        cp.n_ubatch = 512
        cp.n_seq_max = n_seq
        cp.n_threads = threads
        cp.n_threads_batch = threads
        self.ctx = f("llama_init_from_model", "llama_new_context_with_model")(self.model, cp)
        if not self.ctx:
            raise RuntimeError("llama.cpp context creation failed")
        vocab_fn = getattr(lc, "llama_vocab_n_tokens", None)
        if vocab_fn and hasattr(lc, "llama_model_get_vocab"):
            self.vocab = vocab_fn(lc.llama_model_get_vocab(self.model))
        else:
            self.vocab = lc.llama_n_vocab(self.model)
        self.batch = lc.llama_batch_init(512, 0, n_seq)
        self.n_seq = n_seq

    def _decode(self, items: list[tuple[int, int, int, bool]]) -> None:
        b = self.batch
        b.n_tokens = len(items)
        for i, (tok, pos, seq, want) in enumerate(items):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = want
        if self.lc.llama_decode(self.ctx, b) != 0:
            raise RuntimeError("llama_decode failed")

    def run(self, prompt: int, gen: int) -> float:
        lc = self.lc
        if hasattr(lc, "llama_get_memory") and hasattr(lc, "llama_memory_clear"):
            lc.llama_memory_clear(lc.llama_get_memory(self.ctx), True)
        elif hasattr(lc, "llama_kv_self_clear"):
            lc.llama_kv_self_clear(self.ctx)
        else:
            lc.llama_kv_cache_clear(self.ctx)
        # prompts: the same token stream as kvlm (sequence k = tokens [k*prompt, (k+1)*prompt))
        allt = prompt_tokens(prompt * self.n_seq, self.vocab)
        for s in range(self.n_seq):
            toks = allt[s * prompt:(s + 1) * prompt]
            for c in range(0, prompt, 512):
                chunk = toks[c:c + 512]
                self._decode([(t, c + i, s, c + i == prompt - 1) for i, t in enumerate(chunk)])
        step = [allt[s * prompt] for s in range(self.n_seq)]
        t0 = time.perf_counter()
        for g in range(gen):
            self._decode([(step[s], prompt + g, s, True) for s in range(self.n_seq)])
            step = [(step[s] * 7 + 1 + s) % self.vocab for s in range(self.n_seq)]
        return gen * self.n_seq / (time.perf_counter() - t0)

    def close(self) -> None:
        self.lc.llama_batch_free(self.batch)
        self.lc.llama_free(self.ctx)
        getattr(self.lc, "llama_model_free", getattr(self.lc, "llama_free_model", None))(self.model)


# ---- main --------------------------------------------------------------------

def med(v: list[float]):
    return statistics.median(v) if v else None


def fmt(v, nd=1) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def ratio(a, b) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--reps-long", type=int, default=None, help="reps for pp2048 and b* (default --reps)")
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--tests", default="pp512,tg128,pp2048,tg2048,b1,b4,b8")
    ap.add_argument("--bprompt", type=int, default=64, help="prompt tokens per sequence for b*")
    ap.add_argument("--bgen", type=int, default=32, help="decode steps for b*")
    ap.add_argument("--membw", type=float, default=None, help="GB/s (bench/membw)")
    ap.add_argument("--peak", default=None, help="F32_GFLOPS,INT8_GOPS (bench/peak)")
    ap.add_argument("--no-llamacpp", action="store_true")
    ap.add_argument("--report", nargs="+", metavar="CSV",
                    help="measure nothing: print the tables and the plot of earlier runs' compare.csv files")
    args = ap.parse_args()
    if args.report:
        rows = []
        for path in args.report:
            with open(path, newline="") as f:
                for r in csv.DictReader(f):
                    rows.append({k: (v if k in ("model", "type") else (float(v) if v not in ("", None) else None))
                                 for k, v in r.items()})
        seqs = sorted({int(k[3:]) for r in rows for k in r if k.startswith("k_b") and k[3:].isdigit()})
        report(rows, seqs, args, *(parse_peak(args.peak)[:2]))
        return
    tests = set(args.tests.split(","))
    reps_long = args.reps_long or args.reps
    lc = None
    if not args.no_llamacpp:
        try:
            import llama_cpp as lc  # noqa: E402  (only this script needs it)
        except ImportError:
            print("llama_cpp not importable: llama.cpp columns are n/a", file=sys.stderr)
    peak_f32, peak_i8, peak_bf16 = parse_peak(args.peak)
    seqs = sorted(int(t[1:]) for t in tests if t.startswith("b"))

    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in args.models.split(","):
        shape, typ, *mode = spec.split(":")
        model = ensure_model(shape, typ)
        kx = ("--bf16-matmul",) if mode == ["bf16mm"] else ()
        costs = model_costs(model)
        res: dict[str, list[float]] = {}

        def add(key, v):
            res.setdefault(key, []).append(v)

        llm = None
        if lc is not None and tests & {"pp512", "tg128", "pp2048", "tg2048"}:
            llm = lc_open(lc, model, args.threads, 2048 + 64)
            lc_prefill_decode(llm, llm.n_vocab(), 16, 2)  # warm-up: pages the weights in
        for r in range(max(args.reps, reps_long)):
            print(f"\r{shape} {typ}: round {r + 1}", end="", file=sys.stderr, flush=True)
            if r < args.reps and tests & {"pp512", "tg128"}:
                j = kvlm_json(model, args.threads, *kx, "--prompt", "512", "--gen", "128")
                add("k_pp512", j["prefill_tokens_per_s"])
                add("k_tg128", j["decode_tokens_per_s"])
                if llm:
                    a, b = lc_prefill_decode(llm, llm.n_vocab(), 512, 128)
                    add("l_pp512", a)
                    add("l_tg128", b)
            # pp2048 needs the positions: GPT-2 has 1024 (n/a there, not an error)
            if r < reps_long and "tg2048" in tests and costs["n_ctx"] >= 2048:
                tp = min(2048, costs["n_ctx"] - 32)  # TinyLlama has 2048 positions: 2016 + 32
                add("k_tg2048", kvlm_json(model, args.threads, *kx, "--prompt", str(tp), "--gen", "32")
                    ["decode_tokens_per_s"])
                if llm:
                    add("l_tg2048", lc_prefill_decode(llm, llm.n_vocab(), tp, 32)[1])
            if r < reps_long and "pp2048" in tests and costs["n_ctx"] >= 2048:
                add("k_pp2048", kvlm_json(model, args.threads, *kx, "--prompt", "2048", "--gen", "0")
                    ["prefill_tokens_per_s"])
                if llm:
                    add("l_pp2048", lc_prefill_decode(llm, llm.n_vocab(), 2048, 0)[0])
            if r < reps_long:
                for n in seqs:
                    j = kvlm_json(model, args.threads, *kx, "--seqs", str(n), "--prompt", str(args.bprompt),
                                  "--gen", str(args.bgen))
                    add(f"k_b{n}", j["decode_tokens_per_s"])
                    if lc is not None:
                        try:
                            bb = LcBatched(lc, model, args.threads, n, args.bprompt + args.bgen)
                            try:
                                add(f"l_b{n}", bb.run(args.bprompt, args.bgen))
                            finally:
                                bb.close()
                        except Exception as e:  # noqa: BLE001 - report, keep benchmarking
                            print(f"\nllama.cpp batched decode unavailable: {e}", file=sys.stderr)
        print(file=sys.stderr)
        del llm
        row = dict(model=shape, type=typ + (" bf16mm" if kx else ""), threads=args.threads,
                   weight_bytes=costs["bytes"])
        for k, v in res.items():
            row[k] = med(v)
        for t in ("pp512", "pp2048", "tg128", "tg2048", *(f"b{n}" for n in seqs)):
            row.setdefault(f"k_{t}", None)
            row.setdefault(f"l_{t}", None)
        # machine limits
        is_float = typ in ("f32", "f16", "bf16")
        for t, ctx in (("pp512", 256), ("pp2048", 1024)):
            for e in "kl":
                peak = (peak_bf16 if kx and e == "k" else peak_f32) if is_float else peak_i8
                v = row[f"{e}_{t}"]
                row[f"{e}_{t}_pct_peak"] = (100 * v * prefill_flops(costs, ctx) / (peak * 1e9)
                                            if v and peak else None)
        # bytes read per decoded token: the weights plus the KV cache at the
        # mean context (tg128: 512 + 64, tg2048: 2048 + 16); llama.cpp's
        # default KV is f16, kvlm's f32
        for e in "kl":
            for t, mean_ctx in (("tg128", 576), ("tg2048", 2064)):
                v = row[f"{e}_{t}"]
                b = costs["bytes"] + costs["kv_f32" if e == "k" else "kv_f16"] * mean_ctx
                row[f"{e}_{t}_pct_bw"] = 100 * v * b / (args.membw * 1e9) if v and args.membw else None
        rows.append(row)
        with open(OUT / "compare.csv", "w", newline="") as f:  # rewritten after every model
            keys = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("model", "type"), k))
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)

    print(f"\nthreads {args.threads}, reps {args.reps} (pp2048 / batched: {reps_long}), medians")
    report(rows, seqs, args, peak_f32, peak_i8)


def parse_peak(arg):
    """--peak F32,INT8[,BF16] -> three floats (None where not given or 0)"""
    v = [float(x) for x in arg.split(",")] if arg else []
    v += [0.0] * (3 - len(v))
    return tuple(x or None for x in v[:3])


def report(rows: list[dict], seqs: list[int], args, peak_f32, peak_i8) -> None:
    """The markdown tables and bench/out/compare.png for measured rows."""
    print(f"membw {args.membw} GB/s, peak f32 {peak_f32} GFLOP/s, int8 {peak_i8} GOP/s\n")
    print("| model | type | kvlm pp512 | llama.cpp pp512 | ratio | kvlm pp2048 | llama.cpp pp2048 | ratio "
          "| kvlm tg128 | llama.cpp tg128 | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['type']} | {fmt(r['k_pp512'])} | {fmt(r['l_pp512'])} | "
              f"{ratio(r['k_pp512'], r['l_pp512'])} | {fmt(r['k_pp2048'])} | {fmt(r['l_pp2048'])} | "
              f"{ratio(r['k_pp2048'], r['l_pp2048'])} | {fmt(r['k_tg128'], 2)} | {fmt(r['l_tg128'], 2)} | "
              f"{ratio(r['k_tg128'], r['l_tg128'])} |")
    print("\n| model | type | kvlm pp512 % peak | llama.cpp pp512 % peak | kvlm pp2048 % peak "
          "| kvlm tg128 % bandwidth | llama.cpp tg128 % bandwidth |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['type']} | {fmt(r['k_pp512_pct_peak'], 0)} | {fmt(r['l_pp512_pct_peak'], 0)} "
              f"| {fmt(r['k_pp2048_pct_peak'], 0)} | {fmt(r['k_tg128_pct_bw'], 0)} | {fmt(r['l_tg128_pct_bw'], 0)} |")
    if any(r.get("k_tg2048") for r in rows):
        print("\ndecode with 2048 tokens of context (32 steps after a 2048-token prompt, 2016 for models "
              "with 2048 positions)\n")
        print("| model | type | kvlm tg@2048 | llama.cpp tg@2048 | ratio | kvlm % bandwidth | llama.cpp % bandwidth |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            if r.get("k_tg2048") is None and r.get("l_tg2048") is None:
                continue
            print(f"| {r['model']} | {r['type']} | {fmt(r['k_tg2048'], 2)} | {fmt(r.get('l_tg2048'), 2)} | "
                  f"{ratio(r['k_tg2048'], r.get('l_tg2048'))} | {fmt(r.get('k_tg2048_pct_bw'), 0)} | "
                  f"{fmt(r.get('l_tg2048_pct_bw'), 0)} |")
    if seqs:
        hdr = " | ".join(f"kvlm b{n} | llama.cpp b{n}" for n in seqs)
        print(f"\nbatched decode, tokens/s over all sequences ({args.bprompt}-token prompts, {args.bgen} steps)\n")
        print(f"| model | type | {hdr} | kvlm b{seqs[-1]}/b1 | llama.cpp b{seqs[-1]}/b1 |")
        print("|---|---|" + "---|---|" * len(seqs) + "---|---|")
        for r in rows:
            cells = " | ".join(f"{fmt(r[f'k_b{n}'])} | {fmt(r[f'l_b{n}'])}" for n in seqs)
            print(f"| {r['model']} | {r['type']} | {cells} | {ratio(r[f'k_b{seqs[-1]}'], r.get('k_b1'))} | "
                  f"{ratio(r[f'l_b{seqs[-1]}'], r.get('l_b1'))} |")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        panels = [t for t in ("pp512", "pp2048", "tg128", "tg2048", *(f"b{n}" for n in seqs))
                  if any(r.get(f"k_{t}") for r in rows)]
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2))
        labels = [f"{r['model']}\n{r['type']}" for r in rows]
        x = range(len(rows))
        for ax, t in zip(axes if len(panels) > 1 else [axes], panels):
            ax.bar([i - 0.2 for i in x], [r.get(f"k_{t}") or 0 for r in rows], 0.4, label="kvlm")
            ax.bar([i + 0.2 for i in x], [r.get(f"l_{t}") or 0 for r in rows], 0.4, label="llama.cpp")
            ax.set_xticks(list(x))
            ax.set_xticklabels(labels, fontsize=6, rotation=60)
            ax.set_ylabel("tokens/s")
            ax.set_yscale("log")
            ax.set_title(f"{t}, {args.threads} threads", fontsize=9)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(OUT / "compare.png", dpi=100)
        print(f"plot: {OUT / 'compare.png'}", file=sys.stderr)
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)


if __name__ == "__main__":
    main()
