"""Negative entity types drawn in proportion to their frequency (UniversalNER §3.2).

One sampler serves the instruction data and the span student's reader; what a frequency
counts is said where it is built:

- instruction data (:mod:`spacy_uniner.distill.instructions`) counts **mentions**
  (:func:`mention_frequencies`): a type's weight is how many labelled mentions it has in
  the whole data, the paper's "frequency in the whole data";
- the span student's reader counts **passages** (:func:`passage_frequencies`): how many
  docs mention the type, so a type repeated within long documents does not crowd out the
  others.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

import numpy as np
from spacy.tokens import Doc


def mention_frequencies(types: Iterable[str]) -> Counter:
    """Type -> number of mentions, from the type of every labelled mention."""
    return Counter(types)


def passage_frequencies(docs: Iterable[Doc]) -> Counter:
    """Type -> number of docs with at least one mention of it."""
    return Counter(label for doc in docs for label in {ent.label_ for ent in doc.ents})


class NegativeSampler:
    """Draws types absent from a passage, without replacement, in proportion to frequency."""

    def __init__(self, frequencies: Mapping[str, int]):
        ranked = sorted(frequencies.items(), key=lambda item: (-item[1], item[0]))
        self.types = [etype for etype, _ in ranked]
        self.weights = np.array([count for _, count in ranked], dtype=float)
        self.index = {etype: i for i, etype in enumerate(self.types)}
        self.probabilities = self.weights / self.weights.sum() if len(self.weights) else self.weights

    def sample(self, rng: np.random.Generator, k: int, exclude: Iterable[str] = ()) -> list[str]:
        """Up to ``k`` distinct types not in ``exclude`` (fewer if fewer remain), each drawn
        in proportion to its frequency among the types not drawn yet."""
        exclude = set(exclude)
        if k <= 0:
            return []
        if len(self.types) > 2 * (len(exclude) + k) + 50:
            # Many types: rejection draws (same distribution) cost O(k), not O(types).
            out: list[str] = []
            for _ in range(4):
                for i in rng.choice(len(self.types), size=2 * k + len(exclude), p=self.probabilities):
                    etype = self.types[i]
                    if etype not in exclude and etype not in out:
                        out.append(etype)
                        if len(out) == k:
                            return out
            return out
        weights = self.weights.copy()
        weights[[self.index[t] for t in exclude if t in self.index]] = 0.0
        k = min(k, int(np.count_nonzero(weights)))
        if k <= 0:
            return []
        chosen = rng.choice(len(weights), size=k, replace=False, p=weights / weights.sum())
        return [self.types[i] for i in chosen]
