#!/usr/bin/env python3
"""Write the demo model's held-out text (models/demo/heldout.txt).

The demo model (models/demo/) was evaluated by scripts/train_demo.py on the
24 KJV chapters whose global index (0-based, of 1189) is 25 mod 50, joined
by newlines; both scripts take the corpus from scripts/kjv_corpus.py, and
the result is checked against the byte count the training run reported
(80,205 bytes, models/demo/train_log.json).

    apt-get install -y bible-kjv-text bible-kjv
    python3 scripts/demo_heldout.py [OUT]      # default models/demo/heldout.txt

`kvlm perplexity -m models/demo/kjv-llama.gguf -f models/demo/heldout.txt
--ctx 256 --stride 256 --add-bos` then scores exactly what the training
script scored (its token stream is <|endoftext|> + the text).
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kjv_corpus import read_kjv, split_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models/demo/heldout.txt"
    _, held = split_corpus(read_kjv())
    text = "\n".join(t for _, t in held)
    log = json.loads((ROOT / "models/demo/train_log.json").read_text())
    assert [n for n, _ in held] == log["heldout_chapters"], "chapter list differs from the training run"
    n = len(text.encode())
    assert n == log["heldout"]["heldout_bytes"], f"{n} bytes, the training run had {log['heldout']['heldout_bytes']}"
    out.write_bytes(text.encode())
    print(f"{out}: {n} bytes, {len(held)} chapters")


if __name__ == "__main__":
    main()
