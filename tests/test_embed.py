"""The real MiniLM (loaded once per session by the `embedder` fixture)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from obsmem.embed import MODEL_DIM, MODEL_NAME


def test_shape_norm_and_identity(embedder):
    assert (embedder.name, embedder.dim) == (MODEL_NAME, MODEL_DIM) == ("all-MiniLM-L6-v2", 384)
    v = embedder.embed("pod is crash looping after the last deploy")
    assert v.shape == (384,) and v.dtype == np.float32
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-4
    many = embedder.embed_many(
        ["pod is crash looping after the last deploy", "disk full"], batch_size=1
    )
    assert many.shape == (2, 384)
    assert float(many[0] @ v) > 0.999
    assert embedder.embed_many([]).shape == (0, 384)


def test_similar_texts_are_closer_than_unrelated(embedder):
    a, b, c = embedder.embed_many([
        "Postgres replica is lagging far behind the primary",
        "database standby replication delay is high",
        "TLS certificate for the ingress expires in 3 days",
    ])  # fmt: skip
    assert float(a @ b) > float(a @ c) + 0.2


def test_cache_returns_same_read_only_vector(embedder):
    first = embedder.embed("cache me")
    assert embedder.embed("cache me") is first
    assert not first.flags.writeable


def test_importing_embed_does_not_import_torch():
    code = "import sys, obsmem.embed; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _real_texts(n: int = 60) -> list[str]:
    """Runbook texts and alert queries from ../shared/data, else fixed operations text."""
    import json

    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "recall-bench.jsonl"
    texts: list[str] = []
    if path.exists():
        for line in path.read_text().splitlines()[: n // 2]:
            rec = json.loads(line)
            texts += [rec.get("issue", ""), rec.get("solution", "")]
    texts += [
        "checkout-service p99 latency spike after deploy, connection pool exhausted",
        "Postgres replica is lagging far behind the primary",
        "x",
        "éàü 漢字 🚀 non-ascii alert text",
        "TLS certificate for the ingress expires in 3 days; renew it with cert-manager "
        * 20,  # > 256 tokens
    ]
    return [t for t in texts if t]


def test_onnx_vectors_equal_sentence_transformers(embedder):
    """The stored vectors stay valid: ONNX Runtime reproduces the torch model's vectors."""
    from sentence_transformers import SentenceTransformer

    texts = _real_texts()
    ref = SentenceTransformer(str(embedder.model_dir), device="cpu", local_files_only=True).encode(
        texts, normalize_embeddings=True, convert_to_numpy=True
    )
    for got in (
        embedder.embed_many(texts, batch_size=8),
        np.stack([embedder.embed(t) for t in texts]),
    ):
        cos = (got * ref).sum(axis=1)
        assert got.shape == ref.shape == (len(texts), 384)
        assert float(cos.min()) >= 0.9999, (float(cos.min()), texts[int(cos.argmin())][:80])


