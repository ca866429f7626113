from __future__ import annotations

from pathlib import Path

import pytest

from profiler_agent.backends import BackendSettings, BackendUnavailable, create_backend
from profiler_agent.protocol import MeasurementPolicy, measure

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1)
    ).eval()
    path = tmp_path_factory.mktemp("ts") / "tiny.pt"
    torch.jit.trace(net, torch.randn(2, 3, 16, 16)).save(str(path))
    return path


def test_torch_cpu_measures_a_torchscript_file(scripted: Path) -> None:
    backend = create_backend("torch-cpu")
    prepared = backend.prepare(scripted, (2, 3, 16, 16), BackendSettings(threads=1))
    assert torch.get_num_threads() == 1
    assert prepared.settings["intra_op_num_threads"] == 1
    policy = MeasurementPolicy(
        warmup_min_runs=2,
        warmup_min_s=0,
        timed_min_runs=5,
        timed_min_s=0,
        max_timed_s=0,
        max_disturbed_tries=1,
    )
    result = measure(backend, prepared, policy)
    assert len(result.times_ms) == 5 and result.stats.min_ms > 0
    assert backend.describe_environment()["runtime"]["name"] == "torch"


def test_torchscript_needs_an_input_shape(scripted: Path) -> None:
    with pytest.raises(ValueError, match="declares no input shape"):
        create_backend("torch-cpu").prepare(scripted, None, BackendSettings(threads=1))


def test_torch_cuda_refuses_without_a_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(BackendUnavailable, match="sees no CUDA device"):
        create_backend("torch-cuda")
