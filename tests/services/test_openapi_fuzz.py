"""The OpenAPI as users meet it: every operation fuzzed from its own schema (schemathesis),
valid and invalid inputs, against the real app as the admin, as a user who is not one and as
an agent (those two on PostgreSQL, where a bad value fails loudest); the same roles through
linked call sequences (stateful: each call names what an earlier answer created); and every
operation documented.

No answer may be a 500, and every answer must match the schema documented for its status
(errors included: ``{code, message, details}``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import FlakyStrategyDefinition, Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode, checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.errors import FailureGroup

CHECKS = [checks.not_a_server_error, checks.response_schema_conformance]


@dataclass(frozen=True)
class Budget:
    """Cases per operation: of schemathesis's deterministic boundary cases, and random ones
    per generation mode (derandomized, not shrunk)."""

    coverage: int
    examples: dict[GenerationMode, int]


# The admin reaches every operation; a user who is not one meets the same routes with less
# behind them (404s), and an agent's own routes are few: smaller budgets keep the run short.
BUDGETS = {
    "admin": Budget(60, {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 4}),
    "user": Budget(6, {GenerationMode.POSITIVE: 3, GenerationMode.NEGATIVE: 1}),
    "agent": Budget(20, {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 2}),
}
# The admin on SQLite; a user who is not one and an agent on PostgreSQL.
ROLES = [
    ("admin", "sqlite"),
    pytest.param("user", "postgres", marks=pytest.mark.postgres),
    pytest.param("agent", "postgres", marks=pytest.mark.postgres),
]
AGENT_TAGS = {"agents", "leases", "artifacts", "health"}
MAX_FUZZ_WAIT_S = "0.1"  # a long-poll's ``wait``: the poll is not what is fuzzed here


def send(client: TestClient, case: Case, credential: str) -> httpx.Response:
    """The case through the test client (the app's lifespan) with ``credential``, which
    replaces any credential schemathesis made up for the bearer scheme."""
    caller = {"Authorization": f"Bearer {credential}"}
    request = case.as_transport_kwargs(base_url=str(client.base_url), headers=caller)
    request.pop("cookies")  # the API takes none
    params = request.get("params") or {}
    if isinstance(params, dict) and "wait" in params:
        params["wait"] = MAX_FUZZ_WAIT_S
    if "data" in request:  # raw bytes (an upload, or a deliberately broken JSON body)
        request["content"] = request.pop("data")
    return client.request(**request)


@dataclass
class Tally:
    """Sends cases and keeps count: requests sent, reports of those that failed a check."""

    client: TestClient
    credential: str
    budget: Budget
    sent: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, case: Case, phase: str) -> None:
        self.sent += 1
        label = f"{case.operation.label} ({phase})"
        try:
            case.validate_response(send(self.client, case, self.credential), checks=CHECKS)
        except FailureGroup as group:
            self.failures.append(f"{label}: {group}")
        except Exception as exc:  # raised through the test client: a 500 to a real client
            self.failures.append(f"{label}: {exc!r}\n{case.as_curl_command()}")


def cover(tally: Tally, operation: APIOperation) -> None:
    """Schemathesis's coverage cases: each input at and past its bounds, missing, mistyped."""
    schema = operation.schema
    cases = schema.iter_coverage_cases(
        operation,
        generation_modes=list(GenerationMode),
        generation_config=schema.config.generation_for(operation=operation, phase="coverage"),
    )
    for case in itertools.islice(cases, tally.budget.coverage):
        tally.check(case, "coverage")


def fuzz(tally: Tally, operation: APIOperation, mode: GenerationMode) -> None:
    """The budget's random cases of ``mode`` (derandomized, not shrunk)."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=tally.budget.examples[mode],
        phases=[Phase.generate],
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case) -> None:
        tally.check(case, mode.value)

    try:
        run()
    except Unsatisfiable:  # no input to make invalid (none at all, or any string is valid)
        assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid input"


def credential_of(client: TestClient, role: str) -> str:
    """The bearer credential of ``role``: the admin's token, a new user's (bob, no admin), or
    the credential of an agent enrolled on bob's device."""
    if role == "admin":
        return client.headers["Authorization"].removeprefix("Bearer ")
    bob = client.post("/v1/users", json={"name": "bob"}).json()["token"]
    if role == "user":
        return str(bob)
    device = {"name": "bobs", "kind": "cpu"}
    created = client.post("/v1/devices", json=device, headers={"Authorization": f"Bearer {bob}"})
    token = created.json()["enrollment"]["token"]
    body = {"enrollment_token": token, "name": "fuzzed", "backend": "ort-cpu"}
    return str(client.post("/v1/agents/enroll", json=body).json()["credential"])


@pytest.mark.slow
@pytest.mark.parametrize(("role", "database"), ROLES, indirect=["database"])
def test_no_operation_answers_500_or_off_schema(client: TestClient, role: str) -> None:
    """An agent is fuzzed on the routes it uses (every other answers it 401 up front)."""
    schema = schemathesis.openapi.from_dict(client.app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    if role == "agent":
        operations = [op for op in operations if AGENT_TAGS & set(op.tags or ())]
    budget = BUDGETS[role]
    tally = Tally(client, credential_of(client, role), budget)
    for operation in operations:
        cover(tally, operation)
        for mode in budget.examples:
            fuzz(tally, operation, mode)
    failed = len(tally.failures)
    print(f"fuzzed {len(operations)} operations as {role}: {tally.sent} requests, {failed} failed")
    assert tally.sent >= len(operations) * budget.examples[GenerationMode.POSITIVE]
    assert not tally.failures, "\n".join(tally.failures)


def operations(openapi: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_is_described_with_typed_answers(client: TestClient) -> None:
    """A written description (FastAPI makes a summary from the function name anyway), and a
    schema for every 2xx JSON answer."""
    problems = []
    for label, operation in operations(client.app.openapi()):
        if not operation.get("description", "").strip():
            problems.append(f"{label}: no description")
        for status, response in operation["responses"].items():
            json = response.get("content", {}).get("application/json")
            if status.startswith("2") and json is not None and not json.get("schema"):
                problems.append(f"{label} {status}: JSON answer without a schema")
    assert not problems, "\n".join(problems)


# Linked sequences: scenarios of up to STEPS calls, each feeding the next the ids its answer
# carried (links schemathesis infers from the schema: POST /devices -> GET /devices/{id} ...).
STATEFUL_SCENARIOS = {"admin": 60, "user": 30, "agent": 15}
STATEFUL_STEPS = 10


@pytest.mark.slow
@pytest.mark.parametrize(("role", "database"), ROLES, indirect=["database"])
def test_linked_call_sequences_answer_no_500_or_off_schema(client: TestClient, role: str) -> None:
    """Stateful (link-following) runs: what one answer created is what the next call names,
    so calls reach real resources instead of random ids' 404s."""
    # The links the API documents (services.schemas.links), not schemathesis's guesses from
    # names: those mostly named ids of the wrong resource (404s), and one revoked the
    # caller's own token (every later call a 401).
    config = SchemathesisConfig.from_dict(
        {"phases": {"stateful": {"inference": {"algorithms": []}}}}
    )
    schema = schemathesis.openapi.from_dict(client.app.openapi(), config=config)
    credential = credential_of(client, role)
    sent: list[str] = []
    reached: set[str] = set()  # operations with a path id that answered 2xx: a followed link

    created = itertools.count()
    # A 500 comes back as an answer (the not_a_server_error check records it), not raised.
    server = TestClient(client.app, base_url=str(client.base_url), raise_server_exceptions=False)

    class LinkedCalls(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Case) -> None:
            # Names are unique per server (devices, users, datasets): a name made unique here
            # answers a replayed scenario as it answered the first time (201, not 409).
            if isinstance(case.body, dict) and isinstance(case.body.get("name"), str):
                case.body["name"] += f"-{next(created)}"

        def call(self, case: Case, **kwargs: Any) -> Response:
            sent.append(case.operation.label)
            try:
                answer = send(server, case, credential)
            except Exception as exc:  # kept before Hypothesis sees it (see validate_response)
                failures.append(f"{case.operation.label}: {exc!r}")
                raise
            if "{" in case.operation.path and answer.is_success:
                reached.add(case.operation.label)
            return Response.from_any(answer)

        def validate_response(
            self, response: Response, case: Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            try:  # kept, not raised: a raise makes Hypothesis replay against a changed server
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as group:
                failures.append(f"{case.operation.label}: {group}")

    failures: list[str] = []
    try:
        run_linked_calls(LinkedCalls, role)
    except FlakyStrategyDefinition:  # a replayed prefix met the server changed since
        print(
            f"linked sequences as {role}: Hypothesis stopped at a replay the server answered "
            "differently (its state moved on); the calls made before are counted"
        )
    print(
        f"linked sequences as {role}: {len(sent)} requests over {len(set(sent))} operations, "
        f"{len(reached)} reached through an id an earlier answer gave, {len(failures)} failed"
    )
    assert not failures, "\n".join(failures)
    assert len(sent) >= STATEFUL_SCENARIOS[role]
    assert role == "agent" or reached, "no call reached a resource an earlier one created"


def run_linked_calls(machine: Any, role: str) -> None:
    machine.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS[role],
            stateful_step_count=STATEFUL_STEPS,
            phases=[Phase.generate],  # no shrinking: a replay would meet a changed server
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
