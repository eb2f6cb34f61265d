#!/usr/bin/env python3
"""Train kvlm's bundled demo model: a small Llama (GQA) on the King James Bible.

Not run by CI.  Usage (from the repository root):

    apt-get install -y bible-kjv-text     # the text (pulls in `bible`, which reads it)
    nice -n 19 python3 scripts/train_demo.py            # train + export + verify
    python3 scripts/train_demo.py --export-only          # re-export/verify models/demo/kjv-llama-hf

Needs python3 with torch, transformers>=5, tokenizers, gguf==0.19.x, numpy.

Pipeline (everything seeded; see "Reproducibility" below):

1. Corpus.  Debian's bible-kjv-text ships the KJV as /usr/lib/bible.data, a
   compressed random-access file; its reader is the `bible` program (package
   bible-kjv, a dependency).  `bible -f Gen1:1-Rev22:21` prints one verse per
   line as "<Book><chapter>:<verse> <text>".  We parse that into books ->
   chapters -> verses, in canonical book order.  Plain text form: one verse per
   line (no verse numbers), chapters separated by a blank line; each book is
   one document, documents separated by <|endoftext|> in the token stream.
   Held out for evaluation: every chapter whose global index (0-based over the
   1189 chapters) is = 25 mod 50, i.e. 24 chapters spread over ~20 books
   (about 2% of the text).  Genesis 1 stays in training.
2. Tokenizer.  Byte-level BPE trained with `tokenizers` on the training text
   only: GPT-2 ByteLevel pre-tokenizer (GPT-2 regex, add_prefix_space=False),
   vocab 4096, special token <|endoftext|> (id 0, BOS = EOS), then the 256
   byte tokens, then merges.  Saved as tokenizer.json (+ tokenizer_config.json,
   PreTrainedTokenizerFast, add_bos_token false).
3. Model.  transformers LlamaForCausalLM: hidden 192, 4 layers, 6 query heads,
   2 KV heads (GQA, head dim 32), SwiGLU FFN 512, RMSNorm eps 1e-5, RoPE theta
   10000, context 256, tied input/output embeddings (the GGUF then has no
   output.weight, as llama.cpp writes tied models).  2.36M parameters
   (1.57M in the layers, 0.79M in the embedding).
   Why this size: on 2 shared cores at nice 19 the run gets ~0.5-1 core, i.e.
   ~1e13 FLOPs in 35 minutes.  hidden 256 / FFN 704 (3.9M parameters) would
   see ~0.8M tokens (< 1 epoch); this model costs ~40% less per token, so it
   sees more data, which at this budget lowers the loss more than width does
   (compute-optimal scaling puts the optimum for 1e13 FLOPs near 1M
   parameters; "a few million" keeps it a usable demo).
   Training: AdamW (betas 0.9/0.95, weight decay 0.1 on matrices), peak LR
   3e-3, 20 warmup steps then cosine decay to 10%, grad clip 1.0, batches of
   random 256-token windows from the training stream, CPU, 2 threads.  The
   run stops at --max-steps or after --minutes of wall clock, whichever comes
   first; the LR schedule follows max(step/max_steps, elapsed/minutes) so the
   decay completes either way.
4. Release weights = the trained weights rounded to float16.  Everything
   below (perplexity, reference.json, the GGUF check) uses those rounded
   weights run in float32, so the GGUF file, the HF folder and the reference
   outputs describe exactly the same model.
5. Export.  models/demo/kjv-llama-hf/ (config.json, model.safetensors in F16,
   tokenizer.json, tokenizer_config.json) and models/demo/kjv-llama.gguf
   (F16 matrices, F32 norms), written with gguf.GGUFWriter following
   llama.cpp's convert_hf_to_gguf.py: arch "llama", Q/K rows permuted as
   LlamaModel.permute does, tokenizer.ggml.model "gpt2", pre "gpt-2" (the
   name llama.cpp's llama-vocab.cpp recognises for the GPT-2 regex), tokens in
   the byte-level alphabet, token_type 1 normal / 3 control, merges "a b",
   bos = eos = 0, add_bos_token false, no chat template.
6. Verification.  Reload the GGUF with gguf.GGUFReader, dequantize, undo the
   permutation, load into a fresh LlamaForCausalLM: logits must equal the
   release model bit for bit, and be within f16 tolerance of the unrounded
   float32 model.  The HF folder is reloaded and checked the same way.
7. models/demo/reference.json: token ids of "In the beginning God created",
   HF float32 logits summary and the greedy continuation of 32 tokens (ids and
   text); models/demo/train_log.json: loss curve and held-out perplexity.

Reproducibility: seeds are fixed (torch, numpy; tokenizer training is
deterministic) and torch runs with deterministic algorithms, so with
--minutes 0 two runs with the same --max-steps on the same torch build give
the same weights.  With a wall-clock limit (the default), the number of steps
and the LR at each step depend on the machine's speed, so such a run is not
bit-reproducible; the committed run took 495 steps (models/demo/README.md).
--minutes 0 --max-steps 495 sees the same batches but decays the LR by step,
so it gives a close, not identical, model.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
EOT = "<|endoftext|>"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from kjv_corpus import read_kjv, split_corpus  # noqa: E402

# ------------------------------------------------------------------ corpus


# --------------------------------------------------------------- tokenizer


def train_tokenizer(docs: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(docs, trainer=trainer)
    assert tok.token_to_id(EOT) == 0 and tok.get_vocab_size() == vocab_size
    return tok


def hf_tokenizer(tok):
    from transformers import PreTrainedTokenizerFast
    t = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT, unk_token=None,
                                model_max_length=256, clean_up_tokenization_spaces=False)
    t.add_bos_token = False
    return t


# ------------------------------------------------------------------- model


def make_config(vocab: int, args):
    from transformers import LlamaConfig
    return LlamaConfig(vocab_size=vocab, hidden_size=args.hidden, intermediate_size=args.ffn,
                       num_hidden_layers=args.layers, num_attention_heads=args.heads,
                       num_key_value_heads=args.kv_heads, max_position_embeddings=args.ctx,
                       rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True,
                       bos_token_id=0, eos_token_id=0, initializer_range=0.02,
                       attention_bias=False, mlp_bias=False, hidden_act="silu")


@torch.no_grad()
def eval_nll(model, ids: np.ndarray, ctx: int, max_windows: int | None = None):
    """Sum of NLL (nats) and count of predicted tokens over non-overlapping
    windows: each window predicts ctx tokens from a context starting at the
    window (the first token of the stream, <|endoftext|>, is never predicted)."""
    model.eval()
    total, count = 0.0, 0
    n = (len(ids) - 1) // ctx
    if max_windows:
        n = min(n, max_windows)
    starts = [i * ctx for i in range(n)]
    if (len(ids) - 1) % ctx and not max_windows:
        starts.append(len(ids) - 1 - ctx)        # last partial window, scored on its new tokens only
    done = 0
    for s in starts:
        x = torch.from_numpy(ids[s:s + ctx + 1].astype(np.int64))[None].to(model.device)
        logits = model(input_ids=x[:, :-1]).logits.float()
        nll = torch.nn.functional.cross_entropy(logits[0], x[0, 1:], reduction="none")
        first_new = max(0, done - s)             # skip tokens already scored
        total += float(nll[first_new:].double().sum())
        count += ctx - first_new
        done = s + ctx
    return total, count


def train(model, train_ids: np.ndarray, held_ids: np.ndarray, args, log):
    g = torch.Generator().manual_seed(args.seed + 1)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    data = torch.from_numpy(train_ids.astype(np.int64))
    T, B = args.ctx, args.batch
    budget = args.minutes * 60.0
    t0 = time.time()
    step, ema = 0, None
    next_eval = args.eval_every
    while True:
        elapsed = time.time() - t0
        progress = step / args.max_steps
        if budget > 0:
            progress = max(progress, elapsed / budget)
        if progress >= 1.0:
            break
        if step < args.warmup:
            lr = args.lr * (step + 1) / args.warmup
        else:
            lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
        for grp in opt.param_groups:
            grp["lr"] = lr
        model.train()
        starts = torch.randint(0, len(data) - T - 1, (B,), generator=g)
        x = torch.stack([data[s:s + T + 1] for s in starts.tolist()]).to(args.device)
        out = model(input_ids=x[:, :-1])
        loss = torch.nn.functional.cross_entropy(out.logits.reshape(-1, out.logits.shape[-1]).float(),
                                                 x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        lv = float(loss.detach())
        ema = lv if ema is None else 0.9 * ema + 0.1 * lv
        if step % 10 == 0 or step == 1:
            el = time.time() - t0
            rec = {"step": step, "elapsed_s": round(el, 1), "lr": round(lr, 6),
                   "train_loss": round(lv, 4), "train_loss_ema": round(ema, 4),
                   "tokens_seen": step * B * T}
            if el >= next_eval:
                tot, cnt = eval_nll(model, held_ids, T, max_windows=args.eval_windows)
                rec["heldout_loss_subset"] = round(tot / cnt, 4)
                next_eval += args.eval_every
            log.append(rec)
            print(json.dumps(rec), flush=True)
    return step, time.time() - t0


# -------------------------------------------------------- GGUF conventions
# Same logic as tests/fixtures/make_fixtures.py (llama.cpp convert_hf_to_gguf.py).


def permute(w: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    """llama.cpp LlamaModel.permute: HF rotate_half Q/K rows -> ggml's
    interleaved-pair (normal) rope layout."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def unpermute(w: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


