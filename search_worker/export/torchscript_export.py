"""TorchScript export (``torch.jit.trace``) for the agent's ``torch-cpu``/``torch-cuda`` backends,
which load a model without its Python code."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn


def export_torchscript(
    module: nn.Module, input_shape: Sequence[int], path: Path | str | None = None
) -> bytes:
    """Trace ``module`` in eval mode at a static input shape; write to ``path`` if given.

    Returns the ``.pt`` bytes. The example input is not stored in the file. The bytes are not
    stable across traces within one process (TorchScript numbers repeated class names with a
    process-wide counter), so a content address names the file, not the architecture.
    ``torch.jit`` is deprecated in torch 2.14; its FutureWarnings are silenced here only.
    """
    was_training = module.training
    buffer = io.BytesIO()
    try:
        module.eval()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is deprecated", FutureWarning)
            traced = torch.jit.trace(
                module, (torch.zeros(tuple(input_shape)),), check_trace=False, _store_inputs=False
            )
            torch.jit.save(traced, buffer)
    finally:
        module.train(was_training)
    data = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data
