"""Predictor versions in the database: gather a training set, fit and store a version, run a
fit request, and predict with a stored version (design section 5).

A training set holds clean measurements only unless the fit includes other verdicts
(issue 16); the version records which verdicts it was trained on.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from latency_db.errors import NotFound, ValidationError
from latency_db.models import (
    Device,
    FitKind,
    Measurement,
    Predictor,
    PredictorFit,
    PredictorKind,
    RuntimeConfig,
    SubjectKind,
    User,
)
from latency_db.predictors.additive import AdditivePredictor
from latency_db.predictors.base import LatencyPredictor
from latency_db.predictors.encoding import (
    FloatArray,
    IntArray,
    LayerTable,
    encode_architectures,
)
from latency_db.predictors.fitting import fit_predictor, load_predictor
from latency_db.predictors.transfer import reference_architectures
from latency_db.repositories import devices as device_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories import predictors as predictor_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.repositories.speed import normalized_ms
from latency_db.spaces import Architecture, SearchSpace, space_from_ref
from latency_db.verdicts import Verdict, parse_verdicts

# Fewer measured networks than this cannot give a holdout worth reporting.
MIN_NETWORKS = 10


@dataclass(frozen=True)
class TrainingSet:
    """A device's lookup table and its whole-network measurements of one space instance."""

    lut_ms: dict[str, float]
    architectures: list[str]
    latencies_ms: list[float]
    measurement_ids: list[str]


def device_lut(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space: SearchSpace,
    batch_size: int,
    normalize_drift: bool = False,
    include: Collection[Verdict] = measurement_repo.CLEAN_ONLY,
) -> dict[str, float]:
    """The device's lookup table for ``space``: op key -> latest median ms of the keys it
    has a measurement of a verdict in ``include`` for (clean only by default), at the
    device's reference speed with ``normalize_drift`` (repositories.speed)."""
    table = measurement_repo.lookup_table(
        session=session,
        device=device,
        runtime_config=runtime_config,
        batch_size=batch_size,
        op_keys=space.all_op_keys(),
        include=include,
    )
    rows = list(table.values())
    values = (
        normalized_ms(session=session, rows=rows)
        if normalize_drift
        else [row.median_ms for row in rows]
    )
    return dict(zip(table, values, strict=True))


def training_set(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space: SearchSpace,
    batch_size: int,
    normalize_drift: bool = False,
    include: Collection[Verdict] = measurement_repo.CLEAN_ONLY,
) -> TrainingSet:
    """The LUT (latest entry per op key) and the latest measurement of every network, of
    the verdicts in ``include`` (clean only by default), at the device's reference speed
    with ``normalize_drift``."""
    networks = _latest_networks(session, device, runtime_config, space, batch_size, include)
    rows = [networks[subject] for subject in sorted(networks)]
    return TrainingSet(
        lut_ms=device_lut(
            session=session,
            device=device,
            runtime_config=runtime_config,
            space=space,
            batch_size=batch_size,
            normalize_drift=normalize_drift,
            include=include,
        ),
        architectures=[row.subject for row in rows],
        latencies_ms=(
            normalized_ms(session=session, rows=rows)
            if normalize_drift
            else [row.median_ms for row in rows]
        ),
        measurement_ids=[row.id for row in rows],
    )


def measured_runtime_config(
    *, session: Session, device: Device, space: SearchSpace, batch_size: int
) -> RuntimeConfig:
    """The one runtime configuration under which this device has measurements of the space
    instance; ambiguity or none is a ``ValidationError`` that lists what there is."""
    ids = sorted(
        session.scalars(
            select(Measurement.runtime_config_id)
            .where(
                Measurement.device_id == device.id,
                Measurement.space_ref == space.ref,
                Measurement.batch_size == batch_size,
                Measurement.accepted.is_(True),
            )
            .distinct()
        )
    )
    if len(ids) == 1:
        return runtime_repo.get_runtime_config(session=session, runtime_config_id=ids[0])
    if not ids:
        raise ValidationError(
            f"device {device.name!r} has no measurements of {space.ref} at batch {batch_size}"
            + _how_to_measure(space)
        )
    raise ValidationError(
        f"device {device.name!r} has measurements of {space.ref} under several runtime "
        f"configurations ({', '.join(ids)}); name one"
    )


