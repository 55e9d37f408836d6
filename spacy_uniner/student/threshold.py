"""Choose the student's decision thresholds on a dev split (never on test)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import minibatch
from tqdm import tqdm

from ..errors import Errors
from ..pipes.span.component import SpanStudent
from ..pipes.span.model import SpanScores

# Finer at the low end: students trained on little data are often under-confident.
DEFAULT_GRID = (0.002, 0.005, 0.01, 0.02, 0.03, 0.04) + tuple(round(0.05 * i, 2) for i in range(1, 20))
# (start, end, label, probability, type text) of one candidate entity.
_Candidate = Tuple[int, int, str, float, str]
# Candidates (start, end, label, probability) at or above ``floor`` of each doc under its
# {label: type text} map: the student's own by default; a peer model can stand in for it.
CandidateSource = Callable[[Sequence[Doc], Sequence[Dict[str, str]], float], List[List[Tuple[int, int, str, float]]]]


class CachedSpanScores:
    """The student's span scores of each (doc text, label map), computed once: decoding
    variants that only change what is done with the scores share them."""

    def __init__(self, pipe: SpanStudent):
        self.pipe = pipe
        self._scores: Dict[Tuple[str, Tuple[Tuple[str, str], ...]], SpanScores] = {}

    def __call__(self, docs: Sequence[Doc], label_maps: Sequence[Dict[str, str]]) -> List[SpanScores]:
        """The scores of each doc under its label map; only those not seen before are computed."""
        keys = [(doc.text, tuple(m.items())) for doc, m in zip(docs, label_maps)]
        todo = {key: (doc, m) for key, doc, m in zip(keys, docs, label_maps) if key not in self._scores}
        if todo:
            pairs = list(todo.values())
            self._scores.update(zip(todo, self.pipe.span_scores([d for d, _ in pairs], [m for _, m in pairs])))
        return [self._scores[key] for key in keys]


@dataclass
class Thresholds:
    """A tuned global threshold, per-type overrides and the dev F1 they give."""

    threshold: float
    type_thresholds: Dict[str, float] = field(default_factory=dict)
    f1: float = 0.0  # dev span F1 with both
    f_by_threshold: Dict[float, float] = field(default_factory=dict)  # dev span F1 per global threshold

    def apply(self, nlp: Language, component: str = "universal_ner_span") -> None:
        """Set them on the component; ``nlp.to_disk`` saves them with it."""
        pipe = nlp.get_pipe(component)
        pipe.threshold = self.threshold
        pipe.type_thresholds = self.type_thresholds


class DevDecoder:
    """Dev examples with every candidate above the lowest threshold, re-decoded under any
    thresholds without running the model again. ``source`` gives the candidates (default:
    the component's model); decoding is always the component's."""

    def __init__(
        self,
        nlp: Language,
        examples: Iterable[Example],
        component: str,
        lowest: float,
        batch_size: int,
        single_type: bool = False,
        source: Optional[CandidateSource] = None,
    ):
        pipe = nlp.get_pipe(component)
        if not isinstance(pipe, SpanStudent):
            raise TypeError(Errors.E205.format(name=component, kind=type(pipe).__name__))
        self.pipe = pipe
        if source is None:
            source = self.student_candidates
        self.examples = [Example(eg.predicted.copy(), eg.reference) for eg in examples]
        docs = [eg.predicted for eg in self.examples]
        for name, proc in nlp.pipeline:
            if name == component:
                break
            docs = list(proc.pipe(docs))
        self.candidates: List[List[_Candidate]] = []
        self.text_of: Dict[str, str] = {}  # spaCy label -> the type text it asks
        what = "each type alone" if single_type else "all types"
        batches = minibatch(docs, size=batch_size)
        for batch in tqdm(batches, total=-(-len(docs) // batch_size), desc=f"dev docs ({what})", leave=False):
            maps = [pipe.label_map(doc) for doc in batch]
            # single_type: each doc is asked each of its types alone (the paper's protocol).
            queries = [
                (i, doc, {label: text} if single_type else label_map)
                for i, (doc, label_map) in enumerate(zip(batch, maps))
                for label, text in (label_map.items() if single_type else [(None, None)])
            ]
            found: List[List[_Candidate]] = [[] for _ in batch]
            answers = source([q[1] for q in queries], [q[2] for q in queries], lowest)
            for (i, _, label_map), doc_found in zip(queries, answers):
                found[i] += [(*c, label_map[c[2]]) for c in doc_found]
            for doc_found, label_map in zip(found, maps):
                self.candidates.append(sorted(doc_found, key=lambda c: (c[0], c[1], -c[3])))
                self.text_of.update(label_map)
        self.support = Counter(e.label_ for eg in self.examples for e in eg.reference.ents)

    def student_candidates(self, docs: Sequence[Doc], label_maps: Sequence[Dict[str, str]], floor: float):
        """The component's candidates at or above ``floor`` for each doc."""
        scores = self.pipe.span_scores(docs, label_maps)
        return [self.pipe.candidates(s, m, floor=floor) for s, m in zip(scores, label_maps)]

    def decode(self, threshold: float, type_thresholds: Dict[str, float]) -> List[Example]:
        """The examples, their predicted docs decoded under these thresholds."""
        for eg, found in zip(self.examples, self.candidates):
            doc = eg.predicted
            kept = [
                (Span(doc, s, e, label=label), p)
                for s, e, label, p, text in found
                if p >= type_thresholds.get(text, threshold)
            ]
            doc.ents = []
            self.pipe.set_annotations(doc, kept, list(self.text_of))
        return self.examples

    def f1(self, threshold: float, type_thresholds: Dict[str, float]) -> float:
        return get_ner_prf(self.decode(threshold, type_thresholds))["ents_f"] or 0.0  # None: no gold, none found

    def doc_counts(self, threshold: float) -> List[Tuple[int, int, int]]:
        """Each doc's (true positives, false positives, false negatives) under ``threshold``."""
        return [ner_counts(eg) for eg in self.decode(threshold, {})]


def ner_counts(eg: Example) -> Tuple[int, int, int]:
    """One example's (tp, fp, fn) entity counts exactly as spaCy's ``get_ner_prf`` counts
    them (a prediction over unannotated gold tokens is neither), so summed over docs they
    give its micro F1, and docs can be resampled."""
    if not eg.y.has_annotation("ENT_IOB"):
        return 0, 0, 0
    golds = {(e.label_, e.start, e.end) for e in eg.y.ents}
    tp = fp = 0
    for ent in eg.x.ents:
        indices = eg.alignment.x2y[ent.start : ent.end]
        if len(indices) and all(token.ent_iob != 0 for token in eg.y[indices[0] : indices[-1] + 1]):
            key = (ent.label_, indices[0], indices[-1] + 1)
            if key in golds:
                tp += 1
                golds.remove(key)
            else:
                fp += 1
    return tp, fp, len(golds)


def tune_thresholds(
    nlp: Language,
    examples: Iterable[Example],
    component: str = "universal_ner_span",
    grid: Sequence[float] = DEFAULT_GRID,
    per_type: bool = True,
    min_support: int = 10,
    batch_size: int = 32,
) -> Thresholds:
    """The best global threshold, then (``per_type``) one coordinate-ascent pass over the
    type names with at least ``min_support`` gold mentions in ``examples`` (most frequent
    first): each keeps its own threshold only where it raises the dev span F1. Rare types
    keep the global one. Ties go to the lower threshold. The model runs once; each
    setting only re-decodes its scores. Nothing is set: call ``.apply(nlp)``.
    """
    decoder = DevDecoder(nlp, examples, component, min(grid), batch_size)
    grid = sorted(float(t) for t in grid)
    f_scores = {t: decoder.f1(t, {}) for t in grid}
    best = max(f_scores, key=lambda t: f_scores[t])
    chosen: Dict[str, float] = {}
    current = f_scores[best]
    for label, support in decoder.support.most_common() if per_type else ():
        text = decoder.text_of.get(label, label)
        if support < min_support:
            break
        for threshold in grid:
            if threshold == best:
                continue
            f1 = decoder.f1(best, {**chosen, text: threshold})
            if f1 > current:
                current, chosen[text] = f1, threshold
    return Thresholds(best, chosen, current, f_scores)
