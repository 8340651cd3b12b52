"""Word-level diff and normalised edit distance between an original response and its edit."""

import re
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

_TOKEN = re.compile(r"\s+|[^\s]+")


def tokens(text: str | None) -> list[str]:
    """Words and the whitespace between them, so a diff can be rendered back losslessly."""
    return _TOKEN.findall(text or "")


@dataclass(frozen=True)
class WordDiff:
    """opcodes: [[tag, old_text, new_text], ...] with tag in equal/insert/delete/replace, covering
    both texts end to end (stored as JSON, hence lists); distance: word-level Levenshtein
    distance / max word count (0..1)."""

    opcodes: list[list[str]]
    distance: float


def word_diff(original: str | None, edited: str | None) -> WordDiff:
    """The word-level diff of `edited` against `original`, and how far apart they are."""
    a, b = tokens(original), tokens(edited)
    ops: list[list[str]] = []
    for op in Levenshtein.opcodes(a, b):
        old, new = "".join(a[op.src_start : op.src_end]), "".join(b[op.dest_start : op.dest_end])
        if ops and ops[-1][0] == op.tag:
            ops[-1][1] += old
            ops[-1][2] += new
        else:
            ops.append([op.tag, old, new])
    words_a, words_b = (original or "").split(), (edited or "").split()
    distance = Levenshtein.normalized_distance(words_a, words_b) if (words_a or words_b) else 0.0
    return WordDiff(ops, float(distance))


def derive(original, edited):
    """The stored fields an edit derives from its text: {"diff": opcodes, "edit_distance": 0..1}.
    The one place a diff is made (on save, for judge edits stored in bulk, for imported edits)."""
    diff = word_diff(original, edited)
    return {"diff": diff.opcodes, "edit_distance": diff.distance}
