"""The server hands out the agent as a wheel that installs and runs without torch."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from services.agent_wheel import WHEEL_NAME


def test_enrollment_commands_install_the_served_wheel(client: TestClient, tmp_path: Path) -> None:
    created = client.post("/v1/devices", json={"name": "jetson-1", "kind": "edge"}).json()
    install, run = created["enrollment"]["commands"]
    served = client.get(f"/v1/agent/{WHEEL_NAME}").content
    pinned = f"/v1/agent/{WHEEL_NAME}#sha256={hashlib.sha256(served).hexdigest()}"
    assert install.endswith(pinned)
    assert f"--enroll-token {created['enrollment']['token']}" in run
    wheel = tmp_path / WHEEL_NAME
    wheel.write_bytes(served)
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    url = wheel.as_uri() + "#" + pinned.partition("#")[2]
    tampered = subprocess.run(  # pip checks the pin: other bytes than the digest names
        [*pip, "--target", str(tmp_path / "other"), url[:-8] + "00000000"],
        capture_output=True,
        text=True,
    )
    assert tampered.returncode != 0 and "hash" in tampered.stderr.lower()
    subprocess.run([*pip, "--target", str(target), url], check=True)
    probe = (
        "import json, sys, profiler_agent, profiler_agent.cli, profiler_agent.loop;"
        "print(json.dumps({'file': profiler_agent.__file__,"
        "'heavy': sorted({'torch', 'sqlalchemy', 'celery'} & set(sys.modules))}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(result.stdout)
    assert loaded["file"].startswith(str(target))
    assert loaded["heavy"] == []
    assert (target / "bin" / "hwnas-agent").exists()
