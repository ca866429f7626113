"""Checking an uploaded ONNX model before it is stored: parseable, valid, static shapes.

Timed models never carry a dynamic axis (design section 4), so a symbolic or unknown
dimension is refused with the input's name rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from google.protobuf.message import DecodeError

from services.validation import invalid


@dataclass(frozen=True)
class CheckedModel:
    input_shape: list[int]
    opset: int | None


def check_onnx_upload(data: bytes) -> CheckedModel:
    """The first graph input's static shape and the default-domain opset; 422 otherwise."""
    if not data:
        raise invalid("body", "the upload is empty")
    try:
        model = onnx.load_model_from_string(data)
        onnx.checker.check_model(model)
    except (DecodeError, onnx.checker.ValidationError, ValueError) as err:
        raise invalid("body", f"not a valid ONNX model: {str(err)[:300]}") from None
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if not inputs:
        raise invalid("body", "the model has no graph inputs")
    shapes: list[list[int]] = []
    for graph_input in inputs:
        dims = graph_input.type.tensor_type.shape.dim
        shape = [d.dim_value if d.HasField("dim_value") else 0 for d in dims]
        if not shape or any(v <= 0 for v in shape):
            raise invalid(
                "body",
                f"input {graph_input.name!r} has a dynamic or unknown dimension {shape}: "
                "export the model with static shapes (the batch included)",
            )
        shapes.append(shape)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return CheckedModel(input_shape=shapes[0], opset=opset)
