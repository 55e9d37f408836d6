"""Rival type names at decoding: does a second pass that asks a fixed vocabulary of common
type names, and drops a candidate that some unrelated rival outscores, fix each type alone?

    python benchmarks/student_rivals.py NESTED.spacy training/pool-v8 v11=shipped --min-docs 10
    python benchmarks/student_rivals.py training/pool-v8/dev.spacy training/pool-v8 v11=shipped \
        --skip-sources ufet_crowd,fabner_train,pilener_guidelines

Each dev doc is asked as `student select` asks it (all its types together, and each alone).
The rivals are the pool's type names ordered by the number of sources that annotate them,
then by passages, without the hierarchy's broader names and their synonyms; each doc is asked
them once, in a pass of its own, so the user's own scores do not change. A candidate (span,
asked name) is dropped when a rival that is not asked, not a synonym of the asked name and
not its broader or finer name in the pool hierarchy scores above the candidate's logit plus
``margin`` on that span. For each rival count and margin it prints the lower of the two
protocols, both protocols, and a paired bootstrap against no rivals (dev data only).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy
import spacy
import typer
from spacy.language import Language
from spacy.tokens import Doc
from wasabi import msg

from spacy_uniner.data.catalogue import split_names, split_numbers
from spacy_uniner.data.docs import SOURCE_KEY, read_docbin
from spacy_uniner.student.augment import read_hierarchy, read_synonyms
from spacy_uniner.student.neighbours import linked_names
from spacy_uniner.student.selection import (
    all_types_examples,
    decoding_variants,
    load_student,
    named_student,
)
from spacy_uniner.student.threshold import CachedSpanScores, CandidateSource

NAME = "universal_ner_span"
app = typer.Typer(no_args_is_help=True)


def related_names(hierarchy: Dict[str, str], synonyms: Dict[str, List[str]]) -> Dict[str, Set[str]]:
    """Lowercased name -> the names never its rival: its synonyms and its broader and finer names."""
    return linked_names([*hierarchy.items(), *([k, *v] for k, v in synonyms.items())])


def rival_names(pool: Path, size: int) -> List[str]:
    """The pool's ``size`` type names annotated by the most sources (ties: most passages),
    without the hierarchy's broader names and their synonyms."""
    hierarchy = read_hierarchy(pool / "hierarchy.json")
    synonyms = read_synonyms(pool / "synonyms.json")
    broad = {b.lower() for b in hierarchy.values()}
    broad |= {s.lower() for b, alts in synonyms.items() if b.lower() in broad for s in alts}
    passages: Counter = Counter()
    sources: Dict[str, Set[str]] = defaultdict(set)
    for doc in read_docbin(pool / "train.spacy", spacy.blank("en").vocab):
        for label in {e.label_ for e in doc.ents}:
            passages[label] += 1
            sources[label].add(str(doc.user_data.get(SOURCE_KEY)))
    names = sorted(passages, key=lambda t: (-len(sources[t]), -passages[t], t))
    return [t for t in names if t.lower() not in broad][:size]