def measured_batch(*, session: Session, device: Device, space: SearchSpace) -> int:
    """The one batch size at which this device has measurements of the space instance (as an
    import stores them, batch 1 by default); several or none is a ``ValidationError`` that
    says which batches there are and how to choose or get one."""
    batches = sorted(
        session.scalars(
            select(Measurement.batch_size)
            .where(
                Measurement.device_id == device.id,
                Measurement.space_ref == space.ref,
                Measurement.accepted.is_(True),
            )
            .distinct()
        )
    )
    if len(batches) == 1:
        return int(batches[0])
    if not batches:
        raise ValidationError(
            f"device {device.name!r} has no measurements of {space.ref}" + _how_to_measure(space)
        )
    raise ValidationError(
        f"device {device.name!r} has measurements of {space.ref} at batches "
        f"{', '.join(str(b) for b in batches)}; choose one with --batch (batch_size)"
    )


def _how_to_measure(space: SearchSpace) -> str:
    return (
        f": import whole-network latencies (hwnas measurement import FILE --space {space.ref}"
        "), measure networks, or build its lookup table (hwnas lut build)"
    )


def runtime_config_for(
    *,
    session: Session,
    device: Device,
    space: SearchSpace,
    batch_size: int,
    runtime_config_id: str | None = None,
) -> RuntimeConfig:
    """The named runtime configuration, else the one the device was measured under."""
    if runtime_config_id:
        return runtime_repo.get_runtime_config(session=session, runtime_config_id=runtime_config_id)
    return measured_runtime_config(
        session=session, device=device, space=space, batch_size=batch_size
    )


def _latest_networks(
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space: SearchSpace,
    batch_size: int,
    include: Collection[Verdict],
) -> dict[str, Measurement]:
    """The latest whole-network measurement of each architecture, of a verdict in ``include``."""
    return measurement_repo.latest_measurements(
        session=session,
        device=device,
        runtime_config=runtime_config,
        subject_kind=SubjectKind.NETWORK,
        batch_size=batch_size,
        space_ref=space.ref,
        include=include,
    )


def _described_verdicts(include: frozenset[Verdict]) -> str:
    return "/".join(v.value for v in Verdict if v in include)


def _unclean_hint(
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space: SearchSpace,
    batch_size: int,
    included: Collection[str],
) -> str:
    """How many more networks other verdicts would add, and how to include them."""
    every = _latest_networks(
        session, device, runtime_config, space, batch_size, measurement_repo.EVERY_VERDICT
    )
    left_out = len(set(every) - set(included))
    if not left_out:
        return ""
    return (
        f" ({left_out} more were measured unstable or disturbed: measure again on a quiet "
        "device, or include them with --include-unclean / include_verdicts)"
    )


def fit_version(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space: SearchSpace,
    kind: FitKind | str,
    batch_size: int,
    holdout_fraction: float = 0.2,
    seed: int = 0,
    normalize_drift: bool = False,
    include_verdicts: Collection[Verdict | str] = (Verdict.CLEAN,),
    source_predictor_ids: Sequence[str] = (),
) -> Predictor:
    """Fit a predictor on everything measured with a verdict in ``include_verdicts`` (clean
    only by default) and store it as the group's next version; ``normalize_drift`` fits
    (and reports) latencies at the device's reference speed. Kind ``auto`` stores the kind
    that cross-validation chose; ``source_predictor_ids`` make a ``linear`` fit a few-shot
    transfer from those versions (:func:`source_tables`)."""
    kind = FitKind(kind)
    sources = source_tables(session=session, space=space, predictor_ids=source_predictor_ids)
    include = parse_verdicts(list(include_verdicts), "include_verdicts")
    data = training_set(
        session=session,
        device=device,
        runtime_config=runtime_config,
        space=space,
        batch_size=batch_size,
        normalize_drift=normalize_drift,
        include=include,
    )
    if kind is not FitKind.LUT and len(data.architectures) < MIN_NETWORKS:
        raise ValidationError(
            f"a {kind.value} predictor needs at least {MIN_NETWORKS} "
            f"{_described_verdicts(include)} measured networks of {space.ref} on "
            f"{device.name!r}; there are {len(data.architectures)}"
            + _unclean_hint(session, device, runtime_config, space, batch_size, data.architectures)
        )
    result = fit_predictor(
        kind.value,
        space,
        data.lut_ms,
        data.architectures,
        data.latencies_ms,
        holdout=holdout_fraction if data.architectures else 0.0,
        seed=seed,
        sources=sources,
    )
    return predictor_repo.create_predictor(
        session=session,
        device=device,
        runtime_config=runtime_config,
        space_ref=space.ref,
        kind=PredictorKind(result.predictor.kind),
        params=result.params,
        metrics={
            **result.metrics,
            "n_train": len(result.train_positions),
            "n_holdout": len(result.holdout_positions),
            "normalize_drift": normalize_drift,
            **({"transfer_from": list(source_predictor_ids)} if source_predictor_ids else {}),
        },
        training_measurement_ids=data.measurement_ids,
        training_verdicts=include,
        seed=seed,
        holdout_fraction=holdout_fraction,
        batch_size=batch_size,
        calibration=result.calibration,
    )


