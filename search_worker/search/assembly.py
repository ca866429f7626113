"""Build a :class:`SearchRun` from a stored search: its spec, its latency model(s), the
oracle its spec names and the dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from latency_db.predictors import load_predictor
from latency_db.search_spec import BUNDLED_DATASET, SearchSpec
from search_worker.context import WorkerContext
from search_worker.data import SearchData, load_search_data
from search_worker.devices import loader_threads
from search_worker.latency import latency_model_from_params
from search_worker.oracle import LatencyOracle, MeasuredOracle, PredictorOracle
from search_worker.oracle.measured import ExportRequest
from search_worker.search.run import SearchRun


@dataclass(frozen=True)
class StoredSearch:
    """The columns of a search row a worker needs, read in a short transaction."""

    id: str
    estimator: str
    budget_ms: float
    device_id: str
    runtime_config_id: str
    runtime: dict[str, Any]  # {"backend", "settings"} of the runtime configuration
    config: dict[str, Any]
    checkpoint_path: str | None

    @property
    def spec(self) -> SearchSpec:
        return SearchSpec.model_validate(self.config["spec"])

    @property
    def dataset_root(self) -> Path:
        """The folder the server resolved the spec's dataset name to (bundled if none)."""
        return Path(self.config.get("dataset_root") or BUNDLED_DATASET)


def build_oracle(
    search: StoredSearch, context: WorkerContext, request_exports: ExportRequest
) -> LatencyOracle:
    spec = search.spec
    if spec.oracle == "predictor":
        return PredictorOracle(load_predictor(search.config["latency_model"]["params"]))
    if spec.oracle == "lut":
        lut = search.config.get("lut_model")
        if lut is None:
            raise ValueError("oracle 'lut' needs the device's complete lookup table")
        return PredictorOracle(load_predictor(lut["params"]), mode="lut")
    if spec.oracle == "local":  # the agent's runtime, imported only here
        from profiler_agent.backends.base import BackendSettings
        from search_worker.oracle.local import LocalOracle

        return LocalOracle(
            space=spec.deploy_space(),
            batch_size=spec.deploy_batch,
            store=context.store,
            backend=search.runtime["backend"],
            settings=BackendSettings.from_mapping(search.runtime["settings"]),
            include_unclean=spec.include_unclean,
        )
    return MeasuredOracle(
        context.sessions,
        device_id=search.device_id,
        runtime_config_id=search.runtime_config_id,
        space=spec.deploy_space(),
        batch_size=spec.deploy_batch,
        request_exports=request_exports,
        max_attempts=context.settings.max_attempts,
        include_unclean=spec.include_unclean,
    )


def search_data(root: Path, spec: SearchSpec, device: torch.device) -> SearchData:
    """The dataset at ``root`` as the spec splits it, its images decoded by threads when
    training on a GPU."""
    return load_search_data(
        root,
        spec.proxy_resolution,
        spec.arch_fraction,
        spec.batch_size,
        spec.seed,
        loader_threads(device),
    )


def build_run(
    search: StoredSearch, context: WorkerContext, request_exports: ExportRequest
) -> SearchRun:
    spec = search.spec
    data = search_data(search.dataset_root, spec, context.device)
    return SearchRun(
        spec,
        search.estimator,
        search.budget_ms,
        latency_model_from_params(search.config["latency_model"]["params"]),
        build_oracle(search, context, request_exports),
        data,
        step_gate=context.host_lock.worker_turn,
        device=context.device,
    )
