"""Validated label sets: spaCy label -> the entity-type text put in the question."""

from __future__ import annotations

import warnings
from typing import Dict, List, Mapping, Sequence, Union

from .errors import Errors, Warnings

LabelsInput = Union[Sequence[str], Mapping[str, str]]

# spaCy's and CoNLL's entity label codes that are no plain words (or mean another thing), and
# the type text a list of labels asks for them: models read type names as words, so "PER"
# finds few people ("person" many; benchmarks/student_shapes.py codes).
LABEL_CODES: Dict[str, str] = {
    "PER": "person",
    "ORG": "organization",
    "LOC": "location",
    "GPE": "country, city or state",
    "NORP": "nationality, religious or political group",
    "FAC": "facility",
    "WORK_OF_ART": "work of art",
    "MISC": "nationality, event, product or work of art",
    "CARDINAL": "cardinal number",
    "ORDINAL": "ordinal number",
    "PERCENT": "percentage",
}


def normalize_labels(labels: LabelsInput) -> Dict[str, str]:
    """Return an ordered ``{label: entity_type}`` mapping, validating the input.

    A list uses each text both as question and as ``ent.label_``, except spaCy's label codes
    (:data:`LABEL_CODES`: ``"ORG"`` asks ``"organization"``, with a warning); a mapping gives
    the spaCy label and the type text asked, as written. Order is kept: it breaks ties
    between overlaps.
    """
    if isinstance(labels, Mapping):
        pairs = list(labels.items())
    elif isinstance(labels, (list, tuple)):
        pairs = [(label, LABEL_CODES.get(label, label) if isinstance(label, str) else label) for label in labels]
        read = {label: text for label, text in pairs if label != text}
        if read:
            warnings.warn(Warnings.W002.format(read=read, codes=list(read)), stacklevel=2)
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
