#!/usr/bin/env python3
"""Tokenizer speed: kvlm against Hugging Face `tokenizers` (the Rust
library) on the same text and the same tokenizer.json, single-threaded,
side by side in one run; plus kvlm's time on hostile inputs.

    pip install tokenizers matplotlib
    python3 bench/tokenize_compare.py [--tokenizer PATH/tokenizer.json ...] [--mb 10]

Text: tests/fixtures/tokenizers/corpus.txt (English, code, whitespace runs,
digits, CJK, Arabic, emoji) repeated to --mb megabytes. Tokenizers default to
the real ones in $KVLM_CONFORMANCE_DIR/hf-tokenizers (gpt2, llama2), else
the fixture tokenizers. Each engine encodes the whole text as one string,
median of 3 runs; token counts must agree (a mismatch is reported).
Hostile inputs (kvlm only): 0.5 MB and 1 MB of 'a', '_', CJK without spaces
and emoji ZWJ sequences (encode time, median of 3); the time ratio shows how
close to linear it is (2.0 is linear).
Writes bench/out/tokenize.csv and bench/out/tokenize.png.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
KVLM = ROOT / "build" / "kvlm"


def kvlm_mbs(tok: str, path: str, reps: int = 3) -> tuple[float, int]:
    r = subprocess.run([str(KVLM), "bench", "tokenize", "-m", tok, "--file", path, "--reps", str(reps), "--json"],
                       check=True, capture_output=True, text=True)
    j = json.loads(r.stdout)
    return j["mb_per_s"], j["tokens"]


def hf_mbs(tok_json: str, text: str, reps: int = 3) -> tuple[float, int]:
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from tokenizers import Tokenizer
    t = Tokenizer.from_file(tok_json)
    times, n = [], 0
    nbytes = len(text.encode("utf-8"))
    for _ in range(reps):
        t0 = time.perf_counter()
        enc = t.encode(text, add_special_tokens=False)
        times.append(time.perf_counter() - t0)
        n = len(enc.ids)
    return nbytes / 1e6 / statistics.median(times), n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", action="append")
    ap.add_argument("--mb", type=float, default=10)
    args = ap.parse_args()
    conf = os.environ.get("KVLM_CONFORMANCE_DIR")
    toks = args.tokenizer
    if not toks:
        toks = []
        if conf:
            for name in ("gpt2", "llama2"):
                p = Path(conf) / "hf-tokenizers" / name / "tokenizer.json"
                if p.exists():
                    toks.append(str(p))
        if not toks:
            toks = [str(p) for p in sorted((ROOT / "tests/fixtures/tokenizers").glob("*/tokenizer.json"))][:2]
    corpus = (ROOT / "tests/fixtures/tokenizers/corpus.txt").read_text(encoding="utf-8")
    reps = int(args.mb * 1e6 / len(corpus.encode("utf-8"))) + 1
    text = (corpus * reps)
    text = text.encode("utf-8")[: int(args.mb * 1e6)].decode("utf-8", errors="ignore")
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as td:
        tf = Path(td) / "mixed.txt"
        tf.write_text(text, encoding="utf-8")
        for tok in toks:
            print(f"tokenizer {tok}", file=sys.stderr)
            k, kn = kvlm_mbs(tok, str(tf))
            h, hn = hf_mbs(tok, text)
            rows.append(dict(tokenizer=tok.replace(conf or "\0", "$KVLM_CONFORMANCE_DIR"), mb=round(len(text.encode()) / 1e6, 2),
                             kvlm_mb_s=round(k, 2), hf_mb_s=round(h, 2), ratio=round(k / h, 2),
                             kvlm_tokens=kn, hf_tokens=hn))
        hostile = {"a": "a", "underscore": "_", "cjk": "\u4e2d\u6587\u5b57\u7b26\u6f22",
                   "emoji-zwj": "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"}
        hrows = []
        for name, unit in hostile.items():
            for mb in (0.5, 1.0):
                s = (unit * int(mb * 1e6 / len(unit.encode()) + 1)).encode()[: int(mb * 1e6)].decode("utf-8", "ignore")
                hp = Path(td) / f"{name}-{mb}.txt"
                hp.write_text(s, encoding="utf-8")
                mbs, _ = kvlm_mbs(toks[0], str(hp), reps=3)   # encode time only, median of 3
                hrows.append(dict(input=name, mb=mb, seconds=round(len(s.encode()) / 1e6 / mbs, 4)))
    with open(OUT / "tokenize.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    print("| tokenizer | MB | kvlm MB/s | HF tokenizers MB/s | ratio | tokens kvlm / HF |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        same = "same" if r["kvlm_tokens"] == r["hf_tokens"] else f"{r['kvlm_tokens']} / {r['hf_tokens']}"
        print(f"| {Path(r['tokenizer']).parent.name} | {r['mb']} | {r['kvlm_mb_s']} | {r['hf_mb_s']} | {r['ratio']} | {same} |")
    print()
    print(f"| hostile input (kvlm, {Path(toks[0]).parent.name}, encode time) | 0.5 MB s | 1 MB s | ratio |")
    print("|---|---|---|---|")
    for name in hostile:
        a = next(r for r in hrows if r["input"] == name and r["mb"] == 0.5)["seconds"]
        b = next(r for r in hrows if r["input"] == name and r["mb"] == 1.0)["seconds"]
        print(f"| {name} | {a} | {b} | {b / a:.2f} |")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 3.5))
        x = range(len(rows))
        ax.bar([i - 0.2 for i in x], [r["kvlm_mb_s"] for r in rows], 0.4, label="kvlm")
        ax.bar([i + 0.2 for i in x], [r["hf_mb_s"] for r in rows], 0.4, label="HF tokenizers")
        ax.set_xticks(list(x))
        ax.set_xticklabels([Path(r["tokenizer"]).parent.name for r in rows])
        ax.set_ylabel("MB/s (1 thread)")
        ax.set_title(f"tokenize {rows[0]['mb']} MB of mixed text")
        ax.legend()
        fig.tight_layout()
        fig.savefig(OUT / "tokenize.png", dpi=110)
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)


if __name__ == "__main__":
    main()
