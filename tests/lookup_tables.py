"""Lookup tables written straight to a database: one measurement per op key of a space, for
tests whose subject is what reads the table, not the agent that builds it."""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy.orm import Session

from latency_db.models import Device, RuntimeConfig
from latency_db.repositories import measurements as measurement_repo
from latency_db.spaces import SearchSpace
from latency_db.verdicts import VerdictDetail


def add_op_keys(
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space: SearchSpace,
    batch_size: int,
    ms_of: Callable[[str], float],
    *,
    skip: Collection[str] = (),
    source: str = "local",
    verdict: VerdictDetail | None = None,
) -> None:
    """Every op key of ``space`` but ``skip`` measured at ``ms_of(key)`` (five equal runs)."""
    for key, block in space.candidate_blocks().items():
        if key in skip:
            continue
        measurement_repo.add_measurement(
            session=session,
            device=device,
            runtime_config=runtime_config,
            subject_kind="op",
            subject=key,
            batch_size=batch_size,
            input_shape=[batch_size, block.in_ch, block.in_hw, block.in_hw],
            times_ms=[ms_of(key)] * 5,
            environment={},
            source=source,
            space_ref=space.ref,
            verdict=verdict,
        )
