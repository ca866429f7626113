"""``hwnas search``: submit a latency-constrained search, watch it, print its result, cancel
or resume it. Searches run on workers, so these talk to the server (HWNAS_SERVER_URL)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from latency_db.settings import get_settings
from services.cli.api_client import ApiClient
from services.cli.dispatch import device_id_by_name, fail, run_action
from services.cli.output import console, emit_json, emit_mapping, emit_table
from services.cli.workflows import progress_bar

app = typer.Typer(help="Architecture searches: submit, watch, result, cancel, resume.")
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]
TERMINAL = ("succeeded", "failed", "canceled")
RESULT_FIELDS = (
    "architecture",
    "measured_latency_ms",
    "budget_ms",
    "meets_budget",
    "predicted_latency_ms",
    "accuracy",
    "measurements_used",
    "device_wait_s",
    "message",
)


def _remote_only(action: Any) -> Any:
    settings = get_settings()
    if not settings.server_url:
        fail(
            "searches run on workers: set HWNAS_SERVER_URL (and HWNAS_API_TOKEN), "
            "or use `hwnas demo`"
        )
    return run_action(settings, local=lambda _: None, remote=action)


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON where they parse (numbers, booleans), else text."""
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--set expects key=value, got {pair!r}")
        try:
            config[key] = json.loads(value)
        except json.JSONDecodeError:
            config[key] = value
    return config


def watch_search(api: ApiClient, search_id: str, timeout_s: float) -> dict[str, Any]:
    """Follow a search's events with a progress bar until it ends; its final state."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    with progress_bar() as progress:
        search = api.get(f"/searches/{search_id}")
        bar = progress.add_task(f"search {search_id[-6:]}", total=search["spec"].get("steps"))
        while True:
            events = api.get(f"/searches/{search_id}/events", after=seen, wait=10)
            seen += len(events)
            for event in events:
                if event["kind"] == "step":
                    metrics = event["payload"]
                    progress.update(
                        bar,
                        completed=int(metrics["step"]) + 1,
                        description=(
                            f"step {int(metrics['step']) + 1} E[LAT] "
                            f"{metrics.get('expected_latency_ms', 0):.1f} ms, measured "
                            f"{int(metrics.get('measurements_used', 0))}"
                        ),
                    )
            search = api.get(f"/searches/{search_id}")
            if search["state"] in TERMINAL and not events:
                return dict(search)
            if time.monotonic() > deadline:
                fail(f"search {search_id} still {search['state']} after {timeout_s:.0f}s")


def print_result(api: ApiClient, search_id: str, as_json: bool) -> dict[str, Any]:
    answer = api.get(f"/searches/{search_id}/result")
    if as_json:
        emit_json(answer)
        return dict(answer)
    result = answer["result"] or {}
    emit_mapping(
        f"search {search_id}: {answer['state']}", {k: result.get(k) for k in RESULT_FIELDS}
    )
    return dict(answer)


@app.command("submit")
def submit(
    device: Annotated[str, typer.Option("--device", help="device name")],
    budget: Annotated[float, typer.Option("--budget", help="latency budget in ms")],
    estimator: Annotated[
        str, typer.Option(help="proxyless, unas, gumbel, gdas, darts, reinforce, random, evolution")
    ] = "proxyless",
    setting: Annotated[
        list[str] | None, typer.Option("--set", help="spec field, key=value (repeat)")
    ] = None,
    watch: Annotated[
        bool, typer.Option(help="follow it until it ends, then print the result")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds to watch")] = 3600,
    as_json: JsonOption = False,
) -> None:
    """Submit a search of the device under a latency budget."""

    def remote(api: ApiClient) -> None:
        body = {
            "device_id": device_id_by_name(api, device),
            "budget_ms": budget,
            "estimator": estimator,
            "config": parse_settings(setting or []),
        }
        search = api.post("/searches", body)
        if not watch:
            if as_json:
                emit_json(search)
            else:
                console.print(f"search {search['id']} {search['state']}")
            return
        final = watch_search(api, search["id"], timeout)
        if final["state"] == "succeeded":
            print_result(api, search["id"], as_json)
        else:
            fail(f"search {search['id']} {final['state']}: {final.get('error')}")

    _remote_only(remote)


@app.command("watch")
def watch(search_id: str, timeout: Annotated[float, typer.Option()] = 3600) -> None:
    """Follow a search's progress until it ends."""
    _remote_only(
        lambda api: console.print(
            f"search {search_id}: {watch_search(api, search_id, timeout)['state']}"
        )
    )


@app.command("result")
def result(search_id: str, as_json: JsonOption = False) -> None:
    """The architecture, its measured latency against the budget, and its accuracy."""
    _remote_only(lambda api: print_result(api, search_id, as_json))


@app.command("list")
def list_searches(as_json: JsonOption = False) -> None:
    def remote(api: ApiClient) -> None:
        rows = api.get("/searches")
        if as_json:
            emit_json(rows)
            return
        table = [{**r, "step": r["progress"].get("step")} for r in rows]
        emit_table(
            "searches", table, ("id", "state", "estimator", "budget_ms", "step", "created_at")
        )

    _remote_only(remote)


@app.command("cancel")
def cancel(search_id: str) -> None:
    _remote_only(
        lambda api: console.print(
            f"search {search_id}: {api.post(f'/searches/{search_id}/cancel')['state']}"
        )
    )


@app.command("resume")
def resume(search_id: str) -> None:
    """Continue a failed search from its last checkpoint."""
    _remote_only(
        lambda api: console.print(
            f"search {search_id}: {api.post(f'/searches/{search_id}/resume')['state']}"
        )
    )
