"""Alembic: upgrade -> downgrade -> upgrade on both backends, no drift against the models,
and the embedded database migrated on first use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from latency_db import migrate
from latency_db.db import ensure_schema, make_engine
from latency_db.models import Base


def _tables(url: str | URL) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _drift(url: str | URL) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _round_trip(url: str | URL) -> None:
    model_tables = set(Base.metadata.tables)
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head_revision() == "0014"
    assert model_tables <= _tables(url)
    migrate.downgrade(url)
    assert migrate.current(url) is None
    assert not model_tables & _tables(url)
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head_revision()
    assert _drift(url) == []


def test_sqlite_round_trip_without_drift(fresh_sqlite_url: str) -> None:
    _round_trip(fresh_sqlite_url)


@pytest.mark.postgres
def test_postgresql_round_trip_without_drift(fresh_postgres_url: URL) -> None:
    _round_trip(fresh_postgres_url)


def _predictor_rows_survive_0002(url: str | URL) -> None:
    migrate.upgrade(url, "0001")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO devices (id, name, kind, attributes, state) "
                    "VALUES ('D1', 'pixel1', 'phone', '{}', 'active');"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO runtime_configs (id, backend, runtime_version, settings, "
                    "settings_hash) VALUES ('R1', 'published', '-', '{}', 'h');"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO predictors (id, device_id, runtime_config_id, space_ref, kind, "
                    "version, params, metrics, training_measurement_ids, seed, holdout_fraction) "
                    "VALUES ('P1', 'D1', 'R1', 'proxyless-r224-w1.0-c1000', 'lut', 1, '{}', "
                    "'{\"mape_pct\": 3.5}', '[]', 0, 0.2);"
                )
            )
        migrate.upgrade(url)
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT batch_size, calibration, metrics FROM predictors WHERE id = 'P1'")
            ).one()
        assert row[0] == 32 and row[1] is None and "3.5" in str(row[2])
    finally:
        engine.dispose()


def test_0002_keeps_predictors_on_sqlite(fresh_sqlite_url: str) -> None:
    _predictor_rows_survive_0002(fresh_sqlite_url)


@pytest.mark.postgres
def test_0002_keeps_predictors_on_postgresql(fresh_postgres_url: URL) -> None:
    _predictor_rows_survive_0002(fresh_postgres_url)


def _measurement_rows_get_verdicts_in_0005(url: str | URL) -> None:
    migrate.upgrade(url, "0002")
    engine = make_engine(url)
    columns = (
        "device_id, runtime_config_id, subject_kind, subject, batch_size, input_shape, "
        "times_ms, min_ms, median_ms, mean_ms, p90_ms, p99_ms, std_ms, cv, environment, "
        "source, accepted"
    )
    values = "'D1', 'R1', 'op', 'k', 32, '[1]', '[1.0]', 1, 1, 1, 1, 1, 0"
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO devices (id, name, kind, attributes, state) "
                    "VALUES ('D1', 'cpu', 'cpu', '{}', 'active');"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO runtime_configs (id, backend, runtime_version, settings, "
                    "settings_hash) VALUES ('R1', 'ort-cpu', '-', '{}', 'h');"
                )
            )
            for row_id, cv, unstable in (("M1", "0.01", "false"), ("M2", "0.2", "true")):
                connection.execute(
                    text(
                        f"INSERT INTO measurements (id, {columns}, unstable) VALUES "
                        f"('{row_id}', {values}, {cv}, '{{}}', 'agent', true, {unstable});"
                    )
                )
            connection.execute(
                text(
                    "INSERT INTO predictors (id, device_id, runtime_config_id, space_ref, kind, "
                    "version, params, metrics, training_measurement_ids, seed, holdout_fraction) "
                    "VALUES ('P1', 'D1', 'R1', 'proxyless-r224-w1.0-c1000', 'lut', 1, '{}', "
                    "'{}', '[]', 0, 0.2);"
                )
            )
        migrate.upgrade(url)
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, verdict, verdict_detail, evidence, median_ci_low_ms, unstable "
                    "FROM measurements ORDER BY id"
                )
            ).all()
            trained_on = connection.execute(
                text("SELECT training_verdicts FROM predictors WHERE id = 'P1'")
            ).scalar_one()
    finally:
        engine.dispose()
    by_id = {row[0]: row[1:] for row in rows}
    assert by_id["M1"][0] == "clean" and "recorded before verdicts" in str(by_id["M1"][1])
    assert by_id["M2"][0] == "unstable" and "recorded before verdicts" in str(by_id["M2"][1])
    assert all(str(row[2]) == "{}" and row[3] is None for row in by_id.values())
    assert [bool(by_id[i][4]) for i in ("M1", "M2")] == [False, True]
    assert "disturbed" in str(trained_on)


def test_0005_gives_old_measurements_verdicts_on_sqlite(fresh_sqlite_url: str) -> None:
    _measurement_rows_get_verdicts_in_0005(fresh_sqlite_url)


@pytest.mark.postgres
def test_0005_gives_old_measurements_verdicts_on_postgresql(fresh_postgres_url: URL) -> None:
    _measurement_rows_get_verdicts_in_0005(fresh_postgres_url)


def test_embedded_database_is_migrated_on_first_use(fresh_sqlite_url: str) -> None:
    engine = make_engine(fresh_sqlite_url)
    try:
        ensure_schema(engine)
        ensure_schema(engine)  # idempotent
        assert migrate.current(engine) == migrate.head_revision()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_server_database_is_not_migrated_behind_the_operators_back(
    fresh_postgres_url: URL,
) -> None:
    engine = make_engine(fresh_postgres_url)
    try:
        with pytest.raises(RuntimeError, match="run the migrations"):
            ensure_schema(engine)
        assert migrate.current(engine) is None
    finally:
        engine.dispose()


def test_command_line_migrates_the_settings_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HWNAS_DATABASE_URL", raising=False)
    monkeypatch.setenv("HWNAS_DATA_DIR", str(tmp_path / "data"))
    migrate.main(["upgrade"])
    assert (tmp_path / "data" / "hwnas.sqlite3").is_file()
    migrate.main(["downgrade", "--url", f"sqlite:///{tmp_path / 'data' / 'hwnas.sqlite3'}"])
    migrate.main(["current"])
    assert capsys.readouterr().out.split() == ["0014", "base", "base"]


def _weights_artifacts_in_0011(url: str | URL) -> None:
    """0011 widens the artifacts' kind CHECK; on SQLite that rebuilds the table, which must not
    cascade to the rows that reference it (an upload here), and the downgrade drops only the
    weights rows."""
    migrate.upgrade(url, "0010")
    engine = make_engine(url)
    insert = (
        "INSERT INTO artifacts (sha256, kind, size_bytes, subject, input_shape) "
        "VALUES ('{sha}', '{kind}', 10, 's', '[1]');"
    )
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO users (id, name, is_admin) VALUES ('U1', 'bob', false);")
            )
            connection.execute(text(insert.format(sha="a" * 64, kind="onnx")))
            connection.execute(
                text(f"INSERT INTO artifact_uploads (sha256, user_id) VALUES ('{'a' * 64}', 'U1');")
            )
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text(insert.format(sha="b" * 64, kind="weights")))
        migrate.upgrade(url)
        with engine.begin() as connection:
            connection.execute(text(insert.format(sha="b" * 64, kind="weights")))
            uploads = connection.execute(text("SELECT sha256 FROM artifact_uploads")).all()
        assert uploads == [("a" * 64,)]
        migrate.downgrade(url, "0010")
        with engine.connect() as connection:
            kept = connection.execute(text("SELECT kind FROM artifacts")).scalars().all()
            uploads = connection.execute(text("SELECT sha256 FROM artifact_uploads")).all()
        assert kept == ["onnx"] and uploads == [("a" * 64,)]
    finally:
        engine.dispose()


def test_0011_keeps_referencing_rows_on_sqlite(fresh_sqlite_url: str) -> None:
    _weights_artifacts_in_0011(fresh_sqlite_url)


@pytest.mark.postgres
def test_0011_keeps_referencing_rows_on_postgresql(fresh_postgres_url: URL) -> None:
    _weights_artifacts_in_0011(fresh_postgres_url)


def _json(value: object) -> Any:
    """A JSON column as read by raw SQL: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


