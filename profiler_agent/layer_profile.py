"""Per-layer times from a runtime profiler, and their network block.

ONNX Runtime's ``SessionOptions.enable_profiling`` trace is a JSON array of Chrome-trace events
(``onnxruntime/core/common/profiler.cc``): each executed kernel is an event with ``cat`` "Node",
``name`` "<node name>_kernel_time", ``dur`` in microseconds and ``args.op_name``; each
``InferenceSession.run`` is a ``cat`` "Session" event named "model_run". Node names of
networks exported by ``torch.onnx`` carry the module path as scope (``/layers.3/expand/conv/
Conv``); graph optimizations keep it in most fused names (``<output>_nchwc`` nodes are named
after their output tensor ``/layers.3/.../Conv_output_0``), while inserted layout nodes such as
``ReorderOutput`` have none and count as ``other``.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OTHER = "other"
_BLOCK = re.compile(r"(?:^|/)(stem|fixed\.\d+|layers\.\d+|feature_mix|classifier)(?:/|$)")
_KERNEL_SUFFIX = "_kernel_time"


@dataclass(frozen=True)
class LayerTime:
    """Mean time of one executed node (or fused layer) per inference."""

    name: str
    op_type: str
    time_ms: float
    block: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LayerProfile:
    """Per-node times and their totals per network block (``stem``, ``layers.3``, ``other``)."""

    layers: tuple[LayerTime, ...]
    blocks: dict[str, float]

    @classmethod
    def from_layers(cls, layers: Iterable[LayerTime]) -> LayerProfile:
        layers = tuple(layers)
        blocks: dict[str, float] = {}
        for layer in layers:
            blocks[layer.block] = blocks.get(layer.block, 0.0) + layer.time_ms
        return cls(layers=layers, blocks=blocks)

    @property
    def total_ms(self) -> float:
        return sum(self.blocks.values())

    def to_dict(self) -> dict[str, Any]:
        return {"layers": [layer.to_dict() for layer in self.layers], "blocks": dict(self.blocks)}


def block_of(name: str) -> str:
    """The first top-level module scope in a node name, or ``other``."""
    match = _BLOCK.search(name)
    return match.group(1) if match else OTHER


def load_ort_profile(path: Path) -> list[dict[str, Any]]:
    """The events of an ONNX Runtime profiling JSON file."""
    events = json.loads(path.read_text())
    if not isinstance(events, list):
        raise ValueError(f"{path}: expected a JSON array of trace events")
    return events


def parse_ort_profile(events: Sequence[Mapping[str, Any]], skip_runs: int = 0) -> list[LayerTime]:
    """Per-node kernel time averaged over the profiled runs, in execution order.

    Each kernel event is assigned to the ``model_run`` it starts in; the first ``skip_runs``
    runs (warm-up inside the profiling session) are left out.
    """
    runs = sorted(
        float(e["ts"]) for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"
    )
    counted = len(runs) - skip_runs
    if counted <= 0:
        raise ValueError(f"profile holds {len(runs)} model_run events; {skip_runs} are warm-up")
    totals: dict[str, float] = {}
    op_types: dict[str, str] = {}
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") != "Node" or not name.endswith(_KERNEL_SUFFIX):
            continue
        if bisect.bisect_right(runs, float(event["ts"])) - 1 < skip_runs:
            continue
        node = name[: -len(_KERNEL_SUFFIX)]
        totals[node] = totals.get(node, 0.0) + float(event["dur"])
        op_types.setdefault(node, str(event.get("args", {}).get("op_name", "")))
    return [
        LayerTime(
            name=node,
            op_type=op_types[node],
            time_ms=total_us / 1000.0 / counted,
            block=block_of(node),
        )
        for node, total_us in totals.items()
    ]
