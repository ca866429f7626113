"""Where the client finds its server and token: arguments, then ``HWNAS_SERVER_URL`` and
``HWNAS_API_TOKEN``, then the file ``hwnas login`` writes (``$HWNAS_CONFIG``, default
``~/.config/hwnas/config.json``, readable by its owner only)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ClientConfig:
    server_url: str | None = None
    api_token: str | None = None


def config_path() -> Path:
    override = os.environ.get("HWNAS_CONFIG")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "hwnas" / "config.json"


def read_config_file(path: Path | None = None) -> ClientConfig:
    """The saved server and token; empty if there is no file, ValueError if it is corrupt."""
    path = path or config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ClientConfig()
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read the hwnas config {path}: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"the hwnas config {path} is not a JSON object")
    return ClientConfig(data.get("server_url"), data.get("api_token"))


def write_config_file(config: ClientConfig, path: Path | None = None) -> Path:
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(config), handle, indent=2)
    return path


def load_config() -> ClientConfig:
    """The environment's server and token where set, the config file's otherwise."""
    saved = read_config_file()
    return ClientConfig(
        os.environ.get("HWNAS_SERVER_URL") or saved.server_url,
        os.environ.get("HWNAS_API_TOKEN") or saved.api_token,
    )
