"""Generated answers -> mention strings, robust to what small models emit."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import List

_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass
class ParsedAnswer:
    """Mentions read from one generation, and what went wrong reading it."""

    mentions: List[str] = field(default_factory=list)
    malformed: bool = False
    truncated: bool = False
    skipped_items: int = 0


def parse_answer(text: str) -> ParsedAnswer:
    """Read the JSON list of mention strings the model generated.

    Text before and after the list is ignored. A list cut off by the generation limit
    keeps its complete strings (``truncated``). Items that are not strings or numbers are
    skipped and counted; numbers become strings. Output with no readable list is
    ``malformed`` and yields no mention. Duplicates are removed, order kept.
    """
    start = text.find("[")
    if start < 0:
        return ParsedAnswer(malformed=True)
    decoder = json.JSONDecoder()
    truncated = False
    try:
        items, _ = decoder.raw_decode(text, start)
    except json.JSONDecodeError:
        # Cut off by the generation limit after a complete item: close the list.
        try:
            items, _ = decoder.raw_decode(text[start:].rstrip().rstrip(",") + "]")
            truncated = True
        except json.JSONDecodeError:
            return _salvage(text[start:])
    if not isinstance(items, list):
        return ParsedAnswer(malformed=True)
    answer = ParsedAnswer(truncated=truncated)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            answer.skipped_items += 1
            continue
        mention = str(item).strip()
        if not mention:
            answer.skipped_items += 1
        elif mention not in answer.mentions:
            answer.mentions.append(mention)
    return answer


def _salvage(fragment: str) -> ParsedAnswer:
    """Keep the complete quoted strings of a list cut off inside a string."""
    if "]" in fragment:
        return ParsedAnswer(malformed=True)
    answer = ParsedAnswer(truncated=True)
    for match in _STRING.finditer(fragment):
        try:
            mention = json.loads(match.group(0)).strip()
        except json.JSONDecodeError:
            answer.skipped_items += 1
            continue
        if mention and mention not in answer.mentions:
            answer.mentions.append(mention)
    return answer


def answer_is_complete(text: str) -> bool:
    """Whether ``text`` already holds a whole JSON list, so generating more cannot change
    what :func:`parse_answer` reads (decoders stop there)."""
    start = text.find("[")
    if start < 0:
        return False
    try:
        json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError:
        return False
    return True
