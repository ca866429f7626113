"""The ``local`` oracle: the worker runs on the target device and measures in-process, as
UNAS did (Vahdat et al., CVPR 2020), with the agent's own backend and protocol. A request
blocks for one measurement; the time counts as waiting on the device. Its verdict is settled
as the server settles an upload's (``latency_db.verdicts``); a non-clean one goes to
``unclean`` (see ``oracle.base``)."""

from __future__ import annotations

import time

from latency_db.artifact_store import ArtifactStore
from latency_db.spaces import SearchSpace
from latency_db.timing_stats import compute_stats
from latency_db.verdicts import Verdict, VerdictDetail, parse_claim, settle_verdict
from profiler_agent.backends import create_backend
from profiler_agent.backends.base import BackendSettings
from profiler_agent.measure import measure_file
from profiler_agent.protocol import MeasurementPolicy
from search_worker.export import ExportedArtifact, export_architecture, export_op_block
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
        include_unclean: bool = False,
    ) -> None:
        super().__init__(include_unclean=include_unclean)
        self.space = space
        self.batch_size = batch_size
        self.store = store
        self.backend = create_backend(backend)
        self.settings = settings or BackendSettings()
        self.policy = policy or MeasurementPolicy()

    def _start(self, arch: Arch) -> float | None:
        start = time.monotonic()
        try:
            exported = export_architecture(
                self.space, list(arch), batch=self.batch_size, store=self.store
            )
            median_ms, verdict = self._time(exported)
        finally:
            self.stats.wait_s += time.monotonic() - start
        self._record(arch, median_ms, verdict.verdict.value, verdict.reason)
        return self.known(arch)

    def lookup_table(
        self, tries: int = 3, accept: frozenset[Verdict] = frozenset({Verdict.CLEAN})
    ) -> tuple[dict[str, float], dict[str, str]]:
        """Every op key of the space timed on its own at this batch size, as a device's
        lookup table is (design section 5): the table and each key's verdict. The table
        takes a key whose verdict is in ``accept`` (any verdict if the oracle includes
        unclean measurements); a key not taken is measured again, up to ``tries`` times."""
        blocks = self.space.candidate_blocks()
        table: dict[str, float] = {}
        verdicts: dict[str, str] = {}
        for _ in range(tries):
            for key in [k for k in blocks if k not in table]:
                exported = export_op_block(
                    blocks[key], batch=self.batch_size, store=self.store, space_ref=self.space.ref
                )
                median_ms, verdict = self._time(exported)
                verdicts[key] = verdict.verdict.value
                if verdict.verdict in accept or self.include_unclean:
                    table[key] = median_ms
        return table, verdicts

    def _time(self, exported: ExportedArtifact) -> tuple[float, VerdictDetail]:
        """Median and settled verdict of an exported model."""
        record = measure_file(
            self.backend,
            exported.path,
            exported.input_shape,
            self.settings,
            policy=self.policy,
            with_profile=False,
        )
        claim = record.get("verdict")
        verdict = settle_verdict(
            None if claim is None else parse_claim(claim), compute_stats(record["times_ms"])
        )
        return float(record["stats"]["median_ms"]), verdict
