"""Is an int8 MiniLM good enough for queries? Fidelity, CPU and recall quality vs fp32.

    python -m bench.int8_embed [--rounds 4]      # variants: fidelity + CPU/latency, interleaved
    python -m bench.int8_embed --quality         # recall-bench gate: fp32 vs (Q) vs (F)

Variants are built from the cached fp32 export (obsmem.embed.ensure_exported) into
bench/out/int8/: onnxruntime's transformer optimizer (fp32, `opt`), and
`quantize_dynamic` with per-tensor or per-channel weights, MatMul only or MatMul +
embedding tables (Gather), reduce_range, and the first and last layers kept fp32.
Fidelity: cosine of each variant's vector to the fp32 one over every recall-bench
query and fix text (min / mean). Speed: batch 1 over the hard queries, each variant
run in turn within every round (order reversed on odd rounds): CPU per text
(`time.process_time` around `session.run`, 1 intra-op thread) and wall p50 at 1
and 2 threads. `shipped` is the file obsmem.embed.ensure_quantized builds.

--quality runs bench.relevance_fit's collect + CV and bench.quality on fresh stores
three times: fp32 for everything (today), (Q) int8 for queries only with fp32
documents (what obsmem ships), (F) int8 for documents too (would need a new model
id and a re-embed).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure import emit, load
from bench.recall_quality import load as load_bench

OUT = Path(__file__).with_name("out")
LAYERS = ("attention/self/query", "attention/self/key", "attention/self/value",
          "attention/output/dense", "intermediate/dense", "output/dense")  # fmt: skip
EDGE = [f"/model/encoder/layer.{n}/{p}/MatMul" for n in (0, 5) for p in LAYERS]
MM, MMG = ["MatMul"], ["MatMul", "Gather"]
VARIANTS: dict[str, dict[str, Any]] = {
    "int8-tensor": {"op_types_to_quantize": MMG},
    "int8-mm-tensor": {"op_types_to_quantize": MM},
    "int8-mm-tensor-rr": {"op_types_to_quantize": MM, "reduce_range": True},
    "int8-channel (shipped)": {"op_types_to_quantize": MMG, "per_channel": True},
    "int8-mm-channel": {"op_types_to_quantize": MM, "per_channel": True},
    "int8-mm-channel-rr": {"op_types_to_quantize": MM, "per_channel": True, "reduce_range": True},
    "int8-mm-channel-edge-fp32": {"op_types_to_quantize": MM, "per_channel": True,
                                  "nodes_to_exclude": EDGE},
    "opt+int8-mm-channel": {"op_types_to_quantize": MM, "per_channel": True, "_src": "opt"},
}  # fmt: skip


def build(folder: Path) -> dict[str, Path]:
    """Every variant's .onnx file (built once into `folder`)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    from obsmem.embed import default_model_dir, ensure_exported, ensure_quantized

    folder.mkdir(parents=True, exist_ok=True)
    fp32 = ensure_exported(default_model_dir())
    paths = {
        "fp32": fp32,
        "shipped": ensure_quantized(default_model_dir()),
        "opt": folder / "opt.onnx",
    }
    if not paths["opt"].exists():
        opt = optimize_model(
            str(fp32), model_type="bert", num_heads=12, hidden_size=384, opt_level=1
        )
        print(
            "optimizer fused:", {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
        )
        opt.save_model_to_file(str(paths["opt"]))
    for name, kw in VARIANTS.items():
        kw = dict(kw)
        src = paths[kw.pop("_src", "fp32")]
        out = paths[name] = folder / (name.split()[0] + ".onnx")
        if not out.exists():
            quantize_dynamic(
                str(src), str(out), weight_type=QuantType.QInt8,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT}, **kw,
            )  # fmt: skip
    return paths


def session(path: Path, threads: int) -> Any:
    """A session set up as obsmem.embed sets up its own."""
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads = threads, 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])


def _feed(enc: Any) -> dict[str, np.ndarray]:
    ids = np.array([enc.ids], dtype=np.int64)
    return {
        "input_ids": ids,
        "attention_mask": np.ones_like(ids),
        "token_type_ids": np.zeros_like(ids),
    }


def _vector(sess: Any, enc: Any) -> np.ndarray:
    v = sess.run(None, _feed(enc))[0][0].mean(axis=0)
    return np.asarray(v / np.linalg.norm(v))


