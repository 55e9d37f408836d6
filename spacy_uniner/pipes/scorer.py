"""The components' scorer: spaCy's span-level NER scores plus the paper's string metric."""

from __future__ import annotations

from typing import Any, Iterable

from spacy.scorer import get_ner_prf
from spacy.training import Example
from spacy.util import registry

from ..data.docs import GOLD_SPANS_KEY
from ..data.metric import ANSWERS_ATTR, PRF, gold_answers, predicted_answers


def score_uniner(examples: Iterable[Example], **kwargs) -> dict[str, Any]:
    """spaCy's NER scores (``ents_*``) plus the paper's string metric (``uniner_*``).

    Every label in the gold or predicted docs is one query per doc; labels absent from both
    add nothing, so this equals scoring the dataset's full label set.
    """
    examples = list(examples)
    scores: dict[str, Any] = dict(get_ner_prf(examples))
    prf = PRF()
    for eg in examples:
        pred, gold = eg.predicted, eg.reference
        labels = {s.label_ for s in gold.spans.get(GOLD_SPANS_KEY, gold.ents)}
        labels |= {s.label_ for s in gold.ents} | {s.label_ for s in pred.ents}
        answers = pred._.get(ANSWERS_ATTR) if pred.has_extension(ANSWERS_ATTR) else None
        labels |= set(answers or ())
        for label in sorted(labels):
            prf.add(predicted_answers(pred, label), gold_answers(gold, label))
    scores.update(uniner_p=prf.precision, uniner_r=prf.recall, uniner_f=prf.f1)
    return scores


# Both components: selection on span F1; the paper's string metric is reported alongside.
DEFAULT_SCORE_WEIGHTS = {
    "ents_f": 1.0,
    "ents_p": 0.0,
    "ents_r": 0.0,
    "ents_per_type": None,
    "uniner_f": 0.0,
    "uniner_p": 0.0,
    "uniner_r": 0.0,
}


@registry.scorers("spacy_uniner.scorer.v1")
def make_uniner_scorer():
    """Scorer for ``universal_ner``: ``scorer = {"@scorers": "spacy_uniner.scorer.v1"}``."""
    return score_uniner
