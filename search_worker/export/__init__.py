"""Model export: static-shape ONNX (verified in ONNX Runtime), TorchScript and weights files."""

from __future__ import annotations

from search_worker.export.artifacts import (
    ArtifactKind,
    ExportedArtifact,
    export_architecture,
    export_module,
    export_op_block,
)
from search_worker.export.onnx_export import OPSET, export_onnx
from search_worker.export.torchscript_export import export_torchscript
from search_worker.export.verify import (
    ExportMismatchError,
    rebuild_module,
    verify_artifact,
    verify_onnx,
    verify_saved_module,
)
from search_worker.export.weights_file import load_weights, weights_bytes

__all__ = [
    "OPSET",
    "ArtifactKind",
    "ExportMismatchError",
    "ExportedArtifact",
    "export_architecture",
    "export_module",
    "export_onnx",
    "export_op_block",
    "export_torchscript",
    "load_weights",
    "rebuild_module",
    "verify_artifact",
    "verify_onnx",
    "verify_saved_module",
    "weights_bytes",
]
