"""ONNX, TorchScript and weights-file export: ORT == torch, static shapes, scoped node names,
content addresses, a weights file that rebuilds its trained network and nothing else."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import onnx
import pytest
import torch
from torch import nn

from latency_db.artifact_store import ArtifactStore
from latency_db.spaces import MBConvBlock, SearchSpace, get_space
from search_worker.export import (
    OPSET,
    ExportMismatchError,
    export_architecture,
    export_module,
    export_onnx,
    export_op_block,
    load_weights,
    rebuild_module,
    verify_artifact,
    verify_onnx,
)
from search_worker.nn import Network, build_block, init_weights
from search_worker.nn.blocks import MBConv

BATCH = 2
MAX_ERRORS: dict[str, float] = {}


def _dims(value: onnx.ValueInfoProto) -> list[onnx.TensorShapeProto.Dimension]:
    return list(value.type.tensor_type.shape.dim)


def assert_static(path: Path) -> None:
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    onnx.checker.check_model(model)
    values = [*model.graph.input, *model.graph.output, *model.graph.value_info]
    assert values
    for value in values:
        for dim in _dims(value):
            assert not dim.HasField("dim_param") and dim.dim_value > 0, value.name


@pytest.fixture(scope="module", autouse=True)
def _report_errors() -> object:
    yield
    print("\nmax ORT-vs-torch abs errors:", {k: f"{v:.3g}" for k, v in MAX_ERRORS.items()})


def _record(group: str, error: float) -> None:
    MAX_ERRORS[group] = max(MAX_ERRORS.get(group, 0.0), error)


def test_architectures_match_torch_with_random_batchnorm(
    tmp_path: Path, randomize_bn: Callable[..., nn.Module]
) -> None:
    for name, seeds in (("proxyless", range(3)), ("fbnet", range(2))):
        space = get_space(name, resolution=32, width_mult=0.35, num_classes=10)
        for seed in seeds:
            arch = space.sample(seed)
            network = init_weights(Network(space, arch), seed=seed)
            randomize_bn(network, seed=seed)
            artifact = export_module(
                network,
                network.input_shape(BATCH),
                kind="onnx",
                store=ArtifactStore(tmp_path),
                subject=space.format(arch),
                space_ref=space.ref,
            )
            _record(f"{name}-network", verify_onnx(network, artifact.path))
            assert_static(artifact.path)


def test_export_architecture_artifact(tmp_path: Path, proxyless_small: SearchSpace) -> None:
    space = proxyless_small
    arch = list(space.sample(7))
    arch[5] = "zero"
    artifact = export_architecture(space, arch, batch=BATCH, store=ArtifactStore(tmp_path / "a"))
    data = artifact.path.read_bytes()
    assert artifact.sha256 == hashlib.sha256(data).hexdigest()
    assert artifact.path == ArtifactStore(tmp_path / "a").path_for(artifact.sha256)
    assert artifact.size_bytes == len(data)
    assert (artifact.kind, artifact.opset) == ("onnx", OPSET)
    assert artifact.input_shape == (BATCH, 3, 32, 32)
    assert artifact.subject == space.format(arch)
    assert artifact.space_ref == space.ref
    model = onnx.load(str(artifact.path))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    names = [node.name for node in model.graph.node]
    for i, token in enumerate(arch):
        scoped = any(n.startswith(f"/layers.{i}/") for n in names)
        assert scoped == (token != "zero"), (i, token)
    assert any(n.startswith("/stem/") for n in names)
    assert any(n.startswith("/classifier/") for n in names)
    # The same seeded init in torch reproduces the exported weights.
    _record("proxyless-network-init", verify_artifact(artifact))


def test_onnx_bytes_are_stable_and_stored_once(
    tmp_path: Path, proxyless_small: SearchSpace
) -> None:
    arch = proxyless_small.sample(3)
    first = export_architecture(
        proxyless_small, arch, batch=BATCH, store=ArtifactStore(tmp_path / "x")
    )
    again = export_architecture(
        proxyless_small, arch, batch=BATCH, store=ArtifactStore(tmp_path / "x")
    )
    elsewhere = export_architecture(
        proxyless_small, arch, batch=BATCH, store=ArtifactStore(tmp_path / "y")
    )
    assert first == again
    assert first.sha256 == elsewhere.sha256
    assert [p.name for p in (tmp_path / "x").rglob("*") if p.is_file()] == [first.sha256]
    other = export_architecture(
        proxyless_small, arch, batch=BATCH + 1, store=ArtifactStore(tmp_path / "x")
    )
    assert other.sha256 != first.sha256


def test_export_at_another_resolution(tmp_path: Path, proxyless_small: SearchSpace) -> None:
    arch = proxyless_small.sample(4)
    artifact = export_architecture(
        proxyless_small, arch, batch=1, resolution=64, store=ArtifactStore(tmp_path)
    )
    assert artifact.input_shape == (1, 3, 64, 64)
    assert artifact.space_ref == "proxyless-r64-w0.35-c10"
    assert_static(artifact.path)


@pytest.mark.parametrize("name", ["proxyless", "fbnet"])
def test_every_op_block_matches_torch(tmp_path: Path, name: str) -> None:
    space = get_space(name, resolution=32, width_mult=0.35, num_classes=10)
    blocks = space.candidate_blocks()
    assert any(isinstance(b, MBConvBlock) and b.groups > 1 for b in blocks.values()) == (
        name == "fbnet"
    )
    for key, block in blocks.items():
        artifact = export_op_block(
            block, batch=BATCH, store=ArtifactStore(tmp_path), space_ref=space.ref
        )
        assert artifact.subject == key
        assert artifact.input_shape == (BATCH, block.in_ch, block.in_hw, block.in_hw)
        _record(f"{name}-op-blocks", verify_artifact(artifact))
        assert_static(artifact.path)
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == len(blocks)


def test_verify_detects_a_mismatch(tmp_path: Path, proxyless_small: SearchSpace) -> None:
    block = proxyless_small.layers[2].block("k5_e6")
    assert block is not None
    module = init_weights(build_block(block))
    path = tmp_path / "block.onnx"
    export_onnx(module, (BATCH, block.in_ch, block.in_hw, block.in_hw), path)
    with torch.no_grad():
        next(module.parameters()).mul_(1.02)
    with pytest.raises(ExportMismatchError, match="exceeds"):
        verify_onnx(module, path)


def test_export_restores_training_mode(proxyless_small: SearchSpace) -> None:
    network = Network(proxyless_small, proxyless_small.sample(0)).train()
    export_onnx(network, network.input_shape(1))
    assert network.training


def test_torchscript_round_trip(tmp_path: Path, proxyless_small: SearchSpace) -> None:
    arch = proxyless_small.sample(6)
    artifact = export_architecture(
        proxyless_small,
        " ".join(arch),
        batch=BATCH,
        store=ArtifactStore(tmp_path),
        kind="torchscript",
    )
    assert (artifact.kind, artifact.opset) == ("torchscript", None)
    assert artifact.sha256 == hashlib.sha256(artifact.path.read_bytes()).hexdigest()
    assert verify_artifact(artifact) == 0.0  # the same kernels run: bit-identical
    block = proxyless_small.fixed_blocks[0]
    op = export_op_block(
        block,
        batch=BATCH,
        store=ArtifactStore(tmp_path),
        kind="torchscript",
        space_ref=proxyless_small.ref,
    )
    assert isinstance(rebuild_module(op), MBConv)
    assert verify_artifact(op) == 0.0


def test_a_weights_file_rebuilds_its_trained_network(
    tmp_path: Path, proxyless_small: SearchSpace
) -> None:
    network = init_weights(Network(proxyless_small, proxyless_small.sample(3)), seed=5)
    with torch.no_grad():  # weights no seeded init gives: only the file can carry them
        for parameter in network.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    with torch.no_grad():
        network.train()(torch.randn(network.input_shape(4)))  # moves the BN running stats
    artifact = export_module(
        network,
        network.input_shape(1),
        kind="weights",
        store=ArtifactStore(tmp_path),
        subject=proxyless_small.format(network.arch),
        space_ref=proxyless_small.ref,
    )
    assert (artifact.kind, artifact.opset) == ("weights", None)
    rebuilt = load_weights(artifact.path)
    assert rebuilt.arch == network.arch and rebuilt.space.ref == proxyless_small.ref
    for (name, got), expected in zip(
        rebuilt.state_dict().items(), network.state_dict().values(), strict=True
    ):
        assert torch.equal(got, expected), name
    x = torch.randn(network.input_shape(2))
    with torch.inference_mode():
        assert torch.equal(rebuilt(x), network.eval()(x))
    with pytest.raises(TypeError, match="needs a Network"):
        export_module(
            build_block(proxyless_small.stem),
            (1, 3, 8, 8),
            kind="weights",
            store=ArtifactStore(tmp_path),
            subject="stem",
            space_ref=None,
        )


@pytest.mark.parametrize(
    "content",
    [b"not a torch file", "pickle", "other dict"],
)
def test_load_weights_refuses_other_files(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "x.pt"
    if content == "pickle":  # a pickled module would run code: weights_only refuses it
        torch.save(nn.Linear(2, 2), path)
    elif content == "other dict":
        torch.save({"state_dict": {}}, path)
    else:
        path.write_bytes(content)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a weights file"):
        load_weights(path)


def test_verify_artifact_needs_space_and_seed(tmp_path: Path, proxyless_small: SearchSpace) -> None:
    artifact = export_op_block(proxyless_small.stem, batch=1, store=ArtifactStore(tmp_path))
    with pytest.raises(ValueError, match="names no space"):
        verify_artifact(artifact)
    assert verify_artifact(replace(artifact, space_ref=proxyless_small.ref)) < 1e-5
