"""The README's runnable example block (after ``<!-- readme-example -->``), run as written
on an embedded database, each command in-process."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli.main import app

runner = CliRunner()


def readme_commands(readme: Path) -> list[str]:
    text = readme.read_text(encoding="utf-8")
    (block,) = re.findall(r"<!-- readme-example -->\n```\n(.*?)```", text, flags=re.DOTALL)
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_example_runs_as_written(
    repo_root: Path, local_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo_root)  # the example names files relative to the repository root
    commands = readme_commands(repo_root / "README.md")
    assert len(commands) >= 5
    for command in commands:
        program, *args = shlex.split(command)
        assert program == "hwnas", command
        reply = runner.invoke(app, args)
        assert reply.exit_code == 0, (command, reply.output)
