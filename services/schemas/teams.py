"""Teams and device shares."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from services.schemas.common import ApiModel, Out


class TeamCreate(ApiModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class TeamOut(Out):
    id: str
    name: str
    members: list[str] = Field(description="member user names")
    created_at: datetime


class MemberIn(ApiModel):
    user: str = Field(min_length=1, max_length=64, description="the user's name")


class ShareIn(ApiModel):
    team_id: str = Field(min_length=1, max_length=64)


class DeviceSharesOut(Out):
    device_id: str
    teams: list[str] = Field(description="names of the teams the device is shared with")
