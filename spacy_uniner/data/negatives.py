"""Negative entity types drawn in proportion to their frequency (UniversalNER §3.2).

One sampler serves the instruction data and the span student's reader. Frequencies count
**mentions**: a type's weight is how many labelled mentions it has in the whole data (the
paper's "frequency in the whole data"), so common types are asked as negatives more often.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

import numpy as np


def mention_frequencies(types: Iterable[str]) -> Counter:
    """Type -> number of mentions, from the type of every labelled mention."""
    return Counter(types)


class NegativeSampler:
    """Draws types absent from a passage, without replacement, in proportion to frequency."""

    def __init__(self, frequencies: Mapping[str, int]):
        ranked = sorted(frequencies.items(), key=lambda item: (-item[1], item[0]))
        self.types = [etype for etype, _ in ranked]
        self.weights = np.array([count for _, count in ranked], dtype=float)
        self.index = {etype: i for i, etype in enumerate(self.types)}

    def sample(self, rng: np.random.Generator, k: int, exclude: Iterable[str] = ()) -> list[str]:
        """Up to ``k`` distinct types not in ``exclude`` (fewer if fewer remain)."""
        weights = self.weights.copy()
        weights[[self.index[t] for t in exclude if t in self.index]] = 0.0
        k = min(k, int(np.count_nonzero(weights)))
        if k <= 0:
            return []
        chosen = rng.choice(len(weights), size=k, replace=False, p=weights / weights.sum())
        return [self.types[i] for i in chosen]
