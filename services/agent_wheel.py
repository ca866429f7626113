"""The agent as a wheel, built from the installed ``profiler_agent`` package on request.

A device that can reach only the server installs its agent from it:
``pip install <server>/v1/agent/<wheel name>#sha256=<digest>``: pip refuses bytes with
another digest. The wheel holds ``profiler_agent`` alone,
declares the agent's runtime dependencies, and the ``hwnas-agent`` console script
(wheel format: PEP 427; metadata: core metadata 2.1).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import io
import zipfile
from functools import cache
from importlib.resources.abc import Traversable

DISTRIBUTION = "hwnas_agent"
VERSION = "0.1.0"
WHEEL_NAME = f"{DISTRIBUTION}-{VERSION}-py3-none-any.whl"
REQUIRES = ["numpy>=1.26", "pydantic>=2.6", "httpx>=0.27", "onnxruntime>=1.17", "psutil>=5.9"]
PACKAGE = "profiler_agent"


def _python_files(root: Traversable, prefix: str) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_dir() and entry.name != "__pycache__":
            found += _python_files(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".py"):
            found.append((prefix + entry.name, entry.read_bytes()))
    return found


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


@cache
def agent_wheel() -> bytes:
    """The wheel's bytes (built once per process; deterministic timestamps)."""
    info = f"{DISTRIBUTION}-{VERSION}.dist-info"
    files = _python_files(importlib.resources.files(PACKAGE), f"{PACKAGE}/")
    metadata = "\n".join(
        [
            "Metadata-Version: 2.1",
            f"Name: {DISTRIBUTION.replace('_', '-')}",
            f"Version: {VERSION}",
            "Summary: hwnas profiler agent: measures ONNX models on this device for a server.",
            "Requires-Python: >=3.10",
            *(f"Requires-Dist: {r}" for r in REQUIRES),
            "",
        ]
    )
    files += [
        (f"{info}/METADATA", metadata.encode()),
        (
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: hwnas\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (f"{info}/entry_points.txt", b"[console_scripts]\nhwnas-agent = profiler_agent.cli:main\n"),
    ]
    record = "\n".join([*(_record_line(p, d) for p, d in files), f"{info}/RECORD,,", ""])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in [*files, (f"{info}/RECORD", record.encode())]:
            wheel.writestr(zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


@cache
def agent_wheel_sha256() -> str:
    """The hex SHA-256 of :func:`agent_wheel`, pinned in the enrollment's install command."""
    return hashlib.sha256(agent_wheel()).hexdigest()