def variants(rounds: int) -> dict[str, Any]:
    from tokenizers import Tokenizer

    from obsmem.embed import MAX_TOKENS, default_model_dir

    paths = build(OUT / "int8")
    tok = Tokenizer.from_file(str(default_model_dir() / "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    tok.no_padding()  # as obsmem.embed: each text its own length
    fixes, queries = load_bench()
    texts = {
        "queries": tok.encode_batch([q["query"] for q in queries]),
        "fixes": tok.encode_batch(
            [f"{f['issue'].strip()}\n{f['solution'].strip()}" for f in fixes]
        ),
    }
    names = ["fp32", "opt", "shipped", *[n for n in VARIANTS if n != "int8-channel (shipped)"]]
    one = {n: session(paths[n], 1) for n in names}
    ref = {k: np.stack([_vector(one["fp32"], e) for e in encs]) for k, encs in texts.items()}
    info: dict[str, Any] = {"load_before": load(), "files_mb": {}, "fidelity": {}, "speed": {}}
    for n in names:
        info["files_mb"][n] = round(paths[n].stat().st_size / 2**20, 1)
        fid = {}
        for k, encs in texts.items():
            cos = (np.stack([_vector(one[n], e) for e in encs]) * ref[k]).sum(axis=1)
            fid[k] = {"min": round(float(cos.min()), 5), "mean": round(float(cos.mean()), 5)}
        info["fidelity"][n] = fid
    two = {n: session(paths[n], 2) for n in names}
    hard = [e for e, q in zip(texts["queries"], queries, strict=True) if q["variant"] == "hard"]
    cpu: dict[str, list[float]] = {n: [] for n in names}
    w1: dict[str, list[float]] = {n: [] for n in names}
    w2: dict[str, list[float]] = {n: [] for n in names}
    for s in (*one.values(), *two.values()):
        for e in hard[:10]:
            s.run(None, _feed(e))  # warm
    for r in range(rounds):
        for n in names if r % 2 == 0 else names[::-1]:
            for e in hard:
                f = _feed(e)
                c0, t0 = time.process_time(), time.perf_counter()
                one[n].run(None, f)
                w1[n].append(time.perf_counter() - t0)
                cpu[n].append(time.process_time() - c0)
            for e in hard:
                f = _feed(e)
                t0 = time.perf_counter()
                two[n].run(None, f)
                w2[n].append(time.perf_counter() - t0)
    for n in names:
        info["speed"][n] = {
            "cpu_ms_mean": round(1000 * statistics.mean(cpu[n]), 2),
            "wall_p50_ms_1thread": round(1000 * statistics.median(w1[n]), 2),
            "wall_p50_ms_2threads": round(1000 * statistics.median(w2[n]), 2),
            "runs": len(cpu[n]),
        }
    info["tokens_mean_hard_queries"] = round(statistics.mean(len(e.ids) for e in hard), 1)
    info["load_after"] = load()
    return info


def _all_int8() -> Any:
    """(F): documents through the int8 model too (not shipped: it would change stored vectors)."""
    from obsmem.embed import Embedder

    class AllInt8(Embedder):
        def embed(self, text: str) -> np.ndarray:
            return self.embed_query(text)

        def embed_many(self, texts: Any, batch_size: int = 32) -> np.ndarray:
            return np.stack([self.embed_query(t) for t in texts]).reshape(len(texts), self.dim)

    return AllInt8(query_precision="int8")


def quality() -> dict[str, Any]:
    from bench import quality as q
    from bench import relevance_fit as rf
    from obsmem.embed import Embedder
    from obsmem.recall import FEATURES

    _, queries = load_bench(rf.DATA)
    info: dict[str, Any] = {"load_before": load()}
    for name, embedder in (
        ("fp32", Embedder(query_precision="fp32")),
        ("Q: int8 queries, fp32 documents", Embedder(query_precision="int8")),
        ("F: int8 queries and documents", _all_int8()),
    ):
        with tempfile.TemporaryDirectory(prefix="obsmem-int8q-") as tmp:
            data = rf.collect(Path(tmp) / "relfit", rf.DATA, embedder)
            ranking = q.run(Path(tmp) / "quality", embedder)
        cv = rf.evaluate(data, queries, rf.TRAIN_VARIANTS, tuple(FEATURES))
        refit = rf.fit(data, [x["qid"] for x in queries if x["variant"] == "hard"],
                       {x["qid"]: x["relevant"] for x in queries}, tuple(FEATURES))  # fmt: skip
        info[name] = {
            "cv_fold_means": cv["fold_means"],
            "cv_pooled_AUROC": round(cv["pooled"]["AUROC"], 3),
            "shipped_coefficients": rf.baselines(data, queries),
            "recall_end_to_end": rf.end_to_end(data, queries),
            "refit": {
                "intercept": round(float(refit.intercept_[0]), 3),
                "coefs": dict(zip(FEATURES, np.round(refit.coef_[0], 3).tolist(), strict=True)),
            },
            "ranking": {s: ranking[s] for s in ("hard", "easy", "hard-paraphrase")},
        }
    info["load_after"] = load()
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--quality", action="store_true", help="the recall-bench gate instead")
    args = ap.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    if args.quality:
        emit(quality(), OUT / "int8_quality.json")
    else:
        emit(variants(args.rounds), OUT / "int8_embed.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
