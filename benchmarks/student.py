"""Benchmark of the compact ``universal_ner_span`` student.

    python benchmarks/student.py targeted --data-dir DATA --output benchmarks/results/student --seed 0
    python benchmarks/student.py table benchmarks/results/student benchmarks/results/student-seed1
    python benchmarks/student.py speed MODEL --eval-file DATA/uniner_eval/CrossNER_AI.json

``targeted``: per CrossNER domain, train with ``spacy train configs/student.cfg`` on its
``train.txt`` (standing in for teacher labels), choose the threshold on ``dev.txt``, and score
the domain's UniNER eval file with the paper's string metric and span-level strict F1.

``zero-shot``: train one student on labelled datasets other than CrossNER and MIT (plus
teacher annotations of Pile passages), with type-name synonyms and negative types sampled
by frequency; threshold on a held-out part of that pool; score all six UniNER eval files.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import spacy
import srsly
import typer
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc
from spacy.training import Example

from spacy_uniner.data.docs import copy_tokens
from spacy_uniner.data.metric import string_prf
from spacy_uniner.data.readers import read_docs, read_uniner_eval
from spacy_uniner.distill.pool import dev_from_sources
from spacy_uniner.evaluation.report import DEFAULT_PAPER_RESULTS
from spacy_uniner.student.component import TYPES_ATTR
from spacy_uniner.student.corpus import StudentCorpus, dev_examples, to_docbin
from spacy_uniner.student.selection import load_student
from spacy_uniner.student.threshold import tune_thresholds

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = {
    "ai": "CrossNER_AI",
    "literature": "CrossNER_literature",
    "music": "CrossNER_music",
    "politics": "CrossNER_politics",
    "science": "CrossNER_science",
}
# CrossNER tags -> the type names of the UniNER eval files (which drop `misc`).
CROSSNER_TYPES = {
    "organisation": "organization",
    "programlang": "program language",
    "literarygenre": "literary genre",
    "musicalartist": "musical artist",
    "musicalinstrument": "musical instrument",
    "musicgenre": "music genre",
    "politicalparty": "political party",
    "academicjournal": "academic journal",
    "astronomicalobject": "astronomical object",
    "chemicalcompound": "chemical compound",
    "chemicalelement": "chemical element",
    "misc": None,
}

app = typer.Typer(no_args_is_help=True)


def crossner_label_map(path: Path) -> Dict[str, Optional[str]]:
    tags = set()
    for line in path.read_text(encoding="utf8").splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[1] != "O":
            tags.add(parts[1][2:])
    return {tag: CROSSNER_TYPES.get(tag, tag) for tag in sorted(tags)}


def eval_queries(nlp, eval_file: Path, limit: int = 0):
    """Gold docs and queries of a UniNER eval file, its type names, and unannotated copies
    of the docs that ask all of them."""
    gold_docs, queries = read_uniner_eval(eval_file, nlp.vocab)
    types = sorted({q.label for q in queries})
    gold_docs = gold_docs[:limit] if limit else gold_docs
    docs = []
    for gold in gold_docs:
        doc = copy_tokens(gold, nlp.vocab)
        doc._.set(TYPES_ATTR, types)
        docs.append(doc)
    return gold_docs, queries, types, docs


def score_eval_file(nlp, eval_file: Path, batch_size: int = 32) -> Dict[str, float]:
    """Paper string metric and span-level strict F1 of ``doc.ents`` on a UniNER eval file;
    every passage is asked all the file's types."""
    gold_docs, queries, types, docs = eval_queries(nlp, eval_file)
    start = time.perf_counter()
    docs = list(nlp.pipe(docs, batch_size=batch_size))
    seconds = time.perf_counter() - start
    preds = [json.dumps([e.text for e in docs[q.doc_index].ents if e.label_ == q.label]) for q in queries]
    strings = string_prf(preds, [q.gold for q in queries])
    spans = get_ner_prf([Example(doc, gold) for doc, gold in zip(docs, gold_docs)])
    return {
        "string_f1": 100 * strings.f1,
        "string_p": 100 * strings.precision,
        "string_r": 100 * strings.recall,
        "span_f1": 100 * spans["ents_f"],
        "passages": len(docs),
        "types": len(types),
        "passages_per_s": len(docs) / seconds,
    }


