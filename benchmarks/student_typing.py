"""Does the span student tell sibling types apart? Each fine type asked alone, on the dev
mentions of its own type and of its siblings (the same broader name in ``hierarchy.json``).

    python benchmarks/student_typing.py training/pool/dev.spacy training/pool/hierarchy.json \
        v11=shipped v10=training/pipe-v10

Most of the student's each-type-alone errors are a related type's mentions (asked `politician`
alone, it claims athletes). F1 over a dev view mixes this with finding mentions and with
thresholds, and its interval is wide; this measures the typing itself, from the scores.
For every fully annotated dev source with two or more fine types of one broader name (each
with ``--min-mentions`` gold mentions), each such fine type is asked alone of the source's
passages that hold a mention of the group. Per type it prints the AUC (the chance that one of
its own mentions scores above one of a sibling's; 0.5 is chance) and, at the student's
threshold, the share of its own mentions found and of its siblings' mentions claimed. A
mention that is no candidate span scores below every candidate. The summary is the macro AUC
over types and sources, each later student against the first, with a paired bootstrap over
passages (resampled within each group of sibling types). With ``--topic 5,10`` it also scores
each student's logits plus each weight times the cosine of the passage's and the type name's
embeddings (the frozen sentence encoder the student started from), and that cosine alone (as
``topic alone``): how much of the typing the passage's topic holds. Dev data only: never choose on an eval file.
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy
import spacy
import srsly
import typer
from spacy.tokens import Doc
from tqdm import tqdm
from wasabi import msg

from spacy_uniner.data.catalogue import split_numbers
from spacy_uniner.data.docs import SOURCE_KEY, is_partial, read_docbin
from spacy_uniner.pipes.span.model import DEFAULT_ENCODER
from spacy_uniner.student.augment import read_hierarchy
from spacy_uniner.student.neighbours import SentenceEmbedder
from spacy_uniner.student.selection import load_student, named_student

NAME = "universal_ner_span"
MISSING = -1e9  # the logit of a mention that is no candidate span
TOPIC_ALONE = "topic alone"


@dataclass
class Group:
    """One source's fine types under one broader name, and the passages holding their mentions."""

    source: str
    broader: str
    types: List[str]
    docs: List[Doc]
    gold: List[List[Tuple[int, int, str]]] = field(default_factory=list)  # per doc: (start, end, fine type)


def sibling_groups(docs: Sequence[Doc], parents: Dict[str, str], min_mentions: int, max_docs: int) -> List[Group]:
    """Per fully annotated source and broader name, its fine types with ``min_mentions`` or
    more mentions, if two or more; each group's first ``max_docs`` passages with a mention."""
    by_source: Dict[str, List[Doc]] = defaultdict(list)
    for doc in docs:
        if not is_partial(doc):
            by_source[doc.user_data.get(SOURCE_KEY, "")].append(doc)
    groups = []
    for source, source_docs in sorted(by_source.items()):
        counts = Counter(e.label_ for doc in source_docs for e in doc.ents if e.label_ in parents)
        under: Dict[str, List[str]] = defaultdict(list)
        for fine, n in sorted(counts.items()):
            if n >= min_mentions:
                under[parents[fine]].append(fine)
        for broader, types in sorted(under.items()):
            if len(types) < 2:
                continue
            group = Group(source, broader, types, [])
            for doc in source_docs:
                gold = [(e.start, e.end, e.label_) for e in doc.ents if e.label_ in types]
                if gold and len(group.docs) < max_docs:
                    group.docs.append(doc)
                    group.gold.append(gold)
            groups.append(group)
    return groups


def mention_logits(nlp, group: Group, asked: str) -> List[List[float]]:
    """Per passage, the logit of ``asked`` (asked alone) on each gold mention of the group."""
    pipe = nlp.get_pipe(NAME)
    out = []
    for scores, gold in zip(pipe.span_scores(group.docs, [{asked: asked}] * len(group.docs)), group.gold):
        logits = pipe.model.ops.to_numpy(scores.logits)[:, 0]
        row = {(int(s), int(e)): float(x) for s, e, x in zip(scores.starts, scores.ends, logits)}
        out.append([row.get((start, end), MISSING) for start, end, _ in gold])
    return out


