"""The ``universal_ner_span`` component: a trainable span/type matcher for open NER.

Labels are natural-language type names given at run time, as for ``universal_ner``::

    nlp.add_pipe("universal_ner_span", config={"labels": ["person", "city"]})
    nlp.pipe(docs, component_cfg={"universal_ner_span": {"labels": {"ORG": "company"}}})

A doc can also carry its own type names in ``doc._.uniner_types`` (list of type texts or
``{label: type text}``); these win over per-call and configured labels.
"""


import warnings
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_examples
from spacy.util import minibatch
from spacy.vocab import Vocab
from thinc.api import Config, Model, set_dropout_rate

from ..errors import Errors, Warnings
from ..labels import LabelsInput, normalize_labels
from .model import DEFAULT_ENCODER, Query, SpanScores

TYPES_ATTR = "uniner_types"
if not Doc.has_extension(TYPES_ATTR):
    Doc.set_extension(TYPES_ATTR, default=None)

DEFAULT_MODEL_CONFIG = f"""
[model]
@architectures = "spacy_uniner.SpanTypeMatcher.v1"
encoder = "{DEFAULT_ENCODER}"
max_width = 12
hidden_width = 768
dropout = 0.1
max_length = 512
window_overlap = 32
head_lr_scale = 10.0
word_shapes = true
"""




