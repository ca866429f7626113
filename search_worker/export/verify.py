"""Check exported files against PyTorch eager outputs on a seeded input.

Tolerance (fp32): max abs error <= ``atol + rtol * max|torch output|``, i.e. relative to the
output's scale, since untrained networks' outputs may be of any magnitude. Folded BatchNorm
and a different summation order cost ~1e-7 relative error per layer; whole networks at 224
and batch 32 showed up to ~2e-5 relative. ``rtol = 1e-3`` leaves 50x margin for that (and for
trained weights with a wider range), while a wrong padding, stride, shuffle or BN fold is off
by 1e-2 or more. ``atol`` only guards an all-zero output.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from latency_db.spaces import space_from_ref
from search_worker.export.artifacts import ExportedArtifact
from search_worker.export.weights_file import load_weights
from search_worker.nn import Network, build_block, init_weights

RTOL = 1e-3
ATOL = 1e-7


class ExportMismatchError(RuntimeError):
    """An exported model's output differs from PyTorch's beyond the tolerance."""


def _seeded_input(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _eager(module: nn.Module, x: np.ndarray) -> np.ndarray:
    was_training = module.training
    try:
        with torch.inference_mode():
            return module.eval()(torch.from_numpy(x)).numpy()
    finally:
        module.train(was_training)


def compare_outputs(
    got: np.ndarray, expected: np.ndarray, *, rtol: float, atol: float, what: str
) -> float:
    """Max abs error of ``got`` against ``expected``; raise when it exceeds the tolerance."""
    if got.shape != expected.shape:
        raise ExportMismatchError(f"{what}: output shape {got.shape} != torch {expected.shape}")
    error = float(np.abs(got - expected).max())
    bound = atol + rtol * float(np.abs(expected).max())
    if not error <= bound:
        raise ExportMismatchError(f"{what}: max abs error {error:.3g} vs torch exceeds {bound:.3g}")
    return error


def verify_onnx(
    module: nn.Module,
    onnx_path: Path | str,
    *,
    rtol: float = RTOL,
    atol: float = ATOL,
    seed: int = 0,
) -> float:
    """Run the file in ONNX Runtime (CPU, one thread) and ``module`` in eval mode on one
    seeded N(0, 1) input at the file's static shape; return the max abs error."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    (feed,) = session.get_inputs()
    if not all(isinstance(d, int) for d in feed.shape):
        raise ExportMismatchError(f"input shape {feed.shape} of {onnx_path} is not static")
    x = _seeded_input(tuple(feed.shape), seed)
    got = session.run(None, {feed.name: x})[0]
    return compare_outputs(got, _eager(module, x), rtol=rtol, atol=atol, what=str(onnx_path))


def verify_saved_module(
    module: nn.Module,
    path: Path | str,
    input_shape: tuple[int, ...],
    *,
    rtol: float = RTOL,
    atol: float = ATOL,
    seed: int = 0,
    kind: Literal["torchscript", "weights"] = "torchscript",
) -> float:
    """Load a saved network (a TorchScript file, or with ``kind="weights"`` the network a
    weights file rebuilds) and compare it with ``module`` in eval mode."""
    x = _seeded_input(input_shape, seed)
    got = _eager(_load(path, kind), x)
    return compare_outputs(got, _eager(module, x), rtol=rtol, atol=atol, what=str(path))


def _load(path: Path | str, kind: Literal["torchscript", "weights"]) -> nn.Module:
    if kind == "weights":
        return load_weights(path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`torch\.jit\.load` is deprecated", FutureWarning)
        module: nn.Module = torch.jit.load(str(path))
    return module


def rebuild_module(artifact: ExportedArtifact) -> nn.Module:
    """The seeded-init module an artifact of ``export_architecture``/``export_op_block`` holds."""
    if artifact.space_ref is None or artifact.seed is None:
        raise ValueError(f"artifact {artifact.sha256} names no space instance or init seed")
    space = space_from_ref(artifact.space_ref)
    block = space.candidate_blocks().get(artifact.subject)
    module = build_block(block) if block is not None else Network(space, artifact.subject)
    return init_weights(module, seed=artifact.seed)


def verify_artifact(artifact: ExportedArtifact, *, rtol: float = RTOL, atol: float = ATOL) -> float:
    """Verify an exported architecture or op block against its rebuilt PyTorch module."""
    module = rebuild_module(artifact)
    if artifact.kind == "onnx":
        return verify_onnx(module, artifact.path, rtol=rtol, atol=atol)
    return verify_saved_module(
        module, artifact.path, artifact.input_shape, rtol=rtol, atol=atol, kind=artifact.kind
    )
