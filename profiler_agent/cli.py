"""``hwnas-agent``: measure a local model, list backends, or serve a server's profiling jobs.

hwnas-agent measure model.onnx --backend ort-cpu --threads 1 --json [--profile]
hwnas-agent backends [--json]
hwnas-agent run --server URL --enroll-token T --backend ort-cpu [--threads N] [--data-dir D]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from profiler_agent.backends import (
    BackendSettings,
    BackendUnavailable,
    InvalidModel,
    backend_names,
    create_backend,
)
from profiler_agent.protocol import MeasurementPolicy

EXIT_UNAVAILABLE = 3
EXIT_INVALID_MODEL = 4


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a shape: {text!r} (use 32,3,224,224)") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"dimensions must be positive: {text!r}")
    return shape


def _add_runtime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default="ort-cpu", choices=backend_names())
    parser.add_argument("--threads", type=int, help="intra-op threads (default: all usable cores)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16"))
    parser.add_argument("--device-id", type=int, default=0, help="GPU index")
    parser.add_argument("--cache-dir", type=Path, help="engine/timing caches")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hwnas-agent", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    m = commands.add_parser("measure", help="measure a local ONNX/TorchScript file")
    m.add_argument("file", type=Path)
    _add_runtime_options(m)
    m.add_argument("--input-shape", type=_shape, help="static input shape, e.g. 32,3,224,224")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.add_argument("--profile", action="store_true", help="add the per-layer profile")
    _add_policy_options(m)

    b = commands.add_parser("backends", help="list backends and whether each runs here")
    b.add_argument("--json", action="store_true")

    r = commands.add_parser("run", help="enroll with a server and serve its profiling jobs")
    r.add_argument("--server", required=True, help="server base URL")
    r.add_argument("--enroll-token", help="one-time token (first start only)")
    r.add_argument("--data-dir", type=Path, default=Path.home() / ".hwnas-agent")
    r.add_argument("--name", help="agent name (default: host name)")
    r.add_argument(
        "--host-lock-dir",
        type=Path,
        help="device-busy lock shared with a worker on this host "
        "(default: $HWNAS_HOST_LOCK_DIR, else a folder under the system temp dir)",
    )
    _add_runtime_options(r)
    _add_policy_options(r)
    return parser


def _add_policy_options(parser: argparse.ArgumentParser) -> None:
    """The measurement protocol's minimums (design section 4 defaults)."""
    defaults = MeasurementPolicy()
    parser.add_argument("--warmup-runs", type=int, default=defaults.warmup_min_runs)
    parser.add_argument("--warmup-seconds", type=float, default=defaults.warmup_min_s)
    parser.add_argument("--runs", type=int, default=defaults.timed_min_runs, help="min timed runs")
    parser.add_argument("--seconds", type=float, default=defaults.timed_min_s, help="min timed s")
    parser.add_argument("--max-cv", type=float, default=defaults.max_cv)
    parser.add_argument(
        "--reruns",
        type=int,
        default=defaults.reruns_when_unstable,
        help="re-runs of the timed phase while CV > --max-cv",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=defaults.max_timed_s,
        help="adaptive stopping: time until the median's 95%% CI is within 1%% or this many "
        "seconds (0: stop at the minimums)",
    )
    parser.add_argument(
        "--max-other-cpu",
        type=float,
        default=defaults.max_other_cpu,
        help="cores other processes may keep busy before a phase counts as disturbed",
    )
    parser.add_argument(
        "--max-disturbed-tries",
        type=int,
        default=defaults.max_disturbed_tries,
        help="disturbed timed phases before reporting (1: never re-measure)",
    )
    parser.add_argument(
        "--max-quiet-wait",
        type=float,
        default=defaults.max_quiet_wait_s,
        help="longest wait for quiet before re-measuring a disturbed phase (s)",
    )


