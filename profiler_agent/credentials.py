"""The agent's own credential on local disk (``<data_dir>/agent.json``, mode 0600)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class AgentIdentity:
    server_url: str
    agent_id: str
    device_id: str
    credential: str


def identity_path(data_dir: Path) -> Path:
    return data_dir / "agent.json"


def load_identity(data_dir: Path, server_url: str) -> AgentIdentity | None:
    """The stored identity for this server, if the agent enrolled with it before."""
    path = identity_path(data_dir)
    if not path.exists():
        return None
    identity = AgentIdentity(**json.loads(path.read_text()))
    return identity if identity.server_url == server_url else None


def save_identity(data_dir: Path, identity: AgentIdentity) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = identity_path(data_dir)
    partial = path.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(identity), handle)
    partial.replace(path)
