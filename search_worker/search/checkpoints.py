"""Search checkpoints on disk (a folder every worker can reach): written to a temporary file
and renamed, so a worker killed mid-write leaves the previous checkpoint intact.

A checkpoint holds tensors plus JSON: every tensor of the state goes into a flat
``{name: tensor}`` mapping and the rest of the state is a JSON document that names them.
``torch.load(weights_only=True)`` reads it back, so a crafted checkpoint file cannot run
code in a worker the way an unrestricted unpickler can.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

KEEP = 2
_TENSOR, _TUPLE, _ITEMS = "$tensor", "$tuple", "$items"


class CheckpointStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, search_id: str, step: int, state: dict[str, Any]) -> Path:
        folder = self.root / search_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step-{step:09d}.pt"
        partial = path.with_suffix(".partial")
        tensors: dict[str, torch.Tensor] = {}
        document = json.dumps(_encode(state, tensors))
        torch.save({"tensors": tensors, "state": document}, partial)
        os.replace(partial, path)
        for old in sorted(folder.glob("step-*.pt"))[:-KEEP]:
            old.unlink(missing_ok=True)
        return path

    @staticmethod
    def load(path: Path) -> dict[str, Any]:
        """On the CPU, wherever it was saved: ``load_state_dict`` moves each tensor to its
        module's or optimizer's device (and RNG states must be CPU tensors)."""
        stored = torch.load(path, map_location="cpu", weights_only=True)
        state: dict[str, Any] = _decode(json.loads(stored["state"]), stored["tensors"])
        return state


def _encode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """``value`` as JSON, each tensor moved into ``tensors`` and named in its place; tuples
    and dicts with keys other than strings (an optimizer's parameter ids) keep their type."""
    if isinstance(value, torch.Tensor):
        name = str(len(tensors))
        tensors[name] = value.detach().clone()
        return {_TENSOR: name}
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v, tensors) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v, tensors) for k, v in value.items()}
        return {_ITEMS: [[_encode(k, tensors), _encode(v, tensors)] for k, v in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a checkpoint holds tensors and JSON values, not {type(value).__name__}")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if _TENSOR in value:
        return tensors[value[_TENSOR]]
    if _TUPLE in value:
        return tuple(_decode(v, tensors) for v in value[_TUPLE])
    if _ITEMS in value:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in value[_ITEMS]}
    return {k: _decode(v, tensors) for k, v in value.items()}
