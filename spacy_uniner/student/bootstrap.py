"""Is a dev difference between two students more than the dev docs' noise? A paired
bootstrap (Koehn 2004; Berg-Kirkpatrick et al. 2012) over the dev docs that two `student
select --output` records scored: each resample draws every source's docs with replacement,
the same draw for both students and both protocols, and scores each student as `select`
does (per protocol, the macro average over sources of span F1 from the summed counts; the
lower of the protocols). Thresholds stay where `select` chose them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Tuple

import numpy

from ..errors import Errors


@dataclass
class BootstrapResult:
    """The observed difference (candidate minus baseline), its 95% interval and the share of
    resamples in which the candidate scores higher."""

    difference: float
    low: float
    high: float
    share_better: float
    samples: int


def _counts(record: Mapping[str, Any], name: str) -> Dict[str, Dict[str, numpy.ndarray]]:
    """protocol -> source -> (n_docs, 3) counts of one ``select`` record."""
    protocols = {key: value for key, value in record.items() if isinstance(value, dict)}
    if not protocols or not all("doc_counts" in value for value in protocols.values()):
        raise ValueError(Errors.E642.format(name=name))
    return {
        key: {s: numpy.asarray(c, dtype=numpy.int64).reshape(-1, 3) for s, c in value["doc_counts"].items()}
        for key, value in protocols.items()
    }


def _score(counts: Dict[str, Dict[str, numpy.ndarray]], draws: Dict[str, numpy.ndarray]) -> numpy.ndarray:
    """Per resample (rows of each source's ``draws``), the lower over protocols of the macro F1."""
    by_protocol = []
    for by_source in counts.values():
        f1s = []
        for source, rows in by_source.items():
            tp, fp, fn = (rows[:, i][draws[source]].sum(axis=1) for i in range(3))
            denominator = 2 * tp + fp + fn
            f1s.append(numpy.where(denominator > 0, 2 * tp / numpy.maximum(denominator, 1), 0.0))
        by_protocol.append(numpy.mean(f1s, axis=0))
    return numpy.min(by_protocol, axis=0)


def paired_bootstrap(
    candidate: Mapping[str, Any],
    baseline: Mapping[str, Any],
    samples: int = 1000,
    seed: int = 0,
    names: Tuple[str, str] = ("candidate", "baseline"),
) -> BootstrapResult:
    """Paired bootstrap of ``score(candidate) - score(baseline)`` over the dev docs both
    ``select`` records scored (the same dev file, protocols and sources)."""
    if samples < 1:
        raise ValueError(Errors.E644.format(samples=samples))
    a, b = _counts(candidate, names[0]), _counts(baseline, names[1])
    shape = {k: {s: len(c) for s, c in v.items()} for k, v in a.items()}
    if shape != {k: {s: len(c) for s, c in v.items()} for k, v in b.items()}:
        raise ValueError(Errors.E643.format(a=names[0], b=names[1]))
    rng = numpy.random.default_rng(seed)
    sizes = next(iter(shape.values()))
    draws = {s: rng.integers(0, n, size=(samples, n)) for s, n in sizes.items()}
    whole = {s: numpy.arange(n)[None, :] for s, n in sizes.items()}
    differences = _score(a, draws) - _score(b, draws)
    observed = float((_score(a, whole) - _score(b, whole))[0])
    low, high = numpy.percentile(differences, [2.5, 97.5])
    return BootstrapResult(observed, float(low), float(high), float(numpy.mean(differences > 0)), samples)
