"""Where ``hwnas search`` reads and changes searches: the server's ``/v1/searches`` when
HWNAS_SERVER_URL is set, else the local database through ``services.searches``, the
functions the server runs. Both answer the API's JSON shapes, so each command is written once.

Locally there is no login: the CLI acts as the user named ``admin``
(``services.bootstrap.admin_user``, created on first use), the user a server on the same
data directory authenticates with HWNAS_ADMIN_TOKEN. A local submit queues the search on
the embedded broker (or HWNAS_BROKER_URL), where ``hwnas worker`` picks it up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from hwnas import Client
from latency_db.artifact_store import ArtifactStore
from latency_db.models import SearchState
from latency_db.repositories import artifacts as artifact_repo
from latency_db.repositories import devices as device_repo
from latency_db.search_spec import EstimatorName
from latency_db.settings import Settings, get_settings
from services import searches as service
from services.bootstrap import admin_user
from services.cli.dispatch import device_id_by_name, run_action
from services.long_polls import poll
from services.task_queue import TaskQueue

T = TypeVar("T")
Json = dict[str, Any]


@dataclass(frozen=True)
class SearchFilters:
    """What ``hwnas search list`` narrows the listing to (None: any)."""

    state: SearchState | None = None
    estimator: EstimatorName | None = None
    device: str | None = None  # a device name


class Searches(Protocol):
    def submit(self, device: str, fields: Json) -> Json:
        """Submit ``fields`` (the API's body less ``device_id``) for the named device."""

    def listing(self, filters: SearchFilters, limit: int) -> list[Json]:
        """The user's searches, newest first, as ``filters`` say."""

    def get(self, search_id: str) -> Json:
        """The search as it is now (what a worker has committed included)."""

    def events(self, search_id: str, after: int, wait: float) -> list[Json]: ...

    def result(self, search_id: str) -> Json: ...

    def cancel(self, search_id: str) -> Json: ...

    def resume(self, search_id: str) -> Json: ...

    def artifact(self, sha256: str) -> bytes:
        """An artifact's content (an exported network)."""

    def pareto_png(self, search_id: str) -> bytes: ...


class RemoteSearches:
    def __init__(self, api: Client) -> None:
        self._api = api

    def submit(self, device: str, fields: Json) -> Json:
        body = {"device_id": device_id_by_name(self._api, device), **fields}
        return dict(self._api.post("/searches", body))

    def listing(self, filters: SearchFilters, limit: int) -> list[Json]:
        query = {
            "state": filters.state.value if filters.state else None,
            "estimator": filters.estimator.value if filters.estimator else None,
            "device_id": device_id_by_name(self._api, filters.device) if filters.device else None,
            "limit": limit,
        }
        return list(self._api.get("/searches", **{k: v for k, v in query.items() if v}))

    def get(self, search_id: str) -> Json:
        return dict(self._api.get(f"/searches/{search_id}"))

    def events(self, search_id: str, after: int, wait: float) -> list[Json]:
        return list(self._api.get(f"/searches/{search_id}/events", after=after, wait=wait))

    def result(self, search_id: str) -> Json:
        return dict(self._api.get(f"/searches/{search_id}/result"))

    def cancel(self, search_id: str) -> Json:
        return dict(self._api.post(f"/searches/{search_id}/cancel"))

    def resume(self, search_id: str) -> Json:
        return dict(self._api.post(f"/searches/{search_id}/resume"))

    def artifact(self, sha256: str) -> bytes:
        return self._api.get_bytes(f"/artifacts/{sha256}/content")

    def pareto_png(self, search_id: str) -> bytes:
        return self._api.searches.pareto_png(search_id)


class LocalSearches:
    EVENTS_PAGE = 500

    def __init__(self, session: Session, settings: Settings) -> None:
        self._session = session
        self._settings = settings
        self._user = admin_user(session)

    def submit(self, device: str, fields: Json) -> Json:
        row = device_repo.get_device_by_name(session=self._session, name=device)
        body = service.parse_submission({"device_id": row.id, **fields})
        search = service.submit_search(
            session=self._session, user=self._user, body=body, tasks=TaskQueue(self._settings)
        )
        return search.model_dump(mode="json")

    def listing(self, filters: SearchFilters, limit: int) -> list[Json]:
        device_id = None
        if filters.device:
            device_id = device_repo.get_device_by_name(
                session=self._session, name=filters.device
            ).id
        rows = service.list_searches(
            session=self._session,
            user=self._user,
            state=filters.state,
            estimator=filters.estimator.value if filters.estimator else None,
            device_id=device_id,
            limit=limit,
            offset=0,
        )
        return [s.model_dump(mode="json") for s in rows]

    def get(self, search_id: str) -> Json:
        self._session.commit()  # end the read: a new one sees what a worker has committed
        self._session.expire_all()
        search = service.owned_search(self._session, self._user, search_id)
        return service.search_out(search).model_dump(mode="json")

    def events(self, search_id: str, after: int, wait: float) -> list[Json]:
        def read() -> service.EventsPage:
            self._session.expire_all()  # see what a worker has committed since
            try:
                return service.read_events(
                    session=self._session,
                    user=self._user,
                    search_id=search_id,
                    after=after,
                    limit=self.EVENTS_PAGE,
                )
            finally:
                self._session.commit()  # end the read (and SQLite's write lock) while waiting

        page = asyncio.run(
            poll(
                read,
                service.EventsPage.final,
                wait_s=wait,
                interval_s=service.POLL_INTERVAL_S,
                max_interval_s=service.POLL_MAX_INTERVAL_S,
            )
        )
        return [e.model_dump(mode="json") for e in page.events]

    def result(self, search_id: str) -> Json:
        answer = service.search_result(session=self._session, user=self._user, search_id=search_id)
        return answer.model_dump(mode="json")

    def cancel(self, search_id: str) -> Json:
        search = service.cancel_search(session=self._session, user=self._user, search_id=search_id)
        return search.model_dump(mode="json")

    def resume(self, search_id: str) -> Json:
        search = service.resume_search(
            session=self._session,
            user=self._user,
            search_id=search_id,
            tasks=TaskQueue(self._settings),
            stale_after_seconds=self._settings.search_stale_seconds,
        )
        return search.model_dump(mode="json")

    def artifact(self, sha256: str) -> bytes:
        artifact = artifact_repo.get_artifact(session=self._session, sha256=sha256)
        return (
            ArtifactStore(self._settings.artifact_dir).existing_path(artifact.sha256).read_bytes()
        )

    def pareto_png(self, search_id: str) -> bytes:
        return service.pareto_plot(service.succeeded_search(self._session, self._user, search_id))


def with_searches(action: Callable[[Searches], T]) -> T:
    """``action`` on the server's searches, or on the local database's in one transaction."""
    settings = get_settings()
    return run_action(
        settings,
        local=lambda session: action(LocalSearches(session, settings)),
        remote=lambda api: action(RemoteSearches(api)),
    )
