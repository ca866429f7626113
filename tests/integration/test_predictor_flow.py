"""End to end on this CPU: a real agent measures a small space's lookup table and a few
dozen networks, the worker fits predictors, and a linear model fits the networks better than
the LUT sum."""

from __future__ import annotations

import time
from typing import Any

import pytest

from latency_db.spaces import get_space

BATCH = 8
NETWORKS = 36


def _wait_fit(api: Any, fit_id: str, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (fit := api.get(f"/predictors/fits/{fit_id}"))["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, fit
        time.sleep(0.5)
    return dict(fit)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_linear_predictor_beats_the_lut_sum_on_real_measurements(stack, new_device) -> None:
    device_id, token = new_device("cpu-fit")
    stack.start_worker()
    stack.start_agent("agent-fit", token)
    api = stack.api()
    space = get_space("proxyless", 32, 0.35, 10)
    status = api.post(
        "/lookup-tables/build",
        {
            "device_id": device_id,
            "runtime": stack.runtime,
            "space": "proxyless",
            "resolution": 32,
            "width_mult": 0.35,
            "num_classes": 10,
            "batch_size": BATCH,
        },
    )
    queued = api.post(
        "/predictors/training-jobs",
        {
            "device_id": device_id,
            "runtime": stack.runtime,
            "space_ref": space.ref,
            "count": NETWORKS,
            "batch_size": BATCH,
            "seed": 1,
        },
    )
    assert len(queued["job_ids"]) == NETWORKS
    for job_id in queued["job_ids"]:
        assert stack.wait_job(job_id, 600)["state"] == "succeeded"
    table = api.get(
        "/lookup-tables",
        device_id=device_id,
        runtime_config_id=status["runtime_config_id"],
        space_ref=space.ref,
        batch_size=BATCH,
    )
    assert table["progress"]["measured"] == len(space.all_op_keys())
    metrics = {}
    for kind in ("lut", "linear"):
        fit = api.post(
            "/predictors/fits",
            {
                "device_id": device_id,
                "space_ref": space.ref,
                "kind": kind,
                "batch_size": BATCH,
                "holdout": 0.0,
                "seed": 0,
                # About fitting, not about how quiet this machine is: every verdict counts
                # (the clean-only default is tested in tests/services and the demo).
                "include_verdicts": ["clean", "unstable", "disturbed"],
            },
        )
        done = _wait_fit(api, fit["id"])
        assert done["state"] == "succeeded", done
        metrics[kind] = api.get(f"/predictors/{done['predictor_id']}")["metrics"]
    assert metrics["linear"]["n_train"] == NETWORKS
    assert metrics["linear"]["evaluated_on"] == metrics["lut"]["evaluated_on"] == "train"
    # On the networks it was fit to, the LUT-anchored ridge fit can never be worse than the
    # plain sum (its objective at b + c * LUT, the least-squares line, is already at most the
    # sum's squared error) and is strictly better unless real timings fall exactly on the sum,
    # however noisy this machine: a fit that returns the sum unchanged fails (seen). A
    # holdout comparison of 9 networks is a coin toss on a loaded machine (57.5 vs 43.2 %
    # MAPE once); it is bench/predictor_fidelity.py's, on a quiet one.
    assert metrics["linear"]["rmse_ms"] < metrics["lut"]["rmse_ms"], metrics