def _policy(args: argparse.Namespace) -> MeasurementPolicy:
    return MeasurementPolicy(
        warmup_min_runs=args.warmup_runs,
        warmup_min_s=args.warmup_seconds,
        timed_min_runs=args.runs,
        timed_min_s=args.seconds,
        max_cv=args.max_cv,
        reruns_when_unstable=args.reruns,
        max_timed_s=args.max_seconds,
        max_other_cpu=args.max_other_cpu,
        max_disturbed_tries=args.max_disturbed_tries,
        max_quiet_wait_s=args.max_quiet_wait,
    )


def _settings(args: argparse.Namespace) -> BackendSettings:
    return BackendSettings(
        threads=args.threads,
        precision=args.precision,
        device_id=args.device_id,
        cache_dir=args.cache_dir,
    )


def cmd_measure(args: argparse.Namespace) -> int:
    from profiler_agent.measure import measure_file

    policy = _policy(args)
    backend = create_backend(args.backend)
    record = measure_file(
        backend,
        args.file,
        args.input_shape,
        _settings(args),
        policy=policy,
        with_profile=args.profile,
    )
    record["model"] = str(args.file)
    if args.json:
        print(json.dumps(record))
    else:
        print(_describe(record))
    return 0


def _describe(record: dict[str, Any]) -> str:
    stats, verdict = record["stats"], record["verdict"]
    p90 = stats["p90_ms"]
    lines = [
        f"{record['model']} on {record['backend']} {record['runtime_settings']}",
        f"  input {record['input_shape']}: median {stats['median_ms']:.3f} ms "
        f"(mean {stats['mean_ms']:.3f}, min {stats['min_ms']:.3f}, "
        f"p90 {'-' if p90 is None else f'{p90:.3f}'}, CV {stats['cv']:.1%}, "
        f"{stats['runs']} runs{', UNSTABLE' if record['unstable'] else ''})",
        f"  verdict: {verdict['verdict']} ({verdict['reason']}) after {verdict['tries']} "
        f"timed phase(s)",
    ]
    interval = record.get("median_ci_ms")
    if interval:
        lines.append(f"  95% CI of the median: [{interval[0]:.3f}, {interval[1]:.3f}] ms")
    if record["evidence"]:
        lines.append(
            "  evidence: " + ", ".join(f"{k} {v}" for k, v in sorted(record["evidence"].items()))
        )
    profile = record.get("layer_profile")
    if profile:
        lines.append(
            "  per block (ms): "
            + ", ".join(f"{block} {ms:.3f}" for block, ms in profile["blocks"].items())
        )
    return "\n".join(lines)


def backend_availability() -> list[dict[str, Any]]:
    """Each backend and whether it can start on this machine (the reason where not)."""
    rows = []
    for name in backend_names():
        try:
            create_backend(name)
        except BackendUnavailable as err:
            rows.append({"backend": name, "available": False, "reason": str(err)})
        else:
            rows.append({"backend": name, "available": True, "reason": ""})
    return rows


def cmd_backends(args: argparse.Namespace) -> int:
    rows = backend_availability()
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            state = "available" if row["available"] else f"unavailable: {row['reason']}"
            print(f"{row['backend']:<14} {state}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from profiler_agent.loop import AgentConfig, run_agent

    config = AgentConfig(
        server_url=args.server,
        backend=args.backend,
        settings=_settings(args),
        data_dir=args.data_dir,
        enroll_token=args.enroll_token,
        name=args.name,
        policy=_policy(args),
        host_lock_dir=args.host_lock_dir,
    )
    return run_agent(config)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handlers = {"measure": cmd_measure, "backends": cmd_backends, "run": cmd_run}
    try:
        return handlers[args.command](args)
    except BackendUnavailable as err:
        print(f"hwnas-agent: {err}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except InvalidModel as err:
        print(f"hwnas-agent: {err}", file=sys.stderr)
        return EXIT_INVALID_MODEL
    except ValueError as err:
        print(f"hwnas-agent: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
