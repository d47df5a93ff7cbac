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
    many = embedder.embed_many(["pod is crash looping after the last deploy", "disk full"], batch_size=1)
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
