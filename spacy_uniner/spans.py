"""Span utilities both components share: token windows, greedy non-overlap, the ents filter."""

from __future__ import annotations

from typing import Iterable, List, Sequence, Tuple

from spacy.tokens import Span
from spacy.util import registry


def token_windows(costs: Sequence[int], start: int, end: int, budget: int, overlap: int) -> List[Tuple[int, int]]:
    """Cut tokens ``start:end`` into windows whose summed ``costs`` fit ``budget``, each
    sharing ``overlap`` tokens with the previous one (a token costlier than the budget is
    a window alone)."""
    windows = []
    while start < end:
        stop, used = start, 0
        while stop < end and (used + costs[stop] <= budget or stop == start):
            used += costs[stop]
            stop += 1
        windows.append((start, stop))
        if stop >= end:
            break
        start = max(start + 1, stop - overlap)
    return windows


def select_non_overlapping(spans: Iterable[Span]) -> List[Span]:
    """Greedy selection, in the given order, of the spans that overlap none chosen before."""
    taken: set = set()
    chosen = []
    for span in spans:
        tokens = range(span.start, span.end)
        if not any(t in taken for t in tokens):
            chosen.append(span)
            taken.update(tokens)
    return chosen


def label_order_filter(entities: Iterable[Span], spans: Iterable[Span]) -> List[Span]:
    """Existing ``entities`` first; then ``spans`` in the order given (the components rank
    them by score, then length, then label order); anything overlapping a span chosen
    before is dropped."""
    return select_non_overlapping(list(entities) + list(spans))


@registry.misc("spacy_uniner.label_order_filter.v1")
def make_label_order_filter():
    """``ents_filter = {"@misc": "spacy_uniner.label_order_filter.v1"}``: the default."""
    return label_order_filter
