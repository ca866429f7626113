"""A search row as the API stores it, for tests that run the worker's segment task on a real
database: a tiny spec on the bundled dataset whose latency comes from a fixed random lookup
table (``oracle="predictor"``, so no agent is needed)."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from latency_db.db import session_scope
from latency_db.predictors import LutPredictor, layer_table
from latency_db.repositories import devices, runtime_configs, searches, users
from latency_db.search_spec import SearchSpec

TINY_SPEC: dict[str, Any] = dict(
    deploy_resolution=32,
    deploy_width=0.35,
    deploy_classes=10,
    deploy_batch=1,
    proxy_resolution=16,
    proxy_width=0.35,
    batch_size=8,
    steps=6,
    warmup_steps=0,
    segment_steps=2,
    eval_batches=1,
    finetune_steps=0,
    candidates=4,
    finalists=2,
    oracle="predictor",
)


def create_search(factory: sessionmaker[Session], **spec_changes: Any) -> str:
    """A committed PENDING search with ``TINY_SPEC`` (and changes); its id."""
    spec = SearchSpec.model_validate({**TINY_SPEC, **spec_changes})
    deploy = spec.deploy_space()
    rng = np.random.default_rng(0)
    lut = LutPredictor(
        layer_table(deploy, {k: float(rng.uniform(1, 5)) for k in deploy.all_op_keys()})
    )
    with session_scope(factory) as session:
        name = uuid.uuid4().hex[:12]
        owner = users.create_user(session=session, name=f"owner-{name}")
        device = devices.create_device(session=session, name=f"cpu-{name}", kind="cpu")
        runtime = runtime_configs.get_or_create_runtime_config(
            session=session, backend="ort-cpu", settings={"threads": 1}
        )
        search = searches.create_search(
            session=session,
            owner=owner,
            device=device,
            runtime_config=runtime,
            space_ref=deploy.ref,
            config={
                "spec": spec.model_dump(),
                "latency_model": {"kind": "lut", "params": lut.to_params()},
            },
            budget_ms=1e6,
            estimator="proxyless",
        )
        return search.id
