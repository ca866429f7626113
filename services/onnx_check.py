"""``python -m services.onnx_check MAX_NODES``: check the ONNX model on stdin and print one
JSON line, ``{"input_shape": [...], "opset": N}`` or ``{"refused": "why"}``.

Run in a process of its own per upload (``services.onnx_upload``): parsing and checking a big
model hold the GIL for seconds, and a process can be killed at a time cap. It imports onnx
and nothing of the server, so it starts in well under a second.
"""

from __future__ import annotations

import json
import math
import sys

import onnx
from google.protobuf.message import DecodeError

# What an agent can run: the batch of a job (services.schemas.jobs) and at most 2**28
# elements (1 GiB of float32) per input.
MAX_BATCH = 4096
MAX_INPUT_ELEMENTS = 2**28


class UploadRefused(Exception):
    """Why a model is refused."""


def inspect_onnx(data: bytes, max_nodes: int) -> dict[str, object]:
    """The first graph input's static shape and the default-domain opset."""
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError) as err:
        raise UploadRefused(f"not a valid ONNX model: {str(err)[:300]}") from None
    if len(model.graph.node) > max_nodes:
        raise UploadRefused(f"the model has {len(model.graph.node)} nodes, at most {max_nodes}")
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as err:
        raise UploadRefused(f"not a valid ONNX model: {str(err)[:300]}") from None
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if not inputs:
        raise UploadRefused("the model has no graph inputs")
    shapes = [_static_shape(graph_input) for graph_input in inputs]
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"input_shape": shapes[0], "opset": opset}


def _static_shape(graph_input: onnx.ValueInfoProto) -> list[int]:
    dims = graph_input.type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else 0 for d in dims]
    if not shape or any(v <= 0 for v in shape):
        raise UploadRefused(
            f"input {graph_input.name!r} has a dynamic or unknown dimension {shape}: "
            "export the model with static shapes (the batch included)"
        )
    if shape[0] > MAX_BATCH:
        raise UploadRefused(f"input {graph_input.name!r} has batch {shape[0]}, at most {MAX_BATCH}")
    if math.prod(shape) > MAX_INPUT_ELEMENTS:
        raise UploadRefused(
            f"input {graph_input.name!r} of shape {shape} has {math.prod(shape)} elements, "
            f"at most {MAX_INPUT_ELEMENTS}"
        )
    return shape


def main() -> None:
    try:
        answer = inspect_onnx(sys.stdin.buffer.read(), int(sys.argv[1]))
    except UploadRefused as refused:
        answer = {"refused": str(refused)}
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
