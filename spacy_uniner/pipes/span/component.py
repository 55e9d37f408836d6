"""The ``universal_ner_span`` component: a trainable span/type matcher for open NER.

Labels are natural-language type names given at run time, as for ``universal_ner``::

    nlp.add_pipe("universal_ner_span", config={"labels": ["person", "city"]})
    nlp.pipe(docs, component_cfg={"universal_ner_span": {"labels": {"ORG": "company"}}})

A doc can also carry its own type names in ``doc._.uniner_labels`` (list of type texts or
``{label: type text}``); these win over per-call and configured labels. Training docs
carry the types they are annotated for there too.
"""

import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, set_dropout_rate

from ...data.docs import only_mentions_known
from ...errors import Errors, Warnings
from ...forking import fork_safe_torch
from ...labels import LabelsInput, normalize_labels
from ..base import EntsFilter, OpenNERPipe, ScoredSpan
from ..scorer import DEFAULT_SCORE_WEIGHTS, make_uniner_scorer  # noqa: F401  (registers the scorer)
from .batch import length_chunks
from .loss import SpanLoss, make_span_loss, sigmoid  # noqa: F401  (registers the loss)
from .model import DEFAULT_ENCODER, DEFAULT_PRETRAINED, ENGLISH_ENCODERS, SpanQuery, SpanScores, type_encoding

PADDED_WORDS = 1024  # prediction: at most this many (padded) words x type groups per encoder batch

DEFAULT_MODEL_CONFIG = f"""
[model]
@architectures = "spacy_uniner.SpanTypeMatcher.v1"
encoder = "{DEFAULT_ENCODER}"
max_width = 12
hidden_width = 768
dropout = 0.1
max_length = 512
window_overlap = 32
window_length = 128
max_types = 25
head_lr_scale = 10.0
word_shapes = true
pretrained = "{DEFAULT_PRETRAINED}"
freeze_vocab = true
encoder_dtype = "auto"
attention_dropout = 0.0
save_dtype = "float16"
type_encoding = null
"""


@Language.factory(
    "universal_ner_span",
    assigns=["doc.ents", "doc.spans"],
    default_config={
        "model": Config().from_str(DEFAULT_MODEL_CONFIG)["model"],
        "labels": None,
        "threshold": 0.5,
        "type_thresholds": {},
        "spans_key": "uniner",
        "overwrite_ents": False,
        "ents_filter": {"@misc": "spacy_uniner.label_order_filter.v1"},
        "scorer": {"@scorers": "spacy_uniner.scorer.v1"},
        "loss": {"@losses": "spacy_uniner.span_loss.v1"},
    },
    default_score_weights=DEFAULT_SCORE_WEIGHTS,
)
def make_span_student(
    nlp: Language,
    name: str,
    model: Model[List[SpanQuery], List[SpanScores]],
    labels: Optional[LabelsInput],
    threshold: float,
    type_thresholds: Dict[str, float],
    spans_key: str,
    overwrite_ents: bool,
    ents_filter: EntsFilter,
    scorer: Optional[Callable],
    loss: SpanLoss,
) -> "SpanStudent":
    """Create a ``universal_ner_span`` component (see ``SpanStudent``)."""
    encoder = model.attrs.get("encoder")
    if nlp.lang != "en" and encoder in ENGLISH_ENCODERS:
        warnings.warn(Warnings.W203.format(encoder=encoder, lang=nlp.lang), stacklevel=2)
    return SpanStudent(
        nlp.vocab,
        model,
        name,
        labels=labels,
        threshold=threshold,
        type_thresholds=type_thresholds,
        spans_key=spans_key,
        overwrite_ents=overwrite_ents,
        ents_filter=ents_filter,
        scorer=scorer,
        loss=loss,
    )


