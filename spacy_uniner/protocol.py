"""The UniversalNER conversation protocol, byte-exact with the released checkpoints.

The reference implementation (template ``ie_as_qa``) renders a conversation as the
system line, then ``" USER: " + text + " ASSISTANT: " + answer + "</s>"`` per turn.
The model is queried by ending the string right after the last ``ASSISTANT:``.
"""

from __future__ import annotations

import json
from typing import Iterable, Sequence

from .errors import Errors

SYSTEM = "A virtual assistant answers questions from a user based on the provided text."
USER = "USER"
ASSISTANT = "ASSISTANT"
USER_SEP = " "
TURN_END = "</s>"
READ_ACK = "I've read this text."


def passage_turn(passage: str, dataset: str | None = None) -> str:
    """First user turn: ``Text: {passage}``, or the supervised ``Dataset: {name} \\n Text: ...``."""
    if dataset is not None:
        return f"Dataset: {dataset} \n Text: {passage}"
    return f"Text: {passage}"


def question(entity_type: str) -> str:
    """The user turn that asks for one entity type."""
    return f"What describes {entity_type} in the text?"


def answer(mentions: Sequence[str]) -> str:
    """The assistant turn listing the mentions of one type, as JSON (``[]`` when none)."""
    return json.dumps(list(mentions), ensure_ascii=False)


def render(messages: Iterable[tuple[str, str | None]]) -> str:
    """Render ``(role, text)`` turns; a final ``(ASSISTANT, None)`` leaves the answer open."""
    out = SYSTEM + USER_SEP
    for role, text in messages:
        if text is None:
            out += f"{role}:"
        else:
            out += f"{role}: {text}" + (USER_SEP if role == USER else TURN_END)
    return out


def passage_prefix(passage: str, dataset: str | None = None) -> str:
    """System line, passage and acknowledgement: shared by every query on one passage."""
    return render([(USER, passage_turn(passage, dataset)), (ASSISTANT, READ_ACK)])


def query_suffix(entity_type: str) -> str:
    """The part of a query prompt after :func:`passage_prefix`."""
    return f"{USER}: {question(entity_type)}{USER_SEP}{ASSISTANT}:"


def inference_prompt(passage: str, entity_type: str, dataset: str | None = None) -> str:
    """The prompt for one (passage, entity type) query; the model continues after ``ASSISTANT:``."""
    return passage_prefix(passage, dataset) + query_suffix(entity_type)


def conversation(
    passage: str, turns: Sequence[tuple[str, Sequence[str]]], dataset: str | None = None
) -> list[dict[str, str]]:
    """A passage and its (type, mentions) queries in the released Pile-NER turn format."""
    convo = [
        {"from": "human", "value": passage_turn(passage, dataset)},
        {"from": "gpt", "value": READ_ACK},
    ]
    for entity_type, mentions in turns:
        convo.append({"from": "human", "value": question(entity_type)})
        convo.append({"from": "gpt", "value": answer(mentions)})
    return convo


def training_segments(conversations: Sequence[dict[str, str]]) -> list[tuple[str, bool]]:
    """Split a conversation into ``(text, is_target)`` pieces whose concatenation is the
    training string; targets are the assistant answers with their ``</s>``."""
    segments: list[tuple[str, bool]] = [(SYSTEM + USER_SEP, False)]
    for i, turn in enumerate(conversations):
        expected = "human" if i % 2 == 0 else "gpt"
        if turn.get("from") != expected:
            raise ValueError(Errors.E014.format(index=i, got=turn.get("from"), expected=expected))
        if expected == "human":
            segments.append((f"{USER}: {turn['value']}{USER_SEP}", False))
        else:
            segments.append((f"{ASSISTANT}:", False))
            segments.append((f" {turn['value']}{TURN_END}", True))
    return segments


def training_text(conversations: Sequence[dict[str, str]]) -> str:
    """The full training string of a conversation."""
    return "".join(text for text, _ in training_segments(conversations))
