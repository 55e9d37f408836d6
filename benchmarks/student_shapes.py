"""The span student in the query shapes users ask: long documents and many labels.

    python benchmarks/student_shapes.py long-docs training/pool/dev.spacy v5=shipped v6=training/v6 \
        --window-lengths 128,192,256,448
    python benchmarks/student_shapes.py labels DATA/uniner_eval/CrossNER_AI.json v5=shipped v6=training/v6 \
        --type-names DATA/raw/ufet_crowd/types.txt
    python benchmarks/student_shapes.py context NESTED.spacy v11=shipped --context person,location,organization
    python benchmarks/student_shapes.py whitespace training/pool/dev.spacy v11=shipped
    python benchmarks/student_shapes.py codes DATA v11=shipped --datasets conllpp,wikiann_en --try MISC=miscellaneous
    python benchmarks/student_shapes.py processes training/pool/dev.spacy v11=shipped --source multiconer2_en

``long-docs`` (dev data: choose ``window_length`` here, never on an eval file): per pool
source, ``--join`` consecutive dev passages become one doc, with and without sentence
boundaries at the passage starts, and are asked the source's most frequent types. It prints
the share of the entities found passage by passage that the joined docs find, and the span
F1 of both against the gold mentions. ``labels``: passages/s (and peak RSS) asking one type,
all of the file's types, and the file's types among 100 and 1,000 type names (on dev data: a
pool ``--source``'s dev passages and its most frequent types); the candidates
of the file's types found among many names (``doc.spans``: overlaps with other types' spans
kept) are compared with those found with the file's types alone. ``context`` (dev data): each
query also asks fixed context type names the user did not ask, whose scores are dropped
before decoding; `student select`'s scores with and without them, side by side, and their
paired bootstrap. ``whitespace`` (dev data): each dev doc as is and with the white space of
reports and web text that spaCy keeps as tokens (a line break after each sentence-final
period, a run of spaces after ``--rate`` of the other tokens); `student select`'s scores of both.
``codes`` (dev splits of catalogue datasets tagged with label codes, the codes kept): span F1
asking the codes as written (a mapping ``{"PER": "PER"}``), as a list of labels (spaCy label
codes read as their type names, ``labels.LABEL_CODES``), and with each ``--try CODE=TEXT``.
``processes`` (dev data): passages/s of one process on all torch threads against
``nlp.pipe(n_process=N)`` with forked workers (one torch thread each) and spawned ones (torch's
default threads each, loading the pipeline first), and whether their entities equal the one process's.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import resource
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import srsly
import typer
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import minibatch
from tqdm import tqdm
from wasabi import msg

from spacy_uniner.data.catalogue import load_catalogue, split_names
from spacy_uniner.data.docs import LABELS_ATTR, SOURCE_KEY, read_docbin, to_docbin
from spacy_uniner.data.readers import read_docs, read_uniner_eval
from spacy_uniner.labels import normalize_labels
from spacy_uniner.pipes.span.model import SpanScores
from spacy_uniner.student.bootstrap import paired_bootstrap
from spacy_uniner.student.selection import (
    SourceScores,
    all_types_examples,
    load_student,
    named_student,
    protocol_scores,
    scores_record,
)
from spacy_uniner.student.threshold import CandidateSource

NAME = "universal_ner_span"
app = typer.Typer(no_args_is_help=True)
Found = set  # {(start_char, end_char, label)}


def _found(
    nlp: Language, docs: Sequence[Doc], labels: List[str], batch_size: int = 32, candidates: bool = False
) -> List[Found]:
    """The entities (or, with ``candidates``, every candidate above the threshold, overlapping
    ones included) the student finds in copies of ``docs`` asked ``labels``."""
    pipe = nlp.get_pipe(NAME)
    out = []
    for batch in minibatch(docs, batch_size):
        copies = [d.copy() for d in batch]
        for doc in copies:
            doc._.set(LABELS_ATTR, None)  # ask ``labels``, not the types a dev doc carries
            doc.ents = []
        for doc in pipe.pipe(copies, labels=labels):
            spans = doc.spans[pipe.spans_key] if candidates else doc.ents
            out.append({(e.start_char, e.end_char, e.label_) for e in spans})
    return out


JOINS = ("plain", "sents", "paras")  # one space, one space and sentence starts, a blank line


def _joined(docs: Sequence[Doc], join: str) -> Tuple[Doc, List[int]]:
    """The text of ``docs`` in a row as one doc without sentence boundaries, each passage
    after a space (``plain``) or a blank line (``paras``), or after a space and starting a
    sentence (``sents``); and the character offset of each passage."""
    words, spaces, starts = [], [], []
    for doc in docs:
        if words and join == "paras":
            spaces[-1] = False
            words.append("\n\n")
            spaces.append(False)
        starts.append(len(words))
        words += [t.text for t in doc]
        spaces += [bool(t.whitespace_) for t in doc]
        spaces[-1] = True
    joined = Doc(docs[0].vocab, words=words, spaces=spaces)
    if join == "sents":
        for token in joined:
            token.is_sent_start = token.i in set(starts)
    return joined, [joined[i].idx for i in starts]


def _f1(found: Sequence[Found], gold: Sequence[Found]) -> float:
    tp = sum(len(f & g) for f, g in zip(found, gold))
    n_found, n_gold = sum(map(len, found)), sum(map(len, gold))
    return 2 * tp / max(1, n_found + n_gold)


@app.command("long-docs")
def long_docs(
    dev: Path = typer.Argument(..., help="The pool's dev.spacy"),
    students: List[str] = typer.Argument(..., help="NAME=PIPELINE (or NAME=shipped)"),
    window_lengths: str = typer.Option("", help="Also try these window_length values (comma-separated)"),
    join: int = typer.Option(10, help="Passages per long doc"),
    max_types: int = typer.Option(10, help="The source's most frequent types asked"),
    min_docs: int = typer.Option(40, help="Sources with fewer dev passages are left out"),
    per_source: int = typer.Option(60, help="At most this many dev passages per source"),
) -> None:
    """Entities found in long docs, as a share of those found passage by passage (dev data)."""
    rows = []
    for name, path in map(named_student, students):
        nlp = load_student(path)
        groups: Dict[str, List[Example]] = defaultdict(list)
        for eg in all_types_examples(dev, nlp):
            groups[str(eg.reference.user_data.get(SOURCE_KEY))].append(eg)
        sources = {s: egs[:per_source] for s, egs in sorted(groups.items()) if len(egs) >= min_docs}
        model = nlp.get_pipe(NAME).model
        lengths = [int(x) for x in window_lengths.split(",") if x.strip()] or [model.attrs["window_length"]]
        for length in lengths:
            model.attrs["window_length"] = length
            totals = Counter()
            for egs in tqdm(sources.values(), desc=f"{name} window {length}", leave=False):
                counts = Counter(e.label_ for eg in egs for e in eg.reference.ents)
                labels = [t for t, _ in counts.most_common(max_types)]
                refs = [eg.reference for eg in egs]
                passages = [eg.predicted for eg in egs]
                alone = _found(nlp, passages, labels)
                gold = [{(e.start_char, e.end_char, e.label_) for e in r.ents if e.label_ in labels} for r in refs]
                totals["alone"] += sum(map(len, alone))
                totals["tp_alone"] += sum(len(f & g) for f, g in zip(alone, gold))
                totals["gold"] += sum(map(len, gold))
                for key in JOINS:
                    for i in range(0, len(passages), join):
                        part = passages[i : i + join]
                        doc, offsets = _joined(part, key)
                        found = _found(nlp, [doc], labels)[0]
                        wanted = _shifted(alone[i : i + join], offsets)
                        gold_here = _shifted(gold[i : i + join], offsets)
                        totals[f"kept_{key}"] += len(found & wanted)
                        totals[f"found_{key}"] += len(found)
                        totals[f"tp_{key}"] += len(found & gold_here)
            found_pct = [f"{100 * totals[f'found_{k}'] / max(1, totals['alone']):.1f}" for k in JOINS]
            kept_pct = [f"{100 * totals[f'kept_{k}'] / max(1, totals['alone']):.1f}" for k in JOINS]
            f1s = [f"{_pct_f1(totals, f'tp_{k}', f'found_{k}'):.1f}" for k in JOINS]
            rows.append(
                [
                    name,
                    length,
                    totals["alone"],
                    *found_pct,
                    *kept_pct,
                    f"{_pct_f1(totals, 'tp_alone', 'alone'):.1f}",
                    *f1s,
                ]
            )
    header = [
        "student",
        "window",
        "found alone",
        "found long / alone %",
        "(sents) %",
        "(paras) %",
        "alone kept %",
        "(sents) %",
        "(paras) %",
        "F1 alone",
        "F1 long",
        "F1 long+sents",
        "F1 long+paras",
    ]
    msg.table(rows, header=header, divider=True)


def _pct_f1(totals: Counter, tp: str, found: str) -> float:
    return 100 * 2 * totals[tp] / max(1, totals[found] + totals["gold"])


def _shifted(found: Sequence[Found], offsets: Sequence[int]) -> Found:
    """Entities of consecutive passages in the joined doc's character offsets."""
    return {(s + o, e + o, label) for f, o in zip(found, offsets) for s, e, label in f}


