"""An ensemble of small ReLU MLPs in numpy, all members trained at once by Adam.

A deep ensemble (Lakshminarayanan et al., NeurIPS 2017): members differ by initialisation
and mini-batch draws, and their spread estimates the uncertainty. Adam: Kingma and Ba, ICLR
2015. Members are stacked, so weights of layer k have shape [M, d_in, d_out].
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from latency_db.predictors.encoding import FloatArray


@dataclass(frozen=True)
class TrainingConfig:
    """Defaults: a 300-point fit takes a few seconds; the strong L2 keeps a few hundred
    points from being overfit."""

    members: int = 5
    hidden: tuple[int, ...] = (64,)
    steps: int = 1000
    batch_size: int = 128
    learning_rate: float = 1e-2
    weight_decay: float = 3e-2  # L2 on weights, not biases


DEFAULT_TRAINING = TrainingConfig()


@dataclass(frozen=True, eq=False)
class MlpEnsemble:
    weights: tuple[FloatArray, ...]  # per layer [M, d_in, d_out]; the last d_out is 1
    biases: tuple[FloatArray, ...]  # per layer [M, d_out]

    def forward(self, x: FloatArray) -> FloatArray:
        """Outputs [M, n] for inputs [n, D] shared by all members (or [M, n, D])."""
        return self._activations(x)[-1][..., 0]

    def _activations(self, x: FloatArray) -> list[FloatArray]:
        """The input and every layer's output (ReLU on all but the last)."""
        out = [x]
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = out[-1] @ w + b[:, None, :]
            out.append(z if k == last else np.maximum(z, 0.0))
        return out

    def _gradients(self, x: FloatArray, y: FloatArray) -> tuple[list[FloatArray], list[FloatArray]]:
        """Gradients of each member's mean squared error on its batch, x [M, B, D], y [M, B]."""
        acts = self._activations(x)
        grad = (2.0 / y.shape[1]) * (acts[-1] - y[..., None])
        grad_w: list[FloatArray] = []
        grad_b: list[FloatArray] = []
        for k in reversed(range(len(self.weights))):
            grad_w.insert(0, acts[k].swapaxes(-1, -2) @ grad)
            grad_b.insert(0, grad.sum(axis=1))
            if k:
                grad = (grad @ self.weights[k].swapaxes(-1, -2)) * (acts[k] > 0)
        return grad_w, grad_b


def train_ensemble(x: FloatArray, y: FloatArray, config: TrainingConfig, seed: int) -> MlpEnsemble:
    """Fit every member to (x [n, D], y [n]) with Adam on mini-batches drawn with replacement."""
    rng = np.random.default_rng(seed)
    m = config.members
    sizes = (x.shape[1], *config.hidden, 1)
    ensemble = MlpEnsemble(
        tuple(
            rng.normal(0.0, np.sqrt(2.0 / d_in), size=(m, d_in, d_out))  # He et al., ICCV 2015
            for d_in, d_out in itertools.pairwise(sizes)
        ),
        tuple(np.zeros((m, d_out)) for d_out in sizes[1:]),
    )
    params = [*ensemble.weights, *ensemble.biases]
    moment1 = [np.zeros_like(p) for p in params]
    moment2 = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    batch = min(config.batch_size, y.size)
    for step in range(1, config.steps + 1):
        rows = rng.integers(0, y.size, size=(m, batch))
        grad_w, grad_b = ensemble._gradients(x[rows], y[rows])
        decayed = [
            g + config.weight_decay * w for g, w in zip(grad_w, ensemble.weights, strict=True)
        ]
        step_size = config.learning_rate * np.sqrt(1 - beta2**step) / (1 - beta1**step)
        for p, g, m1, m2 in zip(params, [*decayed, *grad_b], moment1, moment2, strict=True):
            m1 *= beta1
            m1 += (1 - beta1) * g
            m2 *= beta2
            m2 += (1 - beta2) * g * g
            p -= step_size * m1 / (np.sqrt(m2) + eps)
    return ensemble
