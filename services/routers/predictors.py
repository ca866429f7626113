"""Latency predictors: fit versions asynchronously, list them with their holdout metrics,
predict batches of architectures, show calibration, queue training measurements."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from latency_db.models import PredictorKind, User
from latency_db.predictors import sampling
from latency_db.predictors.versions import (
    load_version,
    measured_batch,
    reference_candidates,
    runtime_config_for,
    source_tables,
)
from latency_db.repositories import devices as device_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories import predictors as predictor_repo
from latency_db.repositories import runtime_configs as runtime_repo
from services.deps import CurrentUser, SessionDep, SettingsDep, TaskQueueDep
from services.network_jobs import queue_network_jobs
from services.plots.calibration import calibration_png
from services.schemas.predictors import (
    CalibrationOut,
    FitCreate,
    FitOut,
    PredictIn,
    Prediction,
    PredictorOut,
    TrainingJobsIn,
    TrainingJobsOut,
)
from services.task_queue import commit_and_dispatch
from services.validation import invalid, parse_architecture, resolve_space_ref, runtime_settings

router = APIRouter(prefix="/predictors", tags=["predictors"])


@router.post("/fits", status_code=202, response_model=FitOut)
def create_fit(
    body: FitCreate, session: SessionDep, tasks: TaskQueueDep, user: CurrentUser
) -> FitOut:
    """Queue a fit on everything measured (clean only unless ``include_verdicts`` says
    otherwise), a few-shot transfer with ``transfer_from`` (versions the caller sees); a
    worker stores the result as the next version."""
    device = device_repo.get_device(session=session, device_id=body.device_id, viewer=user)
    space = resolve_space_ref(body.space_ref)
    source_tables(session=session, space=space, predictor_ids=body.transfer_from, viewer=user)
    batch_size = body.batch_size or measured_batch(session=session, device=device, space=space)
    runtime = runtime_config_for(
        session=session,
        device=device,
        space=space,
        batch_size=batch_size,
        runtime_config_id=body.runtime_config_id,
    )
    fit = predictor_repo.create_fit(
        session=session,
        device=device,
        runtime_config=runtime,
        space_ref=space.ref,
        batch_size=batch_size,
        kind=body.kind,
        seed=body.seed,
        holdout_fraction=body.holdout,
        normalize_drift=body.normalize_drift,
        include_verdicts=body.include_verdicts,
        source_predictor_ids=body.transfer_from,
    )
    commit_and_dispatch(session, tasks, [fit])
    return FitOut.model_validate(fit)


@router.get("/fits/{fit_id}", response_model=FitOut)
def get_fit(fit_id: str, session: SessionDep, user: CurrentUser) -> FitOut:
    """A fit request: its state and, once it succeeded, the predictor version it made."""
    fit = predictor_repo.get_fit(session=session, fit_id=fit_id, viewer=user)
    return FitOut.model_validate(fit)


@router.get("", response_model=list[PredictorOut])
def list_predictors(
    session: SessionDep,
    user: CurrentUser,
    device_id: str | None = None,
    space_ref: str | None = None,
    kind: PredictorKind | None = None,
) -> list[PredictorOut]:
    """Versions, newest first, with their holdout metrics."""
    device = (
        device_repo.get_device(session=session, device_id=device_id, viewer=user)
        if device_id
        else None
    )
    rows = predictor_repo.list_predictors(
        session=session,
        device=device,
        space_ref=resolve_space_ref(space_ref).ref if space_ref else None,
        kind=kind,
        viewer=user,
    )
    return [PredictorOut.from_row(p) for p in rows]


@router.get("/{predictor_id}", response_model=PredictorOut)
def get_predictor(predictor_id: str, session: SessionDep, user: CurrentUser) -> PredictorOut:
    """One predictor version with its holdout metrics."""
    return PredictorOut.from_row(
        predictor_repo.get_predictor(session=session, predictor_id=predictor_id, viewer=user)
    )


@router.post("/{predictor_id}/predict", response_model=list[Prediction])
def predict(
    predictor_id: str, body: PredictIn, session: SessionDep, user: CurrentUser
) -> list[Prediction]:
    """Latency (ms) of a batch of architectures in one vectorized call; ``std_ms`` is the
    ensemble's spread (0 for single models)."""
    row = predictor_repo.get_predictor(session=session, predictor_id=predictor_id, viewer=user)
    version = load_version(row)
    archs = [
        parse_architecture(version.space, text, f"architectures.{i}")
        for i, text in enumerate(body.architectures)
    ]
    mean, std = version.predict(archs)
    return [
        Prediction(architecture=version.space.format(a), latency_ms=float(m), std_ms=float(s))
        for a, m, s in zip(archs, mean, std, strict=True)
    ]