@app.command("labels")
def labels_command(
    eval_file: Path = typer.Argument(..., help="A UniNER eval file (JSON), or the pool's dev.spacy with --source"),
    students: List[str] = typer.Argument(..., help="NAME=PIPELINE (or NAME=shipped)"),
    type_names: Path = typer.Option(..., help="Other type names, one per line (e.g. an ultra-fine typing vocabulary)"),
    limit: int = typer.Option(100, help="Passages"),
    source: str = typer.Option("", help="With a dev.spacy: the pool source whose dev passages are asked"),
    max_types: int = typer.Option(13, help="With a dev.spacy: the source's most frequent types asked"),
) -> None:
    """Passages/s by number of labels, and how much the file's types' answers change."""
    if eval_file.suffix == ".spacy":
        docs, file_types = _dev_docs(eval_file, source, limit, max_types)
    else:
        docs, file_types = _eval_docs(eval_file, limit)
    others = [t for t in dict.fromkeys(Path(type_names).read_text(encoding="utf8").split("\n")) if t.strip()]
    others = [t.replace("_", " ") for t in others if t.replace("_", " ") not in file_types]
    shapes = {
        "1 type": file_types[:1],
        f"{len(file_types)} types (the file's)": file_types,
        "100 types": file_types + others[: 100 - len(file_types)],
        "1000 types": file_types + others[: 1000 - len(file_types)],
    }
    rows = []
    for name, path in map(named_student, students):
        nlp = load_student(path)
        _found(nlp, docs[:4], file_types)  # load the weights before timing
        reference = None
        for shape, labels in shapes.items():
            start = time.perf_counter()
            found = _found(nlp, docs, labels, candidates=True)
            seconds = time.perf_counter() - start
            found = [{f for f in doc if f[2] in file_types} for doc in found]
            if shape.startswith(f"{len(file_types)} "):
                reference = found
            same = "" if reference is None else f"{100 * _f1(found, reference):.1f}"
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rows.append([name, shape, f"{len(docs) / seconds:.1f}", f"{rss:.0f}", same])
    header = ["student", "labels", "passages/s", "peak RSS MB", "candidates of the file's types: F1 vs asked alone"]
    msg.table(rows, header=header, divider=True)