def test_embedding_does_not_import_torch():
    """Serving runs on onnxruntime alone; torch stays out of the process (memory, start time)."""
    code = (
        "import sys\nfrom obsmem.embed import Embedder\nEmbedder().embed('disk full')\n"
        "print([m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_onnx_runtime_keeps_no_telemetry(tmp_path):
    """ONNX Runtime 1.29+ would write a device id and an event cache under the home dir
    (and start a thread that uploads them); obsmem turns that off before it loads."""
    from obsmem.embed import cache_root

    drop = ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(HOME=str(tmp_path), OBSMEM_MODEL_CACHE=str(cache_root()), HF_HUB_OFFLINE="1")
    code = "from obsmem.embed import Embedder\nEmbedder().embed_query('disk full')"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    assert not (tmp_path / ".cache" / "Microsoft").exists()


def test_export_cache_is_verified_and_rebuilt_when_corrupt(embedder, tmp_path):
    import shutil

    from obsmem.embed import _sha256, ensure_exported

    good = ensure_exported(embedder.model_dir)  # the shared cache, built once per machine
    root = tmp_path / "cache"
    key_dir = root / good.parent.name
    shutil.copytree(good.parent, key_dir, ignore=shutil.ignore_patterns(".lock"))
    assert (
        ensure_exported(embedder.model_dir, root) == key_dir / "model.onnx"
    )  # verified copy is used as is
    with (key_dir / "model.onnx").open("r+b") as f:  # flip bytes in the middle of the weights
        f.seek(40_000_000)
        f.write(b"\xff" * 64)
    rebuilt = ensure_exported(embedder.model_dir, root)
    assert _sha256(rebuilt) == _sha256(good)
    (key_dir / "model.onnx").unlink()
    assert _sha256(ensure_exported(embedder.model_dir, root)) == _sha256(good)


# ---------------------------------------------------------------- coalesced runs

_MIXED = [
    "disk full",
    "checkout-service p99 latency spike after deploy, connection pool exhausted on pg-main",
    "x",
    "TLS certificate for the ingress expires in 3 days; renew it with cert-manager " * 6,
    "éàü 漢字 🚀 non-ascii alert text",
    "Postgres replica is lagging far behind the primary",
]


def _fresh_model(embedder, precision="fp32"):
    """A model of its own (not the process-wide shared one), so tests can wrap its runs."""
    from obsmem.embed import _Model

    return _Model(embedder.model_dir, precision)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_padded_batch_equals_batch_one(embedder, precision):
    """Texts of very different lengths in one run (padded to the longest, masked) get the
    vectors they get alone: coalescing never changes what a query finds. (int8 runs
    each text alone inside a shared turn: one activation scale per run.)"""
    model = _fresh_model(embedder, precision)
    encs = [model.tokenizer.encode(t) for t in _MIXED]
    alone = np.stack([model.run([e])[0] for e in encs])
    together = model.run(encs)
    cos = (alone * together).sum(axis=1)
    # Measured here: bit-identical; the margin is for other CPUs and kernels.
    assert float(cos.min()) >= 0.99999, cos


def test_concurrent_callers_share_a_run_and_each_get_their_own_vector(embedder, monkeypatch):
    import threading
    import time

    model = _fresh_model(embedder, "fp32")
    texts = [t for t in _MIXED if len(t) < 100]  # all fit one run (MAX_BATCH_TOKENS)
    alone = {t: model.run([model.tokenizer.encode(t)])[0] for t in texts}
    real_run, sizes = model.run, []
    first_in, release = threading.Event(), threading.Event()

    def run(encs):
        sizes.append(len(encs))
        if len(sizes) == 1:  # hold the first run until every other caller is queued
            first_in.set()
            assert release.wait(30)
        return real_run(encs)

    monkeypatch.setattr(model, "run", run)
    got: dict[str, np.ndarray] = {}

    def call(text: str) -> None:
        got[text] = model.embed_one(text)

    first = threading.Thread(target=call, args=(texts[0],))
    first.start()
    assert first_in.wait(30)
    rest = [threading.Thread(target=call, args=(t,)) for t in texts[1:]]
    for t in rest:
        t.start()
    deadline = time.monotonic() + 30
    while len(model._queue) < len(rest) and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for t in [first, *rest]:
        t.join(30)
    assert sizes == [1, len(rest)]  # a lone caller ran at once; the others went in one run
    for text, vec in got.items():
        assert float(vec @ alone[text]) >= 0.99999, text
    assert len(got) == len(texts)


def test_int8_callers_run_side_by_side_each_on_one_thread(embedder, monkeypatch):
    """int8 queries skip the queue: a second caller's run starts while the first's is
    still in flight (each on one intra-op thread), and each gets its text's vector."""
    import threading

    from obsmem.embed import query_threads

    assert query_threads() == 1
    model = _fresh_model(embedder, "int8")
    texts = [t for t in _MIXED if len(t) < 100][:2]
    alone = {t: model.run([model.tokenizer.encode(t)])[0] for t in texts}
    real_run = model._run
    first_in, second_in = threading.Event(), threading.Event()

    def run(encs):
        if not first_in.is_set():
            first_in.set()
            assert second_in.wait(30), "the second caller waited for the first run"
        else:
            second_in.set()
        return real_run(encs)

    monkeypatch.setattr(model, "_run", run)
    got: dict[str, np.ndarray] = {}
    first = threading.Thread(target=lambda: got.__setitem__(texts[0], model.embed_one(texts[0])))
    first.start()
    assert first_in.wait(30)
    got[texts[1]] = model.embed_one(texts[1])
    first.join(30)
    for text in texts:
        assert float(got[text] @ alone[text]) >= 0.99999, text


def test_query_threads_can_be_set(monkeypatch):
    from obsmem.embed import query_threads

    monkeypatch.setenv("OBSMEM_QUERY_THREADS", "2")
    assert query_threads() == 2
    monkeypatch.setenv("OBSMEM_QUERY_THREADS", "zero")
    assert query_threads() == 1


def test_coalesced_runs_stay_under_the_token_budget(embedder):
    """A queue of long texts is taken a budget's worth at a time, oldest first."""
    from obsmem.embed import MAX_BATCH_TOKENS, _Pending

    model = _fresh_model(embedder)
    long_text = _MIXED[3]
    model._queue = [_Pending(model.tokenizer.encode(t)) for t in [long_text] * 5 + ["x"]]
    width = len(model._queue[0].enc.ids)
    taken = model._take()
    assert len(taken) == MAX_BATCH_TOKENS // width and taken[0].enc.ids
    assert len(model._queue) == 6 - len(taken)


def test_a_failed_run_fails_each_of_its_callers_and_the_next_run_works(embedder, monkeypatch):
    import pytest

    model = _fresh_model(embedder)
    real_run = model.run

    def broken(encs):
        raise RuntimeError("onnxruntime fell over")

    monkeypatch.setattr(model, "run", broken)
    with pytest.raises(RuntimeError, match="fell over"):
        model.embed_one("disk full")
    monkeypatch.setattr(model, "run", real_run)
    assert model.embed_one("disk full").shape == (384,)
    assert not model._running and not model._queue


def test_embed_is_thread_safe_with_the_cache(embedder):
    """Many threads, repeated texts: every answer is its own text's vector."""
    from concurrent.futures import ThreadPoolExecutor

    from obsmem.embed import Embedder

    fresh = Embedder(embedder.model_dir, cache_size=3)  # a small cache: hits, misses, evictions
    ref = {t: embedder.embed_many([t])[0] for t in _MIXED}
    work = _MIXED * 6
    with ThreadPoolExecutor(8) as pool:
        out = list(pool.map(fresh.embed, work))
    for text, vec in zip(work, out, strict=True):
        assert float(vec @ ref[text]) >= 0.99999, text


# ---------------------------------------------------------------- int8 query model

# Measured on recall-bench (bench/int8_embed.py): min 0.987 over its 196 queries, 0.990
# over its 196 fix texts; on _real_texts() min 0.984 (the text "x"). The bound leaves
# margin for other CPUs' int8 kernels; a broken quantization (per-tensor scales: 0.92) falls below it.
INT8_MIN_COSINE = 0.975


def test_int8_query_vectors_stay_close_to_fp32(embedder):
    """Queries go through the int8 model, documents through fp32: they must agree."""
    texts = _real_texts()
    query = np.stack([embedder.embed_query(t) for t in texts])
    docs = embedder.embed_many(texts, batch_size=8)
    cos = (query * docs).sum(axis=1)
    assert float(cos.min()) >= INT8_MIN_COSINE, (float(cos.min()), texts[int(cos.argmin())][:80])
    assert float(cos.mean()) >= 0.99
    assert float(cos.max()) < 0.99999  # really the int8 model, not the fp32 one again
    for v in query:
        assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-4


def test_query_embedder_fp32_setting_uses_the_document_model(embedder):
    from obsmem.embed import Embedder

    exact = Embedder(embedder.model_dir, query_precision="fp32")
    assert exact.embed_query("disk full on the database volume") is exact.embed(
        "disk full on the database volume"
    )
    with pytest.raises(ValueError):
        Embedder(embedder.model_dir, query_precision="fp16")


def test_query_vectors_are_cached_apart_from_document_vectors(embedder):
    from obsmem.embed import Embedder

    fresh = Embedder(embedder.model_dir, query_precision="int8")
    q = fresh.embed_query("cache me as a query")
    d = fresh.embed("cache me as a query")
    assert fresh.embed_query("cache me as a query") is q and not q.flags.writeable
    assert fresh.embed("cache me as a query") is d
    assert float(q @ d) < 0.99999


def test_int8_cache_is_verified_and_rebuilt_when_missing_or_corrupt(embedder, tmp_path):
    import shutil

    from obsmem.embed import _sha256, ensure_quantized

    good = ensure_quantized(embedder.model_dir)  # beside the fp32 export in the shared cache
    root = tmp_path / "cache"
    key_dir = root / good.parent.name
    shutil.copytree(good.parent, key_dir, ignore=shutil.ignore_patterns(".lock", "*.tmp"))
    mtime = (key_dir / good.name).stat().st_mtime_ns
    assert ensure_quantized(embedder.model_dir, root) == key_dir / good.name
    assert (key_dir / good.name).stat().st_mtime_ns == mtime  # verified copy used as is
    with (key_dir / good.name).open("r+b") as f:  # flip bytes in the middle of the weights
        f.seek(10_000_000)
        f.write(b"\xff" * 64)
    assert _sha256(ensure_quantized(embedder.model_dir, root)) == _sha256(good)
    (key_dir / good.name).unlink()
    assert _sha256(ensure_quantized(embedder.model_dir, root)) == _sha256(good)
    (key_dir / "model.onnx").unlink()  # the fp32 export too: both come back
    (key_dir / good.name).unlink()
    assert _sha256(ensure_quantized(embedder.model_dir, root)) == _sha256(good)
    assert (key_dir / "model.onnx").exists()


def test_recall_embeds_its_query_with_the_int8_model(memory, embedder):
    """Memory.recall asks the embedder for a query vector (int8), remember stores fp32."""
    from obsmem.embed import FP32, INT8, _load

    assert embedder.query_precision == INT8
    issue, solution = "kafka consumer lag grows on orders topic", "scaled the consumer group to 6"
    fix = memory.remember(issue, solution)
    query = "orders topic consumer lag keeps growing"
    res = memory.recall(query, k=3)
    assert res and res[0].fix.id == fix.id
    assert query in embedder._qcache and query not in embedder._cache
    int8_vec = _load(embedder.model_dir, INT8).encode([query])[0]
    fp32_vec = _load(embedder.model_dir, FP32).encode([query])[0]
    assert np.array_equal(embedder._qcache[query], int8_vec)
    assert not np.allclose(int8_vec, fp32_vec, atol=1e-4)
    stored = memory.manager.vectors.get_embeddings([fix.id])[fix.id]
    doc = embedder.embed_many([f"{issue}\n{solution}"])[0]
    assert float(np.dot(stored, doc)) >= 0.99999  # documents stay on the fp32 model
