"""Export the bundled MiniLM to ONNX: the only place obsmem imports torch.

Run as `python -m obsmem.onnx_export MODEL_DIR OUT_FILE` (the embedder does, in
a subprocess, when its cache is missing or corrupt), so a serving process never
maps torch into memory. The legacy TorchScript exporter takes ~2 s; the
transformer is wrapped so it is called with keyword arguments (called
positionally, the exporter trips over `use_cache`) and returns only the token
embeddings: pooling and normalisation happen in numpy, exactly as in
sentence-transformers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

OPSET = 17


def export(model_dir: Path, out: Path) -> None:
    """Write `out` (an .onnx file) from the transformer weights in `model_dir`."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
    model.eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                use_cache=False,
                return_dict=False,
            )[0]

    ids = torch.ones((1, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "seq"}
    with torch.inference_mode():
        torch.onnx.export(
            TokenEmbeddings(),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(out),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["token_embeddings"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "token_embeddings": axes,
            },
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m obsmem.onnx_export MODEL_DIR OUT_FILE", file=sys.stderr)
        return 2
    export(Path(args[0]), Path(args[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
