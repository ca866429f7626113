"""Checkpoints are tensors plus JSON, read with ``torch.load(weights_only=True)`` (issue 12):
a crafted checkpoint cannot run code in the worker that resumes it."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import torch

from search_worker.search.checkpoints import CheckpointStore


class _Planted:
    """Unpickled, it creates a file: what any code in a crafted checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_a_checkpoint_round_trips_tensors_tuples_and_optimizer_ids(tmp_path: Path) -> None:
    weights = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(weights.parameters(), lr=0.1)
    weights(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    state = {
        "net": weights.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "pending": [{"arch": (1, 2), "weight": 0.5, "note": None}],
        "$odd": {"$tensor": "not a tensor"},
    }
    loaded = CheckpointStore.load(CheckpointStore(tmp_path).save("s", 3, state))
    assert torch.equal(loaded["net"]["weight"], weights.weight)
    assert torch.equal(loaded["rng"], state["rng"])
    assert loaded["pending"] == state["pending"] and loaded["$odd"] == state["$odd"]
    restored = torch.optim.Adam(weights.parameters(), lr=0.1)
    restored.load_state_dict(loaded["optimizer"])
    assert sorted(restored.state_dict()["state"]) == [0, 1]  # int parameter ids, as saved
    assert restored.state_dict()["param_groups"][0]["betas"] == (0.9, 0.999)
    with pytest.raises(TypeError, match="tensors and JSON values"):
        CheckpointStore(tmp_path).save("s", 4, {"bad": object()})


def test_a_crafted_checkpoint_runs_no_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "step-000000001.pt"
    torch.save({"tensors": {}, "state": _Planted(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        CheckpointStore.load(path)
    assert not marker.exists()
