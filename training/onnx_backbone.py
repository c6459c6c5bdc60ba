"""The frozen backbone run by ONNX Runtime, for computing cached features on a CPU.

With `cache_features=1` every training photo goes through the frozen backbone once; on a CPU ONNX Runtime
does that several times faster than eager PyTorch (EfficientNet-Lite0 on 2 cores: about 12 ms an image
against 55). The backbone is exported to ONNX once, its answers are checked against PyTorch's on the first
batch, and PyTorch does the work instead when onnxruntime is missing, the export fails or the answers
differ by more than `TOLERANCE`.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Callable

import torch
from torch import nn

TOLERANCE = 1e-3  # features (not probabilities): post-ReLU6 activations of order 1
OPSET = 17


def features_function(backbone: nn.Module, threads: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """`batch (N, 3, H, W) -> features (N, F)` on the CPU: ONNX Runtime when it can, else `backbone`."""
    try:
        import onnxruntime as ort
    except ImportError:
        return backbone
    state: dict[str, object] = {}

    def run(batch: torch.Tensor) -> torch.Tensor:
        if "session" not in state:
            state["session"] = _session(ort, backbone, batch, threads)
        session = state["session"]
        if session is None:
            return backbone(batch)
        got = torch.from_numpy(session.run(None, {"images": batch.numpy()})[0])
        if not state.get("checked"):
            state["checked"] = True
            difference = float((got - backbone(batch)).abs().max())
            if difference > TOLERANCE:
                warnings.warn(f"ONNX Runtime's features differ from PyTorch's by {difference:.2e}; "
                              "computing them with PyTorch")
                state["session"] = None
                return backbone(batch)
        return got

    return run


def _session(ort, backbone: nn.Module, example: torch.Tensor, threads: int):
    with tempfile.TemporaryDirectory(prefix="dogs-backbone-") as folder:
        path = Path(folder) / "backbone.onnx"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the exporter's notes on constant folding and the like
                torch.onnx.export(backbone, (example[:1],), str(path), dynamo=False, input_names=["images"],
                                  output_names=["features"], opset_version=OPSET,
                                  dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}})
            options = ort.SessionOptions()
            options.intra_op_num_threads = max(1, threads)
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # an operator the exporter lacks: PyTorch computes the features
            warnings.warn(f"ONNX export of the backbone failed ({type(exc).__name__}); computing "
                          "features with PyTorch")
            return None
