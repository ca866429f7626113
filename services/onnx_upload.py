"""Checking an uploaded ONNX model before it is stored: parseable, valid, static and bounded
shapes, a bounded node count.

Timed models never carry a dynamic axis (design section 4), so a symbolic or unknown
dimension is refused with the input's name rather than guessed. Parsing and checking hold the
GIL for seconds on a big model, so they run in a worker process (``anyio.to_process``), which
is killed when it runs past its time: the event loop keeps answering meanwhile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import anyio
import onnx
from anyio import CapacityLimiter, to_process
from google.protobuf.message import DecodeError

from services.validation import invalid

# What an agent can run: the batch of a job (services.schemas.jobs) and at most 2**28
# elements (1 GiB of float32) per input.
MAX_BATCH = 4096
MAX_INPUT_ELEMENTS = 2**28


@dataclass(frozen=True)
class CheckedModel:
    input_shape: list[int]
    opset: int | None


class UploadRefused(Exception):
    """Why a model is refused; raised in the worker process (one argument: it pickles)."""


async def check_onnx_upload(
    data: bytes, *, max_nodes: int, timeout_s: float, limiter: CapacityLimiter
) -> CheckedModel:
    """The first graph input's static shape and the default-domain opset; 422 otherwise,
    also when the check runs past ``timeout_s`` (its worker process is killed)."""
    if not data:
        raise invalid("body", "the upload is empty")
    try:
        with anyio.fail_after(timeout_s):
            return await to_process.run_sync(
                inspect_onnx, data, max_nodes, cancellable=True, limiter=limiter
            )
    except UploadRefused as err:
        raise invalid("body", str(err)) from None
    except TimeoutError:
        raise invalid(
            "body", f"the model took over {timeout_s:g} s to check: upload a smaller model"
        ) from None


def inspect_onnx(data: bytes, max_nodes: int) -> CheckedModel:
    """The checks themselves (in the worker process); ``UploadRefused`` says what is wrong."""
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
    return CheckedModel(input_shape=shapes[0], opset=opset)


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
