"""Choose a release among candidate students on the pool's dev split, asked as the
benchmark asks in both of its protocols: every passage gets all the type names it is
annotated for, together (an eval file asks each passage all of its 8-17 types) or each alone
(the paper's one type per query); every source counts the same (the benchmark averages over
files), so large sources do not decide alone."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import spacy
import srsly
from spacy.language import Language
from spacy.training import Example
from wasabi import msg

from ..data.docs import SOURCE_KEY
from ..errors import Errors
from .bootstrap import paired_bootstrap
from .corpus import dev_examples
from .threshold import DEFAULT_GRID, CandidateSource, DevDecoder


@dataclass
class SourceScores:
    """Dev span F1 per source and global threshold, and the best macro average."""

    by_source: Dict[str, Dict[float, float]]  # source -> threshold -> span F1
    macro_by_threshold: Dict[float, float]
    threshold: float
    doc_counts: Dict[str, List[Tuple[int, int, int]]]  # source -> each doc's (tp, fp, fn) at ``threshold``

    @property
    def macro_f1(self) -> float:
        return self.macro_by_threshold[self.threshold]


def load_student(model: str) -> Language:
    """A student pipeline folder, or ``shipped``: ``spacy.blank("en")`` plus
    ``add_pipe("universal_ner_span")``, the shipped student as a new user gets it."""
    if model == "shipped":
        nlp = spacy.blank("en")
        nlp.add_pipe("universal_ner_span")
        return nlp
    return spacy.load(model)


def named_student(item: str) -> Tuple[str, str]:
    """``NAME=PIPELINE`` as ``(NAME, PIPELINE)``; a bare ``PIPELINE`` (or ``shipped``) names itself."""
    name, _, path = item.rpartition("=")
    return name or path, path


# ``--protocol`` values -> whether each type is asked alone; and the name of each protocol.
PROTOCOLS = {"all": (False,), "single": (True,), "both": (False, True)}
PROTOCOL_NAMES = {False: "all types", True: "each type alone"}


def all_types_examples(path: Union[str, Path], nlp: Language, max_types: int = 50) -> List[Example]:
    """Dev examples asking every type name each doc is annotated for: its positive types
    first, then all its known negatives, at most ``max_types`` (some pool passages list hundreds)."""
    return dev_examples(path, nlp, max_types=max_types, negative_ratio=0.0)


def source_scores(
    nlp: Language,
    examples: Sequence[Example],
    min_docs: int = 20,
    grid: Sequence[float] = DEFAULT_GRID,
    component: str = "universal_ner_span",
    batch_size: int = 32,
    single_type: bool = False,
    source: Optional[CandidateSource] = None,
    max_docs: int = 0,
    skip: Sequence[str] = (),
) -> SourceScores:
    """Span F1 of each source with at least ``min_docs`` dev docs under each global threshold
    of ``grid``; the threshold with the best macro average over sources (ties: the lower).
    ``single_type``: each passage is asked each of its types alone. ``source``: candidates
    from another model (a peer), decoded by the component like the student's. ``max_docs``:
    score only each source's first this many dev docs (0: all), for slow peers. ``skip``: sources
    left out, e.g. those only some candidates were trained on (their dev docs are in-domain for
    those alone)."""
    groups: Dict[str, List[Example]] = defaultdict(list)
    for eg in examples:
        groups[str(eg.reference.user_data.get(SOURCE_KEY))].append(eg)
    unknown = sorted(set(skip) - set(groups))
    if unknown:
        raise ValueError(Errors.E628.format(names=unknown, known=sorted(groups)))
    kept = {
        name: egs[: max_docs or None]
        for name, egs in sorted(groups.items())
        if len(egs) >= min_docs and name not in skip
    }
    if not kept:
        sizes = ", ".join(f"{name} ({len(egs)})" for name, egs in sorted(groups.items()))
        raise ValueError(Errors.E626.format(min_docs=min_docs, sizes=sizes or "none"))
    grid = sorted(float(t) for t in grid)
    by_source, decoders = {}, {}
    for name, egs in kept.items():
        decoders[name] = DevDecoder(nlp, egs, component, grid[0], batch_size, single_type=single_type, source=source)
        by_source[name] = {t: decoders[name].f1(t, {}) for t in grid}
    macro = macro_by_threshold(by_source)
    best = max(grid, key=lambda t: (macro[t], -t))
    return SourceScores(by_source, macro, best, {name: d.doc_counts(best) for name, d in decoders.items()})


def macro_by_threshold(by_source: Dict[str, Dict[float, float]]) -> Dict[float, float]:
    """The macro average over sources (each counts the same) of span F1 at each threshold."""
    grid = next(iter(by_source.values()))
    return {t: sum(f[t] for f in by_source.values()) / len(by_source) for t in grid}


def protocol_scores(
    nlp: Language,
    examples: Sequence[Example],
    protocol: str,
    min_docs: int = 20,
    max_docs: int = 0,
    source: Optional[CandidateSource] = None,
    skip: Sequence[str] = (),
) -> Dict[str, SourceScores]:
    """``source_scores`` under each protocol of ``protocol`` (all, single or both), by
    protocol name."""
    if protocol not in PROTOCOLS:
        raise ValueError(Errors.E627.format(value=protocol))
    return {
        PROTOCOL_NAMES[single]: source_scores(
            nlp, examples, min_docs=min_docs, single_type=single, source=source, max_docs=max_docs, skip=skip
        )
        for single in PROTOCOLS[protocol]
    }


def scores_record(by_protocol: Dict[str, SourceScores], released: Optional[float] = None) -> Dict[str, Any]:
    """One candidate's scores as ``student select --output`` writes them: ``score`` (the lower
    of the protocols' macro span F1s, each at its own best threshold), ``shared_threshold``
    and ``shared_score`` (the one threshold a release can ship for every protocol, and the
    lower of the protocols' macro F1 there), ``released_score`` (that lower of two at
    ``released``, the candidate's own threshold, as users run it; where on the grid) and, per
    protocol, its macro F1, threshold, sources (at that threshold), every source's F1 at
    every threshold of the grid and each dev doc's entity counts at that threshold
    (``doc_counts``, for ``student bootstrap``)."""
    shared, shared_score = _best_lower_of_protocols([{k: r.macro_by_threshold for k, r in by_protocol.items()}])
    extra = {}
    if released is not None and all(released in r.macro_by_threshold for r in by_protocol.values()):
        extra = {
            "released_threshold": released,
            "released_score": min(r.macro_by_threshold[released] for r in by_protocol.values()),
        }
    return {
        "score": min(r.macro_f1 for r in by_protocol.values()),
        "shared_threshold": shared,
        "shared_score": shared_score,
        **extra,
        **{
            key: {
                "macro_span_f1": r.macro_f1,
                "threshold": r.threshold,
                "sources": {s: f[r.threshold] for s, f in r.by_source.items()},
                "by_threshold": {s: {str(t): v for t, v in f.items()} for s, f in r.by_source.items()},
                "doc_counts": {s: [list(c) for c in counts] for s, counts in r.doc_counts.items()},
            }
            for key, r in by_protocol.items()
        },
    }


def decoding_variants(
    nlp: Language,
    examples: Sequence[Example],
    protocol: str,
    sources: Dict[str, CandidateSource],
    min_docs: int = 20,
    skip: Sequence[str] = (),
    baseline: str = "the first",
    output: Optional[Path] = None,
) -> Dict[str, Dict[str, Any]]:
    """Each decoding variant (``{label: candidate source}``, the first the baseline, named
    ``baseline`` in the table) scored as `student select` scores a candidate, and printed as a
    table: label, lower of the protocols, each protocol's macro F1 (threshold), and the paired
    bootstrap against the baseline (difference [95%], resamples won). Returns the select
    records by label, also written to ``output`` (for `student bootstrap`)."""
    records: Dict[str, Dict[str, Any]] = {}
    rows: List[List[str]] = []
    names: List[str] = []
    base = next(iter(sources))
    for label, source in sources.items():
        scores = protocol_scores(nlp, examples, protocol, min_docs=min_docs, skip=skip, source=source)
        names = list(scores)
        records[label] = record = scores_record(scores)
        row = [label, f"{100 * record['score']:.2f}"]
        row += [f"{100 * s.macro_f1:.2f} ({s.threshold:g})" for s in scores.values()]
        if label == base:
            row.append("")
        else:
            result = paired_bootstrap(record, records[base], 1000, 0)
            row.append(
                f"{100 * result.difference:+.2f} [{100 * result.low:+.2f}, {100 * result.high:+.2f}], "
                f"{100 * result.share_better:.1f}%"
            )
        rows.append(row)
    header = ["decoding", "lower of two", *names, f"minus {baseline} [95%], resamples won"]
    msg.table(rows, header=header, divider=True)
    if output is not None:
        srsly.write_json(output, records)
    return records


def shared_threshold(records: Sequence[Dict[str, Any]]) -> Tuple[float, float]:
    """The one global threshold a release ships, from one candidate's ``student select``
    records on one or more dev views (say the flat dev and the nested view): the highest mean
    over the views of the lower of the protocols' macro span F1 at that threshold (ties: the
    lower threshold). Returns the threshold and that mean."""
    views = []
    for record in records:
        protocols = {key: value["by_threshold"] for key, value in record.items() if isinstance(value, dict)}
        if not protocols:
            raise ValueError(Errors.E636.format(keys=sorted(record)))
        views.append(
            {
                key: macro_by_threshold({s: {float(t): f for t, f in by_t.items()} for s, by_t in by_source.items()})
                for key, by_source in protocols.items()
            }
        )
    return _best_lower_of_protocols(views)


def _best_lower_of_protocols(views: Sequence[Dict[str, Dict[float, float]]]) -> Tuple[float, float]:
    """``views``: per dev view, per protocol, macro F1 by threshold. The threshold (on every
    view's grid) with the highest mean lower-of-protocols F1; ties go to the lower one."""
    grid = sorted(set.intersection(*(set(macro) for view in views for macro in view.values())))
    mean = {t: sum(min(macro[t] for macro in view.values()) for view in views) / len(views) for t in grid}
    best = max(grid, key=lambda t: (mean[t], -t))
    return best, mean[best]