def trained_model(output: Path) -> Path:
    """The pipeline ``spacy train`` kept in ``output``: model-best, else model-last."""
    return output / "model-best" if (output / "model-best").exists() else output / "model-last"


def tune_and_score(model_dir: Path, dev_path: Path, eval_file: Path) -> Dict:
    """Tune the thresholds of a trained student on dev, save them into it, and score the
    eval file with them and with the global threshold alone (ablation)."""
    nlp = spacy.load(model_dir)
    dev = list(StudentCorpus(dev_path, shuffle_types=False, gold_preproc=True)(nlp))
    thresholds = tune_thresholds(nlp, dev)
    thresholds.apply(nlp)
    nlp.to_disk(model_dir)
    scores = score_eval_file(nlp, eval_file)
    nlp.get_pipe("universal_ner_span").type_thresholds = {}
    global_only = score_eval_file(nlp, eval_file)
    return {
        "threshold": thresholds.threshold,
        "type_thresholds": thresholds.type_thresholds,
        "dev_span_f1_global": 100 * thresholds.f_by_threshold[thresholds.threshold],
        "dev_span_f1": 100 * thresholds.f1,
        **scores,
        "global_threshold_string_f1": global_only["string_f1"],
        "global_threshold_span_f1": global_only["span_f1"],
    }


