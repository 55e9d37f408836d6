"""Run a pipeline over benchmark datasets and score it with both metrics, in either protocol.

``all``: every passage is asked all its dataset's types in one call (one doc through the
pipeline). ``single``: each passage is asked each type in a call of its own, as the paper's
evaluation asks one type per query; the per-type answers are merged per passage before
scoring. ``universal_ner`` asks one type per query in both, so there the two coincide.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any, Iterable, Iterator, Sequence

import spacy
from spacy.language import Language
from spacy.scorer import Scorer, get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.vocab import Vocab
from tqdm import tqdm

from ..data.catalogue import Dataset
from ..data.docs import copy_tokens
from ..data.metric import ANSWERS_ATTR, PRF, gold_answers, predicted_answers
from ..errors import Errors, Warnings
from ..pipes.base import OpenNERPipe
from .breakdown import SpanErrors

logger = logging.getLogger("spacy_uniner")

UNINER_FACTORY = "universal_ner"
PROTOCOLS = {"all": "all types together", "single": "each type alone"}
BOTH = "both"
# doc.spans key of a passage's merged per-type answers (``single``: they may overlap).
SINGLE_SPANS_KEY = "uniner_single"

if not Doc.has_extension(ANSWERS_ATTR):
    Doc.set_extension(ANSWERS_ATTR, default=None)


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
    span_errors: SpanErrors = field(default_factory=SpanErrors)
    paper_name: str | None = None
    protocol: str = "all"
    seconds: float = 0.0  # prediction wall time

    def scores(self) -> dict[str, Any]:
        """The figures that depend on the protocol."""
        return {
            "queries": self.n_queries,
            "string": self.string.to_dict(),
            "string_per_type": {k: v.to_dict() for k, v in self.string_per_type.items()},
            "spans": self.spans,
            "span_errors": self.span_errors.to_dict(),
            "dropped_predictions": dict(self.dropped_predictions),
            "seconds": round(self.seconds, 2),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "split": self.split,
            "paper_name": self.paper_name,
            "passages": self.n_docs,
            "protocol": self.protocol,
            **self.scores(),
        }


def protocols(choice: str) -> list[str]:
    """The protocols to run for ``all``, ``single`` or ``both`` (all, then single)."""
    if choice == BOTH:
        return list(PROTOCOLS)
    if choice not in PROTOCOLS:
        raise ValueError(Errors.E830.format(protocol=choice, choices=", ".join([*PROTOCOLS, BOTH])))
    return [choice]


def predicted_spans(doc: Doc) -> list[Span]:
    """A prediction's scored spans: the merged per-type answers (``single``), else ``doc.ents``."""
    return list(doc.spans[SINGLE_SPANS_KEY]) if SINGLE_SPANS_KEY in doc.spans else list(doc.ents)


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
    return [name for name, pipe in nlp.pipeline if isinstance(pipe, OpenNERPipe)]


def _run(nlp: Language, docs: Sequence[Doc], labels: Sequence[str], batch_size: int) -> Iterator[Doc]:
    """``nlp`` over copies of the docs' tokens, its labelled components asked ``labels``."""
    copies = (copy_tokens(doc, nlp.vocab) for doc in docs)
    component_cfg = {name: {"labels": list(labels)} for name in _labelled_components(nlp)}
    return nlp.pipe(copies, batch_size=batch_size, component_cfg=component_cfg)


def _split_ents(
    doc: Doc, asked: set[str], wanted: set[str], label_map: dict[str, str] | None
) -> tuple[list[Span], list[Span]]:
    """``doc.ents`` (relabelled by ``label_map``) with an ``asked`` label, and those whose
    label is not ``wanted`` at all (the dataset has no such type)."""
    kept, unwanted = [], []
    for ent in doc.ents:
        label = label_map.get(ent.label_, ent.label_) if label_map else ent.label_
        if label in asked:
            kept.append(ent if label == ent.label_ else Span(doc, ent.start, ent.end, label))
        elif label not in wanted:
            unwanted.append(ent)
    return kept, unwanted


