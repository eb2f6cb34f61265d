#!/usr/bin/env python3
"""Plot `kvlm bench kv` results: generation time with and without the KV cache.

    python3 bench/plot_bench_kv.py bench/out/bench-kv.csv bench/out/bench-kv.png [--title MODEL]

Reads the CSV written by `kvlm bench kv` (columns n, prompt_tokens, ms_cache,
ms_nocache, ..., computed_tokens_cache, computed_tokens_nocache,
tokens_identical) and draws two panels: time to generate n tokens for both
modes on log-log axes, and the measured speedup next to the ratio of tokens
computed (n P + n(n-1)/2 over P + n - 1), which is what the speedup would be
if every token cost the same. `kvlm bench kv` calls this script itself when
python3 has matplotlib.
"""
import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("png")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    rows = list(csv.DictReader(open(a.csv)))
    if not rows:
        raise SystemExit(f"{a.csv}: no rows")
    n = [int(r["n"]) for r in rows]
    mc = [float(r["ms_cache"]) / 1e3 for r in rows]
    mn = [float(r["ms_nocache"]) / 1e3 for r in rows]
    sp = [float(r["speedup"]) for r in rows]
    proj = [int(r["computed_tokens_nocache"]) / int(r["computed_tokens_cache"]) for r in rows]
    p = rows[0]["prompt_tokens"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax1.plot(n, mn, "o-", color="tab:red", label="no KV cache (recompute all)")
    ax1.plot(n, mc, "o-", color="tab:blue", label="KV cache")
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("generated tokens n")
    ax1.set_ylabel("seconds to generate n tokens")
    ax1.set_title(f"greedy generation, prompt {p} tokens")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend()
    ax2.plot(n, sp, "o-", color="tab:green", label="measured speedup (time ratio)")
    ax2.plot(n, proj, "s--", color="gray", label="tokens computed ratio\n(nP + n(n-1)/2) / (P + n - 1)")
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xlabel("generated tokens n")
    ax2.set_ylabel("no-cache / cache")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend()
    if a.title:
        fig.suptitle(a.title, fontsize=9)
    fig.tight_layout()
    fig.savefig(a.png, dpi=110)
    print(f"wrote {a.png}")


if __name__ == "__main__":
    main()