LLAMA_MAP = {
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def hf_to_gguf_tensors(cfg, sd: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    out = []
    for k, v in sd.items():
        if k == "model.embed_tokens.weight":
            out.append(("token_embd.weight", v))
        elif k == "model.norm.weight":
            out.append(("output_norm.weight", v))
        elif k == "lm_head.weight":
            if not cfg.tie_word_embeddings:
                out.append(("output.weight", v))
        elif k.startswith("model.layers."):
            _, _, i, rest = k.split(".", 3)
            if rest == "self_attn.q_proj.weight":
                v = permute(v, n_head, n_head)
            elif rest == "self_attn.k_proj.weight":
                v = permute(v, n_head, n_kv)
            out.append((f"blk.{i}.{LLAMA_MAP[rest]}", v))
        else:
            raise KeyError(k)
    return out


def gguf_to_hf_state(cfg, tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    inv = {v: k for k, v in LLAMA_MAP.items()}
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    sd = {}
    for k, v in tensors.items():
        if k == "token_embd.weight":
            sd["model.embed_tokens.weight"] = v
        elif k == "output_norm.weight":
            sd["model.norm.weight"] = v
        elif k == "output.weight":
            sd["lm_head.weight"] = v
        else:
            _, i, rest = k.split(".", 2)
            hf = inv[rest]
            if hf == "self_attn.q_proj.weight":
                v = unpermute(v, n_head, n_head)
            elif hf == "self_attn.k_proj.weight":
                v = unpermute(v, n_head, n_kv)
            sd[f"model.layers.{i}.{hf}"] = v
    if cfg.tie_word_embeddings:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    return {k: torch.from_numpy(np.array(v, dtype=np.float32, copy=True)) for k, v in sd.items()}


def write_gguf(path: Path, cfg, tensors, tok_json: dict, name: str) -> None:
    import gguf
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(name)
    w.add_description("kvlm demo model: small Llama (GQA) trained on the King James Bible")
    w.add_license("public-domain (KJV text); weights: same licence as kvlm")
    w.add_vocab_size(cfg.vocab_size)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_file_type(1)                      # LLAMA_FTYPE_MOSTLY_F16
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    vocab = tok_json["model"]["vocab"]
    toks = [None] * len(vocab)
    for t, i in vocab.items():
        toks[i] = t
    assert all(t is not None for t in toks)
    special = {a["content"] for a in tok_json["added_tokens"] if a["special"]}
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok_json["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(toks)
    w.add_token_types([3 if t in special else 1 for t in toks])
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    w.add_add_bos_token(False)
    for tname, a in tensors:
        if a.ndim == 1:
            w.add_tensor(tname, np.ascontiguousarray(a, dtype=np.float32))
        else:
            w.add_tensor(tname, np.ascontiguousarray(a, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def read_gguf_dequant(path: Path) -> dict[str, np.ndarray]:
    import gguf
    r = gguf.GGUFReader(str(path))
    out = {}
    for t in r.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type)
        shape = [int(x) for x in reversed(t.shape.tolist())]
        out[t.name] = np.asarray(a, dtype=np.float32).reshape(shape)
    return out


# -------------------------------------------------------------------- main


@torch.no_grad()
def greedy(model, ids: list[int], n: int) -> list[int]:
    out = list(ids)
    for _ in range(n):
        logits = model(input_ids=torch.tensor([out])).logits[0, -1]
        out.append(int(torch.argmax(logits)))
    return out[len(ids):]


@torch.no_grad()
def sample(model, ids: list[int], n: int, temperature: float, seed: int) -> list[int]:
    g = torch.Generator().manual_seed(seed)
    out = list(ids)
    for _ in range(n):
        logits = model(input_ids=torch.tensor([out[-256:]])).logits[0, -1].float() / temperature
        p = torch.softmax(logits, -1)
        out.append(int(torch.multinomial(p, 1, generator=g)))
    return out[len(ids):]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "models" / "demo"))
    ap.add_argument("--minutes", type=float, default=35.0, help="wall-clock cap for training (0: none)")
    ap.add_argument("--max-steps", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1611)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--eval-every", type=float, default=300.0, help="seconds between held-out subset evals")
    ap.add_argument("--eval-windows", type=int, default=8)
    ap.add_argument("--device", default="cpu", help="torch device for training (the committed model: cpu)")
    ap.add_argument("--kjv-dump", help="read the text from this `bible -f Gen1:1-Rev22:21` output "
                    "instead of running `bible`")
    ap.add_argument("--export-only", action="store_true",
                    help="skip training: load <out>/kjv-llama-hf and redo evaluation, export, checks")
    args = ap.parse_args()

    from transformers import LlamaForCausalLM
    import transformers
    import tokenizers
    import gguf

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")   # deterministic cuBLAS (--device cuda)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    out = Path(args.out)
    hf_dir = out / "kjv-llama-hf"
    out.mkdir(parents=True, exist_ok=True)

    books = read_kjv(args.kjv_dump)
    train_docs, held = split_corpus(books)
    held_text = "\n".join(t for _, t in held)
    n_train_bytes = sum(len(d.encode()) for d in train_docs)
    n_held_bytes = len(held_text.encode())
    print(f"corpus: {len(books)} books, train {n_train_bytes} B, held-out {n_held_bytes} B "
          f"({100 * n_held_bytes / (n_train_bytes + n_held_bytes):.2f}%): {', '.join(n for n, _ in held)}")

    t_tok = time.time()
    if args.export_only:
        from tokenizers import Tokenizer
        from tokenizers import processors
        tok = Tokenizer.from_file(str(hf_dir / "tokenizer.json"))
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    else:
        tok = train_tokenizer(train_docs, args.vocab)
    eot = tok.token_to_id(EOT)
    train_ids = [eot]
    for d in train_docs:
        train_ids += tok.encode(d).ids + [eot]
    train_ids = np.array(train_ids, dtype=np.int32)
    held_ids = np.array([eot] + tok.encode(held_text).ids, dtype=np.int32)
    assert tok.decode(held_ids[1:].tolist()) == held_text          # byte-level BPE round-trips
    tok_bytes = np.array([len(tok.decode([i]).encode("utf-8")) if i != eot else 0
                          for i in range(tok.get_vocab_size())])
    print(f"tokenizer: vocab {tok.get_vocab_size()}, train {len(train_ids)} tokens "
          f"({n_train_bytes / len(train_ids):.2f} B/token), held-out {len(held_ids) - 1} tokens "
          f"[{time.time() - t_tok:.1f} s]")

    log_path = out / "train_log.json"
    if args.export_only:
        model32 = LlamaForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
        cfg = model32.config
        info = json.loads(log_path.read_text()) if log_path.exists() else {}
    else:
        cfg = make_config(tok.get_vocab_size(), args)
        torch.manual_seed(args.seed)
        model32 = LlamaForCausalLM(cfg).to(args.device)
        n_params = sum(p.numel() for p in model32.parameters())
        print(f"model: {n_params} parameters; training (max {args.max_steps} steps, {args.minutes} min)")
        log: list[dict] = []
        steps, secs = train(model32, train_ids, held_ids, args, log)
        model32 = model32.cpu().eval()
        info = {"steps": steps, "train_seconds": round(secs, 1), "batch": args.batch, "ctx": args.ctx,
                "lr": args.lr, "warmup": args.warmup, "seed": args.seed, "threads": args.threads,
                "tokens_seen": steps * args.batch * args.ctx, "train_tokens": int(len(train_ids)),
                "log": log}
        print(f"trained {steps} steps in {secs / 60:.1f} min")

    # release weights: float16-rounded, run in float32
    model = LlamaForCausalLM(cfg).eval()
    model.load_state_dict({k: v.half().float() for k, v in model32.state_dict().items()})
    model.tie_weights()
    n_params = sum(p.numel() for p in model.parameters())

    # held-out perplexity (full held-out set) with the release weights
    t_ev = time.time()
    tot, cnt = eval_nll(model, held_ids, cfg.max_position_embeddings)
    n_bytes = int(tok_bytes[held_ids[1:]].sum())
    assert cnt == len(held_ids) - 1 and n_bytes == n_held_bytes
    ppl = {"heldout_tokens": cnt, "heldout_bytes": n_bytes,
           "nll_per_token": tot / cnt, "ppl_per_token": math.exp(tot / cnt),
           "nll_per_byte": tot / n_bytes, "ppl_per_byte": math.exp(tot / n_bytes),
           "bits_per_byte": tot / n_bytes / math.log(2),
           "method": f"non-overlapping {cfg.max_position_embeddings}-token windows over the held-out "
                     "chapters (joined by newlines, preceded by <|endoftext|>), HF float32, f16-rounded weights"}
    print(f"held-out: {cnt} tokens, nll/token {ppl['nll_per_token']:.4f} (ppl {ppl['ppl_per_token']:.2f}), "
          f"nll/byte {ppl['nll_per_byte']:.4f} (ppl {ppl['ppl_per_byte']:.4f}, {ppl['bits_per_byte']:.3f} bit/B) "
          f"[{time.time() - t_ev:.0f} s]")
    info.update({"parameters": n_params, "heldout": ppl, "heldout_chapters": [n for n, _ in held],
                 "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                              "tokenizers": tokenizers.__version__, "gguf": "0.19"}})

    # HF folder (F16 safetensors: exactly the release weights)
    hf_tok = hf_tokenizer(tok)
    tmp = out / "kjv-llama-hf.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    m16 = LlamaForCausalLM(cfg)
    m16.load_state_dict(model.state_dict())
    m16.to(torch.float16).save_pretrained(tmp, safe_serialization=True)
    hf_tok.save_pretrained(tmp)
    for extra in ("generation_config.json", "special_tokens_map.json", "chat_template.jinja"):
        (tmp / extra).unlink(missing_ok=True)
    # keep the tokenizer exactly as trained (GPT-2 style ByteLevel post-processor;
    # transformers would store a TemplateProcessing instead) and say explicitly
    # that no BOS/EOS is added
    tok.save(str(tmp / "tokenizer.json"), pretty=True)
    tc = json.loads((tmp / "tokenizer_config.json").read_text())
    tc.update({"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": False, "add_eos_token": False})
    (tmp / "tokenizer_config.json").write_text(json.dumps(tc, indent=2, sort_keys=True) + "\n")
    if hf_dir.exists():
        shutil.rmtree(hf_dir)
    tmp.rename(hf_dir)

    # GGUF
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    gguf_path = out / "kjv-llama.gguf"
    tensors = hf_to_gguf_tensors(cfg, sd)
    write_gguf(gguf_path, cfg, tensors, json.loads((hf_dir / "tokenizer.json").read_text()), "kjv-llama")

    # verification
    prompt = "In the beginning God created"
    ids = tok.encode(prompt).ids
    check_ids = held_ids[:cfg.max_position_embeddings].tolist()
    with torch.no_grad():
        ref = model(input_ids=torch.tensor([check_ids])).logits[0]
        ref32 = model32(input_ids=torch.tensor([check_ids])).logits[0]
    deq = read_gguf_dequant(gguf_path)
    assert set(deq) == {n for n, _ in tensors}, sorted(deq)
    mg = LlamaForCausalLM(cfg).eval()
    missing, unexpected = mg.load_state_dict(gguf_to_hf_state(cfg, deq), strict=False)
    assert not unexpected and all("lm_head" in k for k in missing), (missing, unexpected)
    mg.tie_weights()
    with torch.no_grad():
        lg = mg(input_ids=torch.tensor([check_ids])).logits[0]
    assert torch.equal(lg, ref), "GGUF round trip is not bit-exact"
    d16 = float((ref - ref32).abs().max())
    scale = float(ref32.abs().max())
    assert d16 < 0.02 * scale + 0.05, f"f16 rounding moved the logits by {d16}"
    mh = LlamaForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        lh = mh(input_ids=torch.tensor([check_ids])).logits[0]
    assert torch.equal(lh, ref), "HF folder reload is not bit-exact"
    from transformers import AutoTokenizer
    at = AutoTokenizer.from_pretrained(hf_dir)
    assert at(prompt)["input_ids"] == ids and at.eos_token_id == eot and at.bos_token_id == eot
    assert at(held_text)["input_ids"] == held_ids[1:].tolist()
    assert json.loads((hf_dir / "tokenizer.json").read_text())["post_processor"]["type"] == "ByteLevel"
    # the GGUF vocab must be the tokenizer's
    import gguf as _g
    r = _g.GGUFReader(str(gguf_path))
    f = r.fields["tokenizer.ggml.tokens"]
    gtoks = [bytes(f.parts[i]).decode() for i in f.data]
    assert [tok.id_to_token(i) for i in range(len(gtoks))] == gtoks
    print(f"checks: GGUF and HF folder reproduce the release logits bit for bit; "
          f"max |dlogit| f16 vs f32 training weights = {d16:.4g} (max |logit| {scale:.1f})")

    # reference.json
    with torch.no_grad():
        pl = model(input_ids=torch.tensor([ids])).logits[0].float()
    cont = greedy(model, ids, 32)
    top = torch.topk(pl[-1], 5)
    s = torch.sort(pl, -1).values
    reference = {
        "model": "models/demo/kjv-llama.gguf", "hf_folder": "models/demo/kjv-llama-hf",
        "prompt": prompt, "add_bos": False, "prompt_ids": ids,
        "greedy_n": 32, "greedy_ids": cont, "greedy_text": tok.decode(cont),
        "prompt_logits_argmax": [int(i) for i in pl.argmax(-1)],
        "prompt_logits_top1_top2_margin": [round(float(m), 5) for m in (s[:, -1] - s[:, -2])],
        "last_logits_top5": {"ids": [int(i) for i in top.indices], "values": [round(float(v), 5) for v in top.values]},
        "last_logits_sha256_f32le": __import__("hashlib").sha256(pl[-1].numpy().astype("<f4").tobytes()).hexdigest(),
        "reference": "HF transformers LlamaForCausalLM, float32, f16 weights from the GGUF/HF folder, no KV cache "
                     "(full recompute each step)",
        "heldout": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in ppl.items()},
    }
    # check: greedy with HF's KV cache agrees
    with torch.no_grad():
        gen = model.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False,
                             pad_token_id=eot, eos_token_id=None)[0, len(ids):].tolist()
    reference["hf_generate_with_cache_matches"] = gen == cont
    (out / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    print(f"greedy: {prompt!r} -> {tok.decode(cont)!r}")

    samples = {}
    for i, p in enumerate(["In the beginning", "And Jesus said unto them,", "The LORD is my shepherd;",
                           "Blessed are the", "And it came to pass"]):
        pid = tok.encode(p).ids
        samples[p] = {"greedy": p + tok.decode(greedy(model, pid, 48)),
                      "t0.8_seed%d" % i: p + tok.decode(sample(model, pid, 64, 0.8, i))}
        print(json.dumps(samples[p], indent=1))
    info["samples"] = samples
    log_path.write_text(json.dumps(info, indent=1) + "\n")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
