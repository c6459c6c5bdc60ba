"""int8 ONNX: static quantisation (QDQ) of the exported float32 model, calibrated on training photos, and
the gate that decides whether it is served.

onnxruntime.quantization (https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html):
per-channel int8 weights, uint8 activations (U8S8, what x86 CPUs run fastest), ranges by MinMax over the
calibration photos. The heads (Gemm) and what follows them (softmax, the known-breed sum) stay float32:
they cost little, and an 8-bit softmax would blur the probabilities and the known-breed score.

The int8 model is served only when, on the run's validation photos, its top-1 is at most `max_top1_drop`
below float32's and the two models' answers agree on at least `min_agreement` of the photos.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

FLOAT_ONLY_OPS = ("Gemm", "MatMul", "Softmax", "ReduceSum", "Gather", "GatherElements", "Div", "Flatten")


class _Batches:
    """onnxruntime's CalibrationDataReader over preprocessed photos (N, 3, H, W), a few at a time."""

    def __init__(self, images: np.ndarray, input_name: str, batch: int = 8):
        self.batches = iter([{input_name: images[i:i + batch]} for i in range(0, len(images), batch)])

    def get_next(self):
        return next(self.batches, None)


def quantise(float_path: Path, int8_path: Path, calibration: np.ndarray) -> None:
    """Write the int8 (QDQ) model of `float_path` to `int8_path`, calibrated on `calibration`."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = int8_path.with_name(int8_path.stem + ".prepared.onnx")
    try:
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared)).graph
        excluded = [n.name for n in graph.node if n.op_type in FLOAT_ONLY_OPS]
        quantize_static(str(prepared), str(int8_path), _Batches(np.ascontiguousarray(calibration, np.float32),
                                                                graph.input[0].name),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=excluded)
    finally:
        prepared.unlink(missing_ok=True)
        Path(str(prepared) + ".data").unlink(missing_ok=True)


def session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def compare(float_path: Path, int8_path: Path, batches: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
    """Top-1 of both models on labelled batches of preprocessed photos, and how often they agree."""
    exact, small = session(float_path), session(int8_path)
    name = exact.get_inputs()[0].name
    float_answers, int8_answers, labels = [], [], []
    for images, targets in batches:
        images = np.ascontiguousarray(np.asarray(images), np.float32)
        float_answers.append(exact.run(None, {name: images})[0].argmax(1))
        int8_answers.append(small.run(None, {name: images})[0].argmax(1))
        labels.append(np.asarray(targets))
    f, q, y = (np.concatenate(a) for a in (float_answers, int8_answers, labels))
    return {"photos": int(y.size), "float32_top1": float((f == y).mean()), "int8_top1": float((q == y).mean()),
            "agreement": float((f == q).mean())}


def gate(comparison: dict[str, Any], *, max_top1_drop: float, min_agreement: float) -> dict[str, Any]:
    """The comparison with `served` (bool) and, when not served, the `reason`."""
    drop = comparison["float32_top1"] - comparison["int8_top1"]
    reasons = []
    if drop > max_top1_drop + 1e-12:
        reasons.append(f"top-1 {comparison['int8_top1']:.4f} is {drop:.4f} below float32's "
                       f"{comparison['float32_top1']:.4f} (at most {max_top1_drop:g} allowed)")
    if comparison["agreement"] < min_agreement - 1e-12:
        reasons.append(f"its answers agree with float32's on {comparison['agreement']:.4f} of the photos "
                       f"(at least {min_agreement:g} required)")
    result = {**comparison, "top1_drop": drop, "max_top1_drop": max_top1_drop,
              "min_agreement": min_agreement, "served": not reasons}
    if reasons:
        result["reason"] = f"on {comparison['photos']} validation photos: " + "; ".join(reasons)
    return result


def build_and_check(float_path: Path, int8_path: Path, *, calibration, validation, max_top1_drop: float,
                    min_agreement: float) -> dict[str, Any]:
    """Quantise, compare on the validation batches, gate; an int8 model that fails is removed."""
    try:
        quantise(float_path, int8_path, np.asarray(calibration))
        result = gate(compare(float_path, int8_path, validation), max_top1_drop=max_top1_drop,
                      min_agreement=min_agreement)
    except Exception as exc:  # an operator the quantiser lacks, no onnxruntime: float32 serves
        result = {"served": False, "reason": f"{type(exc).__name__}: {str(exc)[:200]}"}
    if not result["served"]:
        int8_path.unlink(missing_ok=True)
    return result