def _eval_docs(path: Path, limit: int) -> Tuple[List[Doc], List[str]]:
    """The file's first ``limit`` passages and its type names (in the order it asks them)."""
    import spacy

    docs, queries = read_uniner_eval(path, spacy.blank("en").vocab)
    return docs[:limit], list(dict.fromkeys(q.label for q in queries))


def _dev_docs(path: Path, source: str, limit: int, max_types: int) -> Tuple[List[Doc], List[str]]:
    """The first ``limit`` dev passages of pool ``source`` and its ``max_types`` most frequent types."""
    import spacy

    docs = [d for d in read_docbin(path, spacy.blank("en").vocab) if d.user_data.get(SOURCE_KEY) == source]
    if not docs:
        raise typer.BadParameter(f"no dev passage of source {source!r} in {path}: pass --source, a pool source name")
    counts = Counter(e.label_ for doc in docs for e in doc.ents)
    return docs[:limit], [t for t, _ in counts.most_common(max_types)]


def _with_context(nlp: Language, context: Sequence[str]) -> CandidateSource:
    """Candidates of each query's own types, scored with ``context`` names asked beside them
    (those not asked already, case-insensitive) and dropped before decoding."""
    pipe = nlp.get_pipe(NAME)

    def source(docs: Sequence[Doc], label_maps: Sequence[Dict[str, str]], floor: float):
        asked = [{t.lower() for t in m.values()} for m in label_maps]
        full = [{**m, **{f"context {t}": t for t in context if t.lower() not in a}} for m, a in zip(label_maps, asked)]
        found = []
        for scores, label_map in zip(pipe.span_scores(docs, full), label_maps):
            own = SpanScores(scores.starts, scores.ends, scores.logits[:, : len(label_map)])  # asked first
            found.append(pipe.candidates(own, label_map, floor=floor))
        return found

    return source


