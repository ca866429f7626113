"""The sentinel: one fixed reference network, timed again and again on every device and
runtime configuration, so that the device's speed over time can be told apart from the
networks measured (issue 16 item 4; the idea of a periodically re-measured reference
workload, as continuous-benchmarking systems do to separate machine drift from code changes).

It is four 3x3 convolutions of 32 channels, each followed by ReLU, on a fixed
``[4, 32, 56, 56]`` input (about 0.9 GFLOP; ~15 ms on one core of a 2-core cloud VM with
ONNX Runtime): heavy enough to load caches, memory bandwidth and the core clock as a network
layer does, small enough to cost a fraction of a second at every check. The weights come
from a fixed seed, so the ONNX bytes, and with them the sha256 in the artifact store, are the
same everywhere. The input shape is fixed, not the runtime configuration's usual shape,
so one series per (device, runtime configuration) compares like with like.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from sqlalchemy.orm import Session

from latency_db.artifact_store import ArtifactStore
from latency_db.models import Artifact, ArtifactKind
from latency_db.repositories import artifacts as artifact_repo

SENTINEL_SUBJECT = "sentinel-v1"
INPUT_SHAPE = (4, 32, 56, 56)
OPSET = 17
_LAYERS = 4
_SEED = 20261201


@cache
def sentinel_onnx() -> bytes:
    """The sentinel's ONNX bytes (built once per process, deterministic)."""
    import onnx  # the server's dependency; imported when the sentinel is first stored
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(_SEED)
    channels = INPUT_SHAPE[1]
    nodes, weights = [], []
    x = "input"
    for i in range(_LAYERS):
        scale = 1.0 / np.sqrt(9 * channels)  # He-like: activations stay O(1) through the stack
        w = rng.standard_normal((channels, channels, 3, 3)).astype(np.float32) * scale
        weights.append(numpy_helper.from_array(w.astype(np.float32), f"conv{i}.weight"))
        nodes.append(
            helper.make_node(
                "Conv", [x, f"conv{i}.weight"], [f"conv{i}"], kernel_shape=[3, 3], pads=[1] * 4
            )
        )
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]))
        x = f"relu{i}"
    graph = helper.make_graph(
        nodes,
        SENTINEL_SUBJECT,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(INPUT_SHAPE))],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, list(INPUT_SHAPE))],
        weights,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8, producer_name="hwnas"
    )
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def ensure_sentinel_artifact(*, session: Session, store: ArtifactStore) -> Artifact:
    """The sentinel's artifact, its bytes written to ``store`` and its row registered (both
    idempotent: content-addressed)."""
    data = sentinel_onnx()
    sha256 = store.put_bytes(data)
    return artifact_repo.register_artifact(
        session=session,
        sha256=sha256,
        kind=ArtifactKind.ONNX,
        size_bytes=len(data),
        subject=SENTINEL_SUBJECT,
        input_shape=INPUT_SHAPE,
        opset=OPSET,
    )
