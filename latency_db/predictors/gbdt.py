"""The ``gbdt`` predictor: gradient-boosted trees that correct the ``linear`` fit on the
log scale.

The additive part is the ``linear`` predictor fit to the same data (anchored to the lookup
table where the device has one); LightGBM (Ke et al., NeurIPS 2017) then boosts
log(latency / linear(z)) on each layer's op as a categorical feature, so trees model the
interactions between layers (fusion, cache effects) that a per-layer sum misses. The loss is
the absolute error of that log ratio (close to relative error, as MAPE and "within 10%"
count it), which the phones' outlier timings sway less than a squared one. Boosted
trees are among the strong latency predictors of HW-NAS-Bench (Li et al., ICLR 2021) and
nn-Meter (Zhang et al., MobiSys 2021). A piecewise-constant model has no gradient: a search
cannot use it for E[LAT] or the RELAX surrogate (``differentiable`` is false).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from latency_db.errors import ValidationError
from latency_db.predictors.base import LatencyPredictor, number
from latency_db.predictors.encoding import FloatArray, IntArray, Layout
from latency_db.predictors.features import ArchitectureFeatures
from latency_db.predictors.linear import LinearPredictor

if TYPE_CHECKING:
    import lightgbm

ROUNDS = 300
BOOSTING = {
    "objective": "l1",  # |log(latency / linear)|: MAPE-like, robust to outlier timings
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 10,
    "num_threads": 1,  # deterministic, and the fit of 4,000 rows takes well under a second
    "deterministic": True,
    "verbose": -1,
}


@dataclass(frozen=True, eq=False)
class GbdtPredictor(LatencyPredictor):
    """Params: ``{"kind": "gbdt", "space", "base": <linear params>, "floor_ms": float,
    "booster": <LightGBM model text>}``; the prediction is max(linear(z), floor) times
    exp(trees(z)), with no uncertainty."""

    kind: ClassVar[str] = "gbdt"
    differentiable: ClassVar[bool] = False
    base: LinearPredictor
    floor_ms: float  # keeps the ratio's denominator positive where the linear part is not
    booster: lightgbm.Booster

    @property
    def space_ref(self) -> str:
        return self.base.space_ref

    @property
    def layout(self) -> Layout:
        return self.base.layout

    def _predict(self, indices: IntArray) -> tuple[FloatArray, FloatArray]:
        ratio = np.exp(np.asarray(self.booster.predict(indices.astype(np.float64))))
        mean = self._base_ms(indices) * ratio
        return mean, np.zeros_like(mean)

    def _base_ms(self, indices: IntArray) -> FloatArray:
        return np.maximum(self.base.predict(indices)[0], self.floor_ms)

    @classmethod
    def fit(
        cls,
        features: ArchitectureFeatures,
        indices: IntArray,
        latencies_ms: FloatArray,
        *,
        seed: int,
    ) -> GbdtPredictor:
        base = LinearPredictor.fit(features, indices, latencies_ms, seed=seed)
        floor = 0.1 * float(latencies_ms.min())
        base_ms = np.maximum(base.predict(indices)[0], floor)
        import lightgbm  # here: the server and CLI start without it (0.1 s)

        data = lightgbm.Dataset(
            indices.astype(np.float64),
            np.log(latencies_ms / base_ms),
            categorical_feature=list(range(indices.shape[1])),
        )
        booster = lightgbm.train({**BOOSTING, "seed": seed}, data, num_boost_round=ROUNDS)
        return cls(base, floor, booster)

    def to_params(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "space": self.space_ref,
            "base": self.base.to_params(),
            "floor_ms": self.floor_ms,
            "booster": self.booster.model_to_string(),
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> GbdtPredictor:
        cls._check_kind(params)
        base = params.get("base")
        if not isinstance(base, Mapping):
            raise ValidationError("gbdt params: base must be the linear predictor's params")
        floor = number(params, "floor_ms")
        if floor <= 0:
            raise ValidationError("gbdt params: floor_ms must be positive")
        text = params.get("booster")
        if not isinstance(text, str):
            raise ValidationError("gbdt params: booster must be LightGBM model text")
        import lightgbm

        try:
            booster = lightgbm.Booster(model_str=text)
        except lightgbm.basic.LightGBMError as err:
            raise ValidationError(f"gbdt params: booster is not a LightGBM model ({err})") from None
        linear = LinearPredictor.from_params(base)
        if booster.num_feature() != linear.layout.n_layers:
            raise ValidationError(
                f"gbdt params: booster reads {booster.num_feature()} features, "
                f"the space has {linear.layout.n_layers} layers"
            )
        return cls(linear, floor, booster)
