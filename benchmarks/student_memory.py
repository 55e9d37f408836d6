"""A mention memory at decoding: do the types other sources gave a span's words tell the
student's related type names apart?

    python benchmarks/student_memory.py NESTED.spacy training/pool-v8 v11=shipped --min-docs 10
    python benchmarks/student_memory.py training/pool-v8/dev.spacy training/pool-v8 v11=shipped \
        --skip-sources ufet_crowd,fabner_train,pilener_guidelines

The memory maps a mention's lowercased words to the type names the pool's training passages
give them, by source. A dev doc is decoded with the memory of every source but its own, so
a source's recurring names never help its own dev split. For a candidate (span, asked name)
whose words the memory holds, the affinity is the highest cosine between the asked name and
a memory type with at least ``--min-share`` of the mention's count (frozen sentence encoder,
as `student neighbours`). ``penalty`` variants lower the candidate's logit by ``weight`` x
(``center`` - affinity) when the affinity is below ``center``; ``shift`` variants also raise
it by ``weight`` x (affinity - ``center``) above it. Each dev doc is asked as `student select`
asks it (all its types together, and each alone); the table gives the lower of the two
protocols, both protocols, and a paired bootstrap against no memory (dev data only).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import spacy
import torch
import typer
from spacy.language import Language
from spacy.tokens import Doc
from wasabi import msg

from spacy_uniner.data.catalogue import split_names, split_numbers
from spacy_uniner.data.docs import SOURCE_KEY, read_docbin
from spacy_uniner.pipes.span.model import DEFAULT_ENCODER
from spacy_uniner.student.neighbours import SentenceEmbedder
from spacy_uniner.student.selection import all_types_examples, decoding_variants, load_student, named_student
from spacy_uniner.student.threshold import CachedSpanScores, CandidateSource

NAME = "universal_ner_span"
app = typer.Typer(no_args_is_help=True)
Memory = Dict[str, Dict[str, Counter]]  # lowercased words -> source -> type name counts


def read_memory(train: Path) -> Memory:
    """Each training mention's lowercased words -> its source -> the type names it was given."""
    memory: Memory = defaultdict(lambda: defaultdict(Counter))
    for doc in read_docbin(train, spacy.blank("en").vocab):
        source = str(doc.user_data.get(SOURCE_KEY))
        for ent in doc.ents:
            memory[ent.text.lower()][source][ent.label_] += 1
    return memory


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


class MemoryCandidates:
    """Candidate sources with a memory term, all sharing one cache of the student's scores."""

    def __init__(self, nlp: Language, memory: Memory, sources: Dict[str, str], min_share: float):
        self.pipe = nlp.get_pipe(NAME)
        self.memory = memory
        self.doc_sources = sources  # dev doc text -> its source
        self.min_share = min_share
        self.scores = CachedSpanScores(self.pipe)
        self.embed = SentenceEmbedder(DEFAULT_ENCODER)
        self._affinity: Dict[Tuple[str, str, str], Optional[float]] = {}

    def affinity(self, words: str, asked: str, own_source: str) -> Optional[float]:
        """The highest cosine between ``asked`` and the types other sources gave ``words``
        (None: no other source has them)."""
        key = (words.lower(), asked, own_source)
        if key not in self._affinity:
            counts: Counter = Counter()
            for source, types in self.memory.get(key[0], {}).items():
                if source != own_source:
                    counts.update(types)
            total = sum(counts.values())
            types = [t for t, n in counts.items() if n >= self.min_share * total]
            if types:
                rows = self.embed([asked, *types])
                self._affinity[key] = float(torch.max(rows[1:] @ rows[0]))
            else:
                self._affinity[key] = None
        return self._affinity[key]

    def source(self, weight: float, center: float, shift: bool) -> CandidateSource:
        """Each query's candidates with the memory term (``weight`` 0: none)."""

        def candidates(docs: Sequence[Doc], label_maps: Sequence[Dict[str, str]], floor: float):
            low = _sigmoid(_logit(floor) - weight * (1 + center)) if shift and weight else floor
            found = []
            for doc, label_map, scores in zip(docs, label_maps, self.scores(docs, label_maps)):
                own = self.pipe.candidates(scores, label_map, floor=low)
                if weight:
                    own = self._adjusted(doc, label_map, own, weight, center, shift, floor)
                found.append(own)
            return found

        return candidates

    def _adjusted(self, doc, label_map, found, weight, center, shift, floor) -> List[Tuple[int, int, str, float]]:
        source = self.doc_sources.get(doc.text, "")
        kept = []
        for start, end, label, probability in found:
            affinity = self.affinity(doc[start:end].text, label_map[label], source)
            if affinity is not None:
                gap = affinity - center
                if gap < 0 or shift:
                    probability = _sigmoid(_logit(probability) + weight * gap)
            if probability >= floor:
                kept.append((start, end, label, probability))
        return kept


@app.command()
def main(
    dev: Path = typer.Argument(
        ..., help="A dev view: the pool's dev.spacy, or NESTED.spacy (benchmarks/nested_dev.py)"
    ),
    pool: Path = typer.Argument(..., help="The pool folder (its train.spacy is the memory)"),
    student: str = typer.Argument("shipped", help="NAME=PIPELINE (or NAME=shipped)"),
    weights: str = typer.Option("2,4,8", help="Logit weights of the memory term (comma-separated)"),
    centers: str = typer.Option("0.6,0.8", help="Affinities that leave a logit unchanged (comma-separated)"),
    min_share: float = typer.Option(0.05, help="Memory types below this share of a mention's count are ignored"),
    protocol: str = typer.Option("both", help="all, single or both, as `student select`"),
    min_docs: int = typer.Option(20, help="Sources with fewer dev docs are left out"),
    skip_sources: str = typer.Option("", help="Comma-separated pool sources to leave out"),
    output: Optional[Path] = typer.Option(None, help="Write every variant's select record here"),
) -> None:
    """Each dev doc asked as `student select` asks it, without and with the mention memory."""
    try:
        weight_list, center_list = split_numbers(weights, float), split_numbers(centers, float)
    except ValueError as err:
        raise typer.BadParameter(f"--weights and --centers take comma-separated numbers, e.g. 2,4 ({err})") from err
    if not weight_list or not center_list:
        raise typer.BadParameter("--weights and --centers each need at least one number, e.g. 2,4")
    if not (pool / "train.spacy").is_file():
        raise typer.BadParameter(f"no train.spacy in {pool}: pass the folder `student pool` wrote")
    name, path = named_student(student)
    nlp = load_student(path)
    memory = read_memory(pool / "train.spacy")
    examples = all_types_examples(dev, nlp)
    doc_sources = {eg.reference.text: str(eg.reference.user_data.get(SOURCE_KEY)) for eg in examples}
    msg.info(f"memory: {len(memory)} mentions; {len(examples)} dev docs")
    cache = MemoryCandidates(nlp, memory, doc_sources, min_share)
    sources = {name: cache.source(0.0, 0.0, False)}
    for kind in ("penalty", "shift"):
        for w in weight_list:
            for c in center_list:
                sources[f"{name} {kind} {w:g} at {c:g}"] = cache.source(w, c, kind == "shift")
    try:
        decoding_variants(
            nlp, examples, protocol, sources, min_docs, split_names(skip_sources), baseline="no memory", output=output
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err


if __name__ == "__main__":
    app()
