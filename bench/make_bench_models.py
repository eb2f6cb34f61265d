#!/usr/bin/env python3
"""Random-weight GGUF models with the shapes of real models, for benchmarks.

    python3 bench/make_bench_models.py --shape tinyllama --type q8_0 --out bench/models/
    python3 bench/make_bench_models.py --shape all --type all --out bench/models/

Writes <out>/<shape>-<type>.gguf.  Needs only numpy and gguf (no torch).
The files are not committed (bench/models/ is in .gitignore).

Weights are N(0, 0.02) (norm gains 1, biases N(0, 0.02)), seeded, so the
activations stay finite; the text they generate is meaningless, but the
compute and memory traffic are those of the real model.  Tensor names, metadata
keys and type choices follow llama.cpp's convert_hf_to_gguf.py / llama-quantize
(see tests/fixtures/README.md):

  * 1-D tensors, biases and position_embd stay F32; other 2-D weights get the
    requested type (token_embd and output too);
  * like llama-quantize, a K-quant tensor whose row length is not a multiple
    of 256 falls back (Q4_K -> Q5_0, Q6_K -> Q8_0; Q5_K is refused); this affects qwen2.5-0.5b (hidden 896),
    whose real Q4_K_M files contain Q5_0 tensors for the same reason;
  * GPT-2 writes output.weight as a copy of token_embd.weight (tied), Qwen2.5
    writes no output.weight (tied, llama.cpp uses token_embd).

Tensors are generated, quantized and streamed one at a time, so memory stays
at about one tensor (the largest is qwen2.5's 151936 x 896 embedding).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "fixtures"))
import kquants  # noqa: E402

SHAPES = {
    "tinyllama": dict(arch="llama", n_layer=22, n_embd=2048, n_head=32, n_head_kv=4, n_ff=5632,
                      vocab=32000, ctx=2048, rope_theta=10000.0, eps=1e-5, tied=False, qkv_bias=False),
    "qwen2.5-0.5b": dict(arch="qwen2", n_layer=24, n_embd=896, n_head=14, n_head_kv=2, n_ff=4864,
                         vocab=151936, ctx=32768, rope_theta=1000000.0, eps=1e-6, tied=True,
                         qkv_bias=True),
    "gpt2-124m": dict(arch="gpt2", n_layer=12, n_embd=768, n_head=12, n_head_kv=12, n_ff=3072,
                      vocab=50257, ctx=1024, eps=1e-5, tied=True),
}
TYPES = {"f32": QT.F32, "f16": QT.F16, "q8_0": QT.Q8_0, "q4_0": QT.Q4_0, "q4_k": QT.Q4_K,
         "q5_k": QT.Q5_K, "q6_k": QT.Q6_K}
FILE_TYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "q4_k": 14, "q5_k": 16, "q6_k": 18}
# llama-quantize's fallbacks when n_in % 256 != 0 (its Q5_K -> Q5_1 is not
# a type kvlm reads, so q5_k is refused for such shapes)
K_FALLBACK = {QT.Q4_K: QT.Q5_0, QT.Q6_K: QT.Q8_0}


def plan(s: dict) -> list[tuple[str, tuple[int, ...]]]:
    """[(gguf tensor name, numpy shape [out, in] / [n])] in llama.cpp order."""
    E, F, L = s["n_embd"], s["n_ff"], s["n_layer"]
    t: list[tuple[str, tuple[int, ...]]] = []
    if s["arch"] == "gpt2":
        t += [("token_embd.weight", (s["vocab"], E)), ("output.weight", (s["vocab"], E)),
              ("position_embd.weight", (s["ctx"], E))]
        for i in range(L):
            b = f"blk.{i}."
            t += [(b + "attn_norm.weight", (E,)), (b + "attn_norm.bias", (E,)),
                  (b + "attn_qkv.weight", (3 * E, E)), (b + "attn_qkv.bias", (3 * E,)),
                  (b + "attn_output.weight", (E, E)), (b + "attn_output.bias", (E,)),
                  (b + "ffn_norm.weight", (E,)), (b + "ffn_norm.bias", (E,)),
                  (b + "ffn_up.weight", (F, E)), (b + "ffn_up.bias", (F,)),
                  (b + "ffn_down.weight", (E, F)), (b + "ffn_down.bias", (E,))]
        t += [("output_norm.weight", (E,)), ("output_norm.bias", (E,))]
        return t
    hd = E // s["n_head"]
    kv = hd * s["n_head_kv"]
    t.append(("token_embd.weight", (s["vocab"], E)))
    for i in range(L):
        b = f"blk.{i}."
        t += [(b + "attn_norm.weight", (E,)), (b + "attn_q.weight", (E, E))]
        if s["qkv_bias"]:
            t.append((b + "attn_q.bias", (E,)))
        t.append((b + "attn_k.weight", (kv, E)))
        if s["qkv_bias"]:
            t.append((b + "attn_k.bias", (kv,)))
        t.append((b + "attn_v.weight", (kv, E)))
        if s["qkv_bias"]:
            t.append((b + "attn_v.bias", (kv,)))
        t += [(b + "attn_output.weight", (E, E)), (b + "ffn_norm.weight", (E,)),
              (b + "ffn_gate.weight", (F, E)), (b + "ffn_up.weight", (F, E)),
              (b + "ffn_down.weight", (E, F))]
    t.append(("output_norm.weight", (E,)))
    if not s["tied"]:
        t.append(("output.weight", (s["vocab"], E)))
    return t


def tensor_type(name: str, shape: tuple[int, ...], qt: QT) -> QT:
    if len(shape) == 1 or not name.endswith(".weight") or name == "position_embd.weight":
        return QT.F32
    if qt in (QT.Q4_K, QT.Q5_K, QT.Q6_K) and shape[-1] % 256 != 0:
        if qt not in K_FALLBACK:
            raise SystemExit(f"{name}: rows of {shape[-1]} are not a multiple of 256 and {qt.name} "
                             "has no fallback type kvlm reads")
        return K_FALLBACK[qt]
    return qt


def nbytes(shape: tuple[int, ...], qt: QT) -> int:
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    n = int(np.prod(shape))
    assert n % bs == 0
    return n // bs * ts


def encode(a: np.ndarray, qt: QT) -> np.ndarray:
    if qt == QT.F32:
        return a
    if qt == QT.F16:
        return a.astype(np.float16)
    if qt.name in kquants.QUANTIZERS:
        # chunk rows to bound temporaries
        rows = max(1, (1 << 24) // a.shape[1])
        return np.concatenate([kquants.QUANTIZERS[qt.name](a[i:i + rows]) for i in range(0, a.shape[0], rows)])
    return gguf.quants.quantize(a, qt)


def tokenizer(w: gguf.GGUFWriter, vocab: int, pre: str) -> None:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    b2u = dict(zip(bs, map(chr, cs)))
    toks = [b2u[b] for b in range(256)] + ["<|endoftext|>"]
    toks += [f"<|tok_{i}|>" for i in range(len(toks), vocab)]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(toks)
    w.add_token_types([1] * 256 + [3] + [1] * (vocab - 257))
    w.add_token_merges(["Ġ t", "Ġ a", "h e", "i n", "r e"])
    w.add_bos_token_id(256)
    w.add_eos_token_id(256)


def make(shape: str, typ: str, out_dir: Path, seed: int = 0) -> Path:
    s = SHAPES[shape]
    qt = TYPES[typ]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{shape}-{typ}.gguf"
    arch = s["arch"]
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"{shape} (random weights)")
    if arch == "gpt2":
        w.add_block_count(s["n_layer"])
        w.add_context_length(s["ctx"])
        w.add_embedding_length(s["n_embd"])
        w.add_feed_forward_length(s["n_ff"])
        w.add_head_count(s["n_head"])
        w.add_layer_norm_eps(s["eps"])
    else:
        w.add_vocab_size(s["vocab"])
        w.add_context_length(s["ctx"])
        w.add_embedding_length(s["n_embd"])
        w.add_block_count(s["n_layer"])
        w.add_feed_forward_length(s["n_ff"])
        w.add_head_count(s["n_head"])
        w.add_head_count_kv(s["n_head_kv"])
        w.add_rope_freq_base(s["rope_theta"])
        w.add_layer_norm_rms_eps(s["eps"])
        w.add_rope_dimension_count(s["n_embd"] // s["n_head"])
    w.add_file_type(FILE_TYPE[typ])
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    tokenizer(w, s["vocab"], {"gpt2": "gpt-2", "qwen2": "qwen2"}.get(arch, "llama-bpe"))

    tensors = plan(s)
    types = []
    for name, shp in tensors:
        t = tensor_type(name, shp, qt)
        types.append(t)
        if t in (QT.F32, QT.F16):
            w.add_tensor_info(name, shp, np.dtype(np.float32 if t == QT.F32 else np.float16), nbytes(shp, t))
        else:
            bs, ts = gguf.GGML_QUANT_SIZES[t]
            w.add_tensor_info(name, (*shp[:-1], shp[-1] // bs * ts), np.dtype(np.uint8), nbytes(shp, t), raw_dtype=t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()

    rng = np.random.default_rng(seed)
    embd = None
    for (name, shp), t in zip(tensors, types):
        if len(shp) == 1 and name.endswith(".weight"):
            a = np.ones(shp, dtype=np.float32)
        elif name == "output.weight" and arch == "gpt2":
            a = embd                                # tied: same values as token_embd
        else:
            a = rng.standard_normal(shp, dtype=np.float32)
            a *= np.float32(0.02)
        if name == "token_embd.weight" and arch == "gpt2":
            embd = a
        w.write_tensor_data(np.ascontiguousarray(encode(a, t)))
    w.close()
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", required=True, choices=[*SHAPES, "all"])
    ap.add_argument("--type", required=True, choices=[*TYPES, "all"])
    ap.add_argument("--out", default="bench/models/", type=Path)
    ap.add_argument("--seed", default=0, type=int)
    a = ap.parse_args()
    for shape in (SHAPES if a.shape == "all" else [a.shape]):
        for typ in (TYPES if a.type == "all" else [a.type]):
            if typ == "q5_k" and SHAPES[shape]["n_embd"] % 256 and "all" in (a.shape, a.type):
                print(f"{shape}-{typ}: skipped (rows of {SHAPES[shape]['n_embd']}, see K_FALLBACK)")
                continue
            t0 = time.time()
            p = make(shape, typ, a.out, a.seed)
            print(f"{p}: {p.stat().st_size / 1e6:.1f} MB in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