def _dataset_paths_move_out_of_the_spec_in_0012(url: str | URL) -> None:
    """A search stored with a dataset path keeps it as ``config.dataset_root`` (the spec now
    names datasets); the downgrade puts it back."""
    migrate.upgrade(url, "0011")
    engine = make_engine(url)
    config = '{"spec": {"steps": 5, "dataset": "/data/train-set"}, "latency_model": {}}'
    try:
        with engine.begin() as connection:
            for statement in (
                "INSERT INTO users (id, name, is_admin) VALUES ('U1', 'bob', false);",
                "INSERT INTO devices (id, name, kind, attributes, state) "
                "VALUES ('D1', 'cpu', 'cpu', '{}', 'active');",
                "INSERT INTO runtime_configs (id, backend, runtime_version, settings, "
                "settings_hash) VALUES ('R1', 'ort-cpu', '-', '{}', 'h');",
                "INSERT INTO searches (id, owner_id, device_id, runtime_config_id, space_ref, "
                "config, state, budget_ms, estimator, progress, cancel_requested) VALUES ('S1', "
                f"'U1', 'D1', 'R1', 'proxyless', '{config}', 'pending', 5.0, 'proxyless', '{{}}', "
                "false);",
            ):
                connection.execute(text(statement))
        migrate.upgrade(url)
        read = text("SELECT config FROM searches WHERE id = 'S1'")
        with engine.connect() as connection:
            upgraded = _json(connection.execute(read).scalar_one())
        assert upgraded["dataset_root"] == "/data/train-set"
        assert upgraded["spec"] == {"steps": 5, "dataset": None}
        migrate.downgrade(url, "0011")
        with engine.connect() as connection:
            restored = _json(connection.execute(read).scalar_one())
        assert restored["spec"]["dataset"] == "/data/train-set" and "dataset_root" not in restored
    finally:
        engine.dispose()


def test_0012_keeps_a_searchs_dataset_path_on_sqlite(fresh_sqlite_url: str) -> None:
    _dataset_paths_move_out_of_the_spec_in_0012(fresh_sqlite_url)


@pytest.mark.postgres
def test_0012_keeps_a_searchs_dataset_path_on_postgresql(fresh_postgres_url: URL) -> None:
    _dataset_paths_move_out_of_the_spec_in_0012(fresh_postgres_url)
