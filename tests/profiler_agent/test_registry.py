from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiler_agent.backends import (
    BackendUnavailable,
    backend_class,
    backend_names,
    create_backend,
    register_backend,
)
from profiler_agent.backends.base import Backend

ALL = ["android-adb", "ort-cpu", "ort-cuda", "ort-tensorrt", "tensorrt", "torch-cpu", "torch-cuda"]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


def test_registry_lists_every_backend() -> None:
    assert backend_names() == ALL


@pytest.mark.parametrize("name", ALL)
def test_each_backend_class_is_registered_under_its_name(name: str) -> None:
    cls = backend_class(name)
    assert issubclass(cls, Backend)
    assert cls.name == name


def test_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown backend 'onnx'.*ort-cpu"):
        backend_class("onnx")


def test_register_backend_refuses_an_unlisted_class() -> None:
    with pytest.raises(ValueError, match="not listed"):
        register_backend("ort-cpu")(type("Rogue", (), {}))


def test_importing_the_agent_imports_no_runtime() -> None:
    loaded = _modules_after(
        "import profiler_agent, profiler_agent.backends, profiler_agent.cli, "
        "profiler_agent.protocol\n"
        "from profiler_agent.backends import backend_class\n"
        "for n in ('tensorrt', 'torch-cpu', 'android-adb', 'ort-cpu'): backend_class(n)"
    )
    assert not loaded & {"onnxruntime", "tensorrt", "torch", "onnx"}


def test_agent_imports_without_torch_sqlalchemy_celery() -> None:
    loaded = _modules_after(
        "import profiler_agent, profiler_agent.cli, profiler_agent.loop, "
        "profiler_agent.backends.ort_backend"
    )
    assert "profiler_agent" in loaded
    assert not loaded & {"torch", "sqlalchemy", "celery"}


def test_creating_ort_cpu_imports_onnxruntime_only_then() -> None:
    loaded = _modules_after(
        "from profiler_agent.backends import create_backend\ncreate_backend('ort-cpu')"
    )
    assert "onnxruntime" in loaded
    assert "torch" not in loaded


def test_tensorrt_refuses_without_the_runtime() -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailable, match="tensorrt Python package is not installed"):
            create_backend("tensorrt")
    else:
        pytest.skip("tensorrt is installed here")


def test_gpu_onnxruntime_providers_refuse_on_a_cpu_build() -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime build has CUDA")
    for name in ("ort-cuda", "ort-tensorrt"):
        with pytest.raises(BackendUnavailable, match="not available in this onnxruntime build"):
            create_backend(name)


def test_android_refuses_without_adb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackendUnavailable, match="adb is not on PATH"):
        create_backend("android-adb")


def _fake_adb(directory: Path, devices: str) -> None:
    """adb does not exist on this machine; a script answers ``adb devices`` as adb does."""
    script = directory / "adb"
    script.write_text(f"#!/bin/sh\nprintf '{devices}'\n")
    script.chmod(0o755)


def test_android_refuses_without_a_phone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_adb(tmp_path, "List of devices attached\\n\\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin:/bin")
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    with pytest.raises(BackendUnavailable, match="no phone attached"):
        create_backend("android-adb")


def test_android_asks_for_a_serial_with_two_phones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_adb(tmp_path, "List of devices attached\\nAAA\\tdevice\\nBBB\\tdevice\\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin:/bin")
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    with pytest.raises(BackendUnavailable, match="set ANDROID_SERIAL"):
        create_backend("android-adb")
    monkeypatch.setenv("ANDROID_SERIAL", "CCC")
    with pytest.raises(BackendUnavailable, match="ANDROID_SERIAL=CCC is not attached"):
        create_backend("android-adb")
