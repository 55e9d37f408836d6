"""The passage's topic at decoding: does adding how close the passage is to a type name (the
frozen sentence encoder the student started from) to each logit help each type alone?

    python benchmarks/student_topic.py NESTED.spacy v11=shipped --min-docs 10
    python benchmarks/student_topic.py training/pool-v8/dev.spacy v11=shipped \
        --skip-sources ufet_crowd,fabner_train,pilener_guidelines

Asked one type alone, the student claims a related type's mentions: its scores barely rank a
`politician` above another person (benchmarks/student_typing.py). The sentence encoder it
started from (all-MiniLM-L6-v2, mean-pooled, frozen) puts a passage about politics near the
name `politician`. Each dev doc is asked as `student select` asks it (all its types together,
and each alone), and ``alpha`` times the cosine of the passage's and each asked name's
embeddings is added to that name's logits on every span; thresholds are chosen per variant.
With ``--neighbours`` the term is relative: the name's cosine less the mean cosine of its
near names in the pool (``student neighbours``), so a passage about sport lowers `politician`
against `athlete` without a domain-wide shift. With ``--centred POOL`` it is double-centred:
less the passage's mean cosine to the pool's frequent names and the name's mean cosine to a
sample of pool passages (plus their overall mean), keeping only how much closer this passage
is to this name than passages and names are on average. With ``--gate-from POOL`` a gate is
also fitted on pool train passages (never on dev): logistic regression of gold on the
student's logit and the topic term weighted by a linear function of the name's embedding, so
the data decide for which names the topic counts. It prints the lower of the two protocols, both
protocols, and a paired bootstrap against ``alpha`` 0 (the student as it is). Dev data only:
never choose on an eval file.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy
import srsly
import typer
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vocab import Vocab
from wasabi import msg

from spacy_uniner.data.catalogue import split_names, split_numbers
from spacy_uniner.data.docs import is_partial, read_docbin, to_docbin
from spacy_uniner.pipes.span.model import DEFAULT_ENCODER, SpanScores
from spacy_uniner.student.neighbours import SentenceEmbedder, pool_type_names
from spacy_uniner.student.selection import (
    all_types_examples,
    decoding_variants,
    load_student,
    named_student,
)
from spacy_uniner.student.threshold import CachedSpanScores, CandidateSource

NAME = "universal_ner_span"
app = typer.Typer(no_args_is_help=True)


class TopicCandidates:
    """Candidate sources with a topic term, all sharing one cache of the student's scores.
    With ``neighbours`` (``{name: nearby names}``) the term is relative: a name's closeness to
    the passage less the mean closeness of its neighbours (none: no term)."""

    def __init__(
        self,
        nlp: Language,
        embed: SentenceEmbedder,
        neighbours: Optional[Dict[str, List[str]]] = None,
        reference: Optional[Tuple[Sequence[str], Sequence[str]]] = None,
    ):
        self.pipe = nlp.get_pipe(NAME)
        self.embed = embed
        self.neighbours = neighbours
        self.scores = CachedSpanScores(self.pipe)
        self._centre = None
        if reference is not None:  # (names V, passages Q): the term is double-centred
            names, passages = (embed(list(texts)) for texts in reference)
            self._centre = (names, passages, float((passages @ names.T).mean()))

    def topic(self, text: str, names: Sequence[str]) -> numpy.ndarray:
        """The term per name, before its weight: cos(passage, name), relative to the name's
        neighbours, or double-centred on the reference names and passages."""
        passage = self.embed([text])[0]
        asked = self.embed(list(names))
        closeness = (asked @ passage).numpy()
        if self._centre is not None:
            ref_names, ref_passages, overall = self._centre
            by_passage = float((ref_names @ passage).mean())
            by_name = (ref_passages @ asked.T).mean(0).numpy()
            return closeness - by_passage - by_name + overall
        if self.neighbours is None:
            return closeness
        relative = numpy.zeros(len(names), dtype="float32")
        for i, name in enumerate(names):
            near = self.neighbours.get(name, [])
            if near:
                relative[i] = closeness[i] - float((self.embed(near) @ passage).mean())
        return relative

    def source(self, alpha: float = 0.0, gate: Optional["Gate"] = None) -> CandidateSource:
        """Each query's candidates with ``alpha`` x the topic term added to its logits, or
        with the learned ``gate`` applied to them."""

        def candidates(docs: Sequence[Doc], label_maps: Sequence[Dict[str, str]], floor: float):
            found = []
            for doc, label_map, scores in zip(docs, label_maps, self.scores(docs, label_maps)):
                if (alpha or gate is not None) and label_map:
                    names = list(label_map.values())
                    logits = numpy.asarray(scores.logits)
                    if gate is None:
                        logits = logits + (alpha * self.topic(doc.text, names))[None, :].astype("float32")
                    else:
                        logits = gate.apply(logits, self.embed(names).numpy(), self.topic(doc.text, names))
                    scores = SpanScores(scores.starts, scores.ends, logits.astype("float32"))
                found.append(self.pipe.candidates(scores, label_map, floor=floor))
            return found

        return candidates

    def gate_data(
        self, examples: Sequence[Example], floor: float
    ) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """Per (candidate span at or above ``floor``, asked name) of ``examples`` asked all their
        types: the student's logit, the topic term, the name's embedding and whether it is gold."""
        cut = float(numpy.log(floor / (1 - floor)))
        logits, terms, names, gold = [], [], [], []
        asked = [(eg, self.pipe.label_map(eg.reference)) for eg in examples]
        asked = [(eg, m) for eg, m in asked if m]
        all_scores = self.scores([eg.predicted for eg, _ in asked], [m for _, m in asked])
        for (eg, label_map), scores in zip(asked, all_scores):
            doc = eg.predicted
            z = numpy.asarray(scores.logits)
            texts = list(label_map.values())
            term, embedded = self.topic(doc.text, texts), self.embed(texts).numpy()
            truth = {(e.start, e.end, e.label_) for e in eg.reference.ents}
            rows, cols = numpy.nonzero(z >= cut)
            labels = list(label_map)
            for r, c in zip(rows, cols):
                logits.append(z[r, c])
                terms.append(term[c])
                names.append(embedded[c])
                gold.append((int(scores.starts[r]), int(scores.ends[r]), labels[c]) in truth)
        return numpy.asarray(logits), numpy.asarray(terms), numpy.asarray(names), numpy.asarray(gold, dtype=float)


@dataclass
class Gate:
    """A learned topic term: ``scale`` x logit + (``weights`` . name embedding + ``offset``)
    x cos(passage, name) + ``bias``, so how much the topic counts depends on the name."""

    scale: float
    weights: numpy.ndarray
    offset: float
    bias: float

    def alpha(self, names: numpy.ndarray) -> numpy.ndarray:
        """The topic's weight for each embedded name."""
        return names @ self.weights + self.offset

    def apply(self, logits: numpy.ndarray, names: numpy.ndarray, terms: numpy.ndarray) -> numpy.ndarray:
        return self.scale * logits + (self.alpha(names) * terms)[None, :] + self.bias


