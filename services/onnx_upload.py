"""Checking an uploaded ONNX model before it is stored: parseable, valid, static and bounded
shapes, a bounded node count.

Timed models never carry a dynamic axis (design section 4), so a symbolic or unknown
dimension is refused with the input's name rather than guessed. The checks
(``services.onnx_check``) run in a process of their own, killed when it runs past its time:
the event loop keeps answering meanwhile.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio import CapacityLimiter

import services
from services.validation import invalid

# The folder holding the ``services`` package, for the checking process's import path.
_PACKAGE_ROOT = str(Path(services.__file__).resolve().parent.parent)


@dataclass(frozen=True)
class CheckedModel:
    input_shape: list[int]
    opset: int | None


async def check_onnx_upload(
    data: bytes, *, max_nodes: int, timeout_s: float, limiter: CapacityLimiter
) -> CheckedModel:
    """The first graph input's static shape and the default-domain opset; 422 otherwise,
    also when the check runs past ``timeout_s`` (its process is killed)."""
    if not data:
        raise invalid("body", "the upload is empty")
    path = os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "services.onnx_check", str(max_nodes)]
    try:
        async with limiter:
            with anyio.fail_after(timeout_s):
                done = await anyio.run_process(
                    command, input=data, env={**os.environ, "PYTHONPATH": path}, check=False
                )
    except TimeoutError:
        raise invalid(
            "body", f"the model took over {timeout_s:g} s to check: upload a smaller model"
        ) from None
    if done.returncode != 0:  # the checker itself died on this model
        raise invalid("body", f"the model could not be checked (exit {done.returncode})")
    answer = json.loads(done.stdout)
    if "refused" in answer:
        raise invalid("body", answer["refused"])
    return CheckedModel(input_shape=answer["input_shape"], opset=answer["opset"])
