"""Fixtures shared by every test package: paths, a migrated PostgreSQL schema, and a tiny
ONNX network whose node names carry the module scopes of the exported networks
(``/layers.0/conv/Conv``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from .databases import Database, migrated_postgres, migrated_sqlite_template

REPO_ROOT = Path(__file__).resolve().parent.parent
INPUT_SHAPE = (2, 3, 16, 16)


@pytest.fixture(scope="session", autouse=True)
def private_host_lock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """This session's own device-busy lock folder (profiler_agent.host_lock): workers and
    agents of parallel test runs on one machine never wait for each other."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HWNAS_HOST_LOCK_DIR", str(tmp_path_factory.mktemp("host-lock")))
        yield


@pytest.fixture(scope="session", autouse=True)
def no_saved_login(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reads or writes the user's ``hwnas login`` file (hwnas.config)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HWNAS_CONFIG", str(tmp_path_factory.mktemp("login") / "config.json"))
        yield


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[Database]:
    """A PostgreSQL schema migrated once per session; tests empty it (``Database.wipe``)."""
    with migrated_postgres() as database:
        yield database


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded database migrated once per session, for tests to copy (an app started on
    a copy finds it at head). The migrations themselves: tests/latency_db/test_migrations.py."""
    return migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def test_data() -> Path:
    return REPO_ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def tiny_imagenet() -> Path:
    return REPO_ROOT / "datasets" / "tiny-imagenet-10"


def _conv(name: str, x: str, cin: int, cout: int, k: int, stride: int) -> tuple[list, list]:
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    w = numpy_helper.from_array(
        rng.standard_normal((cout, cin, k, k)).astype(np.float32) * 0.1, f"{name}.weight"
    )
    conv = helper.make_node(
        "Conv",
        [x, w.name],
        [f"/{name}/conv/Conv_output_0"],
        name=f"/{name}/conv/Conv",
        kernel_shape=[k, k],
        strides=[stride, stride],
        pads=[k // 2] * 4,
    )
    relu = helper.make_node(
        "Relu", conv.output, [f"/{name}/act/Relu_output_0"], name=f"/{name}/act/Relu"
    )
    return [conv, relu], [w]


def build_tiny_network(path: Path, batch: int | str = INPUT_SHAPE[0]) -> Path:
    """stem -> layers.0 -> layers.1 -> feature_mix -> pool -> classifier, opset 17."""
    nodes, inits = [], []
    x = "input"
    for name, cin, cout, k, s in (
        ("stem", 3, 8, 3, 2),
        ("layers.0", 8, 8, 3, 1),
        ("layers.1", 8, 16, 5, 2),
        ("feature_mix", 16, 32, 1, 1),
    ):
        n, i = _conv(name, x, cin, cout, k, s)
        nodes += n
        inits += i
        x = n[-1].output[0]
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="/GlobalAveragePool"))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["flat"], name="/Flatten"))
    fc = numpy_helper.from_array(np.full((10, 32), 0.01, np.float32), "classifier.weight")
    bias = numpy_helper.from_array(np.zeros(10, np.float32), "classifier.bias")
    inits += [fc, bias]
    nodes.append(
        helper.make_node(
            "Gemm", ["flat", fc.name, bias.name], ["logits"], name="/classifier/Gemm", transB=1
        )
    )
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, *INPUT_SHAPE[1:]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def build_network() -> Callable[..., Path]:
    """:func:`build_tiny_network`, for tests that need a variant (a dynamic batch axis)."""
    return build_tiny_network


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_network(tmp_path_factory.mktemp("onnx") / "tiny.onnx")
