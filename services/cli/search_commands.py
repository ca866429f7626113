"""``hwnas search``: submit a latency-constrained search, watch it, print its result, list,
cancel or resume it: on the server when HWNAS_SERVER_URL is set, else on the local database
(where a search runs once ``hwnas worker`` is running on the same data directory)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import typer

from hwnas import HwnasError
from hwnas.searches import save_artifacts, save_file
from latency_db.models import SearchState
from latency_db.search_spec import EstimatorName, SearchSpec
from latency_db.verdicts import describe
from services.cli.dispatch import fail
from services.cli.output import console, emit_json, emit_mapping, emit_table
from services.cli.search_access import Json, Searches, SearchFilters, with_searches
from services.cli.workflows import progress_bar

app = typer.Typer(
    help=(
        "Architecture searches: submit, watch, result, list, cancel, resume. On the server "
        "(HWNAS_SERVER_URL) or the local database; locally a search runs while `hwnas worker` "
        "is running on the same data directory (HWNAS_DATA_DIR)."
    )
)
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]
TERMINAL = ("succeeded", "failed", "canceled")
EVENT_WAIT_S = 10.0
RESULT_FIELDS = (
    "architecture",
    "measured_latency_ms",
    "budget_ms",
    "meets_budget",
    "budget_verdict",
    "predicted_latency_ms",
    "accuracy",
    "measurements_used",
    "device_wait_s",
    "message",
)


DEFAULT_ESTIMATOR = EstimatorName("proxyless")


def config_keys_help() -> str:
    """The ``--set`` keys of a search with their defaults, from ``SearchSpec``."""
    lines = ["Config keys for --set key=value (default):"]
    for name, field in SearchSpec.model_fields.items():
        choices = get_args(field.annotation) if get_origin(field.annotation) is Literal else ()
        kind = "|".join(map(str, choices)) if choices else ""
        about = "; ".join(part for part in (kind, field.description or "") if part)
        lines.append(f"{name} ({field.default!r}){': ' + about if about else ''}")
    return "\n\n".join(lines)


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


def watch_search(
    searches: Searches, search_id: str, timeout_s: float, to_stderr: bool = False
) -> Json:
    """Follow a search's events with a progress bar until it ends; its final state."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    with progress_bar(to_stderr) as progress:
        search = searches.get(search_id)
        bar = progress.add_task(f"search {search_id[-6:]}", total=search["spec"].get("steps"))
        while True:
            events = searches.events(search_id, after=seen, wait=EVENT_WAIT_S)
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
            search = searches.get(search_id)
            if search["state"] in TERMINAL and not events:
                return search
            if time.monotonic() > deadline:
                fail(f"search {search_id} still {search['state']} after {timeout_s:.0f}s")


def print_result(searches: Searches, search_id: str, as_json: bool) -> Json:
    answer = searches.result(search_id)
    if as_json:
        emit_json(answer)
        return answer
    result = answer["result"] or {}
    fields = {k: result.get(k) for k in RESULT_FIELDS}
    if "measurement_verdict" in result:
        verdict = result["measurement_verdict"]
        fields["measurement verdict"] = describe(verdict["verdict"], verdict)
    emit_mapping(f"search {search_id}: {answer['state']}", fields)
    if answer.get("artifacts"):
        emit_table(
            "artifacts ('hwnas search download ID' saves them)",
            answer["artifacts"],
            ("kind", "size_bytes", "sha256"),
        )
    return answer


