"""Word accuracy (1 - word error rate) after a light normalisation, as ASR benchmarks score it."""

from __future__ import annotations

import re

_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
            "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
_SPELLING = {"neighbours": "neighbors", "neighbour": "neighbor", "colour": "color", "favourite": "favorite",
             "okay": "ok", "o'clock": "oclock", "oclock": "oclock"}


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation; numbers 0-20 as words; a few US/UK spellings unified."""
    words: list[str] = []
    for raw in re.findall(r"[a-z0-9']+", text.lower()):
        word = raw.strip("'")
        if word.isdigit() and int(word) < len(_NUMBERS):
            word = _NUMBERS[int(word)]
        word = _SPELLING.get(word, word).replace("'", "")
        if word:
            words.append(word)
    return words


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference word count) by Levenshtein distance over words."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, want in enumerate(ref, 1):
        prev, row[0] = row[:], i
        for j, got in enumerate(hyp, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (want != got))
    return row[len(hyp)], len(ref)


def word_accuracy(pairs: list[tuple[str, str]]) -> float:
    """1 - WER over (reference, hypothesis) pairs (may be negative when the hypotheses add many words)."""
    errors = total = 0
    for reference, hypothesis in pairs:
        wrong, count = word_errors(reference, hypothesis)
        errors, total = errors + wrong, total + count
    return 1.0 - errors / total if total else 1.0


__all__ = ["normalise", "word_accuracy", "word_errors"]
