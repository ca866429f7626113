"""Search checkpoints on disk (a folder every worker can reach): written to a temporary file
and renamed, so a worker killed mid-write leaves the previous checkpoint intact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

KEEP = 2


class CheckpointStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, search_id: str, step: int, state: dict[str, Any]) -> Path:
        folder = self.root / search_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step-{step:09d}.pt"
        partial = path.with_suffix(".partial")
        torch.save(state, partial)
        os.replace(partial, path)
        for old in sorted(folder.glob("step-*.pt"))[:-KEEP]:
            old.unlink(missing_ok=True)
        return path

    @staticmethod
    def load(path: Path) -> dict[str, Any]:
        """On the CPU, wherever it was saved: ``load_state_dict`` moves each tensor to its
        module's or optimizer's device (and RNG states must be CPU tensors)."""
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
        return state