@app.command("submit", epilog=config_keys_help())
def submit(
    device: Annotated[str, typer.Option("--device", help="device name")],
    budget: Annotated[float, typer.Option("--budget", help="latency budget in ms")],
    estimator: Annotated[
        EstimatorName, typer.Option(help="the search algorithm")
    ] = DEFAULT_ESTIMATOR,
    setting: Annotated[
        list[str] | None, typer.Option("--set", help="spec field, key=value (repeat)")
    ] = None,
    watch: Annotated[
        bool, typer.Option(help="follow it until it ends, then print the result")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds to watch")] = 3600,
    as_json: JsonOption = False,
) -> None:
    """Submit a search of the device under a latency budget (locally, it runs once
    `hwnas worker` is running on the same data directory)."""
    fields = {
        "budget_ms": budget,
        "estimator": EstimatorName(estimator).value,
        "config": parse_settings(setting or []),
    }

    def submit_and_follow(searches: Searches) -> None:
        search = searches.submit(device, fields)
        if not watch:
            if as_json:
                emit_json(search)
            else:
                console.print(f"search {search['id']} {search['state']}")
            return
        final = watch_search(searches, search["id"], timeout, as_json)
        if final["state"] == "succeeded":
            print_result(searches, search["id"], as_json)
        else:
            fail(f"search {search['id']} {final['state']}: {final.get('error')}")

    with_searches(submit_and_follow)


@app.command("watch")
def watch(
    search_id: str,
    timeout: Annotated[float, typer.Option(help="seconds to watch")] = 3600,
    as_json: JsonOption = False,
) -> None:
    """Follow a search's progress until it ends (the bar on stderr with --json)."""
    final = with_searches(lambda searches: watch_search(searches, search_id, timeout, as_json))
    if as_json:
        emit_json(final)
    else:
        console.print(f"search {search_id}: {final['state']}")


@app.command("result")
def result(search_id: str, as_json: JsonOption = False) -> None:
    """The architecture, its measured latency against the budget, and its accuracy."""
    with_searches(lambda searches: print_result(searches, search_id, as_json))


@app.command("download")
def download(
    search_id: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="folder to write into")] = Path(
        "."
    ),
    onnx: Annotated[bool, typer.Option("--onnx", help="the network as ONNX")] = False,
    torchscript: Annotated[
        bool, typer.Option("--torchscript", help="the fine-tuned network as TorchScript")
    ] = False,
    weights: Annotated[
        bool,
        typer.Option(
            "--weights",
            help="the fine-tuned weights with the architecture "
            "(search_worker.export.load_weights rebuilds the network)",
        ),
    ] = False,
    plots: Annotated[bool, typer.Option("--plots", help="the Pareto plot (PNG)")] = False,
    as_json: JsonOption = False,
) -> None:
    """Save a succeeded search's exported network (ONNX, TorchScript, weights; sha256
    checked) and its Pareto plot; without a choice, all of them."""
    chosen = {"onnx": onnx, "torchscript": torchscript, "weights": weights}
    everything = not (onnx or torchscript or weights or plots)
    kinds = tuple(k for k, wanted in chosen.items() if wanted or everything)

    def save(searches: Searches) -> list[Path]:
        answer = searches.result(search_id)
        if answer["state"] != "succeeded":
            fail(f"search {search_id} {answer['state']}: it has nothing to download")
        written = save_artifacts(answer, searches.artifact, output, kinds)
        if plots or everything:
            png = searches.pareto_png(search_id)
            written.append(save_file(output, f"{search_id}-pareto.png", png))
        return written

    try:
        written = with_searches(save)
    except (OSError, HwnasError) as err:
        fail(f"cannot save into {output}: {err}")
    files = [{"path": str(p), "size_bytes": p.stat().st_size} for p in written]
    if as_json:
        emit_json({"search_id": search_id, "files": files})
        return
    emit_table(f"search {search_id}: saved", files, ("path", "size_bytes"))


@app.command("list")
def list_searches(
    state: Annotated[SearchState | None, typer.Option(help="only searches in this state")] = None,
    estimator: Annotated[
        EstimatorName | None, typer.Option(help="only searches of this estimator")
    ] = None,
    device: Annotated[str | None, typer.Option(help="only searches on this device (name)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="newest first, at most")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Your searches, newest first."""
    filters = SearchFilters(state, estimator, device)
    rows = with_searches(lambda searches: searches.listing(filters, limit))
    if as_json:
        emit_json({"searches": rows})
        return
    table = [{**r, "step": r["progress"].get("step")} for r in rows]
    emit_table("searches", table, ("id", "state", "estimator", "budget_ms", "step", "created_at"))


@app.command("cancel")
def cancel(search_id: str, as_json: JsonOption = False) -> None:
    """Cancel a pending search now; a running one stops within one heartbeat."""
    _print_state(with_searches(lambda searches: searches.cancel(search_id)), as_json)


@app.command("resume")
def resume(search_id: str, as_json: JsonOption = False) -> None:
    """Continue a failed search from its last checkpoint."""
    _print_state(with_searches(lambda searches: searches.resume(search_id)), as_json)


def _print_state(search: Json, as_json: bool) -> None:
    if as_json:
        emit_json(search)
    else:
        console.print(f"search {search['id']}: {search['state']}")
