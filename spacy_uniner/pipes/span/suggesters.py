"""Candidate spans for the span student, chosen by registry name as spaCy's spancat does."""

from __future__ import annotations

from functools import partial
from typing import Tuple

import numpy
from spacy.tokens import Doc
from spacy.util import registry

from .batch import Suggester


def width_spans(doc: Doc, max_width: int) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(starts, ends) of all spans of up to ``max_width`` tokens that neither start nor end
    on white space."""
    n = len(doc)
    if n == 0:
        empty = numpy.zeros((0,), dtype="int64")
        return empty, empty
    space = numpy.asarray([t.is_space for t in doc], dtype=bool)
    starts = numpy.repeat(numpy.arange(n), max_width)
    ends = starts + numpy.tile(numpy.arange(1, max_width + 1), n)
    keep = ends <= n
    starts, ends = starts[keep], ends[keep]
    keep = ~space[starts] & ~space[ends - 1]
    return starts[keep], ends[keep]


@registry.misc("spacy_uniner.width_suggester.v1")
def make_width_suggester(max_width: int = 12) -> Suggester:
    """``suggester = {"@misc": "spacy_uniner.width_suggester.v1", "max_width": 12}``: every
    span of up to ``max_width`` tokens (GLiNER's span width 12)."""
    return partial(width_spans, max_width=max_width)
