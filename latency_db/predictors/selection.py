"""Which latency model a search uses (design section 5): the named predictor version; else,
of the device's fitted versions for the deploy instance, the one with the lowest holdout
MAPE; else the sum of its lookup table (of clean measurements unless the search includes
others). A search differentiates its model (E[LAT], the RELAX surrogate g), so kinds
without a gradient (``gbdt``) are refused by name and passed over in the automatic choice."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy.orm import Session

from latency_db.errors import ValidationError
from latency_db.models import Device, Predictor, RuntimeConfig
from latency_db.predictors.encoding import layer_table
from latency_db.predictors.fitting import PREDICTOR_KINDS
from latency_db.predictors.lut import LutPredictor
from latency_db.predictors.versions import device_lut
from latency_db.repositories import predictors as predictor_repo
from latency_db.repositories.measurements import CLEAN_ONLY
from latency_db.spaces import SearchSpace
from latency_db.verdicts import Verdict, sorted_verdicts


def _described(predictor: Predictor) -> dict[str, Any]:
    return {
        "id": predictor.id,
        "kind": predictor.kind.value,
        "version": predictor.version,
        "mape_pct": predictor.metrics.get("mape_pct"),
        "params": predictor.params,
        "verdicts": predictor.training_verdicts,
    }


def _differentiable(predictor: Predictor) -> bool:
    return PREDICTOR_KINDS[predictor.kind.value].differentiable


def lut_model(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space: SearchSpace,
    batch_size: int,
    include: Collection[Verdict] = CLEAN_ONLY,
) -> dict[str, Any] | None:
    """The lookup-table sum as a latency model (entries of the verdicts in ``include``), or
    None while the table is incomplete."""
    lut = device_lut(
        session=session,
        device=device,
        runtime_config=runtime_config,
        space=space,
        batch_size=batch_size,
        include=include,
    )
    if len(lut) < len(space.all_op_keys()):
        return None
    params = LutPredictor(layer_table(space, lut)).to_params()
    return {
        "id": None,
        "kind": "lut",
        "version": None,
        "mape_pct": None,
        "params": params,
        "verdicts": sorted_verdicts(frozenset(include)),
    }


def matching_predictor(
    *,
    session: Session,
    predictor_id: str,
    device: Device,
    runtime_config: RuntimeConfig,
    space: SearchSpace,
    batch_size: int,
) -> Predictor:
    """The version ``predictor_id``, or a ``ValidationError`` when it was fit for another
    device, runtime configuration, space instance or batch size."""
    predictor = predictor_repo.get_predictor(session=session, predictor_id=predictor_id)
    wanted = (device.id, runtime_config.id, space.ref, batch_size)
    found = (
        predictor.device_id,
        predictor.runtime_config_id,
        predictor.space_ref,
        predictor.batch_size,
    )
    if found != wanted:
        raise ValidationError(
            f"predictor {predictor_id} is for another device, runtime, space or batch"
        )
    return predictor


def search_latency_model(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space: SearchSpace,
    batch_size: int,
    predictor_id: str | None = None,
    include: Collection[Verdict] = CLEAN_ONLY,
) -> dict[str, Any]:
    """``{"id", "kind", "version", "mape_pct", "params", "verdicts"}`` of the model (a
    lookup table of the verdicts in ``include``), or a ``ValidationError`` saying what the
    device lacks."""
    if predictor_id is not None:
        named = matching_predictor(
            session=session,
            predictor_id=predictor_id,
            device=device,
            runtime_config=runtime_config,
            space=space,
            batch_size=batch_size,
        )
        if not _differentiable(named):
            raise ValidationError(
                f"predictor {predictor_id} is a {named.kind.value} predictor, which has no "
                "gradient: a search needs a differentiable latency model (E[LAT], RELAX); "
                "name a lut, linear or mlp version (hwnas predictor fit --kind mlp)"
            )
        return _described(named)
    fitted = [
        p
        for p in predictor_repo.list_predictors(
            session=session, device=device, runtime_config=runtime_config, space_ref=space.ref
        )
        if p.batch_size == batch_size
        and p.metrics.get("mape_pct") is not None
        and _differentiable(p)
    ]
    if fitted:
        return _described(min(fitted, key=lambda p: (p.metrics["mape_pct"], -p.version)))
    model = lut_model(
        session=session,
        device=device,
        runtime_config=runtime_config,
        space=space,
        batch_size=batch_size,
        include=include,
    )
    if model is None:
        raise ValidationError(
            f"device {device.name!r} has neither a predictor nor a complete lookup table for "
            f"{space.ref} at batch {batch_size}: build its lookup table first (building it "
            "again re-measures keys measured only unstable or disturbed; include_unclean uses "
            "them)"
        )
    return model
