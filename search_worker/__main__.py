"""``python -m search_worker``: start a Celery worker on the configured broker."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from latency_db.settings import get_settings
from search_worker.celery_app import run_worker
from search_worker.devices import DeviceUnavailable


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m search_worker")
    parser.add_argument("--concurrency", type=int, default=1, help="worker processes")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as err:
        bad = "; ".join(f"HWNAS_{str(e['loc'][0]).upper()}: {e['msg']}" for e in err.errors())
        parser.exit(2, f"{parser.prog}: {bad}\n")
    try:
        run_worker(settings, concurrency=args.concurrency)
    except DeviceUnavailable as err:
        parser.exit(2, f"{parser.prog}: {err}\n")


if __name__ == "__main__":
    main()
