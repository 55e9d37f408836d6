"""Validated label sets: spaCy label -> the entity-type text put in the question."""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Union

from .errors import Errors

LabelsInput = Union[Sequence[str], Mapping[str, str]]


def normalize_labels(labels: LabelsInput) -> Dict[str, str]:
    """Return an ordered ``{label: entity_type}`` mapping, validating the input.

    A list uses each text both as question and as ``ent.label_``; a mapping gives the
    spaCy label and the type text asked. Order is kept: it breaks ties between overlaps.
    """
    if isinstance(labels, Mapping):
        pairs = list(labels.items())
    elif isinstance(labels, (list, tuple)):
        pairs = [(label, label) for label in labels]
    else:
        raise TypeError(Errors.E005.format(type_name=type(labels).__name__))
    if not pairs:
        raise ValueError(Errors.E001)
    result: Dict[str, str] = {}
    asked: Dict[str, List[str]] = {}
    for label, text in pairs:
        for value in (label, text):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(Errors.E002.format(label=value))
        if label in result:
            raise ValueError(Errors.E003.format(label=label))
        result[label] = text
        asked.setdefault(text, []).append(label)
    for text, owners in asked.items():
        if len(owners) > 1:
            raise ValueError(Errors.E004.format(text=text, labels=owners))
    return result
