"""A succeeded search's artifacts: listed with sizes and sha256 by ``search result``, saved
by ``hwnas search download`` (through the API and on the local database) and by the client."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from hwnas import Client, HwnasError
from latency_db.artifact_store import ArtifactStore
from latency_db.db import ensure_schema, make_engine, make_session_factory, session_scope
from latency_db.models import SearchState
from latency_db.repositories import artifacts as artifact_repo
from latency_db.repositories import searches as search_repo
from latency_db.settings import get_settings
from services.cli.main import app

from .conftest import ADMIN_TOKEN, BOTH_DATABASES, Measured, seed_measurements
from .test_search_cli import DEPLOY

runner = CliRunner()
RESULT = {
    "architecture": "a",
    "budget_ms": 25.0,
    "measured_latency_ms": 21.0,
    "supernet_accuracy": 0.5,
    "accuracy": 0.6,
    "candidates": [
        {"arch": "a", "supernet_accuracy": 0.5, "predicted_ms": 20.0, "latency_ms": 21.0}
    ],
}


def _submit() -> str:
    reply = runner.invoke(
        app, ["search", "submit", "--device", "cpu-pred", "--budget", "25", *DEPLOY, "--json"]
    )
    assert reply.exit_code == 0, reply.output
    return str(json.loads(reply.output)["id"])


def _succeed(
    sessions: sessionmaker[Session], store: ArtifactStore, search_id: str, files: dict[str, bytes]
) -> dict[str, str]:
    """What a worker's finish writes: the exported files, their rows, the result naming them."""
    with session_scope(sessions) as session:
        shas = {}
        for kind, data in files.items():
            shas[kind] = store.put_bytes(data)
            artifact_repo.register_artifact(
                session=session,
                sha256=shas[kind],
                kind=kind,
                size_bytes=len(data),
                subject="a",
                input_shape=[1, 3, 32, 32],
            )
        row = search_repo.get_search(session=session, search_id=search_id)
        search_repo.transition_search(session=session, search=row, state=SearchState.RUNNING)
        for step in range(2):
            search_repo.add_search_event(
                session=session, search=row, step=step, kind="step", payload={"step": step}
            )
        search_repo.transition_search(
            session=session,
            search=row,
            state=SearchState.SUCCEEDED,
            result={**RESULT, "artifacts": shas},
        )
    return shas


def _check_download(search_id: str, shas: dict[str, str], out: Path) -> None:
    listed = runner.invoke(app, ["search", "result", search_id, "--json"])
    assert listed.exit_code == 0, listed.output
    artifacts = {a["kind"]: a for a in json.loads(listed.output)["artifacts"]}
    assert {k: a["sha256"] for k, a in artifacts.items()} == shas
    text = runner.invoke(app, ["search", "result", search_id], env={"COLUMNS": "200"})
    assert shas["onnx"] in text.output  # the whole sha256, never cut

    only_onnx = runner.invoke(app, ["search", "download", search_id, "--onnx", "-o", str(out)])
    assert only_onnx.exit_code == 0, only_onnx.output
    assert sorted(p.name for p in out.iterdir()) == [f"{search_id}.onnx"]
    saved = (out / f"{search_id}.onnx").read_bytes()
    assert hashlib.sha256(saved).hexdigest() == shas["onnx"]
    assert len(saved) == artifacts["onnx"]["size_bytes"]

    everything = runner.invoke(app, ["search", "download", search_id, "-o", str(out), "--json"])
    assert everything.exit_code == 0, everything.output
    files = {Path(f["path"]).name for f in json.loads(everything.output)["files"]}
    assert files == {
        f"{search_id}.onnx",
        f"{search_id}.pt",
        f"{search_id}.weights.pt",
        f"{search_id}-pareto.png",
    }
    assert (out / f"{search_id}-pareto.png").read_bytes().startswith(b"\x89PNG")

    weights = runner.invoke(app, ["search", "download", search_id, "--weights", "-o", str(out)])
    assert weights.exit_code == 0, weights.output
    saved = (out / f"{search_id}.weights.pt").read_bytes()
    assert hashlib.sha256(saved).hexdigest() == shas["weights"]


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_download_through_the_api_and_with_the_client(
    client: TestClient,
    api: Client,
    measured: Measured,
    local_cli: Path,
    cli_server: None,
    monkeypatch: pytest.MonkeyPatch,
    tiny_onnx: Path,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("HWNAS_API_TOKEN", ADMIN_TOKEN)
    search_id = _submit()
    unfinished = runner.invoke(app, ["search", "download", search_id, "-o", str(tmp_path)])
    assert unfinished.exit_code == 2 and "not finished" in unfinished.output
    files = {
        "onnx": tiny_onnx.read_bytes(),
        "torchscript": b"torchscript bytes",
        "weights": b"weights bytes",
    }
    state = client.app.state  # type: ignore[attr-defined]
    shas = _succeed(state.session_factory, state.artifact_store, search_id, files)
    _check_download(search_id, shas, tmp_path / "cli")

    assert [e["step"] for e in api.searches.events(search_id)] == [0, 1]  # ends: succeeded
    written = api.searches.download(search_id, tmp_path / "lib", kinds=("torchscript",))
    assert [p.read_bytes() for p in written] == [files["torchscript"]]
    # A stored file that no longer matches its sha256 is refused, not saved.
    state.artifact_store.existing_path(shas["torchscript"]).write_bytes(b"tampered")
    with pytest.raises(HwnasError, match="does not match"):
        api.searches.download(search_id, tmp_path / "bad", kinds=("torchscript",))
    assert not (tmp_path / "bad").exists()


def test_download_on_the_local_database(local_cli: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    settings = get_settings()
    engine = make_engine(settings)
    ensure_schema(engine)
    sessions = make_session_factory(engine)
    seed_measurements(sessions, "cpu-pred")
    search_id = _submit()
    files = {
        "onnx": tiny_onnx.read_bytes(),
        "torchscript": b"torchscript bytes",
        "weights": b"weights bytes",
    }
    shas = _succeed(sessions, ArtifactStore(settings.artifact_dir), search_id, files)
    engine.dispose()
    _check_download(search_id, shas, tmp_path / "out")
