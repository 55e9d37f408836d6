"""The ``universal_ner`` pipeline component: docs -> queries -> backend -> spans -> doc.ents."""

import logging
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import srsly
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import ensure_path, minibatch

from .align import ALIGNMENT_MODES, find_spans
from .answers import parse_answer
from .backends.base import Backend
from .colors import register_label_colors
from .errors import Errors, Warnings
from .evaluation.metric import make_uniner_scorer  # noqa: F401  (registers the scorer)
from .labels import LabelsInput, normalize_labels
from .queries import build_queries

logger = logging.getLogger(__name__)

DEFAULT_MODEL_CONFIG = {
    "@uniner_backends": "spacy_uniner.HuggingFace.v1",
    "name": "Universal-NER/UniNER-7B-type",
}

if not Doc.has_extension("uniner_labels"):
    Doc.set_extension("uniner_labels", default=None)
if not Doc.has_extension("uniner_answers"):
    Doc.set_extension("uniner_answers", default=None)

EntsFilter = Callable[[Iterable[Span], Iterable[Span]], Iterable[Span]]


@Language.factory(
    "universal_ner",
    assigns=["doc.ents", "doc.spans", "token.ent_iob", "token.ent_type"],
    default_config={
        "labels": None,
        "model": DEFAULT_MODEL_CONFIG,
        "spans_key": "uniner",
        "overwrite_ents": False,
        "ents_filter": None,
        "max_input_length": 512,
        "window_overlap": 64,
        "case_sensitive": True,
        "alignment_mode": "strict",
        "scorer": {"@scorers": "spacy_uniner.scorer.v1"},
    },
    default_score_weights={
        "ents_f": 1.0,
        "ents_p": 0.0,
        "ents_r": 0.0,
        "ents_per_type": None,
        "uniner_f": 0.0,
        "uniner_p": 0.0,
        "uniner_r": 0.0,
    },
)
def make_universal_ner(
    nlp: Language,
    name: str,
    labels: Optional[Union[List[str], Dict[str, str]]],
    model: Backend,
    spans_key: str,
    overwrite_ents: bool,
    ents_filter: Optional[EntsFilter],
    max_input_length: int,
    window_overlap: int,
    case_sensitive: bool,
    alignment_mode: str,
    scorer: Optional[Callable],
) -> "UniversalNER":
    """Open named-entity recognition with a UniversalNER model: one question per label."""
    return UniversalNER(
        nlp.vocab,
        model,
        name=name,
        labels=labels,
        spans_key=spans_key,
        overwrite_ents=overwrite_ents,
        ents_filter=ents_filter,
        max_input_length=max_input_length,
        window_overlap=window_overlap,
        case_sensitive=case_sensitive,
        alignment_mode=alignment_mode,
        scorer=scorer,
    )


