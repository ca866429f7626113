"""``python -m search_worker``: start a Celery worker on the configured broker."""

from __future__ import annotations

import argparse

from latency_db.settings import get_settings
from search_worker.celery_app import run_worker


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m search_worker")
    parser.add_argument("--concurrency", type=int, default=1, help="worker processes")
    args = parser.parse_args(argv)
    run_worker(get_settings(), concurrency=args.concurrency)


if __name__ == "__main__":
    main()
