"""The in-process (``local``) and predictor oracles; the ``measured`` one runs in the
integration tests against a real agent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from latency_db.artifact_store import ArtifactStore
from latency_db.predictors import LutPredictor, layer_table
from latency_db.spaces import SearchSpace
from profiler_agent.backends import BackendSettings
from profiler_agent.host_lock import HostLock
from profiler_agent.protocol import MeasurementPolicy
from search_worker.oracle import PredictorOracle
from search_worker.oracle.local import LocalOracle

from .conftest import small_space

FAST = MeasurementPolicy(
    warmup_min_runs=1,
    warmup_min_s=0.0,
    timed_min_runs=3,
    timed_min_s=0.0,
    max_timed_s=0.0,
    max_disturbed_tries=1,
)


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return small_space("proxyless")


def local_oracle(space: SearchSpace, tmp_path: Path) -> LocalOracle:
    return LocalOracle(
        space=space,
        batch_size=2,
        store=ArtifactStore(tmp_path),
        settings=BackendSettings(threads=1),
        policy=FAST,
        include_unclean=True,  # whatever this machine is doing, the number is used
    )


def test_local_oracle_measures_once_in_process(space: SearchSpace, tmp_path: Path) -> None:
    oracle = local_oracle(space, tmp_path)
    arch = tuple(space.indices(space.sample(0)))
    latency = oracle.request(arch)
    assert latency is not None and latency > 0
    assert oracle.verdict(arch)["verdict"] in ("clean", "unstable", "disturbed")
    assert oracle.request(arch) == latency  # cached: not measured again
    assert oracle.collect() == {arch: latency}
    assert oracle.stats.measurements_used == 1 and oracle.stats.requests == 2
    assert oracle.stats.wait_s > 0


def test_local_oracle_times_every_op_key_for_a_lookup_table(
    space: SearchSpace, tmp_path: Path
) -> None:
    oracle = local_oracle(space, tmp_path)
    table, verdicts = oracle.lookup_table()
    assert sorted(table) == sorted(verdicts) == space.all_op_keys()
    assert all(ms > 0 for ms in table.values())
    assert set(verdicts.values()) <= {"clean", "unstable", "disturbed"}
    assert oracle.stats.measurements_used == 0  # op keys are not architectures


def test_predictor_oracle_answers_at_once_without_measuring(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    lut = LutPredictor(
        layer_table(space, {k: float(rng.uniform(1, 2)) for k in space.all_op_keys()})
    )
    oracle = PredictorOracle(lut)
    arch = tuple(space.indices(space.sample(1)))
    assert oracle.request(arch) == pytest.approx(float(lut.predict(np.asarray([arch]))[0][0]))
    assert oracle.wait_for([arch], timeout_s=1) == {arch: oracle.known(arch)}
    assert oracle.stats.measurements_used == 0 and oracle.stats.wait_s < 1
    restored = PredictorOracle(lut)
    restored.load_state_dict(oracle.state_dict())
    assert restored.known(arch) == oracle.known(arch)


def test_a_local_search_measures_with_its_runtime_configuration(
    space: SearchSpace, tmp_path: Path
) -> None:
    from latency_db.settings import Settings
    from search_worker.context import WorkerContext
    from search_worker.search.assembly import StoredSearch, build_oracle

    search = StoredSearch(
        id="s",
        estimator="unas",
        budget_ms=10.0,
        device_id="d",
        runtime_config_id="r",
        runtime={"backend": "ort-cpu", "settings": {"threads": 1}},
        config={"spec": {"oracle": "local"}},
        checkpoint_path=None,
    )
    context = WorkerContext(
        Settings(data_dir=tmp_path), None, ArtifactStore(tmp_path), HostLock(tmp_path / "lock")
    )  # type: ignore[arg-type]
    oracle = build_oracle(search, context, request_exports=lambda _: None)
    assert isinstance(oracle, LocalOracle)
    assert oracle.backend.name == "ort-cpu" and oracle.settings.threads == 1


def test_a_stored_search_reads_the_dataset_root_the_server_resolved(tmp_path: Path) -> None:
    from latency_db.search_spec import BUNDLED_DATASET
    from search_worker.search.assembly import StoredSearch

    def stored(config: dict[str, object]) -> StoredSearch:
        return StoredSearch("s", "unas", 10.0, "d", "r", {}, config, None)

    named = stored({"spec": {"dataset": "imagenet-100"}, "dataset_root": str(tmp_path)})
    assert named.dataset_root == tmp_path  # the admin's folder, not the name
    assert stored({"spec": {}}).dataset_root == BUNDLED_DATASET