def train(config: Path, train_path: Path, dev_path: Path, output: Path, overrides: List[str]) -> float:
    """Run ``spacy train``; returns wall-clock minutes."""
    code = output / "code.py"
    output.mkdir(parents=True, exist_ok=True)
    code.write_text("import spacy_uniner.student.component, spacy_uniner.student.corpus  # noqa: F401\n")
    cmd = [sys.executable, "-m", "spacy", "train", str(config), "--output", str(output), "--code", str(code)]
    cmd += ["--paths.train", str(train_path), "--paths.dev", str(dev_path), *overrides]
    start = time.perf_counter()
    with (output / "train.log").open("w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return (time.perf_counter() - start) / 60


@app.command()
def targeted(
    data_dir: Path = typer.Option(..., help="Benchmark data folder (with raw/ and uniner_eval/)"),
    output: Path = typer.Option(Path("benchmarks/results/student"), help="Models and results go here"),
    config: Path = typer.Option(ROOT / "configs" / "student.cfg"),
    max_steps: int = typer.Option(600, help="Training steps per domain"),
    domains: str = typer.Option(",".join(DOMAINS), help="Comma-separated CrossNER domains"),
    overrides: List[str] = typer.Option(
        [], "--set", help="Config override for `spacy train`, e.g. --set training.dropout=0.2"
    ),
    seed: int = typer.Option(0, help="Seed of the training run and its reader"),
) -> None:
    """Train one student per CrossNER domain, threshold on dev, score the eval file."""
    results = srsly.read_json(output / "targeted.json") if (output / "targeted.json").exists() else {}
    for domain in domains.split(","):
        raw = data_dir / "raw" / f"crossner_{domain}"
        label_map = crossner_label_map(raw / "train.txt")
        types = sorted({v for v in label_map.values() if v})
        nlp = spacy.blank("en")
        paths = {}
        for split in ("train", "dev"):
            paths[split] = output / domain / f"{split}.spacy"
            paths[split].parent.mkdir(parents=True, exist_ok=True)
            to_docbin(read_docs(raw / f"{split}.txt", "bio", nlp.vocab, label_map), types).to_disk(paths[split])
        settings = [f"--training.max_steps={max_steps}", f"--system.seed={seed}", *(f"--{o}" for o in overrides)]
        minutes = train(config, paths["train"], paths["dev"], output / domain, settings)
        model_dir = trained_model(output / domain)
        threads = os.environ.get("OMP_NUM_THREADS", "all")
        results[domain] = {
            "train_minutes": minutes,
            "max_steps": max_steps,
            "seed": seed,
            "threads": threads,
            "overrides": overrides,
        }
        results[domain].update(
            tune_and_score(model_dir, paths["dev"], data_dir / "uniner_eval" / f"{DOMAINS[domain]}.json")
        )
        typer.echo(f"{domain}: {json.dumps(results[domain])}")
        srsly.write_json(output / "targeted.json", results)
    done = [r for r in results.values()]
    if done:
        typer.echo(f"average string F1 over {len(done)} domains: {sum(r['string_f1'] for r in done) / len(done):.1f}")


@app.command()
def retune(
    data_dir: Path = typer.Option(..., help="Benchmark data folder (with uniner_eval/)"),
    output: Path = typer.Option(Path("benchmarks/results/student"), help="Output folder of `targeted`"),
) -> None:
    """Choose the trained students' thresholds again on their dev split (with the current
    default grid) and rescore the eval files; no retraining."""
    results = srsly.read_json(output / "targeted.json")
    for domain, result in results.items():
        model_dir = trained_model(output / domain)
        result.update(
            tune_and_score(
                model_dir, output / domain / "dev.spacy", data_dir / "uniner_eval" / f"{DOMAINS[domain]}.json"
            )
        )
        typer.echo(f"{domain}: {json.dumps(result)}")
    srsly.write_json(output / "targeted.json", results)
    typer.echo(
        f"average string F1 over {len(results)} domains: "
        f"{sum(r['string_f1'] for r in results.values()) / len(results):.1f}"
    )


@app.command()
def table(
    outputs: List[Path] = typer.Argument(..., help="Output folders of `targeted` runs (e.g. one per seed)"),
    paper: Path = typer.Option(DEFAULT_PAPER_RESULTS, help="Published results"),
) -> None:
    """Markdown table of targeted runs: per domain the string F1 of each run, their mean,
    span F1 and global-threshold string F1 (means), the longest training, and UniNER-7B."""
    runs = [srsly.read_json(out / "targeted.json") for out in outputs]
    published = srsly.read_json(paper)["zero_shot"]["systems"]["UniNER-7B"]["f1"]
    names = {"ai": "AI", "literature": "Literature", "music": "Music", "politics": "Politics", "science": "Science"}
    header = [
        "domain",
        *(f"string F1 run {i + 1}" for i in range(len(runs))),
        "string F1 mean",
        "span F1 mean",
        "global threshold only",
        "training min (max)",
        "UniNER-7B (paper)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    columns: Dict[str, List[float]] = {}
    for domain in DOMAINS:
        done = [run[domain] for run in runs if domain in run]
        if len(done) < len(runs):
            continue
        row = {
            "string": [r["string_f1"] for r in done],
            "span": sum(r["span_f1"] for r in done) / len(done),
            "global": sum(r.get("global_threshold_string_f1", r["string_f1"]) for r in done) / len(done),
            "minutes": max(r["train_minutes"] for r in done),
            "paper": published[names[domain]],
        }
        row["mean"] = sum(row["string"]) / len(done)
        for key in ("mean", "span", "global", "paper"):
            columns.setdefault(key, []).append(row[key])
        cells = [
            names[domain],
            *(f"{f:.1f}" for f in row["string"]),
            f"{row['mean']:.1f}",
            f"{row['span']:.1f}",
            f"{row['global']:.1f}",
            f"{row['minutes']:.1f}",
            f"{row['paper']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if columns:
        avg = {k: sum(v) / len(v) for k, v in columns.items()}
        cells = [
            "**average**",
            *([""] * len(runs)),
            f"**{avg['mean']:.1f}**",
            f"{avg['span']:.1f}",
            f"{avg['global']:.1f}",
            "",
            f"{avg['paper']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    typer.echo("\n".join(lines))


ZERO_SHOT_POOL = [
    ("multiconer2_en", "train"),
    ("conllpp", "train"),
    ("wikiann_en", "train"),
    ("gum", "train"),
    ("re3d", "train"),
    ("multinerd_en", "dev"),
    ("bc5cdr", "train"),
    ("bc2gm", "train"),
    ("anatem", "train"),
    ("bionlp13cg", "train"),
    ("bionlp11id", "train"),
    ("biored", "train"),
    ("jnlpba", "dev"),
    ("fabner", "dev"),
    ("stackoverflow_ner", "train"),
    ("wnut16", "train"),
    ("wnut17", "train"),
    ("tweetner7", "train"),
    ("harveyner", "train"),
    ("e_ner", "all"),
]
EVAL_FILES = [*DOMAINS.values(), "mit-restaurant"]


@app.command("zero-shot")
def zero_shot(
    data_dir: Path = typer.Option(..., help="Benchmark data folder (with raw/ and uniner_eval/)"),
    output: Path = typer.Option(Path("benchmarks/results/student-zero-shot"), help="Model and results go here"),
    config: Path = typer.Option(ROOT / "configs" / "student.cfg"),
    synonyms: Path = typer.Option(ROOT / "configs" / "student_synonyms.json"),
    pilener: Optional[Path] = typer.Option(None, help="Teacher annotations JSONL ({'text', 'entities'}) to add"),
    per_dataset: int = typer.Option(150, help="Passages sampled from each dataset"),
    negatives: int = typer.Option(3, help="Absent types sampled by frequency per passage"),
    synonym_rate: float = typer.Option(0.3),
    max_steps: int = typer.Option(600),
    seed: int = typer.Option(0),
) -> None:
    """Train one student on non-benchmark data; score the six UniNER eval files."""
    import random
    from collections import Counter

    from spacy_uniner.data.catalogue import load_dataset
    from spacy_uniner.student.cli import doc_from_pairs

    nlp = spacy.blank("en")
    rng = random.Random(seed)
    train_docs: List[Doc] = []
    dev_docs: List[Doc] = []
    pool_stats = {}
    for name, split in ZERO_SHOT_POOL:
        dataset = load_dataset(name, split, data_dir, vocab=nlp.vocab)
        docs = [d for d in dataset.docs if len(d) <= 120]
        rng.shuffle(docs)
        docs = docs[:per_dataset]
        for doc in docs:
            doc._.set(TYPES_ATTR, list(dataset.labels))
        n_dev = max(1, len(docs) // 10)
        dev_docs += docs[:n_dev]
        train_docs += docs[n_dev:]
        pool_stats[name] = len(docs)
    if pilener is not None:
        counts: Counter = Counter()
        rows = list(srsly.read_jsonl(pilener))
        docs = [doc_from_pairs(nlp, r["text"], [tuple(p) for p in r["entities"]], counts) for r in rows]
        train_docs += [d for d in docs if d._.get(TYPES_ATTR)]
        pool_stats["pilener"] = len(docs)
    output.mkdir(parents=True, exist_ok=True)
    to_docbin(train_docs).to_disk(output / "train.spacy")
    to_docbin(dev_docs).to_disk(output / "dev.spacy")
    overrides = [
        f"--training.max_steps={max_steps}",
        f"--corpora.train.negatives={negatives}",
        f"--corpora.train.synonym_rate={synonym_rate}",
        f"--paths.synonyms={synonyms}",
    ]
    minutes = train(config, output / "train.spacy", output / "dev.spacy", output, overrides)
    model_dir = trained_model(output)
    nlp = spacy.load(model_dir)
    dev = list(StudentCorpus(output / "dev.spacy", shuffle_types=False, gold_preproc=True)(nlp))
    # The eval files ask type names the pool never saw: per-type thresholds cannot apply.
    thresholds = tune_thresholds(nlp, dev, per_type=False)
    thresholds.apply(nlp)
    nlp.to_disk(model_dir)
    results = {"train_minutes": minutes, "threshold": thresholds.threshold, "pool": pool_stats, "eval": {}}
    for name in EVAL_FILES:
        results["eval"][name] = score_eval_file(nlp, data_dir / "uniner_eval" / f"{name}.json")
        typer.echo(f"{name}: {json.dumps(results['eval'][name])}")
    srsly.write_json(output / "zero_shot.json", results)
    scores = list(results["eval"].values())
    typer.echo(
        f"average string F1 over {len(scores)} eval files: {sum(r['string_f1'] for r in scores) / len(scores):.1f}"
    )


@app.command()
def speed(
    model: Path = typer.Argument(..., help="A trained student pipeline"),
    eval_file: Path = typer.Option(..., help="UniNER eval file; every passage is asked all its types"),
    batch_size: int = typer.Option(32),
    baseline_batch_size: int = typer.Option(1, help="Baseline in the same run: passages per batch"),
    dtypes: str = typer.Option("float32,auto", help="Encoder dtypes to time (the first row is the baseline)"),
    limit: int = typer.Option(0, help="Use only the first N passages (0: all)"),
) -> None:
    """Passages per second with all of a dataset's types, against a baseline batch size and
    encoder dtype in the same run, and peak memory."""
    import torch

    rows = []
    for dtype in dtypes.split(","):
        override = {"components": {"universal_ner_span": {"model": {"encoder_dtype": dtype}}}}
        nlp = spacy.load(model, config=override)
        _, _, types, docs = eval_queries(nlp, eval_file, limit)
        for size in (baseline_batch_size, batch_size):
            list(nlp.pipe(docs[:size], batch_size=size))  # warm-up
            start = time.perf_counter()
            list(nlp.pipe(docs, batch_size=size))
            rows.append((dtype, size, len(docs) / (time.perf_counter() - start)))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    typer.echo(
        f"{len(docs)} passages x {len(types)} types, {torch.get_num_threads()} torch threads, peak RSS {peak_mb:.0f} MB"
    )
    typer.echo("| encoder dtype | batch size | passages/s | vs baseline |\n|---|---|---|---|")
    for dtype, size, rate in rows:
        typer.echo(f"| {dtype} | {size} | {rate:.1f} | {rate / rows[0][2]:.2f}x |")


# -- The pretrained student against GLiNER's trainer ------------------------------------
# Both systems write candidate spans (start, end, type, score) for the same docs; the table
# decodes them the same way (greedy, non-overlapping, by score) at a threshold chosen on
# the pool's held-out dev docs, never on the eval files.
THRESHOLDS = [round(0.05 * i, 2) for i in range(2, 19)]


def _docs_json(groups: Dict[str, List[Doc]], types: Dict[str, List[str]]) -> Dict:
    return {
        name: [
            {
                "tokens": [t.text for t in d],
                "spaces": [bool(t.whitespace_) for t in d],
                "types": types.get(name) or list(d._.get(TYPES_ATTR) or []),
            }
            for d in docs
        ]
        for name, docs in groups.items()
    }


def _decode(words: int, candidates: List, threshold: float) -> List:
    taken = [False] * words
    kept = []
    for start, end, label, score in sorted(candidates, key=lambda c: -c[3]):
        if score >= threshold and not any(taken[start:end]):
            taken[start:end] = [True] * (end - start)
            kept.append((start, end, label))
    return sorted(kept)


def _with_ents(gold: Doc, spans: List) -> Doc:
    from spacy.tokens import Span

    doc = copy_tokens(gold)
    doc.ents = [Span(doc, s, e, label=label) for s, e, label in spans]
    return doc


def _span_f1(golds: List[Doc], preds: List[List], threshold: float) -> float:
    examples = [Example(_with_ents(g, _decode(len(g), p, threshold)), g) for g, p in zip(golds, preds)]
    return 100 * get_ner_prf(examples)["ents_f"]


@app.command("score-student")
def score_student(
    model: str = typer.Argument(
        ...,
        help="Student pipeline folder, or 'shipped': spacy.blank('en') + add_pipe('universal_ner_span') "
        "as a new user would",
    ),
    docs_json: Path = typer.Argument(..., help="{group: [{tokens, spaces, types}]}"),
    output: Path = typer.Argument(...),
    batch_size: int = typer.Option(32),
    floor: float = typer.Option(0.05, help="Keep candidates scoring at least this"),
) -> None:
    """Candidate spans of a student for every doc of DOCS_JSON (one process: its peak RSS is the student's)."""
    import torch

    nlp = load_student(model)
    pipe = nlp.get_pipe("universal_ner_span")
    pipe.threshold = floor
    pipe.type_thresholds = {}
    key = pipe.spans_key
    groups = srsly.read_json(docs_json)
    out: Dict[str, Dict] = {}
    for name, items in groups.items():
        docs = []
        for item in items:
            doc = Doc(nlp.vocab, words=item["tokens"], spaces=item["spaces"])
            doc._.set(TYPES_ATTR, item["types"])
            docs.append(doc)
        list(nlp.pipe(docs[:batch_size], batch_size=batch_size))  # warm-up
        start = time.perf_counter()
        docs = list(nlp.pipe(docs, batch_size=batch_size))
        seconds = time.perf_counter() - start
        spans = [
            [[s.start, s.end, s.label_, float(p)] for s, p in zip(d.spans[key], d.spans[key].attrs["scores"])]
            for d in docs
        ]
        out[name] = {"spans": spans, "seconds": seconds, "passages_per_s": len(docs) / seconds}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    srsly.write_json(output, {"groups": out, "peak_rss_mb": peak_mb, "threads": torch.get_num_threads()})


def _pool_type_names(pool: Path) -> set:
    names = pool / "type_names.json"
    if names.exists():
        return {t.lower() for t in srsly.read_json(names)}
    from spacy.tokens import DocBin

    from spacy_uniner.distill.pool import type_names

    nlp = spacy.blank("en")
    counts = type_names(DocBin().from_disk(pool / "train.spacy").get_docs(nlp.vocab))
    srsly.write_json(names, sorted(counts))
    return {t.lower() for t in counts}


@app.command()
def compare(
    data_dir: Path = typer.Option(..., help="Benchmark data folder (with uniner_eval/)"),
    pool: Path = typer.Option(
        Path("training/pool"), help="Pool folder (dev.spacy for the threshold; type names for the unseen-type recall)"
    ),
    student: List[str] = typer.Option([], help="NAME=PIPELINE (or NAME=shipped); repeatable"),
    gliner: List[str] = typer.Option([], help="NAME=GLINER_CHECKPOINT; repeatable"),
    gliner_python: str = typer.Option("python", help="A Python with `gliner` installed"),
    output: Path = typer.Option(Path("benchmarks/results/compare"), help="Predictions and compare.json go here"),
    dev_sources: str = typer.Option(
        "llm", help="Pool sources whose dev docs choose each system's threshold (llm, all or names)"
    ),
    dev_limit: int = typer.Option(0, help="At most this many of those dev docs (0: all)"),
    limit: int = typer.Option(0, help="Passages per eval file (0: all; intermediate checkpoints only)"),
    files: str = typer.Option(",".join(EVAL_FILES), help="Comma-separated eval files"),
    include: List[Path] = typer.Option([], help="Also show the rows of these compare.json files"),
) -> None:
    """One table: each student and GLiNER checkpoint on the UniNER eval files (string and
    span F1, threshold chosen on the pool's dev docs), passages/s with all of a file's types,
    peak RSS, and the recall on eval type names that the pool never lists."""

    nlp = spacy.blank("en")
    output.mkdir(parents=True, exist_ok=True)
    stats = srsly.read_json(pool / "stats.json") if (pool / "stats.json").exists() else None
    dev_egs = dev_from_sources(dev_examples(pool / "dev.spacy", nlp), dev_sources, stats, pool / "dev.spacy")
    dev = [eg.reference for eg in dev_egs[: dev_limit or None]]
    evals, types = {}, {}
    for name in files.split(","):
        gold_docs, queries, names, _ = eval_queries(nlp, data_dir / "uniner_eval" / f"{name}.json", limit)
        queries = [q for q in queries if q.doc_index < len(gold_docs)]
        evals[name] = (gold_docs, queries)
        types[name] = names
    seen = _pool_type_names(pool)
    docs_path = output / "docs.json"
    srsly.write_json(docs_path, _docs_json({"dev": dev, **{n: g for n, (g, _) in evals.items()}}, types))
    systems = [("student", *s.split("=", 1)) for s in student] + [("gliner", *g.split("=", 1)) for g in gliner]
    results = srsly.read_json(output / "compare.json") if (output / "compare.json").exists() else {}
    for kind, name, path in systems:
        pred_path = output / f"{name}.predictions.json"
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        if kind == "student":
            cmd = [sys.executable, __file__, "score-student", path, str(docs_path), str(pred_path)]
        else:
            cmd = [
                gliner_python,
                str(ROOT / "benchmarks" / "gliner_peer.py"),
                "predict",
                path,
                str(docs_path),
                str(pred_path),
            ]
        subprocess.run(cmd, check=True, env=env)
        preds = srsly.read_json(pred_path)
        f_by_t = {t: _span_f1(dev, preds["groups"]["dev"]["spans"], t) for t in THRESHOLDS}
        threshold = max(f_by_t, key=lambda t: (f_by_t[t], -abs(t - 0.5)))
        if path == "shipped":
            threshold = 0.5  # as a new user runs it: the component's default threshold
        row = {
            "kind": kind,
            "path": path,
            "threshold": threshold,
            "dev_span_f1": f_by_t[threshold],
            "peak_rss_mb": preds["peak_rss_mb"],
            "threads": preds["threads"],
            "files": {},
            "unseen_types": {},
        }
        for file, (gold_docs, queries) in evals.items():
            group = preds["groups"][file]
            decoded = [_decode(len(g), p, threshold) for g, p in zip(gold_docs, group["spans"])]
            docs = [_with_ents(g, d) for g, d in zip(gold_docs, decoded)]
            answers = [json.dumps([e.text for e in docs[q.doc_index].ents if e.label_ == q.label]) for q in queries]
            strings = string_prf(answers, [q.gold for q in queries])
            spans = get_ner_prf([Example(d, g) for d, g in zip(docs, gold_docs)])
            row["files"][file] = {
                "string_f1": 100 * strings.f1,
                "span_f1": 100 * spans["ents_f"],
                "passages": len(gold_docs),
                "types": len(types[file]),
                "passages_per_s": group["passages_per_s"],
            }
            for label in types[file]:
                if label.lower() in seen:
                    continue
                picked = [i for i, q in enumerate(queries) if q.label == label]
                prf = string_prf([answers[i] for i in picked], [queries[i].gold for i in picked])
                row["unseen_types"][f"{file}:{label}"] = {"recall": 100 * prf.recall, "f1": 100 * prf.f1}
        row["average_string_f1"] = sum(f["string_f1"] for f in row["files"].values()) / len(row["files"])
        row["average_span_f1"] = sum(f["span_f1"] for f in row["files"].values()) / len(row["files"])
        row["limit"] = limit
        results[name] = row
        srsly.write_json(output / "compare.json", results)
    for extra in include:
        results.update(srsly.read_json(extra))
    typer.echo(compare_table(results))


def compare_table(results: Dict) -> str:
    """Markdown: one row per system; string/span F1 per eval file, averages, speed, memory."""
    if not results:
        return ""
    files = list(next(iter(results.values()))["files"])
    short = {
        "CrossNER_AI": "AI",
        "CrossNER_literature": "Lit.",
        "CrossNER_music": "Music",
        "CrossNER_politics": "Pol.",
        "CrossNER_science": "Sci.",
        "mit-restaurant": "Rest.",
    }
    header = [
        "system",
        *(f"{short.get(f, f)} str/span" for f in files),
        "avg string F1",
        "avg span F1",
        "passages/s",
        "peak RSS MB",
        "threshold (pool dev)",
        "unseen-type recall",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in results.items():
        cells = [name + (f" (first {row['limit']} per file)" if row.get("limit") else "")]
        cells += [f"{row['files'][f]['string_f1']:.1f} / {row['files'][f]['span_f1']:.1f}" for f in files]
        rate = sum(row["files"][f]["passages"] for f in files) / sum(
            row["files"][f]["passages"] / row["files"][f]["passages_per_s"] for f in files
        )
        unseen = [v["recall"] for v in row["unseen_types"].values()]
        cells += [
            f"**{row['average_string_f1']:.1f}**",
            f"{row['average_span_f1']:.1f}",
            f"{rate:.1f} ({row['threads']} thr.)",
            f"{row['peak_rss_mb']:.0f}",
            f"{row['threshold']:.2f}",
            f"{sum(unseen) / len(unseen):.1f} ({len(unseen)} types)" if unseen else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@app.command("unseen")
def unseen(output: Path = typer.Option(Path("benchmarks/results/compare")), system: str = typer.Option(...)) -> None:
    """Per-type recall of one system on the eval type names absent from the pool."""
    row = srsly.read_json(output / "compare.json")[system]
    lines = ["| eval file : type | string recall | string F1 |", "|---|---|---|"]
    for key, v in sorted(row["unseen_types"].items()):
        lines.append(f"| {key} | {v['recall']:.1f} | {v['f1']:.1f} |")
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    app()
