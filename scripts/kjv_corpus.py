"""The King James Bible corpus of the demo model (models/demo/), read from
Debian's bible-kjv-text package, and its split into training documents and
held-out chapters. No torch here: scripts/train_demo.py (training) and
scripts/demo_heldout.py (the held-out text kvlm's perplexity test reads)
both use it, so the two cannot drift apart.

Invariants: books and chapters in canonical order (66 books, 1189
chapters, checked); a chapter whose global 0-based index is 25 mod 50 is
held out; everything else trains.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path


def read_kjv(dump: str | None = None) -> list[tuple[str, list[list[str]]]]:
    """[(book code, [chapter: [verse text]])] in canonical order.  dump: a file
    holding the output of `bible -f Gen1:1-Rev22:21` (for a machine without the
    Debian packages, e.g. a GPU box with no network)."""
    if dump:
        raw = Path(dump).read_bytes()
    else:
        if not Path("/usr/lib/bible.data").exists():
            sys.exit("install the text first: apt-get install -y bible-kjv-text")
        exe = shutil.which("bible")
        if not exe:
            sys.exit("the `bible` reader is missing: apt-get install -y bible-kjv")
        raw = subprocess.run([exe, "-f", "Gen1:1-Rev22:21"], check=True, capture_output=True).stdout
    books: list[tuple[str, list[list[str]]]] = []
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


def split_corpus(books):
    """Training documents (one per book) and held-out chapters."""
    train_docs, held = [], []
    gi = 0
    for book, chapters in books:
        keep = []
        for ci, verses in enumerate(chapters):
            text = "\n".join(verses) + "\n"
            if gi % 50 == 25:
                held.append((f"{book} {ci + 1}", text))
            else:
                keep.append(text)
            gi += 1
        train_docs.append("\n".join(keep))
    return train_docs, held
