"""One consistent CLI: ``--version``, one JSON object per ``--json`` command, whole IDs in
narrow terminals, and one-line errors (exit 2) where tracebacks used to be."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hwnas import __version__
from profiler_agent.backends import backend_names
from services import processes
from services.cli.backend_choice import Backend
from services.cli.main import app

runner = CliRunner()


def one_line_error(*args: str, env: dict[str, str] | None = None) -> str:
    reply = runner.invoke(app, list(args), env=env)
    assert reply.exit_code == 2, reply.output
    assert reply.output.startswith("error: ") and reply.output.count("\n") == 1, reply.output
    return reply.output


def json_object(*args: str) -> dict[str, object]:
    reply = runner.invoke(app, list(args))
    assert reply.exit_code == 0, reply.output
    answer = json.loads(reply.output)
    assert isinstance(answer, dict)
    return answer


def test_version() -> None:
    reply = runner.invoke(app, ["--version"])
    assert reply.exit_code == 0 and reply.output == f"hwnas {__version__}\n"


def test_space_commands_answer_one_object_or_one_line(local_cli: Path) -> None:
    assert len(json_object("space", "list", "--json")["spaces"]) >= 3  # type: ignore[arg-type]
    sampled = json_object("space", "sample", "--count", "2", "--json")
    assert len(sampled["architectures"]) == 2  # type: ignore[arg-type]
    arch = sampled["architectures"][0]  # type: ignore[index]
    assert json_object("space", "check", arch, "--json")["valid"] is True
    as_text = runner.invoke(app, ["space", "keys", "--arch", arch]).output.splitlines()
    assert json_object("space", "keys", "--arch", arch, "--json")["keys"] == as_text
    assert "unknown space 'mobilenetv3'" in one_line_error(
        "space", "describe", "--space", "mobilenetv3"
    )
    assert "invalid architecture 'k3_e6 bogus'" in one_line_error(
        "space", "keys", "--arch", "k3_e6 bogus"
    )
    assert "invalid architecture" in one_line_error("space", "check", "k3_e6")


def test_an_unreachable_database_is_one_line_naming_it(local_cli: Path) -> None:
    url = f"postgresql+psycopg://someone:secret@127.0.0.1:{processes.free_port()}/nowhere"
    env = {"HWNAS_DATABASE_URL": url}
    for command in (["device", "list"], ["db", "upgrade"], ["server"]):
        message = one_line_error(*command, env=env)
        assert "someone:***@127.0.0.1" in message and "secret" not in message
        assert "check HWNAS_DATABASE_URL" in message


def test_server_refuses_a_short_admin_token(local_cli: Path) -> None:
    message = one_line_error("server", env={"HWNAS_ADMIN_TOKEN": "123456789012"})
    assert "HWNAS_ADMIN_TOKEN has 12 characters" in message and "at least 16" in message


def test_ids_are_never_cut_in_a_narrow_terminal(
    local_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "50")
    device = json_object("device", "add", "a-device-with-a-long-name", "--kind", "cpu", "--json")
    device_id = device["device"]["id"]  # type: ignore[index]
    listed = runner.invoke(app, ["device", "list"])
    assert listed.exit_code == 0 and device_id in listed.output, listed.output
    assert json_object("device", "list", "--json")["devices"][0]["id"] == device_id  # type: ignore[index]


def test_login_refuses_an_unreachable_server(local_cli: Path) -> None:
    url = f"http://127.0.0.1:{processes.free_port()}"
    message = one_line_error("login", "--server", url, "--token", "t" * 20)
    assert f"login to {url} refused: cannot reach the hwnas server at {url}" in message
    assert "--server" in one_line_error("login", "--server", "example.org", "--token", "t" * 20)


def _commands(group: Any, prefix: str = "") -> dict[str, Any]:
    """Every command under a (Typer's own click) group, by its full name."""
    found: dict[str, Any] = {}
    for name, command in group.commands.items():
        found[f"{prefix}{name}"] = command
        if hasattr(command, "commands"):
            found |= _commands(command, f"{prefix}{name} ")
    return found


def test_help_texts_carry_no_rst_markup() -> None:
    commands = _commands(typer.main.get_command(app))
    assert "profile" in commands and "search download" in commands
    marked = {name for name, command in commands.items() if "``" in (command.help or "")}
    for name, command in commands.items():
        for param in command.params:
            if "``" in (getattr(param, "help", None) or ""):
                marked.add(f"{name} {param.name}")
    assert marked == set()


def test_backend_choices_are_the_agents_backends() -> None:
    assert sorted(b.value for b in Backend) == sorted(backend_names())


def test_an_unknown_backend_is_refused_before_anything_is_queued(local_cli: Path) -> None:
    build = ["lut", "build", "--device", "d", "--backend", "tflite"]
    reply = runner.invoke(app, build, env={"COLUMNS": "200"})
    assert reply.exit_code == 2 and "'tflite' is not one of" in " ".join(reply.output.split())
    assert not (local_cli / "hwnas.sqlite3").exists()  # no database touched, no job queued


def test_one_naming_scheme_and_the_old_names_still_work(local_cli: Path) -> None:
    for new, old in (
        (["measurement", "list"], ["measurements", "list"]),
        (["predictor", "list"], ["predictor", "show"]),
    ):
        assert json_object(*new, "--json") == json_object(*old, "--json")
    listed = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert " measurement " in listed and " measurements " not in listed  # old name hidden


def test_kind_is_a_device_kind_only_among_device_commands(local_cli: Path) -> None:
    """``--kind`` is a predictor kind in ``predictor fit`` and a device kind in ``device add``;
    the imports, which create a device on the side, call theirs ``--device-kind``."""
    for command in (["lut", "import"], ["measurement", "import"]):
        refused = runner.invoke(app, [*command, "table.csv", "--kind", "phone"])
        assert refused.exit_code == 2 and "No such option" in refused.output, refused.output
        wide = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
        assert "--device-kind" in wide and "FILE" in wide
    assert "lut|linear|mlp|gbdt|auto" in "".join(
        runner.invoke(app, ["predictor", "fit", "--help"], env={"COLUMNS": "200"}).output.split()
    )
