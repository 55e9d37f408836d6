"""Passages from a raw-text corpus: chunk to at most N tokens, de-duplicate, sample.

The paper chunks Pile articles into passages of at most 256 tokens and samples 50k of
them. Documents come from JSONL files (one ``{"text": ...}`` object per line, ``.gz``
allowed) or plain text files (one document per file). Token counts come from a Hugging
Face fast tokenizer when one is named, else from white-space splitting.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import Errors

TokenSpans = Callable[[str], list[tuple[int, int]]]

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")


@dataclass
class PassageStats:
    """What happened to the corpus on its way to passages."""

    documents: int = 0
    empty_documents: int = 0
    passages: int = 0
    short_passages: int = 0
    duplicates: int = 0
    unique: int = 0
    sampled: int = 0
    files: list[str] = field(default_factory=list)


def whitespace_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of white-space separated tokens."""
    return [m.span() for m in _WORD.finditer(text)]


def hf_token_spans(name_or_path: str) -> TokenSpans:
    """Character spans of the tokens of a Hugging Face fast tokenizer."""
    from ..backends.loading import load_tokenizer

    tokenizer = load_tokenizer(name_or_path)
    if not tokenizer.is_fast:
        raise ValueError(Errors.E510.format(name=name_or_path))
    tokenizer.model_max_length = int(1e30)  # whole documents are encoded, then chunked

    def spans(text: str) -> list[tuple[int, int]]:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [(s, e) for s, e in enc["offset_mapping"] if e > s]

    return spans


def read_documents(paths: Iterable[Path], stats: PassageStats | None = None) -> Iterator[str]:
    """Texts of the documents in JSONL (``text`` field) or plain text files, in order.

    A directory stands for its ``*.jsonl``, ``*.jsonl.gz`` and ``*.txt`` files, sorted.
    """
    for path in _expand(paths):
        if stats is not None:
            stats.files.append(path.name)
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt", encoding="utf8") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise ValueError(Errors.E511.format(path=path, line=lineno, error=err)) from None
                    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                        raise ValueError(Errors.E512.format(path=path, line=lineno))
                    yield row["text"]
        else:
            yield path.read_text(encoding="utf8")


def _expand(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz", ".txt")))
            if not found:
                raise ValueError(Errors.E513.format(path=path))
            yield from found
        elif path.exists():
            yield path
        else:
            raise FileNotFoundError(Errors.E514.format(path=path))


def chunk_bounds(text: str, spans: list[tuple[int, int]], max_tokens: int) -> list[tuple[int, int]]:
    """Token ranges ``[i, j)`` cutting a document into passages of at most ``max_tokens``.

    A cut falls after the last sentence end (or line break) in the second half of the
    window when there is one, else after exactly ``max_tokens`` tokens.
    """
    if max_tokens < 1:
        raise ValueError(Errors.E008.format(name="max_tokens", what="a positive integer", value=max_tokens))
    bounds = []
    i = 0
    while i < len(spans):
        j = min(i + max_tokens, len(spans))
        if j < len(spans):
            for k in range(j - 1, i + max_tokens // 2 - 1, -1):
                token = text[spans[k][0] : spans[k][1]]
                gap = text[spans[k][1] : spans[k + 1][0]]
                if _SENTENCE_END.search(token) or "\n" in gap:
                    j = k + 1
                    break
        bounds.append((i, j))
        i = j
    return bounds


def chunk_text(text: str, spans: list[tuple[int, int]], max_tokens: int) -> list[str]:
    """Passages of at most ``max_tokens`` tokens (see :func:`chunk_bounds`), keeping the
    document's own characters, stripped of surrounding white space."""
    return [text[spans[i][0] : spans[j - 1][1]].strip() for i, j in chunk_bounds(text, spans, max_tokens)]


def passage_key(passage: str) -> bytes:
    """De-duplication key: the passage with white space folded."""
    return hashlib.blake2b(" ".join(passage.split()).encode("utf8"), digest_size=12).digest()


def sample_passages(
    documents: Iterable[str],
    n: int,
    *,
    max_tokens: int = 256,
    min_tokens: int = 1,
    token_spans: TokenSpans = whitespace_spans,
    seed: int = 0,
    stats: PassageStats | None = None,
) -> list[dict[str, str]]:
    """A seeded uniform sample of ``n`` distinct passages (all of them if fewer).

    Reservoir sampling over the de-duplicated stream, so memory holds the sample and one
    key per distinct passage. Rows are ``{"id": "<doc>-<chunk>", "text": ...}`` in corpus order.
    """
    if n < 1:
        raise ValueError(Errors.E008.format(name="n", what="a positive integer", value=n))
    stats = stats if stats is not None else PassageStats()
    rng = random.Random(seed)
    seen: set[bytes] = set()
    reservoir: list[tuple[int, dict[str, str]]] = []
    for doc_index, text in enumerate(documents):
        stats.documents += 1
        spans = token_spans(text)
        if not spans:
            stats.empty_documents += 1
            continue
        for chunk_index, (i, j) in enumerate(chunk_bounds(text, spans, max_tokens)):
            stats.passages += 1
            passage = text[spans[i][0] : spans[j - 1][1]].strip()
            if not passage or j - i < min_tokens:
                stats.short_passages += 1
                continue
            key = passage_key(passage)
            if key in seen:
                stats.duplicates += 1
                continue
            seen.add(key)
            row = {"id": f"{doc_index}-{chunk_index}", "text": passage}
            position = stats.unique
            stats.unique += 1
            if len(reservoir) < n:
                reservoir.append((position, row))
            else:
                slot = rng.randrange(position + 1)
                if slot < n:
                    reservoir[slot] = (position, row)
    stats.sampled = len(reservoir)
    return [row for _, row in sorted(reservoir, key=lambda item: item[0])]
