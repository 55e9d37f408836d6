"""Choose the student's decision threshold on a dev split (never on test)."""

from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

from spacy.language import Language
from spacy.scorer import get_ner_prf
from spacy.training import Example

from .component import SpanStudent

# Finer at the low end: students trained briefly are often under-confident.
DEFAULT_GRID = (0.01, 0.02, 0.03, 0.04) + tuple(round(0.05 * i, 2) for i in range(1, 20))


def tune_threshold(
    nlp: Language,
    examples: Iterable[Example],
    component: str = "universal_ner_span",
    grid: Sequence[float] = DEFAULT_GRID,
    batch_size: int = 32,
) -> Tuple[float, Dict[float, float]]:
    """Return the threshold with the best span-level F1 of ``doc.ents`` on ``examples``
    (ties: the lower threshold) and the F1 at every threshold of ``grid``.

    The model runs once; each threshold only re-decodes its scores. The threshold is not
    set: assign ``nlp.get_pipe(component).threshold`` and save the pipeline to keep it.
    """
    pipe = nlp.get_pipe(component)
    if not isinstance(pipe, SpanStudent):
        raise TypeError(f"Component {component!r} is a {type(pipe).__name__}, not a universal_ner_span component.")
    examples = [Example(eg.predicted.copy(), eg.reference) for eg in examples]
    docs = [eg.predicted for eg in examples]
    for name, proc in nlp.pipeline:
        if name == component:
            break
        docs = list(proc.pipe(docs))
    lowest = min(grid)
    candidates: List[List[Tuple[int, int, str, float]]] = []
    saved = pipe.threshold
    pipe.threshold = lowest
    try:
        for start in range(0, len(docs), batch_size):
            batch = docs[start : start + batch_size]
            maps = [pipe._label_map_for(doc) for doc in batch]
            for scores, label_map in zip(pipe._predict(batch, maps), maps):
                candidates.append(pipe.candidates(scores, list(label_map)))
    finally:
        pipe.threshold = saved
    f_scores: Dict[float, float] = {}
    for threshold in sorted(float(t) for t in grid):
        for eg, found in zip(examples, candidates):
            pipe._set_ents(eg.predicted, [c for c in found if c[3] >= threshold])
        f_scores[threshold] = get_ner_prf(examples)["ents_f"]
    best = max(sorted(f_scores), key=lambda t: f_scores[t])
    return best, f_scores