def _calibration(session: SessionDep, predictor_id: str, user: User) -> CalibrationOut:
    row = predictor_repo.get_predictor(session=session, predictor_id=predictor_id, viewer=user)
    if not row.calibration:
        raise invalid("predictor_id", "this version was fitted without a holdout")
    return CalibrationOut(predictor_id=row.id, **row.calibration)


@router.get("/{predictor_id}/calibration", response_model=CalibrationOut)
def calibration(predictor_id: str, session: SessionDep, user: CurrentUser) -> CalibrationOut:
    """Predicted vs measured latency of the version's holdout architectures."""
    return _calibration(session, predictor_id, user)


@router.get(
    "/{predictor_id}/calibration.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def calibration_plot(predictor_id: str, session: SessionDep, user: CurrentUser) -> Response:
    """Predicted vs measured on the holdout, with the +-10% band (PNG, 600x600)."""
    data = _calibration(session, predictor_id, user)
    row = predictor_repo.get_predictor(session=session, predictor_id=predictor_id, viewer=user)
    title = f"{row.kind.value} v{row.version} · {row.space_ref} · batch {row.batch_size}"
    return Response(
        calibration_png(data.predicted_ms, data.measured_ms, title), media_type="image/png"
    )


@router.post("/training-jobs", status_code=202, response_model=TrainingJobsOut)
def queue_training_jobs(
    body: TrainingJobsIn,
    session: SessionDep,
    settings: SettingsDep,
    tasks: TaskQueueDep,
    user: CurrentUser,
    dry_run: bool = Query(default=False, description="choose, but queue nothing"),
) -> TrainingJobsOut:
    """Choose architectures to measure (random or active) and queue their ``network`` jobs."""
    device = device_repo.get_device(session=session, device_id=body.device_id, viewer=user)
    runtime = runtime_repo.get_or_create_runtime_config(
        session=session, backend=body.runtime.backend, settings=runtime_settings(body.runtime)
    )
    space = resolve_space_ref(body.space_ref)
    measured = set(
        measurement_repo.latest_measurements(
            session=session,
            device=device,
            runtime_config=runtime,
            subject_kind="network",
            batch_size=body.batch_size,
            space_ref=space.ref,
        )
    )
    size = body.count if body.strategy == "random" else max(body.pool, body.count)
    pool = sampling.random_candidates(space, body.seed, size)
    fresh = [a for a in pool if space.format(a) not in measured]
    if body.strategy == "random":
        chosen = fresh[: body.count]
    elif body.strategy == "transfer":
        chosen = reference_candidates(
            session=session,
            space=space,
            predictor_ids=body.source_predictor_ids,
            candidates=fresh,
            count=body.count,
            viewer=user,
        )
    else:
        row = predictor_repo.get_predictor(
            session=session, predictor_id=str(body.predictor_id), viewer=user
        )
        version = load_version(row)
        if version.space.ref != space.ref:
            raise invalid("predictor_id", f"predicts {version.space.ref}, not {space.ref}")
        chosen = (
            sampling.most_uncertain(version, fresh, body.count)
            if body.strategy == "uncertain"
            else sampling.nearest_budget(version, fresh, float(body.budget_ms or 0), body.count)
        )
    jobs = []
    if not dry_run:
        jobs = queue_network_jobs(
            session=session,
            device=device,
            runtime_config=runtime,
            space=space,
            architectures=chosen,
            batch_size=body.batch_size,
            max_attempts=settings.max_attempts,
        )
        commit_and_dispatch(session, tasks, jobs)
    return TrainingJobsOut(
        job_ids=[job.id for job in jobs],
        architectures=[space.format(a) for a in chosen],
        skipped_measured=len(pool) - len(fresh),
    )
