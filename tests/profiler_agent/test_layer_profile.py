from __future__ import annotations

from pathlib import Path

import pytest

from profiler_agent.backends import BackendSettings, create_backend
from profiler_agent.layer_profile import (
    LayerProfile,
    LayerTime,
    block_of,
    load_ort_profile,
    parse_ort_profile,
)


@pytest.mark.parametrize(
    ("name", "block"),
    [
        ("/layers.3/conv/Conv", "layers.3"),
        ("/layers.13/expand/conv/Conv_output_0_nchwc", "layers.13"),
        ("/stem/conv/Conv", "stem"),
        ("/fixed.0/depthwise/Conv", "fixed.0"),
        ("/feature_mix/act/Clip", "feature_mix"),
        ("/classifier/Gemm", "classifier"),
        ("ReorderOutput", "other"),
        ("/GlobalAveragePool", "other"),
        ("/mylayers.3/Conv", "other"),
        ("/stem2/Conv", "other"),
    ],
)
def test_block_of(name: str, block: str) -> None:
    assert block_of(name) == block


def _profiled_session(model: Path, prefix: Path, runs: int) -> Path:
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(prefix)
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    feeds = {"input": np.ones((2, 3, 16, 16), np.float32)}
    for _ in range(runs):
        session.run(None, feeds)
    return Path(session.end_profiling())


def test_real_ort_trace_maps_nodes_to_blocks(tiny_onnx: Path, tmp_path: Path) -> None:
    events = load_ort_profile(_profiled_session(tiny_onnx, tmp_path / "p", runs=5))
    layers = parse_ort_profile(events, skip_runs=2)
    blocks = {layer.block for layer in layers}
    assert {"stem", "layers.0", "layers.1", "feature_mix", "classifier"} <= blocks
    assert all(layer.time_ms > 0 for layer in layers)
    # averaged over the 3 counted runs: equals the kernel time summed from the raw trace
    runs = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    counted = sum(
        e["dur"]
        for e in events
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= runs[2]
    )
    assert sum(layer.time_ms for layer in layers) == pytest.approx(counted / 1000 / 3)


def test_warmup_runs_in_the_trace_are_left_out(tiny_onnx: Path, tmp_path: Path) -> None:
    events = load_ort_profile(_profiled_session(tiny_onnx, tmp_path / "p", runs=3))
    assert len(parse_ort_profile(events, skip_runs=2)) > 0
    with pytest.raises(ValueError, match="3 model_run events; 3 are warm-up"):
        parse_ort_profile(events, skip_runs=3)


def test_profile_totals_per_block() -> None:
    profile = LayerProfile.from_layers(
        [
            LayerTime("/layers.1/a", "Conv", 1.0, "layers.1"),
            LayerTime("/layers.1/b", "Relu", 0.5, "layers.1"),
            LayerTime("x", "Reorder", 0.25, "other"),
        ]
    )
    assert profile.blocks == {"layers.1": 1.5, "other": 0.25}
    assert profile.total_ms == 1.75
    assert profile.to_dict()["layers"][0]["block"] == "layers.1"


def test_ort_backend_profile_layers(tiny_onnx: Path) -> None:
    backend = create_backend("ort-cpu")
    prepared = backend.prepare(tiny_onnx, None, BackendSettings(threads=1))
    layers = backend.profile_layers(prepared, runs=3)
    assert {layer.block for layer in layers} >= {"stem", "layers.0", "classifier"}


def test_load_refuses_a_non_trace(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match="JSON array"):
        load_ort_profile(path)
