"""SQLAlchemy models of the latency database; ``Base.metadata`` is what Alembic migrates."""

from __future__ import annotations

from latency_db.models.accounts import ApiToken, User
from latency_db.models.artifacts import Artifact, ArtifactKind, ArtifactUpload
from latency_db.models.base import Base, new_id
from latency_db.models.datasets import Dataset
from latency_db.models.devices import (
    Agent,
    AgentState,
    Device,
    DeviceKind,
    DeviceState,
    EnrollmentToken,
)
from latency_db.models.jobs import JobKind, JobLease, JobState, LeaseState, ProfilingJob
from latency_db.models.measurements import (
    Measurement,
    MeasurementSource,
    SpeedSample,
    SubjectKind,
)
from latency_db.models.predictors import (
    FitKind,
    FitState,
    Predictor,
    PredictorFit,
    PredictorKind,
)
from latency_db.models.runtime import RuntimeConfig
from latency_db.models.searches import Search, SearchEvent, SearchState
from latency_db.models.teams import DeviceShare, Team, TeamMember

__all__ = [
    "Agent",
    "AgentState",
    "ApiToken",
    "Artifact",
    "ArtifactKind",
    "ArtifactUpload",
    "Base",
    "Dataset",
    "Device",
    "DeviceKind",
    "DeviceShare",
    "DeviceState",
    "EnrollmentToken",
    "FitKind",
    "FitState",
    "JobKind",
    "JobLease",
    "JobState",
    "LeaseState",
    "Measurement",
    "MeasurementSource",
    "Predictor",
    "PredictorFit",
    "PredictorKind",
    "ProfilingJob",
    "RuntimeConfig",
    "Search",
    "SearchEvent",
    "SearchState",
    "SpeedSample",
    "SubjectKind",
    "Team",
    "TeamMember",
    "User",
    "new_id",
]
