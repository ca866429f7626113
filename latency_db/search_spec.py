"""What a search is submitted with (design section 6), validated without torch so the API
rejects a bad search before any worker sees it; the worker reads the same model back from the
search row's ``config``.

The space instance trained on is the proxy (``proxy_resolution``, ``proxy_width``, the
dataset's classes); latency is always that of the deploy shape (``deploy_*``), which is the
instance the device's lookup table and predictors were built for.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from latency_db.spaces import SearchSpace, get_space

# The names ``search_worker`` registers (a test keeps the two in step).
ESTIMATOR_NAMES = (
    "darts",
    "evolution",
    "gdas",
    "gumbel",
    "proxyless",
    "random",
    "reinforce",
    "unas",
)
# The same names as a string enum, for choices (API query filters, CLI options).
EstimatorName = Enum(  # type: ignore[misc]
    "EstimatorName", {name.upper(): name for name in ESTIMATOR_NAMES}, type=str
)
# Estimators whose latency term is the *measured* latency, applied when it arrives.
MEASURED_LATENCY_ESTIMATORS = ("reinforce", "unas")
DATASET_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
BUNDLED_DATASET = Path(__file__).resolve().parent.parent / "datasets" / "tiny-imagenet-10"


class SearchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    space: str = "proxyless"
    proxy_resolution: int = Field(32, ge=8, le=1024)
    proxy_width: float = Field(1.0, ge=0.1, le=4.0)
    deploy_resolution: int = Field(224, ge=8, le=1024)
    deploy_width: float = Field(1.0, ge=0.1, le=4.0)
    deploy_classes: int = Field(1000, ge=2, le=100_000)
    deploy_batch: int = Field(32, ge=1, le=4096)
    objective: Literal["val", "train", "gen"] = "val"
    gen_weight: float = Field(
        0.5,
        ge=0.0,
        le=10.0,
        description="lambda of UNAS' L_gen = L_train + lambda |L_val - L_train|",
    )
    latency_form: Literal["mul_log", "add_linear", "hinge"] = "add_linear"
    latency_weight: float = Field(1.0, ge=0.0, le=1000.0)
    latency_warmup_steps: int = Field(0, ge=0, le=10_000_000)
    oracle: Literal["measured", "local", "predictor", "lut"] = "measured"
    latency_calibration_every: int = Field(
        10,
        ge=0,
        le=100_000,
        description="every this many architecture steps a sample of the current distribution "
        "is measured, and the latency model rescaled to the recent measured samples (0: never)",
    )
    include_unclean: bool = Field(
        False,
        description="let unstable/disturbed measurements into the latency terms (never into "
        "the budget verdict)",
    )
    predictor_id: str | None = Field(None, max_length=64)
    dataset: str | None = Field(
        None,
        pattern=DATASET_NAME_PATTERN,
        description="a registered dataset's name (hwnas dataset list), never a path; the "
        "bundled tiny-imagenet-10 if unset",
    )
    arch_fraction: float = Field(
        0.5, gt=0.0, lt=1.0, description="share of train/ for the architecture step"
    )
    steps: int = Field(100, ge=1, le=10_000_000)
    warmup_steps: int = Field(
        10, ge=0, le=10_000_000, description="weight-only steps before architecture steps"
    )
    segment_steps: int = Field(25, ge=1, le=100_000)
    batch_size: int = Field(32, ge=1, le=4096)
    mixed_precision: Literal["off", "bf16"] = Field(
        "off",
        description="bf16: the supernet's forward passes under torch.autocast in bfloat16 "
        "(CUDA and CPU alike; float16 would need loss scaling through every estimator)",
    )
    weight_lr: float = Field(0.05, gt=0.0, le=10.0)
    arch_lr: float = Field(0.05, gt=0.0, le=10.0)
    tau_start: float = Field(5.0, gt=0.0, le=1000.0)
    tau_end: float = Field(0.5, gt=0.0, le=1000.0)
    rebar_scale: float = Field(
        1.0, ge=0.0, le=10.0, description="eta of UNAS' REBAR control variate for the loss"
    )
    rebar_tied: bool = Field(
        False,
        description="UNAS' cheaper variant: the relaxed (all-path) pass at z also serves as z~, "
        "one relaxed pass per architecture step instead of two (still unbiased)",
    )
    baseline_decay: float = Field(
        0.9, ge=0.0, lt=1.0, description="decay of reinforce's moving-average baselines"
    )
    importance_cap: float = Field(5.0, ge=1.0, le=1000.0)
    max_staleness: int = Field(200, ge=0, le=10_000_000)
    max_pending: int = Field(
        4,
        ge=1,
        le=1000,
        description="measurements kept in flight on average (unas, reinforce): an unmeasured "
        "sample is measured with probability min(1, max_pending / delay in steps) and weighted "
        "by its inverse",
    )
    candidates: int = Field(50, ge=1, le=100_000)
    population: int = Field(20, ge=2, le=10_000)
    tournament: int = Field(5, ge=1, le=10_000)
    finalists: int = Field(3, ge=1, le=100)
    derive_rounds: int = Field(
        3,
        ge=1,
        le=10,
        description="rounds of finalists measured at the end: while none lands at 0.9-1.0x "
        "of the budget, the latency correction is refitted on them and new samples it puts "
        "there are measured",
    )
    eval_batches: int = Field(4, ge=1, le=10_000)
    finetune_steps: int = Field(50, ge=0, le=10_000_000)
    finish_timeout_s: float = Field(1800.0, gt=0.0, le=3000.0)
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _consistent(self) -> SearchSpec:
        if self.warmup_steps >= self.steps and self.steps > 1:
            raise ValueError("warmup_steps must be below steps")
        get_space(self.space, self.proxy_resolution, self.proxy_width)  # unknown space: error
        return self

    def deploy_space(self) -> SearchSpace:
        return get_space(self.space, self.deploy_resolution, self.deploy_width, self.deploy_classes)

    def proxy_space(self, num_classes: int) -> SearchSpace:
        return get_space(self.space, self.proxy_resolution, self.proxy_width, num_classes)


def submission_problems(estimator: str, spec: SearchSpec) -> dict[str, str]:
    """Field -> message for what does not fit together (empty: fine)."""
    problems: dict[str, str] = {}
    if estimator not in ESTIMATOR_NAMES:
        problems["estimator"] = (
            f"unknown estimator {estimator!r}; known: {', '.join(ESTIMATOR_NAMES)}"
        )
    elif estimator in MEASURED_LATENCY_ESTIMATORS and spec.latency_form == "mul_log":
        problems["config.latency_form"] = (
            f"{estimator} applies the measured latency term on its own: use add_linear or hinge"
        )
    return problems
