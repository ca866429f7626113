"""The ``local`` oracle: the worker runs on the target device and measures in-process, as
UNAS did (Vahdat et al., CVPR 2020), with the agent's own backend and protocol. A request
blocks for one measurement; the time counts as waiting on the device."""

from __future__ import annotations

import time

from latency_db.artifact_store import ArtifactStore
from latency_db.spaces import SearchSpace
from profiler_agent.backends import create_backend
from profiler_agent.backends.base import BackendSettings
from profiler_agent.measure import measure_file
from profiler_agent.protocol import MeasurementPolicy
from search_worker.export import export_architecture
from search_worker.oracle.base import Arch, LatencyOracle


class LocalOracle(LatencyOracle):
    mode = "local"

    def __init__(
        self,
        *,
        space: SearchSpace,
        batch_size: int,
        store: ArtifactStore,
        backend: str = "ort-cpu",
        settings: BackendSettings | None = None,
        policy: MeasurementPolicy | None = None,
    ) -> None:
        super().__init__()
        self.space = space
        self.batch_size = batch_size
        self.store = store
        self.backend = create_backend(backend)
        self.settings = settings or BackendSettings()
        self.policy = policy or MeasurementPolicy()

    def _start(self, arch: Arch) -> float:
        start = time.monotonic()
        try:
            exported = export_architecture(
                self.space, list(arch), batch=self.batch_size, store=self.store
            )
            record = measure_file(
                self.backend,
                exported.path,
                exported.input_shape,
                self.settings,
                policy=self.policy,
                with_profile=False,
            )
        finally:
            self.stats.wait_s += time.monotonic() - start
        return float(record["stats"]["median_ms"])