class SpanStudent(OpenNERPipe, TrainablePipe):
    """Predict entities as (span, type name) pairs scored by a span/type matcher.

    model (Model): the span/type matcher (``spacy_uniner.SpanTypeMatcher.v1``).
    threshold (float): the lowest probability of a candidate, in (0, 1).
    type_thresholds (dict): type text -> threshold (tuned on dev), overriding ``threshold``.
    The other settings are :class:`OpenNERPipe`'s: every candidate at or above its
    threshold goes to ``doc.spans[spans_key]`` (probabilities in ``.attrs["scores"]``); the
    ents filter gets them best first.
    loss (SpanLoss): the training loss (``spacy_uniner.span_loss.v1``: BCE or focal).
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "universal_ner_span",
        *,
        labels: Optional[LabelsInput] = None,
        threshold: float = 0.5,
        type_thresholds: Optional[Dict[str, float]] = None,
        spans_key: str = "uniner",
        overwrite_ents: bool = False,
        ents_filter: Optional[EntsFilter] = None,
        scorer: Optional[Callable] = None,
        loss: Optional[SpanLoss] = None,
    ) -> None:
        OpenNERPipe.__init__(
            self,
            vocab,
            name=name,
            labels=labels or None,
            spans_key=spans_key,
            overwrite_ents=overwrite_ents,
            scorer=scorer,
            ents_filter=ents_filter,
        )
        self.model = model
        self.threshold = threshold
        self.type_thresholds = type_thresholds or {}
        self.loss = loss or SpanLoss()
        self.stats: Dict[str, int] = {"unreachable_gold_spans": 0, "unasked_gold_spans": 0}

    # -- configuration ---------------------------------------------------------------
    @property
    def threshold(self) -> float:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        if not _is_probability(value):
            raise ValueError(Errors.E202.format(value=value))
        self._threshold = float(value)

    @property
    def type_thresholds(self) -> Dict[str, float]:
        """Per-type thresholds ``{type text: threshold}`` that override ``threshold``."""
        return dict(self._type_thresholds)

    @type_thresholds.setter
    def type_thresholds(self, value: Dict[str, float]) -> None:
        if not isinstance(value, dict):
            raise ValueError(Errors.E204.format(key="(the whole setting)", value=value))
        for key, threshold in value.items():
            if not isinstance(key, str) or not key.strip() or not _is_probability(threshold):
                raise ValueError(Errors.E204.format(key=key, value=threshold))
        self._type_thresholds = {key: float(t) for key, t in value.items()}

    def ensure_model(self) -> None:
        """Load a pretrained student's weights if nothing has yet: a fresh pipe predicts,
        saves and pickles with no ``nlp.initialize()`` (a bare encoder still needs it)."""
        shim = self.model.shims[0] if self.model.shims else None
        if shim is not None and not shim.ready and self.model.attrs.get("pretrained"):
            self.model.initialize()

    # -- prediction ------------------------------------------------------------------
    def predict(self, docs: Sequence[Doc], label_maps: Sequence[Dict[str, str]]) -> List[List[ScoredSpan]]:
        """Every (span, type) at or above its type's threshold, with its probability."""
        return [
            [(Span(doc, start, end, label=label), p) for start, end, label, p in self.candidates(scores, label_map)]
            for doc, scores, label_map in zip(docs, self.span_scores(docs, label_maps), label_maps)
        ]

    def span_scores(self, docs: Sequence[Doc], label_maps: Sequence[Dict[str, str]]) -> List[SpanScores]:
        """The matcher's scores of every candidate span against each doc's type texts. The
        types are read in one canonical order (:func:`canonical_order`), so the same types
        listed in any order get the same scores."""
        self.ensure_model()
        fork_safe_torch()
        asked = [list(m.values()) for m in label_maps]
        orders = [canonical_order(types) for types in asked]
        queries = [(doc, [types[i] for i in order]) for doc, types, order in zip(docs, asked, orders)]
        scores: List[Optional[SpanScores]] = [None] * len(queries)
        # Docs of similar length go through the encoder together: rows are padded to the longest.
        # Read jointly, a doc's text is encoded once per group of types, so many types make it
        # costlier; read separately (or late), once.
        joint = type_encoding(self.model) == "joint"
        per_row = self.model.attrs["max_types"]
        costs = [len(doc) * (max(1, -(-len(types) // per_row)) if joint else 1) for doc, types in queries]
        for chunk in length_chunks(costs, PADDED_WORDS):
            chunk_scores = self.model.predict([queries[i] for i in chunk])
            if len(chunk_scores) != len(chunk):
                raise ValueError(Errors.E203.format(got=len(chunk_scores), expected=len(chunk)))
            for i, doc_scores in zip(chunk, chunk_scores):
                scores[i] = doc_scores
        xp = self.model.ops.xp
        for i, order in enumerate(orders):
            if order != sorted(order):  # back to the caller's order of types
                given = xp.asarray(numpy.argsort(order))
                scores[i] = SpanScores(scores[i].starts, scores[i].ends, scores[i].logits[:, given])
        return scores

    def candidates(
        self, scores: SpanScores, label_map: Dict[str, str], floor: Optional[float] = None
    ) -> List[Tuple[int, int, str, float]]:
        """(start, end, label, probability) of every (span, type) at or above its type's
        threshold (or at or above ``floor`` for every type), in document order."""
        ops = self.model.ops
        labels = list(label_map)
        thresholds = ops.asarray1f(
            [floor if floor is not None else self._type_thresholds.get(t, self.threshold) for t in label_map.values()]
        )
        probs = sigmoid(ops.xp, scores.logits)
        rows, cols = ops.xp.nonzero(probs >= thresholds)  # only the kept pairs leave the device
        kept = ops.to_numpy(probs[rows, cols])
        rows, cols = ops.to_numpy(rows), ops.to_numpy(cols)
        found = [(int(scores.starts[r]), int(scores.ends[r]), labels[c], float(p)) for r, c, p in zip(rows, cols, kept)]
        return sorted(found, key=lambda c: (c[0], c[1], -c[3]))

    # -- serialization ---------------------------------------------------------------
    def settings(self) -> Dict[str, Any]:
        return {**super().settings(), "threshold": self.threshold, "type_thresholds": self.type_thresholds}

    def restore(self, settings: Dict[str, Any]) -> None:
        super().restore(settings)
        self.threshold = settings.get("threshold", self.threshold)
        self.type_thresholds = settings.get("type_thresholds", self.type_thresholds)

    def disk_serializers(self):
        return {**super().disk_serializers(), "model": (self._model_to_disk, self.model.from_disk)}

    def bytes_serializers(self):
        return {**super().bytes_serializers(), "model": (self._model_to_bytes, self.model.from_bytes)}

    def _model_to_disk(self, path) -> None:
        self.ensure_model()
        self.model.to_disk(path)

    def _model_to_bytes(self) -> bytes:
        self.ensure_model()
        return self.model.to_bytes()

    # -- training --------------------------------------------------------------------
    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Union[List[str], Dict[str, str]]] = None,
    ) -> None:
        """Load the encoder; set the labels from ``labels`` or, when none are set, from the
        examples' gold entities (so a trained pipeline answers its types by default); check
        the examples carry type names."""
        validate_examples(get_examples(), "SpanStudent.initialize")
        super().initialize(get_examples, nlp=nlp, labels=labels)
        sample = [eg for _, eg in zip(range(10), get_examples())]
        for eg in sample:
            self.label_map(eg.reference)
        self.model.initialize()

    def update(
        self, examples: Iterable[Example], *, drop: float = 0.0, sgd=None, losses: Optional[Dict[str, float]] = None
    ) -> Dict[str, float]:
        examples = list(examples)
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        validate_examples(examples, "SpanStudent.update")
        if not any(len(eg.predicted) for eg in examples):
            return losses
        set_dropout_rate(self.model, drop)
        queries = [(eg.predicted, list(self.label_map(eg.reference).values())) for eg in examples]
        scores, backprop = self.model.begin_update(queries)
        loss, d_scores = self.get_loss(examples, scores)
        backprop(d_scores)
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: Iterable[Example], scores: List[SpanScores]) -> Tuple[float, List]:
        """``self.loss`` (BCE or focal) over the known (span, type) pairs, summed per doc,
        averaged over docs. In a doc of which only the annotated mentions are known (entity
        typing, ``only_mentions_known``), only the spans that overlap one of them count."""
        examples = list(examples)
        ops = self.model.ops
        loss, grads = 0.0, []
        for eg, doc_scores in zip(examples, scores):
            logits = doc_scores.logits  # on the model's device; only the target moves there
            target, known = self._targets(eg, doc_scores, list(self.label_map(eg.reference)))
            weight = None if known is None else ops.asarray2f(known)
            doc_loss, d_logits = self.loss(ops.xp, logits, ops.asarray2f(target), weight)
            loss += doc_loss
            grads.append(d_logits / len(examples))
        return loss / max(1, len(examples)), grads

    def _targets(
        self, eg: Example, scores: SpanScores, labels: List[str]
    ) -> Tuple[numpy.ndarray, Optional[numpy.ndarray]]:
        """The 0/1 target of every (span, type) pair, and which pairs are known (None: all)."""
        target = numpy.zeros((len(scores.starts), len(labels)), dtype="float32")
        reference = eg.reference
        known = numpy.zeros_like(target) if only_mentions_known(reference) else None
        if not len(labels):
            return target, known
        column = {label: i for i, label in enumerate(labels)}
        row = {(int(s), int(e)): i for i, (s, e) in enumerate(zip(scores.starts, scores.ends))}
        gold = reference.spans[self.spans_key] if self.spans_key in reference.spans else reference.ents
        aligned = eg.alignment.y2x
        for span in gold:
            tokens = aligned[span.start : span.end]
            if known is not None and len(tokens):  # the spans that overlap a known mention
                known[(scores.starts < int(tokens[-1]) + 1) & (scores.ends > int(tokens[0]))] = 1.0
            if span.label_ not in column:
                self.stats["unasked_gold_spans"] += 1
                continue
            key = (int(tokens[0]), int(tokens[-1]) + 1) if len(tokens) else None
            if key not in row:
                self.stats["unreachable_gold_spans"] += 1
                if self.stats["unreachable_gold_spans"] == 1:
                    warnings.warn(Warnings.W201.format(text=span.text, n=len(span), name=self.name), stacklevel=2)
                continue
            target[row[key], column[span.label_]] = 1.0
        return target, known

    def add_label(self, label: str) -> int:
        """Ask ``label`` too, read as a list's label is (a spaCy label code as its type name)."""
        if label in self._labels:
            return 0
        self.set_labels({**self._labels, **normalize_labels([label])})
        return 1


def canonical_order(types: Sequence[str]) -> List[int]:
    """The indices of ``types`` in the order they are read: by casefolded text. Trained on
    shuffled type orders, the student scores a type a little differently by its place among
    the others; one fixed order makes the answer independent of the order a user lists them."""
    return sorted(range(len(types)), key=lambda i: (types[i].casefold(), types[i]))


def _is_probability(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0.0 < value < 1.0
