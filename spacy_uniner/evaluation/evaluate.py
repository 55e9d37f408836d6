"""Run a pipeline over benchmark datasets and score it with both metrics."""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any, Iterable, Sequence

import spacy
from spacy.language import Language
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.vocab import Vocab
from tqdm import tqdm

from ..data.catalogue import Dataset
from ..data.docs import copy_tokens
from ..data.metric import PRF, gold_answers, predicted_answers
from ..errors import Warnings

logger = logging.getLogger("spacy_uniner")

UNINER_FACTORY = "universal_ner"


@dataclass
class DatasetResult:
    """Scores of one dataset, with the docs they were computed from."""

    name: str
    domain: str
    split: str
    n_docs: int
    n_queries: int
    string: PRF
    string_per_type: dict[str, PRF]
    spans: dict[str, Any]
    examples: list[Example] = field(repr=False)
    dropped_predictions: Counter = field(default_factory=Counter)
    paper_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "split": self.split,
            "paper_name": self.paper_name,
            "passages": self.n_docs,
            "queries": self.n_queries,
            "string": self.string.to_dict(),
            "string_per_type": {k: v.to_dict() for k, v in self.string_per_type.items()},
            "spans": self.spans,
            "dropped_predictions": dict(self.dropped_predictions),
        }


def is_pipeline(model: str) -> bool:
    """Whether ``model`` names a spaCy pipeline (a folder with config.cfg, or a package)."""
    return (Path(model) / "config.cfg").exists() or spacy.util.is_package(model)


def load_pipeline(
    model: str,
    labels: Sequence[str],
    overrides: dict[str, Any] | None = None,
    vocab: Vocab | None = None,
) -> Language:
    """A spaCy pipeline, or a blank English one with ``universal_ner`` running the HF model
    ``model`` (hub name or local folder). ``overrides`` are dotted config settings; for a
    HF model they apply to the component (``model.batch_size=8``)."""
    overrides = dict(overrides or {})
    if is_pipeline(model):
        return spacy.load(model, config=overrides)
    config: dict[str, Any] = {"labels": list(labels), "model": {"name": model}}
    for key, value in overrides.items():
        *path, last = key.split(".")
        node = config
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    nlp = spacy.blank("en", vocab=vocab if vocab is not None else True)
    nlp.add_pipe(UNINER_FACTORY, config=config)
    return nlp


def _labelled_components(nlp: Language) -> list[str]:
    """Components that take per-call labels (``universal_ner`` and the student)."""
    return [name for name, pipe in nlp.pipeline if hasattr(pipe, "set_labels")]


def predict(
    nlp: Language,
    docs: Sequence[Doc],
    labels: Sequence[str],
    *,
    batch_size: int = 32,
    desc: str | None = None,
    label_map: dict[str, str] | None = None,
) -> tuple[list[Doc], Counter]:
    """Run ``nlp`` on copies of the gold docs' tokens, asking for ``labels``.

    Predicted entities outside ``labels`` (after ``label_map``) match no query: they are
    removed and counted per label.
    """
    copies = (copy_tokens(doc, nlp.vocab) for doc in docs)
    component_cfg = {name: {"labels": list(labels)} for name in _labelled_components(nlp)}
    if not component_cfg:
        logger.info("No component takes labels: scoring the pipeline's own entity labels")
    wanted = set(labels)
    dropped: Counter = Counter()
    preds = []
    stream = nlp.pipe(copies, batch_size=batch_size, component_cfg=component_cfg)
    for doc in tqdm(stream, total=len(docs), desc=desc, unit="doc", leave=False):
        ents = []
        for ent in doc.ents:
            label = label_map.get(ent.label_, ent.label_) if label_map else ent.label_
            if label in wanted:
                ents.append(ent if label == ent.label_ else Span(doc, ent.start, ent.end, label))
            else:
                dropped[ent.label_] += 1
        doc.ents = ents
        preds.append(doc)
    return preds, dropped


def score_dataset(dataset: Dataset, preds: Sequence[Doc]) -> DatasetResult:
    """Both metrics over the first ``len(preds)`` passages of ``dataset``."""
    golds = dataset.docs[: len(preds)]
    examples = [Example(pred, gold) for pred, gold in zip(preds, golds)]
    overall = PRF()
    per_type: dict[str, PRF] = {}
    queries = [q for q in dataset.queries if q.doc_index < len(preds)]
    for query in queries:
        gold = gold_answers(golds[query.doc_index], query.label, query.gold)
        pred = predicted_answers(preds[query.doc_index], query.label)
        overall.add(pred, gold)
        per_type.setdefault(query.label, PRF()).add(pred, gold)
    spans = get_ner_prf(examples)
    return DatasetResult(
        name=dataset.name,
        domain=dataset.domain,
        split=dataset.split,
        n_docs=len(golds),
        n_queries=len(queries),
        string=overall,
        string_per_type=dict(sorted(per_type.items())),
        spans=spans,
        examples=examples,
        paper_name=dataset.spec.paper_name,
    )


def evaluate_dataset(
    nlp: Language,
    dataset: Dataset,
    *,
    limit: int | None = None,
    batch_size: int = 32,
    label_map: dict[str, str] | None = None,
) -> DatasetResult:
    """Predict and score the first ``limit`` passages (all when ``None``) of ``dataset``."""
    docs = dataset.docs[:limit] if limit is not None else dataset.docs
    preds, dropped = predict(nlp, docs, dataset.labels, batch_size=batch_size, desc=dataset.name, label_map=label_map)
    if dropped:
        warnings.warn(Warnings.W802.format(dataset=dataset.name, counts=dict(dropped)), stacklevel=2)
    result = score_dataset(dataset, preds)
    result.dropped_predictions = dropped
    return result


def summarize(results: Iterable[DatasetResult]) -> dict[str, Any]:
    """Per-dataset scores, their averages per domain and overall (means of dataset F1s,
    as the paper averages)."""
    results = list(results)
    by_domain: dict[str, list[DatasetResult]] = {}
    for result in results:
        by_domain.setdefault(result.domain, []).append(result)

    def average(group: list[DatasetResult]) -> dict[str, Any]:
        return {
            "datasets": [r.name for r in group],
            "string_f": mean(r.string.f1 for r in group),
            "spans_f": mean(r.spans["ents_f"] for r in group),
        }

    return {
        "datasets": {r.name: r.to_dict() for r in results},
        "domains": {d: average(group) for d, group in by_domain.items()},
        "overall": average(results) if results else {},
    }
