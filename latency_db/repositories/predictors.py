"""Fitted latency predictors, versioned per (device, runtime config, space, kind), and the
fit requests a worker turns into versions."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from latency_db.db import db_now
from latency_db.errors import NotFound, ValidationError
from latency_db.models import (
    Device,
    FitKind,
    FitState,
    Predictor,
    PredictorFit,
    PredictorKind,
    RuntimeConfig,
    User,
)
from latency_db.repositories.common import (
    add_or_conflict,
    check_finite,
    check_json,
    check_name,
    check_positive_int,
    get_or_not_found,
    parse_enum,
)
from latency_db.repositories.devices import can_see, visible_device_ids
from latency_db.verdicts import Verdict, parse_verdicts, sorted_verdicts

UNFINISHED_FITS = (FitState.QUEUED, FitState.RUNNING)


def create_predictor(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space_ref: str,
    kind: PredictorKind | str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    training_measurement_ids: Sequence[str],
    seed: int,
    holdout_fraction: float,
    batch_size: int = 32,
    calibration: dict[str, Any] | None = None,
    training_verdicts: Collection[Verdict | str] = (Verdict.CLEAN,),
) -> Predictor:
    """Store a fitted predictor as the next version of its group (1, 2, ...), with the
    verdicts its training measurements were allowed to have.

    Two fits racing for the same version: the second gets ``Conflict`` and may retry.
    """
    kind = parse_enum(PredictorKind, kind, "kind")
    space_ref = check_name(space_ref, "space_ref", 128)
    fraction = check_finite(holdout_fraction, "holdout_fraction")
    if not 0.0 <= fraction < 1.0:
        raise ValidationError(f"holdout_fraction must be in [0, 1), not {fraction}")
    check_json(params, "params")
    check_json(metrics, "metrics")
    check_positive_int(batch_size, "batch_size")
    if calibration is not None:
        check_json(calibration, "calibration")
    ids = [str(i) for i in training_measurement_ids]
    group = (
        Predictor.device_id == device.id,
        Predictor.runtime_config_id == runtime_config.id,
        Predictor.space_ref == space_ref,
        Predictor.kind == kind,
    )
    latest = session.scalar(select(func.max(Predictor.version)).where(*group))
    predictor = Predictor(
        device_id=device.id,
        runtime_config_id=runtime_config.id,
        space_ref=space_ref,
        batch_size=batch_size,
        kind=kind,
        version=(latest or 0) + 1,
        params=params,
        metrics=metrics,
        calibration=calibration,
        training_measurement_ids=ids,
        training_verdicts=sorted_verdicts(
            parse_verdicts(list(training_verdicts), "training_verdicts")
        ),
        seed=seed,
        holdout_fraction=fraction,
        created_at=db_now(session),
    )
    add_or_conflict(session, predictor, f"{kind.value} predictor version taken; fit again")
    return predictor


def get_predictor(*, session: Session, predictor_id: str, viewer: User | None = None) -> Predictor:
    """The version, or ``NotFound`` also when ``viewer`` may not see its device."""
    row = get_or_not_found(session, Predictor, predictor_id, "predictor")
    if not can_see(viewer, row.device):
        raise NotFound(f"predictor {predictor_id!r} not found")
    return row


def list_predictors(
    *,
    session: Session,
    device: Device | None = None,
    runtime_config: RuntimeConfig | None = None,
    space_ref: str | None = None,
    kind: PredictorKind | str | None = None,
    viewer: User | None = None,
) -> list[Predictor]:
    """Newest first, optionally filtered; only of devices ``viewer`` sees."""
    stmt = select(Predictor).order_by(Predictor.created_at.desc(), Predictor.id.desc())
    if (visible := visible_device_ids(viewer)) is not None:
        stmt = stmt.where(Predictor.device_id.in_(visible))
    if device is not None:
        stmt = stmt.where(Predictor.device_id == device.id)
    if runtime_config is not None:
        stmt = stmt.where(Predictor.runtime_config_id == runtime_config.id)
    if space_ref is not None:
        stmt = stmt.where(Predictor.space_ref == space_ref)
    if kind is not None:
        stmt = stmt.where(Predictor.kind == parse_enum(PredictorKind, kind, "kind"))
    return list(session.scalars(stmt))


def latest_predictor(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space_ref: str,
    kind: PredictorKind | str,
) -> Predictor | None:
    """The highest version of a predictor group, or None if none was fitted."""
    stmt = (
        select(Predictor)
        .where(
            Predictor.device_id == device.id,
            Predictor.runtime_config_id == runtime_config.id,
            Predictor.space_ref == space_ref,
            Predictor.kind == parse_enum(PredictorKind, kind, "kind"),
        )
        .order_by(Predictor.version.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def create_fit(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space_ref: str,
    batch_size: int,
    kind: FitKind | str,
    seed: int,
    holdout_fraction: float,
    normalize_drift: bool = False,
    include_verdicts: Collection[Verdict | str] = (Verdict.CLEAN,),
    source_predictor_ids: Sequence[str] = (),
) -> PredictorFit:
    """Record a fit request (QUEUED) whose training set may hold measurements of
    ``include_verdicts`` (clean always), transferring from ``source_predictor_ids`` if any;
    enqueue its task after the commit."""
    fraction = check_finite(holdout_fraction, "holdout_fraction")
    if not 0.0 <= fraction < 1.0:
        raise ValidationError(f"holdout_fraction must be in [0, 1), not {fraction}")
    fit = PredictorFit(
        device_id=device.id,
        runtime_config_id=runtime_config.id,
        space_ref=check_name(space_ref, "space_ref", 128),
        batch_size=check_positive_int(batch_size, "batch_size"),
        kind=parse_enum(FitKind, kind, "kind"),
        seed=seed,
        holdout_fraction=fraction,
        normalize_drift=normalize_drift,
        include_verdicts=sorted_verdicts(parse_verdicts(list(include_verdicts), "include")),
        source_predictor_ids=list(source_predictor_ids),
        state=FitState.QUEUED,
        created_at=db_now(session),
    )
    session.add(fit)
    session.flush()
    return fit


def get_fit(*, session: Session, fit_id: str, viewer: User | None = None) -> PredictorFit:
    """The fit request, or ``NotFound`` also when ``viewer`` may not see its device."""
    fit = get_or_not_found(session, PredictorFit, fit_id, "predictor fit")
    if not can_see(viewer, fit.device):
        raise NotFound(f"predictor fit {fit_id!r} not found")
    return fit


def start_fit(*, session: Session, fit: PredictorFit) -> bool:
    """QUEUED (or RUNNING, when a worker died mid-fit) -> RUNNING; False when the fit has
    finished already (a redelivered or re-sent task). The version and the fit's end commit
    together.

    One conditional UPDATE: on PostgreSQL a duplicate task starting the same fit meanwhile
    waits on the row, then finds it finished and fits nothing twice.
    """
    started = session.execute(
        update(PredictorFit)
        .where(PredictorFit.id == fit.id, PredictorFit.state.in_(UNFINISHED_FITS))
        .values(state=FitState.RUNNING)
        .execution_options(synchronize_session=False)
    )
    session.refresh(fit)
    return started.rowcount == 1  # type: ignore[attr-defined]


def finish_fit(
    *,
    session: Session,
    fit: PredictorFit,
    predictor: Predictor | None = None,
    error_message: str | None = None,
) -> PredictorFit:
    """SUCCEEDED with its predictor version, or FAILED with the reason."""
    if (predictor is None) == (error_message is None):
        raise ValueError("finish a fit with either a predictor or an error message")
    fit.state = FitState.FAILED if predictor is None else FitState.SUCCEEDED
    fit.predictor_id = None if predictor is None else predictor.id
    fit.error_message = None if error_message is None else error_message[:4000]
    fit.finished_at = db_now(session)
    session.flush()
    return fit
