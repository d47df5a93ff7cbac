"""Tokens for keyword search, made in Python for documents and queries alike.

Doing it here (not with a Postgres text-search config) means one tokeniser for
both sides, CamelCase alert names split into words (`KubePodCrashLooping` also
gives `kube pod crash looping`), and tokens that are always plain lexemes:
they can go into a tsquery without any chance of a syntax error.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter

MAX_TOKEN_CHARS = 48  # longer "words" are hashes, base64 or noise
MAX_TEXT_CHARS = 1_000_000  # beyond this, the rest of a text is not indexed
WORD_CACHE = 20_000  # distinct words whose tokens stay cached (a few MB at most)

# Template placeholders left in alert text: `<pod>`, `<cluster>`, `<value>`.
_PLACEHOLDER = re.compile(r"<[A-Za-z_][A-Za-z0-9_.-]{0,40}>")
_WORD = re.compile(r"[^\W_]+(?:_[^\W_]+)*")  # unicode letters/digits, joined by underscores
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

# Short and general: words that carry no meaning in an alert or a runbook.
STOP_WORDS = frozenset(
    """
    a an and are as at be been but by can do does for from has have how i if in into is it
    its of on or so such than that the their then there these they this to was were what
    when where which while who will with you your we our us yes may might should
    would could also just any all some more most other only own same very s t
    """.split()  # noqa: SIM905
)


def _parts(word: str) -> list[str]:
    """The word itself, plus its snake_case and CamelCase parts when it has any."""
    if "_" not in word and (
        not word.isascii() or word.isdigit() or (word.islower() and word.isalpha())
    ):
        return [word.casefold()]  # most words: nothing to split (what the general case gives)
    out = [word.casefold()]
    pieces = word.split("_") if "_" in word else [word]
    subs: list[str] = []
    for piece in pieces:
        camel = _CAMEL.findall(piece) if piece.isascii() else []
        if len(camel) > 1:
            subs.extend(c.casefold() for c in camel)
        elif len(pieces) > 1:
            subs.append(piece.casefold())
    out.extend(subs)
    return out


# ASCII text: every character that is not a word character becomes a space, so that
# str.split() yields the runs of [A-Za-z0-9_] that `\w+` would find.
_ASCII_GAPS = str.maketrans({chr(i): " " for i in range(128) if not (chr(i).isalnum() or i == 95)})


def _words(text: str) -> list[str]:
    """The raw words of a text: NFKC-normalised, placeholders and NULs out.

    ASCII text (NFKC leaves it as it is) is split with str.translate + str.split, which
    is 1.6-1.7x faster than the regex on alert text; only runs with an underscore go
    through `_WORD` (it drops their edge underscores and splits at doubled ones).
    """
    text = text[:MAX_TEXT_CHARS]
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).replace("\x00", " ")
        return _WORD.findall(_PLACEHOLDER.sub(" ", text))
    if "<" in text:
        text = _PLACEHOLDER.sub(" ", text)
    runs = text.translate(_ASCII_GAPS).split()
    if "_" not in text:
        return runs
    out: list[str] = []
    for run in runs:
        if "_" in run:
            out.extend(_WORD.findall(run))
        else:
            out.append(run)
    return out


def _kept(toks: list[str]) -> tuple[str, ...]:
    return tuple(t for t in toks if 2 <= len(t) <= MAX_TOKEN_CHARS and t not in STOP_WORDS)


def tokens(text: str) -> list[str]:
    """Lowercase word tokens in order (with repeats), placeholders and stop words removed."""
    if not text:
        return []
    out: list[str] = []
    for word in _words(text):
        out.extend(_word_tokens(word))
    return out


@functools.lru_cache(maxsize=WORD_CACHE)
def _word_tokens(word: str) -> tuple[str, ...]:
    """One word's tokens. Cached: the same words make up fix after fix, and splitting
    and filtering each occurrence again was most of recall's feature time on fixes
    the per-fix cache had not seen (varied text, 10k fixes)."""
    return _kept(_parts(word))


def title_tokens(text: str) -> list[str]:
    """Distinct tokens of a text's title line, a compound word (CamelCase, snake_case)
    as its parts only: `CortexIngesterRestarts` gives `cortex ingester restarts`.
    The title is the first line of a text that has more; a one-line text (most issues
    agents write) has none. Tokens with digits (pod hashes, versions) are instances,
    not names, and are left out."""
    lines = text[:MAX_TEXT_CHARS].split("\n", 1) if text else []
    if len(lines) < 2:
        return []
    out: list[str] = []
    for word in _words(lines[0]):
        out.extend(_title_word_tokens(word))
    return list(dict.fromkeys(out))


@functools.lru_cache(maxsize=WORD_CACHE)
def _title_word_tokens(word: str) -> tuple[str, ...]:
    if word.islower() and any(c.isdigit() for c in word):
        return ()  # `x2kqp`, `7d9f8b6c5`, `v2`: an instance's id, not part of a name
    parts = _parts(word)
    names = parts[1:] if len(parts) > 1 else parts
    return _kept([t for t in names if not any(c.isdigit() for c in t)])


def term_counts(text: str) -> Counter[str]:
    return Counter(tokens(text))


def query_terms(text: str, max_terms: int = 64) -> list[str]:
    """Distinct query terms in first-seen order, at most `max_terms` (a query is not a book)."""
    return list(dict.fromkeys(tokens(text)))[:max_terms]


# BM25F-style: a word in the issue counts this many times. The issue says what
# the problem is; boilerplate runbook steps ("check the logs") say little.
# Changing it needs a re-index (the weighted counts are stored).
ISSUE_WEIGHT = 3.0


def doc_terms(issue: str, solution: str) -> tuple[dict[str, float], float]:
    """Weighted term frequencies of a fix and its weighted length, for the postings."""
    return weighted_terms(tokens(issue), tokens(solution))


def weighted_terms(issue_toks: list[str], body_toks: list[str]) -> tuple[dict[str, float], float]:
    """`doc_terms` from the tokens of the issue and of the solution."""
    tf: dict[str, float] = {}
    for tok in issue_toks:
        tf[tok] = tf.get(tok, 0.0) + ISSUE_WEIGHT
    for tok in body_toks:
        tf[tok] = tf.get(tok, 0.0) + 1.0
    return tf, ISSUE_WEIGHT * len(issue_toks) + len(body_toks)
