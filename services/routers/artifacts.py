"""Content-addressed artifacts: upload an ONNX model, read metadata, download bytes."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from latency_db.artifact_store import ArtifactStore
from latency_db.models import Agent, Artifact, User
from latency_db.repositories import artifacts as artifact_repo
from services.deps import (
    BearerDep,
    CurrentUser,
    SessionDep,
    SettingsDep,
    current_agent,
    current_user,
)
from services.errors import ApiError
from services.onnx_upload import check_onnx_upload
from services.schemas.jobs import ArtifactOut

router = APIRouter(prefix="/artifacts", tags=["artifacts"])


def store_of(request: Request) -> ArtifactStore:
    store: ArtifactStore = request.app.state.artifact_store
    return store


def user_or_agent(session: SessionDep, credentials: BearerDep) -> User | Agent:
    """Artifacts are readable by users and by agents."""
    try:
        return current_user(session, credentials)
    except ApiError:
        return current_agent(session, credentials)


def readable_artifact(session: Session, sha256: str, reader: User | Agent) -> Artifact:
    """A user reads what they uploaded or what their devices profile, an agent the artifact
    of a job it holds a lease of; anything else is not found."""
    if isinstance(reader, User):
        return artifact_repo.get_artifact_for_user(session=session, sha256=sha256, user=reader)
    return artifact_repo.get_artifact_for_agent(session=session, sha256=sha256, agent=reader)


StoreDep = Annotated[ArtifactStore, Depends(store_of)]
ReaderDep = Annotated[User | Agent, Depends(user_or_agent)]


@router.post(
    "",
    status_code=201,
    response_model=ArtifactOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_model(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    user: CurrentUser,
    name: str = Query(min_length=1, max_length=200, description="a name for the model"),
) -> ArtifactOut:
    """Upload an ONNX model (raw bytes, static shapes) to be profiled by ``model`` jobs."""
    data = await request.body()
    checked = await check_onnx_upload(
        data,
        max_nodes=settings.onnx_max_nodes,
        timeout_s=settings.onnx_check_seconds,
        limiter=request.app.state.onnx_check_limiter,
    )

    def store_and_register() -> ArtifactOut:
        artifact = artifact_repo.register_artifact(
            session=session,
            sha256=store.put_bytes(data),
            kind="onnx",
            size_bytes=len(data),
            subject=name,
            input_shape=checked.input_shape,
            opset=checked.opset,
        )
        artifact_repo.record_upload(session=session, artifact=artifact, user=user)
        session.commit()
        return ArtifactOut.model_validate(artifact)

    return await to_thread.run_sync(store_and_register)


@router.get("/{sha256}", response_model=ArtifactOut)
def get_artifact(sha256: str, session: SessionDep, reader: ReaderDep) -> ArtifactOut:
    """An artifact's metadata (kind, size, input shape, opset)."""
    return ArtifactOut.model_validate(readable_artifact(session, sha256, reader))


@router.get("/{sha256}/content", response_class=FileResponse)
def download(sha256: str, session: SessionDep, store: StoreDep, reader: ReaderDep) -> FileResponse:
    """The artifact's bytes; clients verify them against the sha256."""
    artifact = readable_artifact(session, sha256, reader)
    return FileResponse(
        store.existing_path(artifact.sha256),
        media_type="application/octet-stream",
        filename=f"{artifact.sha256}.{'onnx' if artifact.kind.value == 'onnx' else 'pt'}",
    )