def _side_by_side(first: Dict[str, SourceScores], second: Dict[str, SourceScores]) -> List[List[str]]:
    """Table rows: per protocol, each source's span F1 in both runs at each run's threshold,
    then their macro averages."""
    rows = []
    for key, a in first.items():
        b = second[key]
        for source in a.by_source:
            rows.append([key, source, f"{100 * a.by_source[source][a.threshold]:.1f}"])
            rows[-1].append(f"{100 * b.by_source[source][b.threshold]:.1f}")
        rows.append([key, "macro average (threshold)", f"{100 * a.macro_f1:.2f} ({a.threshold:g})"])
        rows[-1].append(f"{100 * b.macro_f1:.2f} ({b.threshold:g})")
    return rows


@app.command("context")
def context_command(
    dev: Path = typer.Argument(
        ..., help="A dev view: the pool's dev.spacy, or NESTED.spacy (benchmarks/nested_dev.py)"
    ),
    student: str = typer.Argument("shipped", help="NAME=PIPELINE (or NAME=shipped)"),
    context: str = typer.Option("person,location,organization", help="Comma-separated context type names"),
    protocol: str = typer.Option("both", help="all, single or both, as `student select`"),
    min_docs: int = typer.Option(20, help="Sources with fewer dev docs are left out"),
    skip_sources: str = typer.Option("", help="Comma-separated pool sources to leave out"),
    output: Optional[Path] = typer.Option(None, help="Write both select records here (for `student bootstrap`)"),
) -> None:
    """Does asking fixed context names beside every query help? Each dev doc asked as
    `student select` asks it, with and without them; thresholds chosen per protocol."""
    names = split_names(context)
    if not names:
        raise typer.BadParameter("--context names no type: give comma-separated type names, e.g. person,location")
    name, path = named_student(student)
    nlp = load_student(path)
    examples = all_types_examples(dev, nlp)
    skip = split_names(skip_sources)
    try:
        plain = protocol_scores(nlp, examples, protocol, min_docs=min_docs, skip=skip)
        with_context = protocol_scores(
            nlp, examples, protocol, min_docs=min_docs, skip=skip, source=_with_context(nlp, names)
        )
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    msg.table(
        _side_by_side(plain, with_context), header=["protocol", "dev source", name, f"{name} + context"], divider=True
    )
    records = {name: scores_record(plain), f"{name}+context": scores_record(with_context)}
    result = paired_bootstrap(records[f"{name}+context"], records[name], 1000, 0)
    msg.info(
        f"With context {names}: lower of the protocols {100 * records[f'{name}+context']['score']:.2f} against "
        f"{100 * records[name]['score']:.2f}, difference {100 * result.difference:+.2f} "
        f"[{100 * result.low:+.2f}, {100 * result.high:+.2f}] (paired bootstrap, 1000 resamples; "
        f"{100 * result.share_better:.1f}% won)"
    )
    if output is not None:
        srsly.write_json(output, records)


