#!/usr/bin/env python3
"""Write the demo model's held-out text (models/demo/heldout.txt).

The demo model (models/demo/) was evaluated by scripts/train_demo.py on the
24 KJV chapters whose global index (0-based, of 1189) is 25 mod 50, joined
by newlines. That script imports torch at the top, so the two functions it
uses to build the text are repeated here (same code, same order); the
result is checked against the byte count the training run reported
(80,205 bytes, models/demo/train_log.json).

    apt-get install -y bible-kjv-text bible-kjv
    python3 scripts/demo_heldout.py [OUT]      # default models/demo/heldout.txt

`kvlm perplexity -m models/demo/kjv-llama.gguf -f models/demo/heldout.txt
--ctx 256 --stride 256 --add-bos` then scores exactly what the training
script scored (its token stream is <|endoftext|> + the text).
"""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def read_kjv():
    """[(book code, [chapter: [verse text]])] in canonical order (as train_demo.read_kjv)."""
    exe = shutil.which("bible")
    if not exe or not Path("/usr/lib/bible.data").exists():
        sys.exit("install the text first: apt-get install -y bible-kjv-text bible-kjv")
    raw = subprocess.run([exe, "-f", "Gen1:1-Rev22:21"], check=True, capture_output=True).stdout
    books = []
    pat = re.compile(r"^(\S*?[A-Za-z]+)(\d+):(\d+) (.*)$")
    for line in raw.decode("ascii").splitlines():
        m = pat.match(line)
        if not m:
            raise ValueError(f"unparsed line: {line!r}")
        book, ch, vs, text = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4).strip()
        if not books or books[-1][0] != book:
            books.append((book, []))
        chapters = books[-1][1]
        if ch != len(chapters):
            assert ch == len(chapters) + 1, line
            chapters.append([])
        assert vs == len(chapters[-1]) + 1, line
        chapters[-1].append(re.sub(r"\s+", " ", text))
    assert len(books) == 66 and sum(len(c) for _, c in books) == 1189
    return books


def held_out(books):
    """The held-out chapters (as train_demo.split_corpus)."""
    held, gi = [], 0
    for book, chapters in books:
        for ci, verses in enumerate(chapters):
            if gi % 50 == 25:
                held.append((f"{book} {ci + 1}", "\n".join(verses) + "\n"))
            gi += 1
    return held


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models/demo/heldout.txt"
    held = held_out(read_kjv())
    text = "\n".join(t for _, t in held)
    log = json.loads((ROOT / "models/demo/train_log.json").read_text())
    assert [n for n, _ in held] == log["heldout_chapters"], "chapter list differs from the training run"
    n = len(text.encode())
    assert n == log["heldout"]["heldout_bytes"], f"{n} bytes, the training run had {log['heldout']['heldout_bytes']}"
    out.write_bytes(text.encode())
    print(f"{out}: {n} bytes, {len(held)} chapters")


if __name__ == "__main__":
    main()
