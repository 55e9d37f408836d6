"""The ``universal_ner`` pipeline component: docs -> queries -> backend -> spans -> doc.ents."""

import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from spacy.language import Language
from spacy.tokens import Doc

from ..align import ALIGNMENT_MODES, find_spans
from ..answers import parse_answer
from ..backends.base import Backend
from ..cache import Cache
from ..errors import Errors, Warnings
from ..labels import LabelsInput
from ..queries import build_queries
from .base import EntsFilter, OpenNERPipe, ScoredSpan
from .scorer import DEFAULT_SCORE_WEIGHTS, make_uniner_scorer  # noqa: F401  (registers the scorer)

DEFAULT_MODEL_CONFIG = {
    "@uniner_backends": "spacy_uniner.HuggingFace.v1",
    "name": "Universal-NER/UniNER-7B-type",
}

if not Doc.has_extension("uniner_answers"):
    Doc.set_extension("uniner_answers", default=None)


@Language.factory(
    "universal_ner",
    assigns=["doc.ents", "doc.spans", "token.ent_iob", "token.ent_type"],
    default_config={
        "labels": None,
        "model": DEFAULT_MODEL_CONFIG,
        "cache": None,
        "spans_key": "uniner",
        "overwrite_ents": False,
        "ents_filter": {"@misc": "spacy_uniner.label_order_filter.v1"},
        "max_input_length": 512,
        "window_overlap": 64,
        "case_sensitive": True,
        "alignment_mode": "strict",
        "scorer": {"@scorers": "spacy_uniner.scorer.v1"},
    },
    default_score_weights=DEFAULT_SCORE_WEIGHTS,
)
def make_universal_ner(
    nlp: Language,
    name: str,
    labels: Optional[Union[List[str], Dict[str, str]]],
    model: Backend,
    cache: Optional[Cache],
    spans_key: str,
    overwrite_ents: bool,
    ents_filter: EntsFilter,
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
        cache=cache,
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


@dataclass
class Answers:
    """What the model answered for one doc: candidate spans and the parsed mentions per label."""

    candidates: List[ScoredSpan]
    parsed: Dict[str, List[str]]


class UniversalNER(OpenNERPipe):
    """Ask a UniversalNER model, for each doc and label, which mentions have that type.

    model (Backend): who answers, chosen by registry name (``@uniner_backends``).
    cache (Optional[Cache]): answers kept across runs, e.g. ``spacy_uniner.DiskCache.v1``
        (``@uniner_caches``): cached prompts are not sent to the backend. Default: none.
    max_input_length (int): longest prompt in model tokens; longer docs are windowed.
    window_overlap (int): spaCy tokens shared by consecutive token windows.
    case_sensitive (bool): exact matching of the mentions in the text.
    alignment_mode (str): ``Doc.char_span`` mode for mentions that do not fit tokens.
    The other settings are :class:`OpenNERPipe`'s. The parsed answers per label are kept in
    ``doc._.uniner_answers``; counters of what was dropped are in :attr:`stats`.
    """

    def __init__(
        self,
        vocab,
        model: Backend,
        *,
        cache: Optional[Cache] = None,
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
            raise ValueError(
                Errors.E008.format(name="max_input_length", what="a positive integer", value=max_input_length)
            )
        if window_overlap < 0:
            raise ValueError(Errors.E012.format(overlap=window_overlap))
        super().__init__(
            vocab,
            name=name,
            labels=labels,
            spans_key=spans_key,
            overwrite_ents=overwrite_ents,
            scorer=scorer,
            ents_filter=ents_filter,
        )
        self.model = model
        self.cache = cache
        self.max_input_length = max_input_length
        self.window_overlap = window_overlap
        self.case_sensitive = case_sensitive
        self.alignment_mode = alignment_mode
        self.stats: Counter = Counter()

    def settings(self) -> Dict[str, Any]:
        return {**super().settings(), "model": self.model.config}

    def predict(self, docs: Sequence[Doc], label_maps: Sequence[Dict[str, str]]) -> List[Answers]:
        """Ask every (window, label) question, without changing the docs; every occurrence of
        each answered mention is a candidate (score 1.0: the model gives none)."""
        labels_per_doc = label_maps
        queries = build_queries(
            docs, labels_per_doc, self.model.count_tokens, self.max_input_length, self.window_overlap
        )
        prompts = [(q.prefix, q.suffix) for q in queries]
        answers = self.model.generate(prompts) if self.cache is None else self.cache.generate(self.model, prompts)
        if len(answers) != len(queries):
            raise ValueError(Errors.E011.format(got=len(answers), expected=len(queries)))
        candidates: List[List[ScoredSpan]] = [[] for _ in docs]
        parsed_per_doc: List[Dict[str, List[str]]] = [{label: [] for label in labels} for labels in labels_per_doc]
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
            candidates[query.doc_index].extend((span, 1.0) for span in found.spans)
        if malformed:
            warnings.warn(
                Warnings.W001.format(count=len(malformed), example=malformed[0][:80], component=self.name), stacklevel=2
            )
        self.stats["spans"] += sum(len({(s.start, s.end, s.label_) for s, _ in spans}) for spans in candidates)
        return [Answers(spans, parsed) for spans, parsed in zip(candidates, parsed_per_doc)]

    def set_annotations(self, doc: Doc, answers: Answers, label_order: List[str]) -> None:
        """The parsed answers to ``doc._.uniner_answers``; the candidates as the base sets them."""
        doc._.uniner_answers = answers.parsed
        super().set_annotations(doc, answers.candidates, label_order)
