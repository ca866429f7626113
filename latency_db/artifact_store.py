"""Content-addressed artifact bytes on disk: ``<root>/<sha256[:2]>/<sha256>``.

The database holds an artifact's metadata; its bytes live here, written atomically, named by
the sha256 of their content, so writing the same content twice is a no-op.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from latency_db.errors import NotFound, ValidationError


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValidationError(f"sha256 must be 64 lowercase hex digits, got {sha256!r}")
        return self.root / sha256[:2] / sha256

    def existing_path(self, sha256: str) -> Path:
        path = self.path_for(sha256)
        if not path.is_file():
            raise NotFound(f"artifact {sha256} has no stored content")
        return path

    def put_bytes(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        self._write(sha256, data)
        return sha256

    def _write(self, sha256: str, data: bytes) -> None:
        target = self.path_for(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
