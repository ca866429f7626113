"""The OpenAPI as users meet it: every operation fuzzed from its own schema (schemathesis),
valid and invalid inputs, against the real app as the admin; and every operation documented.

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
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode, checks
from schemathesis.errors import FailureGroup

EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 4}
COVERAGE_CASES = 60  # per operation, of schemathesis's deterministic boundary cases
CHECKS = [checks.not_a_server_error, checks.response_schema_conformance]


def send(client: TestClient, case: Case) -> httpx.Response:
    """The case through the test client (the app's lifespan), as the admin: the token
    replaces any credential schemathesis made up for the bearer scheme."""
    admin = {"Authorization": client.headers["Authorization"]}
    request = case.as_transport_kwargs(base_url=str(client.base_url), headers=admin)
    request.pop("cookies")  # the API takes none
    if "data" in request:  # raw bytes (an upload, or a deliberately broken JSON body)
        request["content"] = request.pop("data")
    return client.request(**request)


@dataclass
class Tally:
    """Sends cases and keeps count: requests sent, reports of those that failed a check."""

    client: TestClient
    sent: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, case: Case, phase: str) -> None:
        self.sent += 1
        label = f"{case.operation.label} ({phase})"
        try:
            case.validate_response(send(self.client, case), checks=CHECKS)
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
    for case in itertools.islice(cases, COVERAGE_CASES):
        tally.check(case, "coverage")


def fuzz(tally: Tally, operation: APIOperation, mode: GenerationMode) -> None:
    """``EXAMPLES[mode]`` random cases (derandomized, not shrunk)."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
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


@pytest.mark.slow
def test_no_operation_answers_500_or_off_schema(client: TestClient) -> None:
    schema = schemathesis.openapi.from_dict(client.app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    tally = Tally(client)
    for operation in operations:
        cover(tally, operation)
        for mode in EXAMPLES:
            fuzz(tally, operation, mode)
    failed = len(tally.failures)
    print(f"fuzzed {len(operations)} operations: {tally.sent} requests, {failed} failed")
    assert tally.sent >= len(operations) * EXAMPLES[GenerationMode.POSITIVE]
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
