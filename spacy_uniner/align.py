"""Mention strings -> token-aligned spans at every occurrence in a stretch of the doc."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, List

from spacy.tokens import Doc, Span

from .errors import Errors

ALIGNMENT_MODES = ("strict", "contract", "expand")


@dataclass
class Alignment:
    spans: List[Span] = field(default_factory=list)
    not_found: List[str] = field(default_factory=list)
    unaligned: List[str] = field(default_factory=list)


def find_spans(
    doc: Doc,
    mentions: Iterable[str],
    label: str,
    start_char: int = 0,
    end_char: int | None = None,
    case_sensitive: bool = True,
    alignment_mode: str = "strict",
) -> Alignment:
    """Locate each mention at all its occurrences in ``doc.text[start_char:end_char]``.

    Occurrences are aligned to tokens with ``Doc.char_span(alignment_mode=...)``; with the
    default ``"strict"`` a match that starts or ends inside a token is not an entity.
    White space in a mention matches any run of white space in the text, so a name the model
    answers on one line is found where the text breaks it across two. Mentions that never
    occur are reported in ``not_found``; mentions that occur but never align in ``unaligned``.
    """
    if alignment_mode not in ALIGNMENT_MODES:
        raise ValueError(Errors.E006.format(mode=alignment_mode))
    end_char = len(doc.text) if end_char is None else end_char
    flags = 0 if case_sensitive else re.IGNORECASE
    result = Alignment()
    seen = set()
    for mention in mentions:
        pattern = re.compile(r"\s+".join(map(re.escape, mention.split())), flags)
        found = aligned = False
        for match in pattern.finditer(doc.text, start_char, end_char):
            found = True
            span = doc.char_span(match.start(), match.end(), label=label, alignment_mode=alignment_mode)
            if span is None or not span.text.strip():
                continue
            aligned = True
            key = (span.start, span.end)
            if key not in seen:
                seen.add(key)
                result.spans.append(span)
        if not found:
            result.not_found.append(mention)
        elif not aligned:
            result.unaligned.append(mention)
    return result
