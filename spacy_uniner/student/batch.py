"""Queries -> encoder inputs for the span/type matcher (data processing, no weights).

The type names are encoded together with the text::

    [CLS] <<ENT>> person <<ENT>> city <<SEP>> word word word ... [SEP]

Docs longer than the encoder's input are split into overlapping windows of whole tokens;
each span is scored in the window where it lies farthest from an edge. Uncased encoders
cannot see capitalisation, so every text sub-word carries its word's shape class.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, List, Sequence, Tuple

import numpy
import torch
from spacy.tokens import Doc

from ..errors import Errors, Warnings
from ..spans import token_windows

ENT_MARKER = "<<ENT>>"
SEP_MARKER = "<<SEP>>"
Query = Tuple[Doc, Sequence[str]]
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


def make_batch(
    tokenizer: Any, queries: List[Query], suggester: Suggester, max_width: int, max_length: int, overlap: int
) -> Batch:
    """Encoder inputs for ``queries``: the type prompt then a window of text per row, and
    the (row, start, width, type) index of every scored pair. Docs longer than
    ``max_length`` sub-words are split into windows sharing ``overlap`` tokens."""
    ent_id, sep_id = tokenizer.convert_tokens_to_ids([ENT_MARKER, SEP_MARKER])
    all_types = sorted({t for _, types in queries for t in types})
    for type_name in all_types:
        if not isinstance(type_name, str) or not type_name.strip():
            raise ValueError(Errors.E405.format(value=type_name))
    type_pieces = dict(zip(all_types, tokenizer(all_types, add_special_tokens=False)["input_ids"])) if all_types else {}
    rows: List[
        Tuple[List[int], List[int], List[int], List[int], List[int]]
    ] = []  # ids, type_pos, word_start, word_end, shapes
    name_lengths: List[List[int]] = []
    index_parts: List[numpy.ndarray] = []
    spans_out, sizes = [], []
    skipped = 0
    for doc, types in queries:
        prompt = [tokenizer.cls_token_id]
        type_pos = []
        for type_name in types:
            type_pos.append(len(prompt))
            prompt += [ent_id] + type_pieces[type_name]
        prompt.append(sep_id)
        budget = max_length - len(prompt) - 1
        if budget < 2 * max_width:
            raise ValueError(
                Errors.E403.format(
                    n_types=len(types), prompt=len(prompt) + 1, max_length=max_length, left=budget, needed=2 * max_width
                )
            )
        words = [t.text for t in doc]
        pieces = tokenizer(words, add_special_tokens=False)["input_ids"] if words else []
        pieces = [(p or [tokenizer.unk_token_id])[:budget] for p in pieces]
        shapes = [word_shape(w) for w in words]
        lengths = [len(p) for p in pieces]
        windows = token_windows(lengths, 0, len(lengths), budget, overlap) or [(0, 0)]
        starts, ends = suggester(doc)
        owner, n_skipped = assign_windows(starts, ends, windows)
        skipped += n_skipped
        keep = owner >= 0
        starts, ends, owner = starts[keep], ends[keep], owner[keep]
        spans_out.append((starts, ends))
        sizes.append((len(starts), len(types)))
        first_row = len(rows)
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
            name_lengths.append([len(type_pieces[t]) for t in types])
        if len(starts) and len(types):
            local = starts - numpy.asarray([windows[o][0] for o in owner], dtype="int64")
            n, t = len(starts), len(types)
            index_parts.append(
                numpy.stack(
                    [
                        numpy.repeat(owner + first_row, t),
                        numpy.repeat(local, t),
                        numpy.repeat(ends - starts - 1, t),
                        numpy.tile(numpy.arange(t), n),
                    ]
                )
            )
    if skipped:
        warnings.warn(Warnings.W202.format(count=skipped), stacklevel=2)
    index = numpy.concatenate(index_parts, axis=1) if index_parts else numpy.zeros((4, 0), dtype="int64")
    return Batch(pad(rows, name_lengths, tokenizer.pad_token_id), torch.from_numpy(index), spans_out, sizes)


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


def assign_windows(
    starts: numpy.ndarray, ends: numpy.ndarray, windows: List[Tuple[int, int]]
) -> Tuple[numpy.ndarray, int]:
    """Index of the window holding each span farthest from its edges (-1: none holds it)."""
    if len(windows) == 1:
        w_start, w_end = windows[0]
        inside = (starts >= w_start) & (ends <= w_end)
        owner = numpy.where(inside, 0, -1)
        return owner, int((~inside).sum())
    bounds = numpy.asarray(windows, dtype="int64")
    margin = numpy.minimum(starts[None, :] - bounds[:, :1], bounds[:, 1:] - ends[None, :])
    owner = margin.argmax(axis=0)
    inside = margin.max(axis=0) >= 0
    owner = numpy.where(inside, owner, -1)
    return owner, int((~inside).sum())


def pad(
    rows: List[Tuple[List[int], List[int], List[int], List[int], List[int]]], name_lengths: List[List[int]], pad_id: int
) -> Tuple[torch.Tensor, ...]:
    """Right-padded tensors: ids, mask, type positions, type-name pooling, word bounds, shapes."""
    n_rows = len(rows)
    length = max(len(r[0]) for r in rows)
    n_types = max(1, max(len(r[1]) for r in rows))
    n_words = max(1, max(len(r[2]) for r in rows))
    ids = numpy.full((n_rows, length), pad_id, dtype="int64")
    mask = numpy.zeros((n_rows, length), dtype="int64")
    type_pos = numpy.zeros((n_rows, n_types), dtype="int64")
    type_pool = numpy.zeros((n_rows, n_types, length), dtype="float32")
    first = numpy.zeros((n_rows, n_words), dtype="int64")
    last = numpy.zeros((n_rows, n_words), dtype="int64")
    shapes = numpy.full((n_rows, length), SHAPE_PROMPT, dtype="int64")
    for i, (row_ids, row_types, row_first, row_last, row_shapes) in enumerate(rows):
        ids[i, : len(row_ids)] = row_ids
        shapes[i, : len(row_shapes)] = row_shapes
        mask[i, : len(row_ids)] = 1
        type_pos[i, : len(row_types)] = row_types
        for t, (pos, n) in enumerate(zip(row_types, name_lengths[i])):
            type_pool[i, t, pos + 1 : pos + 1 + n] = 1.0 / max(1, n)
        first[i, : len(row_first)] = row_first
        last[i, : len(row_last)] = row_last
    return tuple(torch.from_numpy(a) for a in (ids, mask, type_pos, type_pool, first, last, shapes))
