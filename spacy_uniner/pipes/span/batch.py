"""Queries -> encoder inputs for the span/type matcher (data processing, no weights).

With ``joint`` type encoding the type names are encoded together with the text::

    [CLS] <<ENT>> person <<ENT>> city <<SEP>> word word word ... [SEP]

With ``separate`` type encoding (a bi-encoder) each distinct name is encoded alone,
``[CLS] <<ENT>> person [SEP]``, and the text without them, ``[CLS] word word ... [SEP]``;
``late`` type encoding builds the same inputs (its names read the text after the encoder).

Many types are asked in groups (one row per group and window), long docs in windows near
the length the student was trained on (each sentence alone when the doc has sentences);
each span is scored in the window where it lies farthest from an edge. Uncased encoders
cannot see capitalisation, so every text sub-word carries its word's shape class.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy
import torch
from spacy.tokens import Doc

from ...errors import Errors, Warnings
from ...spans import token_windows

ENT_MARKER = "<<ENT>>"
SEP_MARKER = "<<SEP>>"
TYPE_ENCODINGS = ("joint", "separate", "late")
SpanQuery = Tuple[Doc, Sequence[str]]  # a doc and the type names it is asked
Suggester = Callable[[Doc], Tuple[numpy.ndarray, numpy.ndarray]]
# Word-shape classes; 0 is every prompt, marker and padding position.
SHAPE_PROMPT, SHAPE_LOWER, SHAPE_TITLE, SHAPE_UPPER, SHAPE_MIXED, SHAPE_DIGIT, SHAPE_OTHER = range(7)
N_SHAPES = 7


def word_shape(text: str) -> int:
    """Coarse shape class of a word: the capitalisation an uncased encoder loses."""
    if any(c.isdigit() for c in text):
        return SHAPE_DIGIT
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return SHAPE_OTHER
    if all(c.islower() for c in letters):
        return SHAPE_LOWER
    if all(c.isupper() for c in letters):
        return SHAPE_UPPER if len(letters) > 1 else SHAPE_TITLE
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return SHAPE_TITLE
    return SHAPE_MIXED


@dataclass
class Batch:
    """Padded encoder inputs of a list of queries and where each scored pair sits."""

    tensors: Tuple[torch.Tensor, ...]
    index: torch.Tensor  # (4, n_entries): window, start, width - 1, type
    spans: List[Tuple[numpy.ndarray, numpy.ndarray]]
    sizes: List[Tuple[int, int]]  # (n_spans, n_types) per doc
    names: List[str] = field(default_factory=list)  # separate encoding: the distinct names, in ``name_tensors`` order
    name_tensors: Tuple[torch.Tensor, ...] = ()  # separate encoding: ids, mask, pooling of each name


def type_groups(type_lengths: Sequence[int], max_types: int, budget: int) -> List[Tuple[int, int]]:
    """Consecutive groups ``(start, end)`` of the types, each at most ``max_types`` names
    whose prompt (a marker plus the name's sub-words each) fits ``budget`` sub-words."""
    groups: List[Tuple[int, int]] = []
    used = 0
    for i, n in enumerate(type_lengths):
        if groups and groups[-1][1] == i and groups[-1][1] - groups[-1][0] < max_types and used + n + 1 <= budget:
            groups[-1] = (groups[-1][0], i + 1)
            used += n + 1
        else:
            groups.append((i, i + 1))
            used = n + 1
    return groups


def make_batch(
    tokenizer: Any,
    queries: List[SpanQuery],
    suggester: Suggester,
    max_width: int,
    max_length: int,
    overlap: int,
    window_length: int,
    max_types: int,
    type_encoding: str = "joint",
) -> Batch:
    """Encoder inputs for ``queries`` and the (row, start, width, type) index of every scored
    pair. A doc's text is cut into windows of at most ``window_length`` sub-words
    (:func:`text_windows`); every span is scored in the window where it lies farthest from
    an edge. ``joint``: a doc's types are asked in groups of at most ``max_types`` (any number
    of types works, and a type's score depends little on how many others are asked), each row
    one group's type prompt then one window. ``separate`` and ``late``: each row is one window alone, and
    each distinct type name of the batch is encoded once, on its own (``Batch.name_tensors``);
    a row's type columns index those names."""
    ent_id, sep_id = tokenizer.convert_tokens_to_ids([ENT_MARKER, SEP_MARKER])
    separate = type_encoding != "joint"  # late reads the names as separate does
    all_types = sorted({t for _, types in queries for t in types})
    for type_name in all_types:
        if not isinstance(type_name, str) or not type_name.strip():
            raise ValueError(Errors.E405.format(value=type_name))
    # Type names and text are read as text: a "[SEP]" or "<<SEP>>" in them is no marker.
    encode = partial(tokenizer, add_special_tokens=False, split_special_tokens=True)
    type_pieces = dict(zip(all_types, encode(all_types)["input_ids"])) if all_types else {}
    # Joint: the type prompts take at most half of the input; the text gets the rest, up to
    # window_length. Separate: a name is encoded alone, with its marker, [CLS] and [SEP].
    prompt_budget = max_length - 2 if separate else max_length // 2 - 2
    for type_name in all_types:
        if len(type_pieces[type_name]) + 1 > prompt_budget:
            raise ValueError(
                Errors.E403.format(name=type_name, n=len(type_pieces[type_name]), budget=prompt_budget - 1)
            )
    name_index = {name: i for i, name in enumerate(all_types)}
    rows: List[Tuple[List[int], List[int], List[int], List[int], List[int]]] = []  # ids, type_pos, first, last, shapes
    name_lengths: List[List[int]] = []
    index_parts: List[numpy.ndarray] = []
    spans_out, sizes = [], []
    skipped = 0
    for doc, types in queries:
        lengths_of_types = [len(type_pieces[t]) for t in types]
        if separate:  # one row per window; its type columns are the names' places in the batch
            groups = [(0, len(types))] if types else []
            prompts = [([tokenizer.cls_token_id], [name_index[t] for t in types])] if types else []
        else:
            groups = type_groups(lengths_of_types, max_types, prompt_budget)
            prompts = []
            for g_start, g_end in groups:
                prompt, type_pos = [tokenizer.cls_token_id], []
                for type_name in types[g_start:g_end]:
                    type_pos.append(len(prompt))
                    prompt += [ent_id] + type_pieces[type_name]
                prompt.append(sep_id)
                prompts.append((prompt, type_pos))
        longest_prompt = max((len(p) for p, _ in prompts), default=2)
        budget = min(window_length, max_length - longest_prompt - 1)
        words = [t.text for t in doc]
        pieces = encode(words)["input_ids"] if words else []
        # White space has no sub-words (the encoder's tokenizer drops it from running text).
        pieces = [[] if t.is_space else (p or [tokenizer.unk_token_id])[:budget] for t, p in zip(doc, pieces)]
        shapes = [word_shape(w) for w in words]
        windows = text_windows(doc, [len(p) for p in pieces], budget, overlap)
        starts, ends = suggester(doc)
        owner = assign_windows(starts, ends, windows)
        keep = owner >= 0
        skipped += too_long_spans(doc, starts[~keep], ends[~keep])
        starts, ends, owner = starts[keep], ends[keep], owner[keep]
        spans_out.append((starts, ends))
        sizes.append((len(starts), len(types)))
        first_row = len(rows)
        for (g_start, g_end), (prompt, type_pos) in zip(groups, prompts):
            for w_start, w_end in windows:
                ids = list(prompt)
                shape_ids = [SHAPE_PROMPT] * len(prompt)
                first, last = [], []
                for p, shape in zip(pieces[w_start:w_end], shapes[w_start:w_end]):
                    first.append(len(ids))
                    ids += p
                    shape_ids += [shape] * len(p)
                    last.append(len(ids) - 1)
                ids.append(tokenizer.sep_token_id)
                rows.append((ids, type_pos, first, last, shape_ids))
                name_lengths.append(lengths_of_types[g_start:g_end])
        if len(starts) and len(types):
            group_of = numpy.repeat(numpy.arange(len(groups)), [e - s for s, e in groups])
            column = numpy.arange(len(types)) - numpy.asarray([s for s, _ in groups], dtype="int64")[group_of]
            local = starts - numpy.asarray([windows[o][0] for o in owner], dtype="int64")
            n, t = len(starts), len(types)
            row = first_row + owner[:, None] + (group_of * len(windows))[None, :]  # (n, t)
            index_parts.append(
                numpy.stack(
                    [
                        row.ravel(),
                        numpy.repeat(local, t),
                        numpy.repeat(ends - starts - 1, t),
                        numpy.tile(column, n),
                    ]
                )
            )
    if skipped:
        warnings.warn(Warnings.W202.format(count=skipped, window_length=window_length), stacklevel=2)
    index = numpy.concatenate(index_parts, axis=1) if index_parts else numpy.zeros((4, 0), dtype="int64")
    if not rows:  # no doc asked any type
        return Batch((), torch.from_numpy(index), spans_out, sizes)
    if not separate:
        return Batch(pad(rows, name_lengths, tokenizer.pad_token_id), torch.from_numpy(index), spans_out, sizes)
    names = [[tokenizer.cls_token_id, ent_id, *type_pieces[t], tokenizer.sep_token_id] for t in all_types]
    return Batch(
        pad(rows, None, tokenizer.pad_token_id),
        torch.from_numpy(index),
        spans_out,
        sizes,
        all_types,
        pad_names(names, tokenizer.pad_token_id),
    )


def pad_names(names: List[List[int]], pad_id: int) -> Tuple[torch.Tensor, ...]:
    """Right-padded name inputs ``[CLS] <<ENT>> name [SEP]``: ids, mask and the mean-pooling
    weights over each name's sub-words."""
    length = max(len(n) for n in names)
    ids = numpy.full((len(names), length), pad_id, dtype="int64")
    mask = numpy.zeros((len(names), length), dtype="int64")
    pool = numpy.zeros((len(names), length), dtype="float32")
    for i, row in enumerate(names):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
        pool[i, 2 : len(row) - 1] = 1.0 / max(1, len(row) - 3)
    return tuple(torch.from_numpy(a) for a in (ids, mask, pool))


def text_units(doc: Doc) -> List[Tuple[int, int]]:
    """The parts of ``doc`` read apart: its sentences when it has sentence boundaries, else its
    paragraphs (a white-space token holding two or more line breaks ends one)."""
    if doc.has_annotation("SENT_START"):
        return [(sent.start, sent.end) for sent in doc.sents]
    ends = [t.i + 1 for t in doc if t.is_space and t.text.count("\n") >= 2 and t.i + 1 < len(doc)]
    return list(zip([0, *ends], [*ends, len(doc)]))


def text_windows(doc: Doc, costs: Sequence[int], budget: int, overlap: int) -> List[Tuple[int, int]]:
    """Token windows of ``doc`` whose sub-words fit ``budget``: each sentence (or, without
    sentence boundaries, each paragraph) on its own, so a doc finds what its parts find
    alone; a part too long is cut into windows sharing ``overlap`` tokens."""
    if len(doc) == 0:
        return [(0, 0)]
    return [w for start, end in text_units(doc) for w in token_windows(costs, start, end, budget, overlap)]


def length_chunks(lengths: Sequence[int], max_padded: int) -> List[List[int]]:
    """Indices grouped by length, each group at most ``max_padded`` once padded to its
    longest member (a longer item goes alone), so rows of one batch pad little."""
    chunks: List[List[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if chunks and lengths[i] * (len(chunks[-1]) + 1) <= max_padded:
            chunks[-1].append(i)
        else:
            chunks.append([i])
    return chunks


def assign_windows(starts: numpy.ndarray, ends: numpy.ndarray, windows: List[Tuple[int, int]]) -> numpy.ndarray:
    """Index of the window holding each span farthest from its edges (-1: none holds it)."""
    bounds = numpy.asarray(windows, dtype="int64")
    margin = numpy.minimum(starts[None, :] - bounds[:, :1], bounds[:, 1:] - ends[None, :])
    return numpy.where(margin.max(axis=0) >= 0, margin.argmax(axis=0), -1)


def too_long_spans(doc: Doc, starts: numpy.ndarray, ends: numpy.ndarray) -> int:
    """How many of these spans, which no window holds, lie within one sentence or paragraph
    (:func:`text_units`; spans across two are never asked). Windows share at least
    ``max_width`` tokens, so such a span has more sub-words than a window takes (it holds a
    very long token: a URL, code)."""
    if not len(starts):
        return 0
    unit = numpy.zeros(len(doc), dtype="int64")
    for i, (start, end) in enumerate(text_units(doc)):
        unit[start:end] = i
    return int((unit[starts] == unit[ends - 1]).sum())


def pad(
    rows: List[Tuple[List[int], List[int], List[int], List[int], List[int]]],
    name_lengths: Optional[List[List[int]]],
    pad_id: int,
) -> Tuple[torch.Tensor, ...]:
    """Right-padded tensors: ids, mask, type positions, type-name pooling, word bounds, shapes.
    Without ``name_lengths`` (separate type encoding) the type positions are the row's names'
    places in the batch and the pooling is empty."""
    n_rows = len(rows)
    length = max(len(r[0]) for r in rows)
    n_types = max(1, max(len(r[1]) for r in rows))
    n_words = max(1, max(len(r[2]) for r in rows))
    ids = numpy.full((n_rows, length), pad_id, dtype="int64")
    mask = numpy.zeros((n_rows, length), dtype="int64")
    type_pos = numpy.zeros((n_rows, n_types), dtype="int64")
    type_pool = numpy.zeros((n_rows, n_types, length if name_lengths is not None else 0), dtype="float32")
    first = numpy.zeros((n_rows, n_words), dtype="int64")
    last = numpy.zeros((n_rows, n_words), dtype="int64")
    shapes = numpy.full((n_rows, length), SHAPE_PROMPT, dtype="int64")
    for i, (row_ids, row_types, row_first, row_last, row_shapes) in enumerate(rows):
        ids[i, : len(row_ids)] = row_ids
        shapes[i, : len(row_shapes)] = row_shapes
        mask[i, : len(row_ids)] = 1
        type_pos[i, : len(row_types)] = row_types
        for t, (pos, n) in enumerate(zip(row_types, name_lengths[i] if name_lengths is not None else ())):
            type_pool[i, t, pos + 1 : pos + 1 + n] = 1.0 / max(1, n)
        first[i, : len(row_first)] = row_first
        last[i, : len(row_last)] = row_last
    return tuple(torch.from_numpy(a) for a in (ids, mask, type_pos, type_pool, first, last, shapes))
