"""ONNX export at static shapes.

Exporter: the TorchScript-based ``torch.onnx.export(..., dynamo=False)``, chosen because
(1) node names keep the module scope (``/layers.3/depthwise/conv/Conv``), which per-layer
profiles map back to searchable blocks; (2) in eval mode it folds BatchNorm into the convs, as
deployment toolchains do; (3) its bytes are deterministic, so artifacts are content-addressed
by architecture; (4) the dynamo exporter needs ``onnxscript``, which hwnas does not install.
It is deprecated since torch 2.9 but still shipped in 2.14; its two deprecation warnings are
silenced around the call only.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

OPSET = 17
"""Pinned opset: supported by ONNX Runtime >= 1.14, TensorRT >= 8.6 and ORT mobile builds."""

INPUT_NAME = "input"
OUTPUT_NAME = "output"


def export_onnx(
    module: nn.Module, input_shape: Sequence[int], path: Path | str | None = None
) -> bytes:
    """Export ``module`` in eval mode at a static input shape; write to ``path`` if given.

    Returns the file's bytes. The module's train/eval mode is restored afterwards.
    """
    was_training = module.training
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "model.onnx"
        try:
            module.eval()
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX")
                warnings.filterwarnings("ignore", "The feature will be removed")
                torch.onnx.export(
                    module,
                    (torch.zeros(tuple(input_shape)),),
                    target,
                    dynamo=False,
                    opset_version=OPSET,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    do_constant_folding=True,
                )
        finally:
            module.train(was_training)
        data = target.read_bytes()
    if path is not None:
        Path(path).write_bytes(data)
    return data