def with_white_space(doc: Doc, rate: float, draw: random.Random) -> Doc:
    """``doc`` with a line-break token after each sentence-final period and a run of spaces
    after a ``rate`` share of the other tokens (never inside an entity); its entities, type
    names and source kept."""
    inside = {i for e in doc.ents for i in range(e.start, e.end - 1)}
    words, spaces, where = [], [], []
    for token in doc:
        where.append(len(words))
        words.append(token.text)
        spaces.append(bool(token.whitespace_))
        if token.i + 1 < len(doc) and token.i not in inside and (token.text == "." or draw.random() < rate):
            words.append("\n" if token.text == "." else "  ")
            spaces.append(False)
    where.append(len(words))
    new = Doc(doc.vocab, words=words, spaces=spaces, user_data=dict(doc.user_data))
    new.ents = [Span(new, where[e.start], where[e.end - 1] + 1, label=e.label_) for e in doc.ents]
    new._.set(LABELS_ATTR, doc._.get(LABELS_ATTR))
    return new


@app.command("whitespace")
def whitespace_command(
    dev: Path = typer.Argument(..., help="A dev view: the pool's dev.spacy, or NESTED.spacy (nested_dev.py)"),
    student: str = typer.Argument("shipped", help="NAME=PIPELINE (or NAME=shipped)"),
    rate: float = typer.Option(0.1, help="Share of the tokens followed by a run of spaces"),
    protocol: str = typer.Option("all", help="all, single or both, as `student select`"),
    min_docs: int = typer.Option(20, help="Sources with fewer dev docs are left out"),
    skip_sources: str = typer.Option("", help="Comma-separated pool sources to leave out"),
    seed: int = typer.Option(0, help="Where the runs of spaces go"),
) -> None:
    """Does white space kept as tokens change what the student finds? Each dev doc asked as
    `student select` asks it, as is and with line breaks and runs of spaces added."""
    if not 0.0 <= rate <= 1.0:
        raise typer.BadParameter(f"--rate is {rate}: give a share in [0, 1]")
    name, path = named_student(student)
    nlp = load_student(path)
    draw = random.Random(seed)
    skip = split_names(skip_sources)
    with tempfile.TemporaryDirectory() as tmp:
        spaced_path = Path(tmp) / "spaced.spacy"
        to_docbin(with_white_space(doc, rate, draw) for doc in read_docbin(dev, nlp.vocab)).to_disk(spaced_path)
        views = {}
        for view, docs_path in (("as is", dev), ("with white space", spaced_path)):
            examples = all_types_examples(docs_path, nlp)
            try:
                views[view] = protocol_scores(nlp, examples, protocol, min_docs=min_docs, skip=skip)
            except ValueError as err:
                raise typer.BadParameter(str(err)) from err
    rows = _side_by_side(views["as is"], views["with white space"])
    msg.table(rows, header=["protocol", "dev source", f"{name}: as is", "with white space"], divider=True)


def _tried(values: Sequence[str], codes: Sequence[str]) -> List[Tuple[str, str]]:
    """``--try CODE=TEXT`` options as (code, text) pairs, checked against the datasets' codes."""
    pairs = []
    for value in values:
        code, _, text = value.partition("=")
        if not text.strip() or code not in codes:
            raise typer.BadParameter(f"--try {value!r}: give CODE=TEXT with CODE one of {', '.join(codes)}")
        pairs.append((code, text.strip()))
    return pairs