class RivalCandidates:
    """Candidate sources with rivals, all sharing one cache of the student's scores: each
    query's own scores, and each doc's rival scores (asked once, in the order of ``rivals``:
    the first n of them are the same encoder groups for every n)."""

    def __init__(self, nlp: Language, rivals: Sequence[str], related: Dict[str, Set[str]]):
        self.pipe = nlp.get_pipe(NAME)
        self.rivals = list(rivals)
        self.related = related
        self.scores = CachedSpanScores(self.pipe)
        self._rival: Dict[str, Tuple[Dict[Tuple[int, int], int], numpy.ndarray]] = {}

    def source(self, size: int, margin: float) -> CandidateSource:
        """Each query's candidates, less those an unrelated rival among the first ``size``
        outscores by more than ``margin`` (logits); ``size`` 0: no rivals."""

        def candidates(docs: Sequence[Doc], label_maps: Sequence[Dict[str, str]], floor: float):
            if size:
                self._score_rivals(docs)
            found = []
            for doc, label_map, scores in zip(docs, label_maps, self.scores(docs, label_maps)):
                own = self.pipe.candidates(scores, label_map, floor=floor)
                found.append(self._unrivalled(doc, label_map, own, size, margin) if size else own)
            return found

        return candidates

    def _score_rivals(self, docs: Sequence[Doc]) -> None:
        new = {d.text: d for d in docs if d.text not in self._rival}
        if new:
            asked = {f"rival {i}": name for i, name in enumerate(self.rivals)}
            for text, scores in zip(new, self.pipe.span_scores(list(new.values()), [asked] * len(new))):
                rows = {(int(s), int(e)): r for r, (s, e) in enumerate(zip(scores.starts, scores.ends))}
                self._rival[text] = (rows, numpy.asarray(scores.logits))

    def _unrivalled(self, doc: Doc, label_map: Dict[str, str], found: list, size: int, margin: float) -> list:
        """``found`` less the candidates an unrelated rival among the first ``size`` outscores."""
        asked = {t.lower() for t in label_map.values()}
        columns = {}  # per asked label: the rivals that may outscore it
        for label, text in label_map.items():
            excluded = asked | self.related.get(text.lower(), set())
            columns[label] = [i for i, t in enumerate(self.rivals[:size]) if t.lower() not in excluded]
        rows, logits = self._rival[doc.text]
        kept = []
        for start, end, label, probability in found:
            row, cols = rows.get((start, end)), columns[label]
            p = min(max(probability, 1e-9), 1 - 1e-9)
            if row is None or not cols or logits[row, cols].max() <= math.log(p / (1 - p)) + margin:
                kept.append((start, end, label, probability))
        return kept


def _numbers(text: str, kind, option: str) -> List:
    try:
        values = split_numbers(text, kind)
    except ValueError:
        values = []
    if not values:
        raise typer.BadParameter(f"{option} lists no number: give comma-separated values, e.g. 50,100")
    return values


@app.command()
def main(
    dev: Path = typer.Argument(
        ..., help="A dev view: the pool's dev.spacy, or NESTED.spacy (benchmarks/nested_dev.py)"
    ),
    pool: Path = typer.Argument(..., help="The pool folder (train.spacy, hierarchy.json, synonyms.json)"),
    student: str = typer.Argument("shipped", help="NAME=PIPELINE (or NAME=shipped)"),
    sizes: str = typer.Option("50,100,200", help="Numbers of rival names (comma-separated)"),
    margins: str = typer.Option("0,1,2", help="Logit margins a rival must exceed (comma-separated)"),
    protocol: str = typer.Option("both", help="all, single or both, as `student select`"),
    min_docs: int = typer.Option(20, help="Sources with fewer dev docs are left out"),
    skip_sources: str = typer.Option("", help="Comma-separated pool sources to leave out"),
    output: Optional[Path] = typer.Option(None, help="Write every variant's select record here"),
) -> None:
    """Each dev doc asked as `student select` asks it, without and with rivals."""
    size_list = _numbers(sizes, int, "--sizes")
    margin_list = _numbers(margins, float, "--margins")
    if min(size_list) < 1:
        raise typer.BadParameter("--sizes must be at least 1 (the run without rivals is always made)")
    if not (pool / "train.spacy").is_file():
        raise typer.BadParameter(f"no train.spacy in {pool}: pass the folder `student pool` wrote")
    name, path = named_student(student)
    nlp = load_student(path)
    rivals = rival_names(pool, max(size_list))
    msg.info(f"{len(rivals)} rival names, first: {', '.join(rivals[:12])}")
    related = related_names(read_hierarchy(pool / "hierarchy.json"), read_synonyms(pool / "synonyms.json"))
    cache = RivalCandidates(nlp, rivals, related)
    examples = all_types_examples(dev, nlp)
    skip = split_names(skip_sources)
    sources = {name: cache.source(0, 0.0)}
    sources.update({f"{name} rivals {n} margin {m:g}": cache.source(n, m) for n in size_list for m in margin_list})
    try:
        decoding_variants(nlp, examples, protocol, sources, min_docs, skip, baseline="no rivals", output=output)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err


if __name__ == "__main__":
    app()
