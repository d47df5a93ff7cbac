"""The real MiniLM (loaded once per session by the `embedder` fixture)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

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
