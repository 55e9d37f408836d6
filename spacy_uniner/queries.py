"""Docs -> windows -> (window, entity type) queries in the UniversalNER protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

from spacy.tokens import Doc

from . import protocol
from .errors import Errors


@dataclass(frozen=True)
class Window:
    """A stretch of a doc short enough for the model, in token and character offsets."""

    start: int
    end: int
    start_char: int
    end_char: int


@dataclass(frozen=True)
class Query:
    """One (passage window, entity type) question; ``prefix + suffix`` is the prompt."""

    doc_index: int
    window: Window
    label: str
    entity_type: str
    prefix: str
    suffix: str

    @property
    def prompt(self) -> str:
        return self.prefix + self.suffix


def plan_windows(
    doc: Doc, token_costs: Sequence[int], budget: int, overlap: int
) -> List[Window]:
    """Cover ``doc`` with windows whose summed ``token_costs`` fit in ``budget``.

    A doc that fits is one window. Otherwise sentences are packed together when the doc
    has sentence boundaries; a sentence (or a doc without them) that is still too long is
    cut into token windows that overlap by ``overlap`` tokens, so an entity lying across
    a cut is seen whole in the next window.
    """
    if len(doc) == 0:
        return [Window(0, 0, 0, len(doc.text))]
    if sum(token_costs) <= budget:
        return [Window(0, len(doc), 0, len(doc.text))]
    if doc.has_annotation("SENT_START"):
        units: List[Tuple[int, int]] = []
        for sent in doc.sents:
            units.extend(_token_windows(token_costs, sent.start, sent.end, budget, overlap))
        spans = _pack(units, token_costs, budget)
    else:
        spans = _token_windows(token_costs, 0, len(doc), budget, overlap)
    return [Window(s, e, doc[s].idx, doc[e - 1].idx + len(doc[e - 1])) for s, e in spans]


def _token_windows(
    costs: Sequence[int], start: int, end: int, budget: int, overlap: int
) -> List[Tuple[int, int]]:
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


def _pack(units: List[Tuple[int, int]], costs: Sequence[int], budget: int) -> List[Tuple[int, int]]:
    packed: List[Tuple[int, int]] = []
    used = 0
    for start, end in units:
        cost = sum(costs[start:end])
        if packed and packed[-1][1] == start and used + cost <= budget:
            packed[-1] = (packed[-1][0], end)
            used += cost
        else:
            packed.append((start, end))
            used = cost
    return packed


def build_queries(
    docs: Sequence[Doc],
    labels_per_doc: Sequence[Dict[str, str]],
    count_tokens: Callable[[List[str]], List[int]],
    max_input_length: int,
    overlap: int,
) -> List[Query]:
    """All (window, label) queries for ``docs``, doc by doc, window by window, in label order."""
    queries: List[Query] = []
    for i, (doc, labels) in enumerate(zip(docs, labels_per_doc)):
        if not labels:
            continue
        longest = max(labels.values(), key=len)
        # +2: a BOS token the tokenizer may add, and a margin for merges at the seams.
        overhead = count_tokens([protocol.inference_prompt("", longest)])[0] + 2
        budget = max_input_length - overhead
        if budget <= 0:
            raise ValueError(Errors.E007.format(max_input_length=max_input_length, overhead=overhead))
        costs = count_tokens([t.text_with_ws for t in doc]) if len(doc) else []
        for window in plan_windows(doc, costs, budget, overlap):
            passage = doc.text[window.start_char : window.end_char]
            prefix = protocol.passage_prefix(passage)
            for label, entity_type in labels.items():
                queries.append(
                    Query(i, window, label, entity_type, prefix, protocol.query_suffix(entity_type))
                )
    return queries
