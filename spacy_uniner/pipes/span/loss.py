"""The span student's training loss over (span, type) logits, chosen by registry name::

    [components.universal_ner_span.loss]
    @losses = "spacy_uniner.span_loss.v1"
    gamma = 2.0
    alpha = 0.75

``gamma = 0`` and ``alpha = null`` (the defaults) is binary cross-entropy; ``gamma > 0`` is
the focal loss of Lin et al. (2017), which GLiNER trains with (``gamma = 2``, ``alpha = 0.75``):
easy pairs, most of them negatives, weigh less.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

from spacy.util import registry

from ...errors import Errors


def sigmoid(xp, x):
    """The logistic function without overflow, on ``x``'s device (``xp``: numpy or cupy)."""
    return xp.exp(-xp.logaddexp(0.0, -x))


@dataclass(frozen=True)
class SpanLoss:
    """Summed focal loss of sigmoid ``logits`` against ``target`` (0/1, same shape), each pair
    weighed by ``weight`` (0: an unknown pair, left out; none: all count), and its gradient
    with respect to the logits. A class, not a closure, so the pipe pickles."""

    gamma: float = 0.0
    alpha: Optional[float] = None

    def __post_init__(self) -> None:
        if self.gamma < 0 or (self.alpha is not None and not 0.0 < self.alpha < 1.0):
            raise ValueError(Errors.E209.format(gamma=self.gamma, alpha=self.alpha))

    def __call__(self, xp, logits, target, weight=None) -> Tuple[float, Any]:
        p = sigmoid(xp, logits)
        log_p = -xp.logaddexp(0.0, -logits)  # log p, stable
        log_q = -xp.logaddexp(0.0, logits)  # log (1 - p), stable
        a1, a0 = (1.0, 1.0) if self.alpha is None else (self.alpha, 1.0 - self.alpha)
        if self.gamma == 0:
            w1 = w0 = 1.0
        else:
            w1, w0 = (1.0 - p) ** self.gamma, p**self.gamma
        loss = -(a1 * target * w1 * log_p + a0 * (1.0 - target) * w0 * log_q)
        # d/dx of -a1 (1-p)^g log p and of -a0 p^g log(1-p); g = 0 gives p - target.
        d_pos = a1 * w1 * (self.gamma * p * log_p - (1.0 - p))
        d_neg = a0 * w0 * (p - self.gamma * (1.0 - p) * log_q)
        grad = target * d_pos + (1.0 - target) * d_neg
        if weight is not None:
            loss, grad = loss * weight, grad * weight
        return float(xp.sum(loss)), grad


@registry.losses("spacy_uniner.span_loss.v1")
def make_span_loss(gamma: float = 0.0, alpha: Optional[float] = None) -> SpanLoss:
    """Binary cross-entropy (``gamma = 0``, ``alpha = null``) or focal loss over the student's
    (span, type) pairs; ``alpha`` weighs positives against negatives (GLiNER: 0.75)."""
    return SpanLoss(float(gamma), None if alpha is None else float(alpha))