def fit_gate(
    logits: numpy.ndarray, terms: numpy.ndarray, names: numpy.ndarray, gold: numpy.ndarray, l2: float = 1e-2
) -> Gate:
    """The gate of least logistic loss on the rows of :meth:`TopicCandidates.gate_data` (L2 on
    the name weights), from the student as it is (scale 1, no topic)."""
    import torch

    z, c, e, y = (torch.as_tensor(x, dtype=torch.float32) for x in (logits, terms, names, gold))
    scale, offset, bias = (torch.tensor([v], requires_grad=True) for v in (1.0, 0.0, 0.0))
    weights = torch.zeros(e.shape[1], requires_grad=True)
    params = [scale, weights, offset, bias]
    optimizer = torch.optim.LBFGS(params, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        out = scale * z + (e @ weights + offset) * c + bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out, y) + l2 * (weights**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    scale, weights, offset, bias = (p.detach() for p in params)
    return Gate(float(scale), weights.numpy(), float(offset), float(bias))


def _reference(pool: Path, n_names: int, n_passages: int) -> Tuple[List[str], List[str]]:
    """The pool's ``n_names`` type names in the most train passages, and ``n_passages`` of its
    train passages drawn with seed 0."""
    train = pool / "train.spacy"
    if not train.is_file():
        raise typer.BadParameter(f"no train.spacy in {pool}: pass the folder `student pool` wrote")
    counts, _ = pool_type_names(train)
    texts = [doc.text for doc in read_docbin(train, Vocab())]
    rng = random.Random(0)
    return [n for n, _ in counts.most_common(n_names)], rng.sample(texts, min(n_passages, len(texts)))


def _fitted_gate(cache: TopicCandidates, nlp: Language, pool: Path, n_passages: int, l2: float) -> Gate:
    """The gate fitted on ``n_passages`` fully annotated pool train passages, each asked all its types."""
    train = pool / "train.spacy"
    if not train.is_file():
        raise typer.BadParameter(f"no train.spacy in {pool}: pass the folder `student pool` wrote")
    docs = [d for d in read_docbin(train, nlp.vocab) if not is_partial(d) and d.ents]
    sample = random.Random(0).sample(docs, min(n_passages, len(docs)))
    with tempfile.TemporaryDirectory() as tmp:
        to_docbin(sample).to_disk(Path(tmp) / "sample.spacy")
        examples = all_types_examples(Path(tmp) / "sample.spacy", nlp)
    data = cache.gate_data(examples, floor=0.05)
    gate = fit_gate(*data, l2=l2)
    msg.info(
        f"Gate fitted on {len(data[0])} (span, type) rows of {len(sample)} train passages "
        f"({int(data[3].sum())} gold): scale {gate.scale:.3f}, offset {gate.offset:.3f}, bias {gate.bias:.3f}, "
        f"|weights| {float(numpy.linalg.norm(gate.weights)):.3f}"
    )
    return gate


@app.command()
def main(
    dev: Path = typer.Argument(
        ..., help="A dev view: the pool's dev.spacy, or NESTED.spacy (benchmarks/nested_dev.py)"
    ),
    student: str = typer.Argument("shipped", help="NAME=PIPELINE (or NAME=shipped)"),
    alphas: str = typer.Option("5,10,20", help="Weights of the topic term, in logits (comma-separated)"),
    protocol: str = typer.Option("both", help="all, single or both, as `student select`"),
    min_docs: int = typer.Option(20, help="Sources with fewer dev docs are left out"),
    skip_sources: str = typer.Option("", help="Comma-separated pool sources to leave out"),
    neighbours: Optional[Path] = typer.Option(
        None, help="The pool's neighbours.json (`student neighbours`): the term relative to each name's neighbours"
    ),
    centred: Optional[Path] = typer.Option(
        None, help="The pool folder: the term double-centred on its frequent names and a sample of its passages"
    ),
    reference_names: int = typer.Option(200, help="With --centred: the pool's names in the most passages"),
    reference_passages: int = typer.Option(2000, help="With --centred: train passages drawn (seed 0)"),
    gate_from: Optional[Path] = typer.Option(
        None, help="The pool folder: also a gate fitted on its train passages (how much the topic counts per name)"
    ),
    gate_passages: int = typer.Option(1500, help="With --gate-from: fully annotated train passages drawn (seed 0)"),
    gate_l2: float = typer.Option(1e-2, help="With --gate-from: L2 penalty on the gate's name weights"),
    output: Optional[Path] = typer.Option(None, help="Write every variant's select record here"),
) -> None:
    """Each dev doc asked as `student select` asks it, without and with the topic term."""
    try:
        weights = split_numbers(alphas)
    except ValueError:
        weights = []
    if not weights or min(weights) <= 0:
        raise typer.BadParameter(f"--alphas {alphas!r}: give comma-separated weights above 0, e.g. 5,10,20")
    name, path = named_student(student)
    nlp = load_student(path)
    if neighbours is not None and not neighbours.is_file():
        raise typer.BadParameter(f"no file {neighbours}: run `student neighbours POOL` and pass POOL/neighbours.json")
    table = srsly.read_json(neighbours) if neighbours is not None else None
    reference = _reference(centred, reference_names, reference_passages) if centred is not None else None
    if table is not None and reference is not None:
        raise typer.BadParameter("give --neighbours or --centred, not both")
    cache = TopicCandidates(nlp, SentenceEmbedder(DEFAULT_ENCODER), table, reference)
    kind = "relative topic" if table is not None else "centred topic" if reference is not None else "topic"
    examples = all_types_examples(dev, nlp)
    skip = split_names(skip_sources)
    sources = {f"{name} {kind} {alpha:g}" if alpha else name: cache.source(alpha) for alpha in [0.0, *weights]}
    if gate_from is not None:
        gate = _fitted_gate(cache, nlp, gate_from, gate_passages, gate_l2)
        sources[f"{name} {kind} learned gate"] = cache.source(gate=gate)
    try:
        decoding_variants(nlp, examples, protocol, sources, min_docs, skip, baseline="alpha 0", output=output)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err


if __name__ == "__main__":
    app()
