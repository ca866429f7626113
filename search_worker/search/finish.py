"""The end of a search: derive the architecture, measure it (and any other finalists) on the
device, train it briefly on the proxy data, report its accuracy, and export it. The finalists
are the estimator's (:meth:`Estimator.derive`: the argmax, and when the predictor puts it over
the budget, or well under it, the most accurate samples it puts at 0.9-1.0x of it); the most
accurate measured there is chosen, else the most accurate measured within budget, else the
fastest, and the result then says that no finalist was within. When no measured finalist is
at 0.9-1.0x, the model's correction is refitted on the finalists' measurements (the model was
wrong right where the search ended) and samples it now puts there are measured too, for up
to ``derive_rounds`` rounds in all.

Candidates are scored alike (:mod:`search_worker.search.scoring`: shared weights, BN
recalibrated, held-out ``score`` batches); the (accuracy, latency) points of everything the
search measured, and of samples of its final distribution (at their predicted latency), feed
the Pareto plot, beside a fixed baseline scored and measured the same way (MobileNetV2-like:
every layer ``k3_e6``, the inverted-residual block of Sandler et al., CVPR 2018). A budget
is judged only on a clean measurement (issue 16): otherwise ``budget_verdict`` says plainly
that it could not be judged and why, and ``meets_budget`` is null.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from latency_db.artifact_store import ArtifactStore
from search_worker.data import BatchStream, accuracy
from search_worker.devices import describe_device, module_device, to_device
from search_worker.export import ExportedArtifact, export_module
from search_worker.oracle import MeasurementFailed
from search_worker.oracle.base import Arch
from search_worker.search.calibration import LatencyCalibration
from search_worker.search.estimators.base import Estimator, aimed
from search_worker.search.problem import ArchitectureProblem, Candidate
from search_worker.search.run import SearchRun, StepGate, no_gate
from search_worker.search.scoring import Scoring
from search_worker.search.weight_training import (
    learning_rate,
    set_learning_rate,
    sgd_step,
    weight_optimizer,
)

MAX_POINTS = 200  # measured architectures shown on the Pareto plot
PLOT_SAMPLES = 24  # drawn from the final distribution, scored for the plot (latency predicted)
BASELINES = {"MobileNetV2-like (all k3_e6)": "k3_e6"}  # name: the op of every layer


@dataclass
class Finished:
    result: dict[str, Any]
    artifacts: list[ExportedArtifact]


def _choose(
    candidates: list[Candidate], measured: dict[tuple[int, ...], float], budget: float
) -> Candidate:
    """Most accurate finalist measured at 0.9-1.0x of the budget, else the most accurate
    measured within it, else the fastest measured one."""
    timed = [c for c in candidates if c.arch in measured]
    if not timed:
        raise MeasurementFailed("no finalist could be measured on the device")
    near = [c for c in timed if aimed(measured[c.arch], budget)]
    within = [c for c in timed if measured[c.arch] <= budget]
    if near or within:
        return max(near or within, key=lambda c: c.accuracy)
    return min(timed, key=lambda c: measured[c.arch])


def _finalist_latencies(
    run: SearchRun, candidates: list[Candidate], measured: dict[tuple[int, ...], float]
) -> dict[tuple[int, ...], float]:
    """The finalists' known latencies; when no finalist has one, their non-clean ones (the
    result then cannot judge the budget, but still names the fastest architecture)."""
    if any(c.arch in measured for c in candidates):
        return measured
    unclean = {a: float(answer["latency_ms"]) for a, answer in run.oracle.unclean.items()}
    return {**unclean, **measured}


@dataclass
class Derivation:
    """The finalists of every round, their measured latencies and the rounds it took."""

    candidates: list[Candidate]
    measured: dict[Arch, float]
    rounds: int


def derive_and_measure(
    estimator: Estimator,
    problem: ArchitectureProblem,
    calibration: LatencyCalibration,
    generator: torch.Generator,
    *,
    rounds: int,
    timeout_s: float,
    extra: Sequence[Arch] = (),
    heartbeat: Callable[[], None] = lambda: None,
) -> Derivation:
    """The estimator's finalists, measured by ``problem.oracle`` with ``extra`` (baselines);
    while none is measured at 0.9-1.0x of the budget and ``rounds`` are left, the correction
    of ``calibration.model`` (the problem's latency) is refitted on the finalists measured so
    far, and the samples it then puts at 0.9-1.0x are measured as well. An oracle that only
    predicts corrects nothing (one predictor is not the truth of another): one round."""
    oracle, budget = problem.oracle, problem.latency_loss.budget_ms
    candidates = estimator.derive(problem, generator)
    wanted = [c.arch for c in candidates] + list(extra)
    measured = oracle.wait_for(wanted, timeout_s, on_poll=heartbeat)
    done = 1
    while done < rounds and oracle.counts_as_measurement:
        timed = {c.arch: measured[c.arch] for c in candidates if c.arch in measured}
        if not timed or any(aimed(ms, budget) for ms in timed.values()):
            break
        calibration.refit(timed)
        seen = {c.arch for c in candidates}
        more = [c for c in estimator.samples_near_budget(problem, generator) if c.arch not in seen]
        if not more:
            break
        candidates += more
        measured |= oracle.wait_for([c.arch for c in more], timeout_s, on_poll=heartbeat)
        done += 1
    return Derivation(candidates, measured, done)


def budget_verdict(latency: float, budget: float, verdict: dict[str, Any]) -> dict[str, Any]:
    """``meets_budget`` (None when not judged), ``budget_verdict`` ("met", "missed" or "not
    judged: ...") and a message for people; only a clean measurement is judged."""
    if verdict["verdict"] != "clean":
        why = f"measurement {verdict['verdict']} ({verdict['reason'] or 'no reason given'})"
        return {
            "meets_budget": None,
            "budget_verdict": f"not judged: {why}",
            "message": (
                f"the {budget:.1f} ms budget could NOT be judged: the {latency:.1f} ms "
                f"{why} is not trustworthy; measure it again on a quiet device"
            ),
        }
    if latency <= budget:
        return {
            "meets_budget": True,
            "budget_verdict": "met",
            "message": f"measured {latency:.1f} ms is within the {budget:.1f} ms budget",
        }
    return {
        "meets_budget": False,
        "budget_verdict": "missed",
        "message": f"MISSES the budget: measured {latency:.1f} ms > {budget:.1f} ms "
        f"(+{100 * (latency / budget - 1):.1f}%)",
    }


def _plain_verdict(verdict: dict[str, Any], finalists: int) -> dict[str, Any]:
    """A missed budget says that no finalist was within it (the most accurate one measured
    within budget would have been chosen)."""
    if verdict["meets_budget"] is False:
        verdict["message"] += f"; no finalist measured within it ({finalists} measured)"
    return verdict


def _baseline_architectures(run: SearchRun) -> dict[str, tuple[int, ...]]:
    """Op indices of each baseline the space can express (every layer offers its op)."""
    found = {}
    for name, token in BASELINES.items():
        try:
            tokens = run.space.parse([token] * len(run.space.layers))
        except ValueError:
            continue
        found[name] = tuple(run.space.indices(tokens))
    return found


def _point(
    run: SearchRun, candidate: Candidate, known: dict[tuple[int, ...], float]
) -> dict[str, Any]:
    """A Pareto point: the architecture, its supernet accuracy, predicted and measured ms."""
    return {
        "arch": run.space.format(run.space.parse(list(candidate.arch))),
        "supernet_accuracy": candidate.accuracy,
        "predicted_ms": candidate.predicted_ms,
        "latency_ms": known.get(candidate.arch),
    }


def train_network(
    network: nn.Module,
    batches: BatchStream,
    steps: int,
    lr: float,
    step_gate: StepGate = no_gate,
) -> None:
    """Train a standalone network for ``steps`` steps as the supernet is trained
    (:mod:`search_worker.search.weight_training`), each started when ``step_gate`` lets it (no
    agent measuring on this host)."""
    if steps == 0:
        return
    optimizer = weight_optimizer(network.parameters(), lr)
    network.train()
    for step in range(steps):
        set_learning_rate(optimizer, learning_rate(lr, step, steps))
        x, y = to_device(batches.next(), module_device(network))
        with step_gate():
            sgd_step(optimizer, network, nn.functional.cross_entropy(network(x), y))


def finish_search(run: SearchRun, store: ArtifactStore, heartbeat: Callable[[], None]) -> Finished:
    spec, budget = run.spec, run.budget_ms
    batches = range(spec.eval_batches)
    scoring = Scoring(
        calibration=[to_device(run.data.weight.next(), run.device) for _ in batches],
        scored=[to_device(run.data.score.next(), run.device) for _ in batches],
    )
    problem = run.problem(scoring)
    baselines = _baseline_architectures(run)
    derivation = derive_and_measure(
        run.estimator,
        problem,
        run.calibration,
        run.generator,
        rounds=spec.derive_rounds,
        timeout_s=spec.finish_timeout_s,
        extra=list(baselines.values()),
        heartbeat=heartbeat,
    )
    candidates, measured = derivation.candidates, derivation.measured
    latencies = _finalist_latencies(run, candidates, measured)
    chosen = _choose(candidates, latencies, budget)
    scored = {c.arch: c for c in candidates}
    known = run.oracle.measured()
    draws = run.logits.sample(torch.Generator().manual_seed(spec.seed), PLOT_SAMPLES)
    for arch in [*list(known)[:MAX_POINTS], *(tuple(row) for row in draws.tolist())]:
        if arch not in scored and arch not in baselines.values():
            scored[arch] = problem.evaluate(arch)
    points = [_point(run, c, known) | {"chosen": c.arch == chosen.arch} for c in scored.values()]
    heartbeat()
    network = run.supernet.extract(list(chosen.arch))
    train_network(network, run.data.train, spec.finetune_steps, spec.weight_lr, run.step_gate)
    heartbeat()
    top1 = accuracy(network, run.data.val)
    network.eval().cpu()  # exported on the CPU, whatever the search trained on
    arch_text = run.space.format(run.space.parse(list(chosen.arch)))
    artifacts = [
        export_module(
            network,
            network.input_shape(1),
            kind=kind,
            store=store,
            subject=arch_text,
            space_ref=run.space.ref,
        )
        for kind in ("onnx", "torchscript", "weights")
    ]
    latency = latencies[chosen.arch]
    verdict = run.oracle.verdict(chosen.arch)
    result = {
        "architecture": arch_text,
        "op_indices": list(chosen.arch),
        "budget_ms": budget,
        "measured_latency_ms": latency,
        "measurement_verdict": verdict,
        "predicted_latency_ms": chosen.predicted_ms,
        **_plain_verdict(budget_verdict(latency, budget, verdict), len(candidates)),
        "accuracy": top1,
        "accuracy_split": "val",
        "finetune_steps": spec.finetune_steps,
        "supernet_accuracy": chosen.accuracy,
        "candidates": points,
        "baselines": [
            _point(run, problem.evaluate(arch), measured) | {"name": name}
            for name, arch in baselines.items()
        ],
        "derive_rounds": derivation.rounds,
        "steps": run.step_index,
        "oracle": run.oracle.mode,
        "measurements_used": run.oracle.stats.measurements_used,
        "unclean_measurements": run.oracle.stats.unclean,
        "device_wait_s": round(run.oracle.stats.wait_s, 3),
        "worker_device": describe_device(run.device),
        "latency_correction": float(run.latency.scale),
        "artifacts": {a.kind: a.sha256 for a in artifacts},
    }
    return Finished(result, artifacts)
