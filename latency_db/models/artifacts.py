"""Content-addressed artifacts (ONNX, TorchScript, weights files): metadata here, bytes under
artifact_dir."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from latency_db.models.base import ID_LENGTH, Base, check_in, created_column, enum_type


class ArtifactKind(str, Enum):
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"
    WEIGHTS = "weights"  # architecture, space instance and state_dict (torch.save, tensors)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (
        CheckConstraint(check_in("kind", ArtifactKind), name="kind"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
    )

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[ArtifactKind] = mapped_column(enum_type(ArtifactKind))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(Text)
    space_ref: Mapped[str | None] = mapped_column(String(128))
    input_shape: Mapped[list[int]] = mapped_column(JSON)
    opset: Mapped[int | None]
    created_at: Mapped[datetime] = created_column()


class ArtifactUpload(Base):
    """A user who uploaded an artifact's bytes: the artifact is theirs to read (the same
    bytes uploaded by two users are one artifact with two uploads)."""

    __tablename__ = "artifact_uploads"

    sha256: Mapped[str] = mapped_column(
        String(64), ForeignKey("artifacts.sha256", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = created_column()