@Language.factory(
    "universal_ner_span",
    assigns=["doc.ents", "doc.spans"],
    default_config={
        "model": Config().from_str(DEFAULT_MODEL_CONFIG)["model"],
        "labels": [],
        "threshold": 0.5,
        "type_thresholds": {},
        "spans_key": "uniner",
        "overwrite_ents": True,
        "scorer": {"@scorers": "spacy.ner_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_span_student(
    nlp: Language,
    name: str,
    model: Model[List[Query], List[SpanScores]],
    labels: LabelsInput,
    threshold: float,
    type_thresholds: Dict[str, float],
    spans_key: str,
    overwrite_ents: bool,
    scorer: Optional[Callable],
) -> "SpanStudent":
    """Create a ``universal_ner_span`` component (see ``SpanStudent``)."""
    return SpanStudent(
        nlp.vocab, model, name, labels=labels, threshold=threshold, type_thresholds=type_thresholds,
        spans_key=spans_key, overwrite_ents=overwrite_ents, scorer=scorer,
    )


class SpanStudent(TrainablePipe):
    """Predict entities as (span, type name) pairs scored by a span/type matcher.

    Every candidate scoring at least ``threshold`` goes to ``doc.spans[spans_key]`` (scores
    in ``.attrs["scores"]``); a greedy pass keeps the best non-overlapping ones as
    ``doc.ents``. ``type_thresholds`` (type text -> threshold, tuned on dev) overrides
    ``threshold`` for the type names it lists.
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "universal_ner_span",
        *,
        labels: LabelsInput = (),
        threshold: float = 0.5,
        type_thresholds: Optional[Dict[str, float]] = None,
        spans_key: str = "uniner",
        overwrite_ents: bool = True,
        scorer: Optional[Callable] = None,
    ) -> None:
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict = {"labels": {}, "threshold": 0.5, "type_thresholds": {}, "spans_key": spans_key, "overwrite_ents": overwrite_ents}
        self.set_labels(labels)
        self.threshold = threshold
        self.type_thresholds = type_thresholds or {}
        self.stats: Dict[str, int] = {"unreachable_gold_spans": 0, "unasked_gold_spans": 0}

    # -- configuration ---------------------------------------------------------------
    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def label_map(self) -> Dict[str, str]:
        """The configured ``{spaCy label: type text}``."""
        return dict(self.cfg["labels"])

    def set_labels(self, labels: LabelsInput) -> None:
        """Set the default type names (list of texts or ``{label: type text}``)."""
        self.cfg["labels"] = normalize_labels(labels) if labels else {}

    @property
    def threshold(self) -> float:
        return self.cfg["threshold"]

    @threshold.setter
    def threshold(self, value: float) -> None:
        if not _is_probability(value):
            raise ValueError(Errors.E202.format(value=value))
        self.cfg["threshold"] = float(value)

    @property
    def type_thresholds(self) -> Dict[str, float]:
        """Per-type thresholds ``{type text: threshold}`` that override ``threshold``."""
        return dict(self.cfg["type_thresholds"])

    @type_thresholds.setter
    def type_thresholds(self, value: Dict[str, float]) -> None:
        if not isinstance(value, dict):
            raise ValueError(Errors.E204.format(key="(the whole setting)", value=value))
        for key, threshold in value.items():
            if not isinstance(key, str) or not key.strip() or not _is_probability(threshold):
                raise ValueError(Errors.E204.format(key=key, value=threshold))
        self.cfg["type_thresholds"] = {key: float(t) for key, t in value.items()}

    def _label_map_for(self, doc: Doc, labels: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        own = doc._.get(TYPES_ATTR)
        if own:
            return normalize_labels(own)
        if labels:
            return labels
        if self.cfg["labels"]:
            return self.cfg["labels"]
        raise ValueError(Errors.E201.format(name=self.name))

    # -- prediction ------------------------------------------------------------------
    def __call__(self, doc: Doc, *, labels: Optional[LabelsInput] = None) -> Doc:
        return next(self.pipe([doc], labels=labels))

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 32, labels: Optional[LabelsInput] = None) -> Iterator[Doc]:
        call_labels = normalize_labels(labels) if labels else None
        error_handler = self.get_error_handler()
        for docs in minibatch(stream, size=batch_size):
            try:
                maps = [self._label_map_for(doc, call_labels) for doc in docs]
                self.set_annotations(docs, self._predict(docs, maps), maps)
                yield from docs
            except Exception as e:
                error_handler(self.name, self, docs, e)

    def predict(self, docs: Iterable[Doc]) -> List[SpanScores]:
        docs = list(docs)
        return self._predict(docs, [self._label_map_for(doc) for doc in docs])

    def _predict(self, docs: List[Doc], maps: List[Dict[str, str]]) -> List[SpanScores]:
        shim = self.model.shims[0] if self.model.shims else None
        if shim is not None and not shim.ready and self.model.attrs.get("pretrained"):
            # A fresh pipe over a pretrained student works with no training step.
            self.model.initialize()
        scores = self.model.predict([(doc, list(m.values())) for doc, m in zip(docs, maps)])
        if len(scores) != len(docs):
            raise ValueError(Errors.E203.format(got=len(scores), expected=len(docs)))
        return scores

    def set_annotations(self, docs: Iterable[Doc], scores: List[SpanScores], maps: Optional[List[Dict[str, str]]] = None) -> None:
        docs = list(docs)
        if maps is None:
            maps = [self._label_map_for(doc) for doc in docs]
        for doc, doc_scores, label_map in zip(docs, scores, maps):
            candidates = self.candidates(doc_scores, label_map)
            group = SpanGroup(doc, name=self.cfg["spans_key"], spans=[Span(doc, s, e, label=l) for s, e, l, _ in candidates])
            group.attrs["scores"] = [p for *_, p in candidates]
            doc.spans[self.cfg["spans_key"]] = group
            self._set_ents(doc, candidates)

    def candidates(self, scores: SpanScores, label_map: Dict[str, str]) -> List[Tuple[int, int, str, float]]:
        """(start, end, label, probability) of every (span, type) at or above its type's
        threshold, in document order."""
        labels = list(label_map)
        per_type = self.cfg["type_thresholds"]
        thresholds = numpy.asarray([per_type.get(text, self.threshold) for text in label_map.values()], dtype="float32")
        probs = _sigmoid(self.model.ops.to_numpy(scores.logits))
        rows, cols = numpy.nonzero(probs >= thresholds)
        found = [(int(scores.starts[r]), int(scores.ends[r]), labels[c], float(probs[r, c])) for r, c in zip(rows, cols)]
        return sorted(found, key=lambda c: (c[0], c[1], -c[3]))

    def _set_ents(self, doc: Doc, candidates: List[Tuple[int, int, str, float]]) -> None:
        taken = numpy.zeros(len(doc), dtype=bool)
        kept = [] if self.cfg["overwrite_ents"] else list(doc.ents)
        for ent in kept:
            taken[ent.start : ent.end] = True
        for start, end, label, _ in sorted(candidates, key=lambda c: -c[3]):
            if not taken[start:end].any():
                taken[start:end] = True
                kept.append(Span(doc, start, end, label=label))
        doc.ents = sorted(kept, key=lambda s: s.start)

    # -- training --------------------------------------------------------------------
    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None, labels: Optional[Union[List[str], Dict[str, str]]] = None) -> None:
        """Load the encoder and check the examples carry type names (or labels are set)."""
        validate_examples(get_examples(), "SpanStudent.initialize")
        if labels is not None:
            self.set_labels(labels)
        sample = [eg for _, eg in zip(range(10), get_examples())]
        for eg in sample:
            self._label_map_for(eg.reference)
        self.model.initialize()

    def update(self, examples: Iterable[Example], *, drop: float = 0.0, sgd=None, losses: Optional[Dict[str, float]] = None) -> Dict[str, float]:
        examples = list(examples)
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        validate_examples(examples, "SpanStudent.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        set_dropout_rate(self.model, drop)
        queries = [(eg.predicted, list(self._label_map_for(eg.reference).values())) for eg in examples]
        scores, backprop = self.model.begin_update(queries)
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: Iterable[Example], scores: List[SpanScores]) -> Tuple[float, List]:
        """Binary cross-entropy over all (span, type) pairs, summed per doc, averaged over docs."""
        examples = list(examples)
        loss, grads = 0.0, []
        for eg, doc_scores in zip(examples, scores):
            logits = self.model.ops.to_numpy(doc_scores.logits)
            target = self._targets(eg, doc_scores, list(self._label_map_for(eg.reference)))
            probs = _sigmoid(logits)
            loss += float(numpy.sum(numpy.logaddexp(0.0, logits) - target * logits))
            grads.append(self.model.ops.asarray2f((probs - target) / len(examples)))
        return loss / max(1, len(examples)), grads

    def _targets(self, eg: Example, scores: SpanScores, labels: List[str]) -> numpy.ndarray:
        target = numpy.zeros((len(scores.starts), len(labels)), dtype="float32")
        if not len(labels):
            return target
        column = {label: i for i, label in enumerate(labels)}
        row = {(int(s), int(e)): i for i, (s, e) in enumerate(zip(scores.starts, scores.ends))}
        reference = eg.reference
        gold = reference.spans[self.cfg["spans_key"]] if self.cfg["spans_key"] in reference.spans else reference.ents
        aligned = eg.alignment.y2x
        for span in gold:
            if span.label_ not in column:
                self.stats["unasked_gold_spans"] += 1
                continue
            tokens = aligned[span.start : span.end]
            key = (int(tokens[0]), int(tokens[-1]) + 1) if len(tokens) else None
            if key not in row:
                self.stats["unreachable_gold_spans"] += 1
                if self.stats["unreachable_gold_spans"] == 1:
                    warnings.warn(Warnings.W201.format(text=span.text, n=len(span), name=self.name))
                continue
            target[row[key], column[span.label_]] = 1.0
        return target

    def add_label(self, label: str) -> int:
        labels = self.label_map
        if label in labels:
            return 0
        labels[label] = label
        self.set_labels(labels)
        return 1


def _is_probability(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0.0 < value < 1.0


def _sigmoid(x: numpy.ndarray) -> numpy.ndarray:
    return numpy.exp(-numpy.logaddexp(0.0, -x))
