from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from profiler_agent.backends import BackendSettings, InvalidModel, create_backend


def test_prepare_fixes_threads_and_optimization(tiny_onnx: Path) -> None:
    backend = create_backend("ort-cpu")
    prepared = backend.prepare(tiny_onnx, None, BackendSettings(threads=1))
    assert prepared.input_shape == (2, 3, 16, 16)
    assert prepared.settings["intra_op_num_threads"] == 1
    assert prepared.settings["graph_optimization_level"] == "ORT_ENABLE_ALL"
    assert prepared.live.session.get_providers() == ["CPUExecutionProvider"]
    times = backend.run_batch(prepared, 3)
    assert len(times) == 3 and min(times) > 0


def test_dynamic_batch_needs_a_shape(tmp_path: Path, build_network: Callable[..., Path]) -> None:
    model = build_network(tmp_path / "dyn.onnx", batch="N")
    backend = create_backend("ort-cpu")
    with pytest.raises(ValueError, match="dynamic dims"):
        backend.prepare(model, None, BackendSettings(threads=1))
    prepared = backend.prepare(model, (4, 3, 16, 16), BackendSettings(threads=1))
    assert prepared.input_shape == (4, 3, 16, 16)
    assert backend.run(prepared) > 0


def test_shape_contradicting_the_model_is_refused(tiny_onnx: Path) -> None:
    with pytest.raises(ValueError, match="contradicts"):
        create_backend("ort-cpu").prepare(tiny_onnx, (8, 3, 16, 16), BackendSettings(threads=1))


def test_corrupt_model_is_an_invalid_model(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07not a model")
    with pytest.raises(InvalidModel, match=r"cannot load bad\.onnx"):
        create_backend("ort-cpu").prepare(bad, None, BackendSettings(threads=1))


def test_fp16_is_refused_on_cpu(tiny_onnx: Path) -> None:
    with pytest.raises(ValueError, match="precision 'fp16' is not supported"):
        create_backend("ort-cpu").prepare(tiny_onnx, None, BackendSettings(precision="fp16"))


def test_environment_names_the_runtime() -> None:
    env = create_backend("ort-cpu").describe_environment()
    assert env["runtime"]["name"] == "onnxruntime"
    assert "CPUExecutionProvider" in env["runtime"]["available_providers"]
    assert env["usable_cores"] >= 1


def test_settings_from_a_job_payload(tmp_path: Path) -> None:
    settings = BackendSettings.from_mapping({"threads": 2, "cache_dir": str(tmp_path)})
    assert settings.cache_dir == tmp_path
    assert settings.cache_subdir("x").is_dir()
    with pytest.raises(ValueError, match="unknown backend settings: warp"):
        BackendSettings.from_mapping({"warp": 9})
    with pytest.raises(ValueError, match="threads must be >= 1"):
        BackendSettings(threads=0)
