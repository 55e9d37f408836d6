"""Span errors by kind: what each wrong prediction and each missed gold mention was.

A predicted span that is not a gold (span, type) is a false positive of one kind:

- ``wrong_type``: its words are a gold mention of another type (asked alone, a broader or
  neighbouring type claims a finer type's mention);
- ``boundary``: it overlaps a gold mention of its type without matching it;
- ``other_type_overlap``: it overlaps only gold mentions of other types, matching none;
- ``spurious``: it overlaps no gold mention.

A gold mention that no prediction matches is a false negative: ``other_type`` (its words were
predicted, under another type), ``boundary`` (a prediction of its type overlaps it) or
``missed``. ``confusions`` counts the wrong-type spans per (predicted type, gold type).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Tuple

from spacy.tokens import Span

FALSE_POSITIVES = ("wrong_type", "boundary", "other_type_overlap", "spurious")
FALSE_NEGATIVES = ("other_type", "boundary", "missed")


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _overlap(a: Tuple[int, int, str], b: Tuple[int, int, str]) -> bool:
    """Whether two (start, end, label) spans share a token."""
    return a[0] < b[1] and b[0] < a[1]


@dataclass
class SpanErrors:
    """Counts of correct spans and of each kind of false positive and false negative."""

    correct: int = 0
    false_positives: Counter = field(default_factory=Counter)
    false_negatives: Counter = field(default_factory=Counter)
    confusions: Counter = field(default_factory=Counter)  # (predicted type, gold type) of wrong-type spans

    def add(self, predicted: Iterable[Span], gold: Iterable[Span]) -> None:
        """Count one passage: its predicted spans (they may overlap, as in the ``single``
        protocol; a span predicted under two types counts twice) against its gold ones."""
        pred = {(s.start, s.end, s.label_) for s in predicted}
        ref = {(s.start, s.end, s.label_) for s in gold}
        gold_label = {(start, end): label for start, end, label in ref}  # gold spans do not overlap
        pred_words = {(start, end) for start, end, _ in pred}
        self.correct += len(pred & ref)
        for span in pred - ref:
            start, end, label = span
            overlapping = {other[2] for other in ref if _overlap(span, other)}
            if (start, end) in gold_label:
                kind = "wrong_type"
                self.confusions[label, gold_label[start, end]] += 1
            elif label in overlapping:
                kind = "boundary"
            elif overlapping:
                kind = "other_type_overlap"
            else:
                kind = "spurious"
            self.false_positives[kind] += 1
        for span in ref - pred:
            if span[:2] in pred_words:
                kind = "other_type"
            elif any(other[2] == span[2] and _overlap(span, other) for other in pred):
                kind = "boundary"
            else:
                kind = "missed"
            self.false_negatives[kind] += 1

    @property
    def f1(self) -> float:
        """Strict span micro-F1 of the counted passages."""
        return _f1(self.correct, sum(self.false_positives.values()), sum(self.false_negatives.values()))

    @property
    def f1_without_wrong_type(self) -> float:
        """Span F1 if a prediction on another type's gold mention were no error: what asking
        a type that claims its neighbours' mentions costs, at most."""
        fp = sum(self.false_positives.values()) - self.false_positives["wrong_type"]
        return _f1(self.correct, fp, sum(self.false_negatives.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "correct": self.correct,
            "false_positives": {kind: self.false_positives[kind] for kind in FALSE_POSITIVES},
            "false_negatives": {kind: self.false_negatives[kind] for kind in FALSE_NEGATIVES},
            "f1": self.f1,
            "f1_without_wrong_type": self.f1_without_wrong_type,
            "confusions": [[pred, gold, n] for (pred, gold), n in self.confusions.most_common()],
        }
