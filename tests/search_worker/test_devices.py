"""The worker's device (issue 15): ``HWNAS_WORKER_DEVICE`` resolution, a clear refusal of a
CUDA device this machine lacks, and batches decoded by threads equal to those without."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from latency_db.settings import Settings
from search_worker.data import load_search_data
from search_worker.devices import DeviceUnavailable, describe_device, resolve_device

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_cpu_and_auto() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert describe_device(resolve_device("cpu")) == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@NO_CUDA
@pytest.mark.parametrize("setting", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_is_refused_by_name(setting: str) -> None:
    with pytest.raises(DeviceUnavailable, match=f"HWNAS_WORKER_DEVICE={setting}, but torch"):
        resolve_device(setting)


@pytest.mark.parametrize("setting", ["gpu", "cuda:", "CPU", "cuda:0,1", ""])
def test_malformed_settings_are_rejected(setting: str) -> None:
    with pytest.raises(ValueError, match="expected auto, cpu, cuda or cuda:N"):
        resolve_device(setting)
    with pytest.raises(ValidationError, match="worker_device"):
        Settings(worker_device=setting)


@NO_CUDA
def test_worker_start_stops_with_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HWNAS_WORKER_DEVICE": "cuda",
        "HWNAS_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "search_worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "HWNAS_WORKER_DEVICE=cuda, but torch finds no CUDA device" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_threads_decode_the_same_batches(tiny_imagenet: Path) -> None:
    plain = load_search_data(tiny_imagenet, 16, 0.5, 8, seed=3)
    threaded = load_search_data(tiny_imagenet, 16, 0.5, 8, seed=3, threads=3)
    assert threaded.weight.pool is not None and plain.weight.pool is None
    for _ in range(3):
        (x0, y0), (x1, y1) = plain.weight.next(), threaded.weight.next()
        assert torch.equal(x0, x1) and torch.equal(y0, y1)