def predict(
    nlp: Language,
    docs: Sequence[Doc],
    labels: Sequence[str],
    *,
    batch_size: int = 32,
    desc: str | None = None,
    label_map: dict[str, str] | None = None,
    protocol: str = "all",
) -> tuple[list[Doc], Counter]:
    """Run ``nlp`` on copies of the gold docs' tokens, asking for ``labels``.

    ``all``: one call per doc with all ``labels``. ``single``: one call per doc and label;
    each call's answer to its label (its ``doc.ents`` of that label, or the raw answers
    ``universal_ner`` keeps) becomes that label's entry of the prediction's
    ``doc._.uniner_answers``, and its entities go to ``doc.spans["uniner_single"]``: the
    union over labels, so mentions of two types may overlap, as two separate queries of
    the paper's evaluation may answer. Predicted entities outside ``labels`` (after
    ``label_map``) match no query: they are removed and counted per label.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(Errors.E830.format(protocol=protocol, choices=", ".join(PROTOCOLS)))
    if not _labelled_components(nlp):
        logger.info("No component takes labels: scoring the pipeline's own entity labels")
    wanted = set(labels)
    if protocol == "all":
        dropped: Counter = Counter()
        preds = []
        for doc in tqdm(_run(nlp, docs, labels, batch_size), total=len(docs), desc=desc, unit="doc", leave=False):
            kept, unwanted = _split_ents(doc, wanted, wanted, label_map)
            dropped.update(ent.label_ for ent in unwanted)
            doc.ents = kept
            preds.append(doc)
        return preds, dropped
    answers: list[dict[str, list]] = [{} for _ in docs]
    found: list[list[tuple[int, int, str]]] = [[] for _ in docs]
    unasked: set[tuple[int, int, int, str]] = set()  # each counted once, not once per call
    with tqdm(total=len(docs) * len(labels), desc=desc, unit="query", leave=False) as progress:
        for label in labels:
            for i, doc in enumerate(_run(nlp, docs, [label], batch_size)):
                kept, unwanted = _split_ents(doc, {label}, wanted, label_map)
                unasked.update((i, e.start, e.end, e.label_) for e in unwanted)
                doc.ents = kept
                answers[i][label] = predicted_answers(doc, label)
                found[i].extend((e.start, e.end, label) for e in kept)
                progress.update()
    preds = []
    for doc, doc_answers, spans in zip(docs, answers, found):
        pred = copy_tokens(doc, nlp.vocab)
        pred._.set(ANSWERS_ATTR, doc_answers)
        pred.spans[SINGLE_SPANS_KEY] = [Span(pred, start, end, label) for start, end, label in sorted(spans)]
        preds.append(pred)
    return preds, Counter(label for *_, label in unasked)


def span_scores(examples: Sequence[Example]) -> dict[str, Any]:
    """Strict span-level micro P/R/F (``ents_p/r/f``, ``ents_per_type``): of ``doc.ents``
    (spaCy's NER scores), or of the merged per-type answers (``single``, which may
    overlap) against the gold ``doc.ents``."""
    if not any(SINGLE_SPANS_KEY in eg.predicted.spans for eg in examples):
        return get_ner_prf(examples)

    def getter(doc: Doc, attr: str) -> list[Span]:
        return predicted_spans(doc)

    return Scorer.score_spans(examples, "ents", getter=getter, allow_overlap=True)


def score_dataset(dataset: Dataset, preds: Sequence[Doc], protocol: str = "all") -> DatasetResult:
    """Both metrics and the span errors by kind over the first ``len(preds)`` passages of
    ``dataset``: per (passage, type) query the string metric compares that type's predicted
    answer with its gold."""
    golds = dataset.docs[: len(preds)]
    examples = [Example(pred, gold) for pred, gold in zip(preds, golds)]
    overall = PRF()
    per_type: dict[str, PRF] = {}
    span_errors = SpanErrors()
    for eg in examples:
        span_errors.add(predicted_spans(eg.predicted), eg.reference.ents)
    queries = [q for q in dataset.queries if q.doc_index < len(preds)]
    for query in queries:
        gold = gold_answers(golds[query.doc_index], query.label, query.gold)
        pred = predicted_answers(preds[query.doc_index], query.label)
        overall.add(pred, gold)
        per_type.setdefault(query.label, PRF()).add(pred, gold)
    return DatasetResult(
        name=dataset.name,
        domain=dataset.domain,
        split=dataset.split,
        n_docs=len(golds),
        n_queries=len(queries),
        string=overall,
        string_per_type=dict(sorted(per_type.items())),
        spans=span_scores(examples),
        examples=examples,
        span_errors=span_errors,
        paper_name=dataset.spec.paper_name,
        protocol=protocol,
    )


def evaluate_dataset(
    nlp: Language,
    dataset: Dataset,
    *,
    limit: int | None = None,
    batch_size: int = 32,
    label_map: dict[str, str] | None = None,
    protocol: str = "all",
) -> DatasetResult:
    """Predict and score the first ``limit`` passages (all when ``None``) of ``dataset``,
    asking them its types as ``protocol`` says (``all`` or ``single``)."""
    docs = dataset.docs[:limit] if limit is not None else dataset.docs
    desc = f"{dataset.name} ({PROTOCOLS.get(protocol, protocol)})"
    start = time.perf_counter()
    preds, dropped = predict(
        nlp, docs, dataset.labels, batch_size=batch_size, desc=desc, label_map=label_map, protocol=protocol
    )
    seconds = time.perf_counter() - start
    if dropped:
        warnings.warn(Warnings.W802.format(dataset=dataset.name, counts=dict(dropped)), stacklevel=2)
    result = score_dataset(dataset, preds, protocol)
    result.dropped_predictions = dropped
    result.seconds = seconds
    return result


def summarize(results: Iterable[DatasetResult]) -> dict[str, Any]:
    """Per-dataset scores, their averages per domain and overall (means of dataset F1s,
    as the paper averages). ``protocols`` lists the protocols of ``results``; each entry
    holds its figures per protocol under ``protocols`` and, at its top level, those of the
    first protocol."""
    results = list(results)
    names = list(dict.fromkeys(r.protocol for r in results))

    def average(group: list[DatasetResult]) -> dict[str, Any]:
        scores = {}
        for protocol in names:
            asked = [r for r in group if r.protocol == protocol]
            if asked:
                scores[protocol] = {
                    "string_f": mean(r.string.f1 for r in asked),
                    "spans_f": mean(r.spans["ents_f"] for r in asked),
                }
        return {
            "datasets": list(dict.fromkeys(r.name for r in group)),
            **next(iter(scores.values())),
            "protocols": scores,
        }

    datasets: dict[str, dict[str, Any]] = {}
    by_domain: dict[str, list[DatasetResult]] = {}
    for result in results:
        entry = datasets.setdefault(result.name, {**result.to_dict(), "protocols": {}})
        entry["protocols"][result.protocol] = result.scores()
        by_domain.setdefault(result.domain, []).append(result)
    return {
        "protocols": names,
        "datasets": datasets,
        "domains": {d: average(group) for d, group in by_domain.items()},
        "overall": average(results) if results else {},
    }