class UniversalNER:
    """Ask a UniversalNER model, for each doc and label, which mentions have that type.

    Every candidate span (overlapping and multi-type ones too) is stored in
    ``doc.spans[spans_key]``; ``doc.ents`` gets a non-overlapping selection: longest span
    first, then the label order given by the user. The parsed answers per label are kept
    in ``doc._.uniner_answers``. Counters of what was dropped are in :attr:`stats`.
    """

    def __init__(
        self,
        vocab,
        model: Backend,
        *,
        name: str = "universal_ner",
        labels: Optional[LabelsInput] = None,
        spans_key: str = "uniner",
        overwrite_ents: bool = False,
        ents_filter: Optional[EntsFilter] = None,
        max_input_length: int = 512,
        window_overlap: int = 64,
        case_sensitive: bool = True,
        alignment_mode: str = "strict",
        scorer: Optional[Callable] = None,
    ) -> None:
        if alignment_mode not in ALIGNMENT_MODES:
            raise ValueError(Errors.E006.format(mode=alignment_mode))
        if not isinstance(max_input_length, int) or max_input_length < 1:
            raise ValueError(Errors.E008.format(name="max_input_length", value=max_input_length))
        if window_overlap < 0:
            raise ValueError(Errors.E012.format(overlap=window_overlap))
        self.vocab = vocab
        self.model = model
        self.name = name
        self.spans_key = spans_key
        self.overwrite_ents = overwrite_ents
        self.ents_filter = ents_filter
        self.max_input_length = max_input_length
        self.window_overlap = window_overlap
        self.case_sensitive = case_sensitive
        self.alignment_mode = alignment_mode
        self.scorer = scorer
        self.stats: Counter = Counter()
        self._labels: Dict[str, str] = {}
        if labels is not None:
            self.set_labels(labels)

    @property
    def labels(self) -> Dict[str, str]:
        """The default labels: spaCy label -> entity-type text asked."""
        return dict(self._labels)

    def set_labels(self, labels: LabelsInput) -> None:
        """Replace the default labels (a list of type texts, or a label -> text mapping)."""
        self._labels = normalize_labels(labels)
        register_label_colors(self._labels)

    def initialize(
        self,
        get_examples: Optional[Callable[[], Iterable[Example]]] = None,
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Union[List[str], Dict[str, str]]] = None,
    ) -> None:
        """Set labels from ``labels`` or, failing that, from the examples' gold entities."""
        if labels is not None:
            self.set_labels(labels)
        elif get_examples is not None and not self._labels:
            found = sorted({ent.label_ for eg in get_examples() for ent in eg.reference.ents})
            if found:
                self.set_labels(found)

    def __call__(self, doc: Doc, labels: Optional[LabelsInput] = None) -> Doc:
        return self._process([doc], labels)[0]

    def pipe(
        self, stream: Iterable[Doc], *, batch_size: int = 32, labels: Optional[LabelsInput] = None
    ) -> Iterator[Doc]:
        """Process docs in batches; all queries of a batch go to the backend together."""
        error_handler = self.get_error_handler()
        for docs in minibatch(stream, size=batch_size):
            try:
                yield from self._process(docs, labels)
            except Exception as e:
                error_handler(self.name, self, docs, e)

    def _labels_for(self, doc: Doc, labels: Optional[LabelsInput]) -> Dict[str, str]:
        chosen = doc._.uniner_labels if doc._.uniner_labels is not None else labels
        if chosen is None:
            if not self._labels:
                raise ValueError(Errors.E001)
            return self._labels
        resolved = normalize_labels(chosen)
        register_label_colors(resolved)
        return resolved

    def _process(self, docs: Sequence[Doc], labels: Optional[LabelsInput]) -> List[Doc]:
        labels_per_doc = [self._labels_for(doc, labels) for doc in docs]
        queries = build_queries(
            docs, labels_per_doc, self.model.count_tokens, self.max_input_length, self.window_overlap
        )
        answers = self.model.generate([(q.prefix, q.suffix) for q in queries])
        if len(answers) != len(queries):
            raise ValueError(Errors.E011.format(got=len(answers), expected=len(queries)))
        candidates: List[List[Span]] = [[] for _ in docs]
        parsed_per_doc: List[Dict[str, List[str]]] = [{l: [] for l in ls} for ls in labels_per_doc]
        malformed: List[str] = []
        self.stats["docs"] += len(docs)
        self.stats["queries"] += len(queries)
        self.stats["windows"] += len({(q.doc_index, q.window) for q in queries})
        for query, text in zip(queries, answers):
            doc = docs[query.doc_index]
            parsed = parse_answer(text)
            if parsed.malformed:
                malformed.append(text)
            self.stats["malformed_answers"] += parsed.malformed
            self.stats["truncated_answers"] += parsed.truncated
            self.stats["skipped_items"] += parsed.skipped_items
            self.stats["mentions"] += len(parsed.mentions)
            known = parsed_per_doc[query.doc_index][query.label]
            known.extend(m for m in parsed.mentions if m not in known)
            found = find_spans(
                doc,
                parsed.mentions,
                query.label,
                query.window.start_char,
                query.window.end_char,
                case_sensitive=self.case_sensitive,
                alignment_mode=self.alignment_mode,
            )
            self.stats["mentions_not_found"] += len(found.not_found)
            self.stats["mentions_unaligned"] += len(found.unaligned)
            candidates[query.doc_index].extend(found.spans)
        if malformed:
            logger.warning(
                Warnings.W001.format(count=len(malformed), example=malformed[0][:80], component=self.name)
            )
        for doc, spans, doc_labels, parsed in zip(docs, candidates, labels_per_doc, parsed_per_doc):
            self._set_annotations(doc, spans, list(doc_labels))
            doc._.uniner_answers = parsed
        return list(docs)

    def _set_annotations(self, doc: Doc, spans: List[Span], label_order: List[str]) -> None:
        rank = {label: i for i, label in enumerate(label_order)}
        unique = {(s.start, s.end, s.label_): s for s in spans}
        ordered = sorted(unique.values(), key=lambda s: (rank[s.label_], s.start, s.end))
        doc.spans[self.spans_key] = sorted(ordered, key=lambda s: (s.start, s.end, rank[s.label_]))
        self.stats["spans"] += len(ordered)
        if self.ents_filter is not None:
            doc.ents = sorted(self.ents_filter(doc.ents, ordered), key=lambda s: s.start)
            return
        new = _select_non_overlapping(sorted(ordered, key=lambda s: -len(s)))
        existing = list(doc.ents)
        first, second = (new, existing) if self.overwrite_ents else (existing, new)
        doc.ents = sorted(_select_non_overlapping(first + second), key=lambda s: s.start)

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        if self.scorer is None:
            raise NotImplementedError(f"Component {self.name!r} has no scorer.")
        return self.scorer(examples, **kwargs)

    def get_error_handler(self) -> Callable:
        return getattr(self, "_error_handler", _raise_error)

    def set_error_handler(self, error_handler: Callable) -> None:
        self._error_handler = error_handler

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        return srsly.msgpack_dumps({"labels": self._labels})

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "UniversalNER":
        self._restore(srsly.msgpack_loads(bytes_data))
        return self

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "cfg", {"labels": self._labels, "model": self.model.config})

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "UniversalNER":
        self._restore(srsly.read_json(ensure_path(path) / "cfg"))
        return self

    def _restore(self, cfg: Dict[str, Any]) -> None:
        if cfg.get("labels"):
            self.set_labels(cfg["labels"])


def _select_non_overlapping(spans: Iterable[Span]) -> List[Span]:
    """Greedy selection in the given order of spans that overlap no span chosen before."""
    taken: set = set()
    chosen = []
    for span in spans:
        tokens = range(span.start, span.end)
        if not any(t in taken for t in tokens):
            chosen.append(span)
            taken.update(tokens)
    return chosen


def _raise_error(proc_name, proc, docs, e):
    raise e
