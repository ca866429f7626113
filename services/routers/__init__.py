"""Thin routers, one per resource of ``/v1``."""

from __future__ import annotations

from services.routers import (
    agent_admin,
    agent_package,
    agents,
    artifacts,
    datasets,
    devices,
    health,
    imports,
    jobs,
    leases,
    lookup_tables,
    measurements,
    predictors,
    searches,
    teams,
    users,
)

ROUTERS = [
    health.router,
    devices.router,
    agents.router,
    agent_admin.router,
    agent_package.router,
    leases.router,
    artifacts.router,
    jobs.router,
    measurements.router,
    lookup_tables.router,
    imports.router,
    predictors.router,
    searches.router,
    datasets.router,
    teams.router,
    users.router,
]
