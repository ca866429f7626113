"""docker-compose.yml: checked by ``docker compose config`` where that tool exists (``.ci/run``
installs Debian's docker-compose; under ``CI=true`` a missing tool fails the check), and
always for the defects it had (a worker healthcheck that could never pass, agents that could
not enroll, no restart policies, an API without ``build:``, dashboards on every interface)."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ONE_SHOT = {"migrate", "enroll-cpu", "enroll-gpu"}
COMPOSE_ENV = {
    "POSTGRES_PASSWORD": "pw",
    "HWNAS_ADMIN_TOKEN": "a" * 24,
    "FLOWER_BASIC_AUTH": "admin:pw",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
}


@pytest.fixture(scope="module")
def compose(repo_root: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((repo_root / "docker-compose.yml").read_text()))


def _compose_tool() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    return None


def test_docker_compose_config_accepts_the_file(repo_root: Path) -> None:
    tool = _compose_tool()
    if tool is None:
        missing = "neither 'docker compose' nor 'docker-compose' is installed here"
        if os.environ.get("CI", "").lower() == "true":  # .ci/run installs docker-compose
            pytest.fail(missing)
        pytest.skip(missing)
    for profile in ([], ["--profile", "gpu"]):
        checked = subprocess.run(
            [*tool, *profile, "-f", str(repo_root / "docker-compose.yml"), "config", "-q"],
            env=COMPOSE_ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert checked.returncode == 0, checked.stderr


def test_services_restart_build_and_stay_off_the_network(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        expected = "no" if name in ONE_SHOT else "unless-stopped"
        assert service.get("restart") == expected, name
        for port in service.get("ports", []):
            assert port.startswith("${HWNAS_BIND:-127.0.0.1}:"), (name, port)
    assert "build" in services["api"] and "build" in services["migrate"]
    assert "--basic-auth=" in " ".join(services["flower"]["command"])


def test_the_worker_healthcheck_names_a_real_entry_point(compose: dict[str, Any]) -> None:
    test = compose["services"]["worker"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-m"]
    assert callable(importlib.import_module(test[3]).main)


def test_agents_enroll_with_the_token_their_enroll_service_writes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for agent, enroll in (("agent-cpu", "enroll-cpu"), ("agent-gpu", "enroll-gpu")):
        assert services[agent]["depends_on"][enroll] == {
            "condition": "service_completed_successfully"
        }
        command = services[enroll]["command"]
        token_file = command[command.index("--out") + 1]
        assert f"$$(cat {token_file})" in services[agent]["command"][-1]
        assert command[1] == "scripts/compose_enroll.py"


def test_the_image_holds_every_package_and_the_context_no_venv(repo_root: Path) -> None:
    dockerfile = (repo_root / "scripts" / "Dockerfile").read_text()
    pyproject = (repo_root / "pyproject.toml").read_text()
    (include,) = re.findall(r"^include = \[(.*)\]$", pyproject, flags=re.MULTILINE)
    for pattern in re.findall(r'"([a-z_]+)\*"', include):
        package = pattern
        assert f"COPY {package} {package}" in dockerfile, package
    assert "COPY scripts/compose_enroll.py" in dockerfile
    ignored = (repo_root / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
