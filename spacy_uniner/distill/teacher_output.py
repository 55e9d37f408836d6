"""Read the teacher's ``[("entity", "type"), ...]`` answers and filter them as the paper does.

The parser tolerates what chat models actually return around the list: code fences,
leading or trailing prose, single, double or typographic quotes, JSON lists of pairs and
unescaped quotes inside a mention. It never guesses at a truncated or ambiguous list:
such an answer raises :class:`TeacherOutputError` and the caller counts it.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from typing import Iterable

Pair = tuple[str, str]

# Types the paper filters out ("else" categories), compared case-insensitively.
ELSE_TYPES = frozenset({"none", "na", "n/a", "misc", "else"})

_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|$)", re.DOTALL)
_QUOTE_OPEN = "\"'\u201c\u2018"
_QUOTE_CLOSE = "\"'\u201d\u2019"
_TUPLE = re.compile(
    rf"[(\[]\s*[{_QUOTE_OPEN}](.*?)[{_QUOTE_CLOSE}]\s*,\s*[{_QUOTE_OPEN}](.*?)[{_QUOTE_CLOSE}]\s*[)\]]",
    re.DOTALL,
)
_SEPARATORS = re.compile(r"[\s,]*")


class TeacherOutputError(ValueError):
    """The teacher's answer holds no readable list of (entity, type) pairs."""


def parse_teacher_output(text: str) -> list[Pair]:
    """Parse a teacher answer into ``(entity, type)`` pairs, in the teacher's order.

    Raises :class:`TeacherOutputError` naming the problem when the answer is unreadable.
    """
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start = body.find("[")
    if start < 0:
        raise TeacherOutputError("no '[' in the answer: not a list of tuples")
    end = _closing_bracket(body, start)
    if end is None:
        end = body.rfind("]")
        if end <= start:
            raise TeacherOutputError("the list is never closed (truncated answer?)")
    literal = body[start : end + 1]
    try:
        value = ast.literal_eval(literal)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return _parse_loose(literal)
    if not isinstance(value, (list, tuple)):
        raise TeacherOutputError(f"expected a list, got {type(value).__name__}")
    return [_as_pair(item, i) for i, item in enumerate(value)]


def _closing_bracket(text: str, start: int) -> int | None:
    """Index of the ``]`` closing the ``[`` at ``start``, skipping quoted strings."""
    depth = 0
    quote: str | None = None
    i = start
    while i < len(text):
        char = text[i]
        if quote is not None:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
            if depth == 0:
                return i if char == "]" else None
        i += 1
    return None


def _parse_loose(literal: str) -> list[Pair]:
    """Pairs from a list that is not a Python literal (typographic or unescaped quotes).

    Everything between the brackets must be covered by pairs and separators; otherwise
    the answer is rejected rather than partially read.
    """
    inner = literal[1:-1]
    pairs: list[Pair] = []
    pos = 0
    for match in _TUPLE.finditer(inner):
        if not _SEPARATORS.fullmatch(inner, pos, match.start()):
            break
        pairs.append((match.group(1), match.group(2)))
        pos = match.end()
    if not _SEPARATORS.fullmatch(inner, pos):
        raise TeacherOutputError(f"unreadable list near: {inner[pos : pos + 60]!r}")
    return pairs


def _as_pair(item: object, index: int) -> Pair:
    if isinstance(item, (list, tuple)) and len(item) == 2:
        entity, etype = item
        if isinstance(entity, (int, float)) and not isinstance(entity, bool):
            entity = str(entity)
        if isinstance(entity, str) and isinstance(etype, str):
            return entity, etype
    raise TeacherOutputError(f"item {index} is not an (entity, type) pair of strings: {item!r}")


def is_else_type(etype: str) -> bool:
    """Whether a type is one of the paper's "else" categories (None, NA, MISC, ELSE)."""
    return etype.strip().strip(".").lower() in ELSE_TYPES


def filter_pairs(pairs: Iterable[Pair], passage: str) -> tuple[list[Pair], Counter[str]]:
    """Keep the pairs the paper keeps; count the rest by reason.

    Dropped: empty mentions or types, "else" types, mentions that are not a substring of
    the passage, and repeats of an already kept pair. Surrounding white space is stripped.
    """
    kept: list[Pair] = []
    seen: set[Pair] = set()
    dropped: Counter[str] = Counter()
    for entity, etype in pairs:
        entity, etype = entity.strip(), etype.strip()
        if not entity:
            dropped["empty_mention"] += 1
        elif not etype:
            dropped["empty_type"] += 1
        elif is_else_type(etype):
            dropped["else_type"] += 1
        elif entity not in passage:
            dropped["absent_mention"] += 1
        elif (entity, etype) in seen:
            dropped["duplicate"] += 1
        else:
            seen.add((entity, etype))
            kept.append((entity, etype))
    return kept, dropped