def run_fit(*, session: Session, fit: PredictorFit) -> None:
    """The body of a fit request: a new version, or the reason there is none."""
    if not predictor_repo.start_fit(session=session, fit=fit):
        return
    try:
        predictor = fit_version(
            session=session,
            device=device_repo.get_device(session=session, device_id=fit.device_id),
            runtime_config=runtime_repo.get_runtime_config(
                session=session, runtime_config_id=fit.runtime_config_id
            ),
            space=space_from_ref(fit.space_ref),
            kind=fit.kind,
            batch_size=fit.batch_size,
            holdout_fraction=fit.holdout_fraction,
            seed=fit.seed,
            normalize_drift=fit.normalize_drift,
            include_verdicts=fit.include_verdicts,
            source_predictor_ids=fit.source_predictor_ids,
        )
    except (ValidationError, NotFound) as err:
        predictor_repo.finish_fit(session=session, fit=fit, error_message=str(err))
    else:
        predictor_repo.finish_fit(session=session, fit=fit, predictor=predictor)


def source_tables(
    *,
    session: Session,
    space: SearchSpace,
    predictor_ids: Sequence[str],
    viewer: User | None = None,
) -> tuple[LayerTable, ...]:
    """The additive tables of the stored versions a few-shot transfer starts from (``NotFound``
    for one ``viewer`` may not see); a version of another space instance or without a table
    (``mlp``, ``gbdt``) is a ``ValidationError`` naming it."""
    if len(set(predictor_ids)) != len(predictor_ids):
        raise ValidationError("source predictor ids must not repeat")
    tables = []
    for predictor_id in predictor_ids:
        row = predictor_repo.get_predictor(
            session=session, predictor_id=predictor_id, viewer=viewer
        )
        if row.space_ref != space.ref:
            raise ValidationError(
                f"source predictor {predictor_id} predicts {row.space_ref}, not {space.ref}"
            )
        model = load_predictor(row.params)
        if not isinstance(model, AdditivePredictor):
            raise ValidationError(
                f"source predictor {predictor_id} is a {row.kind.value} predictor; a transfer "
                "starts from per-layer tables: name lut or linear versions"
            )
        tables.append(model.table)
    return tuple(tables)


def reference_candidates(
    *,
    session: Session,
    space: SearchSpace,
    predictor_ids: Sequence[str],
    candidates: Sequence[Architecture],
    count: int,
    viewer: User | None = None,
) -> list[Architecture]:
    """The ``count`` candidates (all, if fewer) a few-shot transfer from ``predictor_ids``
    learns most from (:func:`~latency_db.predictors.transfer.reference_architectures`)."""
    tables = source_tables(session=session, space=space, predictor_ids=predictor_ids, viewer=viewer)
    if not candidates:
        return []
    indices = encode_architectures(space, candidates)
    return [
        candidates[i] for i in reference_architectures(tables, indices, min(count, len(candidates)))
    ]


@dataclass(frozen=True)
class LoadedVersion:
    """A stored predictor version rebuilt from its row's params, ready to predict."""

    space: SearchSpace
    model: LatencyPredictor

    def indices(self, architectures: Sequence[Architecture]) -> IntArray:
        """Op indices [n, L] of parsed architectures."""
        return encode_architectures(self.space, architectures)

    def predict(self, architectures: Sequence[Architecture]) -> tuple[FloatArray, FloatArray]:
        """Latency (ms) and its uncertainty (0 for single models), one vectorized call."""
        return self.model.predict(self.indices(architectures))


def load_version(predictor: Predictor) -> LoadedVersion:
    return LoadedVersion(space_from_ref(predictor.space_ref), load_predictor(predictor.params))