@app.command("codes")
def codes_command(
    data_dir: Path = typer.Argument(..., help="DATA: the folder `weasel run fetch-pool` fills"),
    student: str = typer.Argument("shipped", help="NAME=PIPELINE (or NAME=shipped)"),
    datasets: str = typer.Option("conllpp,wikiann_en", help="Comma-separated catalogue datasets with a dev split"),
    tries: List[str] = typer.Option([], "--try", help="CODE=TEXT: also ask CODE as TEXT (repeatable)"),
    limit: int = typer.Option(400, help="Dev passages per dataset"),
    output: Optional[Path] = typer.Option(None, help="Write {dataset: {asked: {f1, per_code}}} here (JSON)"),
) -> None:
    """Span F1 on dev passages whose gold labels are codes (PER, ORG, LOC, MISC), asked as
    written, as a list of labels, and with each tried type text."""
    name, path = named_student(student)
    nlp = load_student(path)
    catalogue = load_catalogue()
    dev: Dict[str, List[Doc]] = {}
    for dataset in split_names(datasets):
        spec = catalogue.get(dataset)
        files = spec.files("dev") if spec is not None else None
        if not files:
            raise typer.BadParameter(f"{dataset!r} is no catalogue dataset with a dev split")
        dev[dataset] = [d for f in files for d in read_docs(data_dir / f.path, spec.format, nlp.vocab)][:limit]
    tried = _tried(tries, sorted({e.label_ for docs in dev.values() for d in docs for e in d.ents}))
    rows = []
    records: Dict[str, Dict[str, dict]] = defaultdict(dict)
    for dataset, docs in dev.items():
        codes = sorted({e.label_ for d in docs for e in d.ents})
        gold = [{(e.start_char, e.end_char, e.label_) for e in d.ents} for d in docs]
        ways: Dict[str, object] = {"as written": {c: c for c in codes}, "list of labels": codes}
        for code, text in tried:
            if code in codes:
                ways[f"{code} as {text!r}"] = {**normalize_labels(codes), code: text}
        for way, labels in ways.items():
            found = _found(nlp, docs, labels)  # type: ignore[arg-type]
            per_code = [
                _f1([{f for f in x if f[2] == c} for x in found], [{g for g in y if g[2] == c} for y in gold])
                for c in codes
            ]
            by_code = " / ".join(f"{c} {100 * f:.1f}" for c, f in zip(codes, per_code))
            rows.append([dataset, len(docs), way, f"{100 * _f1(found, gold):.1f}", by_code])
            records[dataset][way] = {"f1": _f1(found, gold), "per_code": dict(zip(codes, per_code))}
    msg.table(rows, header=["dataset", "passages", "asked", f"{name}: span F1", "F1 per code"], divider=True)
    if output is not None:
        srsly.write_json(output, records)


@app.command("processes")
def processes_command(
    dev_path: Path = typer.Argument(..., help="The pool's dev.spacy"),
    student: str = typer.Argument("shipped", help="NAME=PIPELINE (or NAME=shipped)"),
    source: str = typer.Option(..., help="The pool source whose dev passages are read"),
    limit: int = typer.Option(400, help="Passages (repeated when the source has fewer)"),
    max_types: int = typer.Option(13, help="The source's most frequent types asked"),
    n_process: int = typer.Option(2, help="Worker processes"),
    batch_size: int = typer.Option(32, help="nlp.pipe's batch size"),
) -> None:
    """Passages/s in one process and in forked and spawned workers."""
    import torch

    name, path = named_student(student)
    docs, types = _dev_docs(dev_path, source, limit, max_types)
    texts = [docs[i % len(docs)].text for i in range(limit)]
    with tempfile.TemporaryDirectory() as folder:
        load_student(path).to_disk(folder)  # what a spawned worker loads
        rows, reference = [], None
        for way, method, workers in (
            ("one process", None, 1),
            ("forked", "fork", n_process),
            ("spawned", "spawn", n_process),
        ):
            if method is not None and method not in multiprocessing.get_all_start_methods():
                continue
            nlp = load_student(folder)
            # load the weights (and use the threads) first
            list(nlp.pipe(texts[:4], component_cfg={NAME: {"labels": types}}))
            before = multiprocessing.get_start_method(allow_none=True)
            if method is not None:
                multiprocessing.set_start_method(method, force=True)
            start = time.perf_counter()
            got = nlp.pipe(texts, n_process=workers, batch_size=batch_size, component_cfg={NAME: {"labels": types}})
            found = [{(e.start_char, e.end_char, e.label_) for e in doc.ents} for doc in got]
            seconds = time.perf_counter() - start
            multiprocessing.set_start_method(before, force=True)
            reference = reference or found
            threads = {None: f"{torch.get_num_threads()}", "fork": "1 each"}.get(method, "torch's default each")
            same = "yes" if found == reference else f"F1 {100 * _f1(found, reference):.1f}"
            rows.append([way, workers, threads, f"{len(texts) / seconds:.1f}", same])
    header = ["how", "processes", "torch threads", f"{name}: passages/s", "entities as one process"]
    msg.table(rows, header=header, divider=True)
    msg.info(f"{len(texts)} passages of {source!r}, {len(types)} types, batch {batch_size}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    app()
