"""The agent itself, served as a wheel so a device that reaches only the server can install it."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.agent_wheel import WHEEL_NAME, agent_wheel

router = APIRouter(prefix="/agent", tags=["agents"])


@router.get(f"/{WHEEL_NAME}", response_class=Response)
def agent_package() -> Response:
    """``pip install <server>/v1/agent/<this file>`` installs ``hwnas-agent`` (no torch)."""
    return Response(agent_wheel(), media_type="application/zip")
