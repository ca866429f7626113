"""``hwnas predictor fit|show|predict`` on an embedded database and through the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from latency_db.db import ensure_schema, make_engine, make_session_factory, session_scope
from latency_db.models import PredictorFit
from latency_db.predictors.versions import run_fit
from latency_db.settings import Settings
from services.cli.main import app

from .conftest import ADMIN_TOKEN, N_NETWORKS, Measured, seed_measurements

runner = CliRunner()
METRIC_KEYS = {"rmse_ms", "mape_pct", "within5_pct", "within10_pct", "kendall_tau"}


def _seed_embedded(data_dir: Path) -> Measured:
    engine = make_engine(Settings(data_dir=data_dir))
    try:
        ensure_schema(engine)
        return seed_measurements(make_session_factory(engine), "cpu-cli")
    finally:
        engine.dispose()


def test_fit_show_predict_on_the_embedded_database(local_cli: Path) -> None:
    measured = _seed_embedded(local_cli)
    space = measured.space
    fit = runner.invoke(
        app,
        ["predictor", "fit", "--device", "cpu-cli", "--space", space.ref, "--kind", "linear",
         "--holdout", "0.25", "--seed", "1", "--json"],
    )  # fmt: skip
    assert fit.exit_code == 0, fit.output
    version = json.loads(fit.output)
    metrics = version["metrics"]
    assert set(metrics) >= METRIC_KEYS
    assert (metrics["n_train"], metrics["n_holdout"]) == (N_NETWORKS - 20, 20)
    table = runner.invoke(app, ["predictor", "fit", "--device", "cpu-cli", "--space", space.ref])
    assert table.exit_code == 0 and "mape_pct" in table.output and "v2" in table.output

    shown = json.loads(runner.invoke(app, ["predictor", "show", "--json"]).output)
    assert [p["version"] for p in shown["predictors"]] == [2, 1]
    arch = space.sample(123)
    predicted = runner.invoke(
        app, ["predictor", "predict", "--predictor", version["id"], space.format(arch), "--json"]
    )
    assert predicted.exit_code == 0, predicted.output
    (answer,) = json.loads(predicted.output)["predictions"]
    assert abs(answer["latency_ms"] / measured.true_ms(arch) - 1) < 0.1

    unknown = runner.invoke(app, ["predictor", "fit", "--device", "nope", "--space", space.ref])
    assert unknown.exit_code == 2 and "device 'nope' not found" in unknown.output
    malformed = runner.invoke(
        app, ["predictor", "predict", "--predictor", version["id"], "k3_e6 k9_e9"]
    )
    assert malformed.exit_code == 2 and "error:" in malformed.output


def test_fit_show_predict_through_the_api(
    client: TestClient, measured: Measured, local_cli: Path, cli_server: None, monkeypatch
) -> None:
    monkeypatch.setenv("HWNAS_API_TOKEN", ADMIN_TOKEN)
    space = measured.space
    local = runner.invoke(app, ["predictor", "show", "--json"])
    assert json.loads(local.output) == {"predictors": []}
    # A fit through the API needs a worker; none runs here, so it times out clearly.
    waiting = runner.invoke(
        app,
        ["predictor", "fit", "--device", "cpu-pred", "--space", space.ref, "--kind", "lut",
         "--timeout", "1"],
    )  # fmt: skip
    assert waiting.exit_code == 2 and "is a worker running?" in waiting.output
    assert not (local_cli / "hwnas.sqlite3").exists()
    assert client.get("/v1/predictors").json() == []  # queued, not fitted
    sessions = client.app.state.session_factory  # type: ignore[attr-defined]
    with session_scope(sessions) as session:  # the worker's task body
        (fit,) = session.scalars(select(PredictorFit)).all()
        run_fit(session=session, fit=fit)
    shown = json.loads(runner.invoke(app, ["predictor", "show", "--json"]).output)
    (version,) = shown["predictors"]
    assert version["kind"] == "lut" and version["device_id"] == measured.device_id
    arch = space.sample(5)
    predicted = runner.invoke(
        app, ["predictor", "predict", "--predictor", version["id"], space.format(arch), "--json"]
    )
    (answer,) = json.loads(predicted.output)["predictions"]
    assert answer["latency_ms"] == pytest.approx(
        sum(measured.lut_ms[k] for k in space.op_keys(arch))
    )
    refused = runner.invoke(app, ["predictor", "predict", "--predictor", version["id"], "k3_e6"])
    assert refused.exit_code == 2 and "422 invalid: architectures.0" in refused.output
