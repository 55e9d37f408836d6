"""The base of the open-NER components: labels in words in, candidate spans out, ``doc.ents``.

A subclass implements :meth:`OpenNERPipe.predict` (docs x label maps -> scored candidate
spans per doc); the base owns everything else: the labels (config, :meth:`set_labels`, per call,
``doc._.uniner_labels`` per doc), all candidates in ``doc.spans[spans_key]``, the ents filter
and overwrite policy, the scorer, serialization and spaCy's error handler.
"""

from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import srsly
from spacy import util
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example

from ..colors import register_label_colors
from ..data.docs import LABELS_ATTR
from ..errors import Errors
from ..labels import LabelsInput, normalize_labels
from ..spans import label_order_filter, select_non_overlapping

EntsFilter = Callable[[Iterable[Span], Iterable[Span]], Iterable[Span]]
ScoredSpan = Tuple[Span, float]  # a candidate and its score (1.0 where a model gives none)


class OpenNERPipe(Pipe):
    """Open named-entity recognition for labels given in plain words.

    vocab (Vocab): the pipeline's vocab.
    name (str): the component name.
    labels: type texts (``["person"]``: text is question and ``ent.label_``) or a mapping
        spaCy label -> type text; the order breaks ties between overlapping spans.
    spans_key (str): ``doc.spans`` key for every candidate, overlapping ones included.
    overwrite_ents (bool): whether new entities win over overlapping existing ``doc.ents``
        (existing ones that overlap nothing are kept either way).
    ents_filter: ``(entities, spans) -> spans``, as spaCy's span filters. It gets the
        candidates ranked by score, then length, then label order; the default,
        ``spacy_uniner.label_order_filter.v1``, keeps existing entities, then that ranking.
    scorer: called by ``nlp.evaluate``.
    """

    def __init__(
        self,
        vocab,
        *,
        name: str,
        labels: Optional[LabelsInput] = None,
        spans_key: str = "uniner",
        overwrite_ents: bool = False,
        ents_filter: Optional[EntsFilter] = None,
        scorer: Optional[Callable] = None,
    ) -> None:
        self.vocab = vocab
        self.name = name
        self.spans_key = spans_key
        self.overwrite_ents = overwrite_ents
        self.ents_filter = ents_filter or label_order_filter
        self.scorer = scorer
        self._labels: Dict[str, str] = {}
        if labels is not None:
            self.set_labels(labels)

    # -- labels ---------------------------------------------------------------------------
    @property
    def labels(self) -> Dict[str, str]:  # type: ignore[override]
        """The default labels: spaCy label -> entity-type text asked."""
        return dict(self._labels)

    def set_labels(self, labels: LabelsInput) -> None:
        """Replace the default labels (a list of type texts, or a label -> text mapping)."""
        self._labels = normalize_labels(labels)
        register_label_colors(self._labels)

    def clear_labels(self) -> None:
        """Forget the default labels: every call or doc must then give its own."""
        self._labels = {}

    def initialize(
        self,
        get_examples: Optional[Callable[[], Iterable[Example]]] = None,
        *,
        nlp: Optional[Language] = None,
        labels: Optional[LabelsInput] = None,
    ) -> None:
        """Set labels from ``labels`` or, failing that, from the examples' gold entities."""
        if labels is not None:
            self.set_labels(labels)
        elif get_examples is not None and not self._labels:
            found = sorted({ent.label_ for eg in get_examples() for ent in eg.reference.ents})
            if found:
                self.set_labels(found)

    def label_map(self, doc: Doc, labels: Optional[LabelsInput] = None) -> Dict[str, str]:
        """The labels asked of ``doc``: its own ``doc._.uniner_labels``, else those given for
        the call, else the defaults."""
        chosen = doc._.get(LABELS_ATTR)
        chosen = chosen if chosen is not None else labels
        if chosen is None:
            if not self._labels:
                raise ValueError(Errors.E001)
            return self._labels
        resolved = normalize_labels(chosen)
        register_label_colors(resolved)
        return resolved

    # -- processing -----------------------------------------------------------------------
    def predict(self, docs: Sequence[Doc], label_maps: Sequence[Dict[str, str]]) -> List[Any]:
        """One prediction per doc, without changing the docs: its scored candidate spans
        (labelled with the spaCy labels of its label map), or what a subclass's
        :meth:`set_annotations` takes."""
        raise NotImplementedError

    def __call__(self, doc: Doc, labels: Optional[LabelsInput] = None) -> Doc:
        return self.process([doc], labels)[0]

    def pipe(
        self, stream: Iterable[Doc], *, batch_size: int = 32, labels: Optional[LabelsInput] = None
    ) -> Iterator[Doc]:
        """Process docs in batches; a failing batch goes to spaCy's error handler."""
        error_handler = self.get_error_handler()
        for docs in util.minibatch(stream, size=batch_size):
            try:
                yield from self.process(docs, labels)
            except Exception as e:
                error_handler(self.name, self, docs, e)

    def process(self, docs: Sequence[Doc], labels: Optional[LabelsInput] = None) -> List[Doc]:
        """Predict and annotate ``docs`` (in place); returns them."""
        label_maps = [self.label_map(doc, labels) for doc in docs]
        for doc, prediction, label_map in zip(docs, self.predict(docs, label_maps), label_maps):
            self.set_annotations(doc, prediction, list(label_map))
        return list(docs)

    def set_annotations(self, doc: Doc, candidates: List[ScoredSpan], label_order: List[str]) -> None:
        """All distinct candidates to ``doc.spans[spans_key]`` (their scores in
        ``.attrs["scores"]``); the ents filter's choice to ``doc.ents``."""
        rank = {label: i for i, label in enumerate(label_order)}
        best: Dict[tuple, ScoredSpan] = {}
        for span, score in candidates:
            key = (span.start, span.end, span.label_)
            if key not in best or score > best[key][1]:
                best[key] = (span, score)
        ranked = sorted(best.values(), key=lambda c: (-c[1], -len(c[0]), rank[c[0].label_], c[0].start))
        ordered = [span for span, _ in ranked]
        in_text = sorted(ranked, key=lambda c: (c[0].start, c[0].end, rank[c[0].label_]))
        group = SpanGroup(doc, name=self.spans_key, spans=[span for span, _ in in_text])
        group.attrs["scores"] = [score for _, score in in_text]
        doc.spans[self.spans_key] = group
        if self.overwrite_ents:
            chosen = select_non_overlapping(list(self.ents_filter([], ordered)) + list(doc.ents))
        else:
            chosen = list(self.ents_filter(doc.ents, ordered))
        doc.ents = sorted(chosen, key=lambda s: s.start)

    # -- serialization --------------------------------------------------------------------
    def settings(self) -> Dict[str, Any]:
        """What is saved with the pipeline as ``cfg`` (weights are a subclass's own entry)."""
        return {"labels": self._labels}

    def restore(self, settings: Dict[str, Any]) -> None:
        if settings.get("labels"):
            self.set_labels(settings["labels"])

    def disk_serializers(self) -> Dict[str, Tuple[Callable[[Path], None], Callable[[Path], None]]]:
        """name -> (write to path, read from path), as in spaCy's ``util.to_disk``."""
        return {"cfg": (lambda p: srsly.write_json(p, self.settings()), lambda p: self.restore(srsly.read_json(p)))}

    def bytes_serializers(self) -> Dict[str, Tuple[Callable[[], bytes], Callable[[bytes], None]]]:
        """name -> (to bytes, from bytes), as in spaCy's ``util.to_bytes``."""
        return {"cfg": (lambda: srsly.json_dumps(self.settings()), lambda b: self.restore(srsly.json_loads(b)))}

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        return util.to_bytes({k: write for k, (write, _) in self.bytes_serializers().items()}, exclude)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "OpenNERPipe":
        util.from_bytes(bytes_data, {k: read for k, (_, read) in self.bytes_serializers().items()}, exclude)
        return self

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        util.to_disk(path, {k: write for k, (write, _) in self.disk_serializers().items()}, exclude)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "OpenNERPipe":
        util.from_disk(path, {k: read for k, (_, read) in self.disk_serializers().items()}, exclude)
        return self
