"""Content-addressed export artifacts of architectures, lookup-table op blocks and trained
networks (ONNX, TorchScript, and a weights file that rebuilds a :class:`Network`).

Files go into an :class:`~latency_db.artifact_store.ArtifactStore`, named by the sha256 of
their bytes; writing the same bytes again is a no-op. Models are exported in eval mode after
a seeded init, so the ONNX file of an architecture (or op block) is the same bytes every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from torch import nn

from latency_db.artifact_store import ArtifactStore
from latency_db.spaces import Block, SearchSpace
from search_worker.export.onnx_export import OPSET, export_onnx
from search_worker.export.torchscript_export import export_torchscript
from search_worker.export.weights_file import weights_bytes
from search_worker.nn import Network, build_block, init_weights
from search_worker.nn.blocks import input_shape as block_input_shape

ArtifactKind = Literal["onnx", "torchscript", "weights"]


@dataclass(frozen=True)
class ExportedArtifact:
    """An exported model file and what it is."""

    sha256: str
    size_bytes: int
    path: Path
    kind: ArtifactKind
    input_shape: tuple[int, ...]
    opset: int | None  # ONNX opset; None for TorchScript and weights
    subject: str  # LUT op key or architecture string
    space_ref: str | None
    seed: int | None  # seed of init_weights; None for a module exported as it was


def export_module(
    module: nn.Module,
    input_shape: Sequence[int],
    *,
    kind: ArtifactKind,
    store: ArtifactStore,
    subject: str,
    space_ref: str | None,
    seed: int | None = None,
) -> ExportedArtifact:
    """Export any module (e.g. a trained network) as a content-addressed artifact; ``seed``
    records the ``init_weights`` seed its weights came from, if any. Only a
    :class:`Network` has a ``weights`` file (it names its architecture)."""
    shape = tuple(input_shape)
    if kind == "weights":
        if not isinstance(module, Network):
            raise TypeError(f"a weights file needs a Network, not {type(module).__name__}")
        data = weights_bytes(module)
    elif kind == "onnx":
        data = export_onnx(module, shape)
    else:
        data = export_torchscript(module, shape)
    digest = store.put_bytes(data)
    path = store.path_for(digest)
    return ExportedArtifact(
        sha256=digest,
        size_bytes=len(data),
        path=path,
        kind=kind,
        input_shape=shape,
        opset=OPSET if kind == "onnx" else None,
        subject=subject,
        space_ref=space_ref,
        seed=seed,
    )


def export_architecture(
    space: SearchSpace,
    arch: str | Sequence[str] | Sequence[int],
    *,
    batch: int = 32,
    resolution: int | None = None,
    store: ArtifactStore,
    kind: ArtifactKind = "onnx",
    seed: int = 0,
) -> ExportedArtifact:
    """Export a seeded-init network of ``arch``, at ``resolution`` (default: the space's).

    Latency is measured at the deploy shape, so a space instance searched at a proxy
    resolution can be exported at another one; ``space_ref`` names the exported instance.
    """
    if resolution is not None and resolution != space.resolution:
        space = SearchSpace(space.definition, resolution, space.width_mult, space.num_classes)
    tokens = space.parse(arch)
    network = init_weights(Network(space, tokens), seed=seed)
    return export_module(
        network,
        network.input_shape(batch),
        kind=kind,
        store=store,
        subject=space.format(tokens),
        space_ref=space.ref,
        seed=seed,
    )


def export_op_block(
    block: Block,
    *,
    batch: int = 32,
    store: ArtifactStore,
    kind: ArtifactKind = "onnx",
    seed: int = 0,
    space_ref: str | None = None,
) -> ExportedArtifact:
    """Export one lookup-table op block on its own; the subject is its op key."""
    return export_module(
        init_weights(build_block(block), seed=seed),
        block_input_shape(block, batch),
        kind=kind,
        store=store,
        subject=block.key,
        space_ref=space_ref,
        seed=seed,
    )
