"""Keyword tokens: the same on both sides, CamelCase split, safe for any input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from obsmem import text


def test_camel_case_and_snake_case_parts():
    toks = text.tokens("KubePodCrashLooping kube_pod_container_status_restarts_total")
    assert toks[:5] == ["kubepodcrashlooping", "kube", "pod", "crash", "looping"]
    assert "restarts" in toks and "kube_pod_container_status_restarts_total" in toks


def test_placeholders_stop_words_and_case():
    assert text.tokens("Ingester <pod> in <cluster>/<namespace> is using TOO much Memory") == [
        "ingester", "using", "too", "much", "memory",
    ]  # fmt: skip


def test_unicode_words_are_kept():
    assert text.tokens("Café naïve ÉCOLE 日本語") == ["café", "naïve", "école", "日本語"]


def test_doc_terms_weights_issue_words():
    tf, length = text.doc_terms("disk full", "clean the disk")
    assert tf["disk"] == text.ISSUE_WEIGHT + 1
    assert tf["clean"] == 1
    assert length == 2 * text.ISSUE_WEIGHT + 2


def test_title_tokens_are_the_first_line_with_compounds_as_parts():
    assert text.title_tokens("CortexIngesterRestarts\nCortex Ingester Restarts") == [
        "cortex",
        "ingester",
        "restarts",
    ]
    assert text.title_tokens("Disk full on <host>: the db_backup job failed\nsteps") == [
        "disk",
        "full",
        "db",
        "backup",
        "job",
        "failed",
    ]
    # one line, as agents write issues: no title line
    assert text.title_tokens("Disk full on <host>: the db_backup job failed") == []
    assert text.title_tokens("Pod checkout-api-7d9f8b6c5-x2kqp in CrashLoopBackOff\nexit 137") == [
        "pod",
        "checkout",
        "api",
        "crash",
        "loop",
        "back",
        "off",
    ]
    assert text.title_tokens("HTTP5xxErrors on v2.14\nmore") == ["http", "xx", "errors"]
    assert text.title_tokens("") == [] and text.title_tokens("\nsecond line") == []


def test_tsquery_syntax_and_huge_text_are_harmless():
    assert text.tokens("'\"):|&!<->* (( \\ ") == []
    big = "word " * 250_000  # 1.25 MB
    assert len(text.tokens(big)) == text.MAX_TEXT_CHARS // 5


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
def test_tokens_of_any_text_are_plain_lexemes(s):
    for tok in text.tokens(s):
        assert 2 <= len(tok) <= text.MAX_TOKEN_CHARS
        assert not any(c in tok for c in " '\":|&!<>()*\\")


def _parts_reference(word: str) -> list[str]:
    """text._parts before its shortcut for words with nothing to split."""
    out = [word.casefold()]
    pieces = word.split("_") if "_" in word else [word]
    subs: list[str] = []
    for piece in pieces:
        camel = text._CAMEL.findall(piece) if piece.isascii() else []
        if len(camel) > 1:
            subs.extend(c.casefold() for c in camel)
        elif len(pieces) > 1:
            subs.append(piece.casefold())
    out.extend(subs)
    return out


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
def test_the_shortcut_for_plain_words_splits_as_before(s):
    words = [m.group() for m in text._WORD.finditer(s)]
    words += ["latency", "5781", "api7f9c", "KubePod", "HTTP2", "naïve", "ÉCOLE", "a_b", "日本語"]
    for w in words:
        assert text._parts(w) == _parts_reference(w)


def _tokens_reference(s: str) -> list[str]:
    """text.tokens before its per-word cache."""
    import unicodedata

    s = unicodedata.normalize("NFKC", s[: text.MAX_TEXT_CHARS]).replace("\x00", " ")
    s = text._PLACEHOLDER.sub(" ", s)
    return [
        tok
        for m in text._WORD.finditer(s)
        for tok in _parts_reference(m.group())
        if 2 <= len(tok) <= text.MAX_TOKEN_CHARS and tok not in text.STOP_WORDS
    ]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
def test_cached_word_tokens_give_the_tokens_as_before(s):
    s += " KubePodCrashLooping the db_primary_1 <pod> naïve HTTP2 x"
    assert text.tokens(s) == _tokens_reference(s)
    assert text.tokens(s) == _tokens_reference(s)  # the second time from the cache


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(st.sampled_from([chr(i) for i in range(128)] + ["__", "_a_", "<pod>", "Ab"])).map(
        "".join
    )
)
def test_ascii_fast_split_finds_the_words_the_regex_finds(s):
    """ASCII text is split with str.translate + str.split, not the regex: same words, same order
    (underscores at a run's edges dropped, doubled ones splitting, placeholders and NULs out)."""
    s += " snake__case _edge_ db_primary_1 <pod>x"
    assert s.isascii()
    ref = text._WORD.findall(text._PLACEHOLDER.sub(" ", s.replace("\x00", " ")))
    assert text._words(s) == ref
    assert text.tokens(s) == _tokens_reference(s)


def _regex_words(s: str) -> list[str]:
    """text._words before the ASCII fast path."""
    import unicodedata

    s = unicodedata.normalize("NFKC", s[: text.MAX_TEXT_CHARS]).replace("\x00", " ")
    return text._WORD.findall(text._PLACEHOLDER.sub(" ", s))


def test_fast_split_gives_the_same_words_on_runbooks_and_varied_fixes():
    """Recall's features are a function of these words: same words, same features."""
    from bench.generate import fixes
    from tests.conftest import SHARED_DATA

    texts = [t for f in fixes(2000, seed=3) for t in (f["issue"], f["solution"])]
    bench_data = SHARED_DATA / "recall-bench.jsonl"
    if bench_data.exists():
        from bench.recall_quality import load

        texts += [t for f in load(bench_data)[0] for t in (f["issue"], f["solution"])]
    assert len(texts) >= 4000
    assert sum(t.isascii() for t in texts) > len(texts) // 2  # the fast path is what ran
    for t in texts:
        assert text._words(t) == _regex_words(t)