def split_scores(group: Group, asked: str, logits: List[List[float]]) -> Tuple[List[List[float]], List[List[float]]]:
    """Per passage, the logits of ``asked`` on its own mentions and on its siblings'."""
    own = [[x for x, (_, _, t) in zip(row, gold) if t == asked] for row, gold in zip(logits, group.gold)]
    siblings = [[x for x, (_, _, t) in zip(row, gold) if t != asked] for row, gold in zip(logits, group.gold)]
    return own, siblings


def pair_matrix(
    own_scores: List[List[float]], sib_scores: List[List[float]]
) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """``(wins, own, sibling)``: ``wins[i, j]`` sums, over own mentions in passage ``i`` and
    sibling mentions in passage ``j``, 1 where the own one scores higher (0.5 on a tie);
    ``own`` and ``sibling`` count each passage's mentions of both kinds."""
    n = len(own_scores)
    wins = numpy.zeros((n, n))
    for i, own in enumerate(own_scores):
        if not own:
            continue
        a = numpy.asarray(own)[:, None]
        for j, sib in enumerate(sib_scores):
            if sib:
                b = numpy.asarray(sib)[None, :]
                wins[i, j] = float((a > b).sum() + 0.5 * (a == b).sum())
    own = numpy.asarray([len(s) for s in own_scores], dtype=float)
    sibling = numpy.asarray([len(s) for s in sib_scores], dtype=float)
    return wins, own, sibling


def weighted_auc(
    wins: numpy.ndarray, own: numpy.ndarray, sibling: numpy.ndarray, weights: numpy.ndarray
) -> numpy.ndarray:
    """The AUC for each row of ``weights`` (passage multiplicities, ``(resamples, n)``);
    NaN where a resample has no pair."""
    pairs = (weights @ own) * (weights @ sibling)
    won = numpy.einsum("ri,ij,rj->r", weights, wins, weights)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        return numpy.where(pairs > 0, won / numpy.maximum(pairs, 1e-12), numpy.nan)


def topic_terms(embed: SentenceEmbedder, group: Group, asked: str) -> List[List[float]]:
    """Per passage, the cosine of its and ``asked``'s frozen sentence embeddings, per gold mention."""
    closeness = (embed([doc.text for doc in group.docs]) @ embed([asked])[0]).tolist()
    return [[c] * len(gold) for c, gold in zip(closeness, group.gold)]


def _weights(text: str) -> List[float]:
    try:
        weights = split_numbers(text)
    except ValueError:
        weights = [-1.0]
    if any(w <= 0 for w in weights):
        raise typer.BadParameter(f"--topic {text!r}: give comma-separated weights above 0, e.g. 5,10,20")
    return weights


def _type_row(item: dict) -> list:
    """A per-type table row (after the student's name)."""
    kind = f"{item['broader']}: {item['type']}"
    found, claimed = (f"{100 * item[k]:.1f}" if item[k] is not None else "-" for k in ("found", "claimed"))
    return [item["source"], kind, f"{item['auc']:.3f}", found, claimed, item["own"], item["siblings"]]


