"""Docs -> windows -> (window, entity type) queries in the UniversalNER protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Protocol, Sequence, Tuple

from spacy.tokens import Doc

from . import protocol
from .errors import Errors
from .spans import token_windows


class CountTokens(Protocol):
    def __call__(self, texts: List[str], add_special_tokens: bool = False) -> List[int]: ...


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


def plan_windows(doc: Doc, token_costs: Sequence[int], budget: int, overlap: int) -> List[Window]:
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
            units.extend(token_windows(token_costs, sent.start, sent.end, budget, overlap))
        spans = _pack(units, token_costs, budget)
    else:
        spans = token_windows(token_costs, 0, len(doc), budget, overlap)
    return [Window(s, e, doc[s].idx, doc[e - 1].idx + len(doc[e - 1])) for s, e in spans]


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
    count_tokens: CountTokens,
    max_input_length: int,
    overlap: int,
) -> List[Query]:
    """All (window, label) queries for ``docs``, doc by doc, window by window, in label order.

    Every prompt is at most ``max_input_length`` tokens as the model receives it (special
    tokens included), checked on the exact prompt of the label with the longest question.
    """
    queries: List[Query] = []
    for i, (doc, labels) in enumerate(zip(docs, labels_per_doc)):
        if not labels:
            continue
        for window in fit_windows(doc, list(labels.values()), count_tokens, max_input_length, overlap):
            passage = doc.text[window.start_char : window.end_char]
            prefix = protocol.passage_prefix(passage)
            for label, entity_type in labels.items():
                queries.append(Query(i, window, label, entity_type, prefix, protocol.query_suffix(entity_type)))
    return queries


def fit_windows(
    doc: Doc,
    entity_types: Sequence[str],
    count_tokens: CountTokens,
    max_input_length: int,
    overlap: int,
) -> List[Window]:
    """Windows of ``doc`` whose prompts fit ``max_input_length`` for every entity type.

    Token costs only plan the cuts; each window is then measured on its real prompt and
    re-cut with a smaller budget while it is too long.
    """
    empty = count_tokens([protocol.inference_prompt("", t) for t in entity_types], add_special_tokens=True)
    longest = entity_types[max(range(len(empty)), key=empty.__getitem__)]
    budget = max_input_length - max(empty)
    if budget <= 0:
        raise ValueError(Errors.E007.format(max_input_length=max_input_length, overhead=max(empty)))

    def excess(windows: List[Window]) -> List[int]:
        prompts = [protocol.inference_prompt(doc.text[w.start_char : w.end_char], longest) for w in windows]
        return [n - max_input_length for n in count_tokens(prompts, add_special_tokens=True)]

    whole = Window(0, len(doc), 0, len(doc.text))
    if len(doc) == 0 or excess([whole])[0] <= 0:
        return [whole]
    costs = token_costs(doc, count_tokens)
    windows = plan_windows(doc, costs, budget, overlap)
    return [
        fitted
        for window, over in zip(windows, excess(windows))
        for fitted in _refit(doc, window, over, costs, budget, overlap, excess)
    ]


def _refit(doc, window, over, costs, budget, overlap, excess) -> List[Window]:
    if over <= 0 or window.end - window.start == 1:
        return [window]  # a single token longer than the budget cannot be cut further
    span = doc[window.start : window.end].as_doc()
    budget = min(budget, sum(costs[window.start : window.end])) - over
    parts = [
        Window(
            w.start + window.start,
            w.end + window.start,
            w.start_char + window.start_char,
            w.end_char + window.start_char,
        )
        for w in plan_windows(span, costs[window.start : window.end], max(budget, 1), overlap)
    ]
    return [
        fitted
        for part, part_over in zip(parts, excess(parts))
        for fitted in _refit(doc, part, part_over, costs, budget, overlap, excess)
    ]


def token_costs(doc: Doc, count_tokens: CountTokens) -> List[int]:
    """Model tokens per spaCy token: the smaller of the token alone and with the white space
    before it, which is close for both sentencepiece (LLaMA) and byte-level BPE tokenizers."""
    texts = [t.text for t in doc]
    spaced = [(doc[t.i - 1].whitespace_ if t.i else "") + t.text for t in doc]
    counts = count_tokens(texts + spaced, add_special_tokens=False)
    return [max(1, min(a, b)) for a, b in zip(counts[: len(doc)], counts[len(doc) :])]
