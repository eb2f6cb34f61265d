#!/usr/bin/env python3
"""Plot `kvlm bench prefix` multi-turn results: TTFT per round with and
without the prefix cache.

    python3 bench/plot_bench_prefix.py bench-prefix.csv bench-prefix.png [--title TEXT]

Reads the CSV written by `kvlm bench prefix --csv` (columns mode, round, user,
prompt_tokens, cached_tokens, computed_tokens, ttft_ms; mode is "cache" or
"nocache", one row per user and round) and draws two panels: the TTFT of
every user (dots) with the mean and the p90 (nearest rank, as the C program
computes it) per round for both modes, and the prompt tokens computed per
round (bars) with the cache's hit rate. `kvlm bench prefix --png` calls this
script itself; exit status 3 means matplotlib is not installed (the C
program then says so and carries on without a plot), 1 an empty or
malformed CSV.
"""
import argparse
import csv
import math
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("plot_bench_prefix.py: matplotlib is not installed", file=sys.stderr)
    sys.exit(3)


def p90(values):
    v = sorted(values)
    return v[max(0, math.ceil(0.9 * len(v)) - 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("png")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    with open(a.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    data = {}  # mode -> round -> list of rows
    try:
        for r in rows:
            data.setdefault(r["mode"], {}).setdefault(int(r["round"]), []).append(
                (float(r["ttft_ms"]), int(r["prompt_tokens"]), int(r["cached_tokens"]), int(r["computed_tokens"]))
            )
    except (KeyError, ValueError) as e:
        sys.exit(f"plot_bench_prefix.py: {a.csv}: malformed row ({e})")
    if not data.get("cache") or not data.get("nocache"):
        sys.exit(f"plot_bench_prefix.py: {a.csv}: needs rows for both modes 'cache' and 'nocache'")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {"cache": ("prefix cache", "tab:blue", -0.08), "nocache": ("no cache", "tab:red", 0.08)}
    rounds = sorted(data["cache"])
    for mode, (label, color, dx) in styles.items():
        rs = sorted(data[mode])
        for r in rs:
            t = [x[0] for x in data[mode][r]]
            ax1.scatter([r + dx] * len(t), t, s=10, color=color, alpha=0.35, linewidths=0)
        ax1.plot(rs, [sum(x[0] for x in data[mode][r]) / len(data[mode][r]) for r in rs], "o-", color=color,
                 label=f"{label}: mean")
        ax1.plot(rs, [p90([x[0] for x in data[mode][r]]) for r in rs], "v--", color=color, alpha=0.7,
                 label=f"{label}: p90")
    ax1.set_xlabel("round (new session each round)")
    ax1.set_ylabel("time to first token (ms)")
    ax1.set_xticks(rounds)
    ax1.set_ylim(bottom=0)
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    ax1.set_title("TTFT per round")

    w = 0.38
    comp_c = [sum(x[3] for x in data["cache"][r]) for r in rounds]
    comp_n = [sum(x[3] for x in data["nocache"].get(r, [])) for r in rounds]
    ax2.bar([r - w / 2 for r in rounds], comp_n, w, color="tab:red", label="computed, no cache")
    ax2.bar([r + w / 2 for r in rounds], comp_c, w, color="tab:blue", label="computed, prefix cache")
    ax2.set_xlabel("round")
    ax2.set_ylabel("prompt tokens computed (all users)")
    ax2.set_xticks(rounds)
    ax2.grid(alpha=0.3, axis="y")
    ax3 = ax2.twinx()
    hit = [
        100.0 * sum(x[2] for x in data["cache"][r]) / max(1, sum(x[1] for x in data["cache"][r])) for r in rounds
    ]
    ax3.plot(rounds, hit, "k.-", label="hit rate (cache)")
    ax3.set_ylim(0, 100)
    ax3.set_ylabel("hit rate (%)")
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = ax3.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    ax2.set_title("prefill work per round")
    if a.title:
        fig.suptitle(a.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(a.png, dpi=110)


if __name__ == "__main__":
    main()