def main(
    dev: Path = typer.Argument(..., help="The pool's dev.spacy"),
    hierarchy: Path = typer.Argument(..., help="The pool's hierarchy.json ({fine type: broader type})"),
    students: List[str] = typer.Argument(..., help="NAME=PIPELINE (or NAME=shipped); the first is the baseline"),
    min_mentions: int = typer.Option(10, help="A fine type needs this many dev mentions in its source"),
    max_docs: int = typer.Option(200, help="At most this many passages per group"),
    resamples: int = typer.Option(1000, help="Paired bootstrap resamples (0: none)"),
    topic: str = typer.Option(
        "", help="Also each student's logits plus these weights x cos(passage, type name) (comma-separated)"
    ),
    output: Optional[Path] = typer.Option(None, help="Write the per-type figures here (JSON)"),
) -> None:
    """Each fine type asked alone on its own and its siblings' dev mentions: AUC, found,
    claimed, and the macro AUC of each student against the first."""
    parents = read_hierarchy(hierarchy)
    if not parents:
        raise typer.BadParameter(f"{hierarchy} maps no fine type to a broader one: pass the pool's hierarchy.json")
    groups = sibling_groups(list(read_docbin(dev, spacy.blank("en").vocab)), parents, min_mentions, max_docs)
    if not groups:
        raise typer.BadParameter(
            f"no source of {dev} has two fine types of one broader name with {min_mentions} mentions each: "
            "lower --min-mentions or pass the pool's dev.spacy"
        )
    named = [named_student(s) for s in students]
    rng = numpy.random.default_rng(0)
    draws = [rng.multinomial(len(g.docs), [1 / len(g.docs)] * len(g.docs), size=resamples) for g in groups]
    rows: List[list] = []
    record: Dict[str, List[dict]] = {}  # per student: its per-type figures
    macro: Dict[str, float] = {}
    resampled: Dict[str, Optional[numpy.ndarray]] = {}  # per student: its macro AUC per resample
    weights = _weights(topic)
    embed = SentenceEmbedder(DEFAULT_ENCODER) if weights else None
    queries = [(i, g, t) for i, g in enumerate(groups) for t in g.types]
    variants: Dict[str, List[List[List[float]]]] = {}  # per variant: per query, per passage, mention scores
    for n, (name, path) in enumerate(named):
        nlp = load_student(path)
        threshold = nlp.get_pipe(NAME).threshold
        cut = float(numpy.log(threshold / (1 - threshold)))
        logits = [
            mention_logits(nlp, g, t) for _, g, t in tqdm(queries, desc=f"{name}: types asked alone", unit="type")
        ]
        variants[name] = logits
        if embed is not None:
            terms = [topic_terms(embed, g, t) for _, g, t in queries]
            if n == 0:
                variants[TOPIC_ALONE] = terms
            for alpha in weights:
                variants[f"{name} + topic {alpha:g}"] = [
                    [[x + alpha * c for x, c in zip(row, crow)] for row, crow in zip(q, tq)]
                    for q, tq in zip(logits, terms)
                ]
        for variant in [v for v in variants if v not in record]:
            per_type, boot = [], []
            for (i, group, asked), scores in zip(queries, variants[variant]):
                own_scores, sib_scores = split_scores(group, asked, scores)
                wins, own, sibling = pair_matrix(own_scores, sib_scores)
                if not own.sum() or not sibling.sum():
                    continue
                found, claimed = None, None  # no threshold for the cosine alone
                if variant != TOPIC_ALONE:
                    found = float(numpy.mean([x >= cut for row in own_scores for x in row]))
                    claimed = float(numpy.mean([x >= cut for row in sib_scores for x in row]))
                auc = float(weighted_auc(wins, own, sibling, numpy.ones((1, len(own))))[0])
                per_type.append(
                    {
                        "source": group.source,
                        "broader": group.broader,
                        "type": asked,
                        "auc": auc,
                        "found": found,
                        "claimed": claimed,
                        "own": int(own.sum()),
                        "siblings": int(sibling.sum()),
                    }
                )
                boot.append((group.source, weighted_auc(wins, own, sibling, draws[i])))
            record[variant] = per_type
            by_source: Dict[str, List[float]] = defaultdict(list)
            for item in per_type:
                by_source[item["source"]].append(item["auc"])
            macro[variant] = float(numpy.mean([numpy.mean(v) for v in by_source.values()]))
            boot_by_source: Dict[str, List[numpy.ndarray]] = defaultdict(list)
            for source, values in boot:
                boot_by_source[source].append(values)
            with warnings.catch_warnings():  # a resample may hold no pair of a type: NaN, left out
                warnings.simplefilter("ignore", RuntimeWarning)
                resampled[variant] = (
                    numpy.mean([numpy.nanmean(numpy.stack(v), axis=0) for v in boot_by_source.values()], axis=0)
                    if resamples
                    else None
                )
            rows += [[variant, *_type_row(item)] for item in per_type]
    header = [
        "student",
        "dev source",
        "type asked alone",
        "AUC",
        "own found %",
        "siblings claimed %",
        "own",
        "siblings",
    ]
    msg.table(rows, header=header, divider=True)
    summary = []
    base = named[0][0]
    for name in variants:
        line = [name, f"{macro[name]:.3f}"]
        if name != base and resamples:
            diff = resampled[name] - resampled[base]
            low, high = numpy.nanpercentile(diff, [2.5, 97.5])
            line += [
                f"{macro[name] - macro[base]:+.3f} [{low:+.3f}, {high:+.3f}]",
                f"{100 * numpy.mean(diff > 0):.1f}%",
            ]
        else:
            line += ["", ""]
        summary.append(line)
    msg.table(summary, header=["student", "macro AUC", f"minus {base} [95% interval]", "resamples won"], divider=True)
    if output is not None:
        srsly.write_json(output, {"macro_auc": macro, "types": record})


if __name__ == "__main__":
    typer.run(main)
