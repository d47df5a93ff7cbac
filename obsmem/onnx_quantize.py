"""Quantize the fp32 ONNX export to the int8 query model (dynamic, per-channel weights).

Run as `python -m obsmem.onnx_quantize FP32_FILE OUT_FILE` (the embedder does, in
a subprocess, when its cache lacks the file), so a serving process never holds
the onnx protobuf of a 90 MB model. The recipe, chosen in bench/int8_embed.py:
weights of every MatMul and the embedding tables (Gather) as signed int8 with
one scale per output channel, activations quantized at run time; the attention
products of two activations stay fp32. Per-tensor scales moved vectors to
cosine ~0.957 mean; per channel keeps 0.993, and the int8 tables keep the
session small (+33 MB beside the fp32 one, +67 MB with fp32 tables).
"""

from __future__ import annotations

import sys
from pathlib import Path

OP_TYPES = ("MatMul", "Gather")


def quantize(src: Path, out: Path) -> None:
    """Write `out`, the int8 model, from the fp32 export `src` (deterministic)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=False,
        op_types_to_quantize=list(OP_TYPES),
        # the exporter's shape inference leaves some MatMul outputs untyped: they are float
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m obsmem.onnx_quantize FP32_FILE OUT_FILE", file=sys.stderr)
        return 2
    quantize(Path(args[0]), Path(args[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
