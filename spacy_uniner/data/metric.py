"""The UniversalNER string metric and span-level scores.

:func:`parse_reference_answer` and :func:`string_prf` reproduce the released evaluator
(``universal-ner`` ``src/eval/evaluate.py``) float for float: per (passage, type) query the
normalised answer strings are compared as sets, positions ignored, and precision, recall and
F1 are micro-averaged with the reference's ``1e-10`` smoothing.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from spacy.tokens import Doc

from ..errors import Errors
from .docs import GOLD_SPANS_KEY

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_FIRST_LIST = re.compile(r"\[(.*?)\]")
_PUNCTUATION = frozenset(string.punctuation)
EPS = 1e-10
ANSWERS_ATTR = "uniner_answers"


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, fold white space."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def normalize_items(items: Iterable[Any]) -> list:
    """Normalise answer items (strings, or lists/tuples of strings) keeping first occurrences."""
    out: list = []
    for item in items:
        if isinstance(item, (list, tuple)):
            item = tuple(normalize_answer(element) for element in item)
        else:
            item = normalize_answer(item)
        if item not in out:
            out.append(item)
    return out


def parse_reference_answer(text: str) -> list:
    """Read a generation as the reference does: the first ``[...]`` at the very start
    (non-greedy), JSON-decoded and normalised; anything unreadable gives ``[]``."""
    try:
        match = _FIRST_LIST.match(text)
        return normalize_items(json.loads(match.group() if match else "[]"))
    except Exception:  # the reference treats every failure as an empty answer
        return []


@dataclass
class PRF:
    """Micro counts with the reference's smoothed precision, recall and F1."""

    n_correct: int = 0
    n_pred: int = 0
    n_gold: int = 0

    def add(self, pred: Sequence, gold: Sequence) -> None:
        """Count one query from its parsed prediction and gold answers."""
        self.n_correct += sum(1 for item in pred if item in gold)
        self.n_pred += len(pred)
        self.n_gold += len(gold)

    def __iadd__(self, other: "PRF") -> "PRF":
        self.n_correct += other.n_correct
        self.n_pred += other.n_pred
        self.n_gold += other.n_gold
        return self

    @property
    def precision(self) -> float:
        return self.n_correct / (self.n_pred + EPS)

    @property
    def recall(self) -> float:
        return self.n_correct / (self.n_gold + EPS)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r + EPS)

    def to_dict(self) -> dict[str, float | int]:
        return {
            "p": self.precision,
            "r": self.recall,
            "f": self.f1,
            "n_correct": self.n_correct,
            "n_pred": self.n_pred,
            "n_gold": self.n_gold,
        }


def string_prf(preds: Sequence[str], golds: Sequence[str]) -> PRF:
    """The reference ``NEREvaluator.evaluate`` over raw prediction and gold strings."""
    if len(preds) != len(golds):
        raise ValueError(Errors.E015.format(got=len(preds), expected=len(golds)))
    prf = PRF()
    for pred, gold in zip(preds, golds):
        prf.add(parse_reference_answer(pred), parse_reference_answer(gold))
    return prf


def gold_answers(doc: Doc, label: str, raw: str | None = None) -> list:
    """A query's gold answer: the eval file's raw JSON answer when given, else the texts of
    the doc's gold mentions of ``label`` (all of them, nested ones too), normalised."""
    if raw is not None:
        return parse_reference_answer(raw)
    spans = doc.spans[GOLD_SPANS_KEY] if GOLD_SPANS_KEY in doc.spans else doc.ents
    return normalize_items(span.text for span in spans if span.label_ == label)


def predicted_answers(doc: Doc, label: str) -> list:
    """A query's predicted answer: the model's raw answers (``doc._.uniner_answers``) when
    the pipeline stored them for ``label``, else the texts of ``doc.ents`` with ``label``."""
    answers = doc._.get(ANSWERS_ATTR) if doc.has_extension(ANSWERS_ATTR) else None
    if answers is not None and label in answers:
        return normalize_items(answers[label])
    return normalize_items(ent.text for ent in doc.ents if ent.label_ == label)
