"""Benchmark of the compact ``universal_ner_span`` student.

    python benchmarks/student.py targeted --data-dir DATA --output benchmarks/results/student --seed 0
    python benchmarks/student.py table benchmarks/results/student benchmarks/results/student-seed1
    python benchmarks/student.py speed MODEL --eval-file DATA/uniner_eval/CrossNER_AI.json
    python benchmarks/student.py compare --data-dir DATA --pool training/pool --student v5=shipped

Every score is the package's own evaluation (``spacy_uniner.evaluation.evaluate``: the
catalogue's datasets and readers, the component's decoding, the paper's string metric and
span F1; ``python -m spacy_uniner evaluate`` gives the same figures) and every threshold comes
from ``spacy_uniner.student.threshold.tune_thresholds`` (ties go to the lower threshold).

``targeted``: per CrossNER domain, train with ``spacy train configs/student.cfg`` on its
``train.txt`` (standing in for teacher labels), choose the threshold on ``dev.txt``, and score
the domain's UniNER eval file.

``zero-shot``: train one student on labelled datasets other than CrossNER and MIT (plus
teacher annotations of Pile passages), with type-name synonyms and negative types sampled
by frequency; threshold on a held-out part of that pool; score the UniNER eval files.

``compare``: students side by side on the UniNER eval files in both protocols: every passage
asked all its file's types at once, and each type alone (the paper's protocol).
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
from spacy.language import Language
from spacy.tokens import Doc

from spacy_uniner.data.catalogue import load_catalogue, load_dataset, select, split_names
from spacy_uniner.data.docs import LABELS_ATTR, read_docbin, to_docbin
from spacy_uniner.data.readers import read_uniner_eval
from spacy_uniner.evaluation.evaluate import PROTOCOLS, DatasetResult, evaluate_dataset, predict
from spacy_uniner.evaluation.report import DEFAULT_PAPER_RESULTS
from spacy_uniner.student.corpus import StudentCorpus, dev_examples
from spacy_uniner.student.pool import dev_from_sources
from spacy_uniner.student.selection import load_student
from spacy_uniner.student.threshold import tune_thresholds

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = ("ai", "literature", "music", "politics", "science")  # catalogue: crossner_D, uniner_crossner_D
EVAL_DATASETS = "uniner"  # the catalogue tag of the six UniNER eval files

app = typer.Typer(no_args_is_help=True)


def scores(result: DatasetResult) -> Dict[str, float]:
    """The benchmark's figures of one evaluation (F1s in %)."""
    return {
        "string_f1": 100 * result.string.f1,
        "string_p": 100 * result.string.precision,
        "string_r": 100 * result.string.recall,
        "span_f1": 100 * result.spans["ents_f"],
        "passages": result.n_docs,
        "queries": result.n_queries,
        "passages_per_s": result.n_docs / result.seconds,
    }


def score_datasets(
    nlp: Language,
    names: List[str],
    data_dir: Path,
    protocols: List[str],
    limit: int = 0,
    batch_size: int = 32,
) -> Dict[str, Dict]:
    """Per catalogue dataset and protocol: :func:`scores`, the dataset's paper column and
    types, each type's string recall and F1 (in %) and the span errors by kind. A warm-up
    batch precedes the timed runs."""
    out: Dict[str, Dict] = {}
    for name in names:
        dataset = load_dataset(name, "test", data_dir, vocab=nlp.vocab)
        predict(nlp, dataset.docs[:batch_size], dataset.labels, batch_size=batch_size)  # warm-up
        entry = {"paper_name": dataset.spec.paper_name, "types": dataset.labels}
        for protocol in protocols:
            result = evaluate_dataset(nlp, dataset, limit=limit or None, batch_size=batch_size, protocol=protocol)
            entry[protocol] = {
                **scores(result),
                "per_type": {
                    label: {"recall": 100 * prf.recall, "f1": 100 * prf.f1}
                    for label, prf in result.string_per_type.items()
                },
                "span_errors": result.span_errors.to_dict(),
            }
            typer.echo(f"{name} ({PROTOCOLS[protocol]}): string F1 {entry[protocol]['string_f1']:.1f}", err=True)
        out[name] = entry
    return out


def trained_model(output: Path) -> Path:
    """The pipeline ``spacy train`` kept in ``output``: model-best, else model-last."""
    return output / "model-best" if (output / "model-best").exists() else output / "model-last"


def tune_and_score(model_dir: Path, dev_path: Path, dataset: str, data_dir: Path) -> Dict:
    """Tune the thresholds of a trained student on dev, save them into it, and score the
    eval dataset (all types together) with them and with the global threshold alone (ablation)."""
    nlp = spacy.load(model_dir)
    dev = list(StudentCorpus(dev_path, gold_preproc=True)(nlp))
    thresholds = tune_thresholds(nlp, dev)
    thresholds.apply(nlp)
    nlp.to_disk(model_dir)
    tuned = score_datasets(nlp, [dataset], data_dir, ["all"])[dataset]["all"]
    nlp.get_pipe("universal_ner_span").type_thresholds = {}
    global_only = score_datasets(nlp, [dataset], data_dir, ["all"])[dataset]["all"]
    return {
        "threshold": thresholds.threshold,
        "type_thresholds": thresholds.type_thresholds,
        "dev_span_f1_global": 100 * thresholds.f_by_threshold[thresholds.threshold],
        "dev_span_f1": 100 * thresholds.f1,
        **{k: v for k, v in tuned.items() if k != "per_type"},
        "global_threshold_string_f1": global_only["string_f1"],
        "global_threshold_span_f1": global_only["span_f1"],
    }


def train(config: Path, train_path: Path, dev_path: Path, output: Path, overrides: List[str]) -> float:
    """Run ``spacy train``; returns wall-clock minutes."""
    code = output / "code.py"
    output.mkdir(parents=True, exist_ok=True)
    code.write_text("import spacy_uniner.pipes.span.component, spacy_uniner.student.corpus  # noqa: F401\n")
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
    for domain in split_names(domains):
        nlp = spacy.blank("en")
        paths = {}
        for split in ("train", "dev"):
            dataset = load_dataset(f"crossner_{domain}", split, data_dir, vocab=nlp.vocab)
            paths[split] = output / domain / f"{split}.spacy"
            paths[split].parent.mkdir(parents=True, exist_ok=True)
            to_docbin(dataset.docs, dataset.labels).to_disk(paths[split])
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
        results[domain].update(tune_and_score(model_dir, paths["dev"], f"uniner_crossner_{domain}", data_dir))
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
        result.update(tune_and_score(model_dir, output / domain / "dev.spacy", f"uniner_crossner_{domain}", data_dir))
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
    catalogue = load_catalogue()
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
        name = catalogue[f"uniner_crossner_{domain}"].paper_name
        row = {
            "string": [r["string_f1"] for r in done],
            "span": sum(r["span_f1"] for r in done) / len(done),
            "global": sum(r.get("global_threshold_string_f1", r["string_f1"]) for r in done) / len(done),
            "minutes": max(r["train_minutes"] for r in done),
            "paper": published[name],
        }
        row["mean"] = sum(row["string"]) / len(done)
        for key in ("mean", "span", "global", "paper"):
            columns.setdefault(key, []).append(row[key])
        cells = [
            name,
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
            doc._.set(LABELS_ATTR, list(dataset.labels))
        n_dev = max(1, len(docs) // 10)
        dev_docs += docs[:n_dev]
        train_docs += docs[n_dev:]
        pool_stats[name] = len(docs)
    if pilener is not None:
        counts: Counter = Counter()
        rows = list(srsly.read_jsonl(pilener))
        docs = [doc_from_pairs(nlp, r["text"], [tuple(p) for p in r["entities"]], counts) for r in rows]
        train_docs += [d for d in docs if d._.get(LABELS_ATTR)]
        pool_stats["pilener"] = len(docs)
    output.mkdir(parents=True, exist_ok=True)
    to_docbin(train_docs).to_disk(output / "train.spacy")
    to_docbin(dev_docs).to_disk(output / "dev.spacy")
    overrides = [
        f"--training.max_steps={max_steps}",
        f"--corpora.train.augmenters.negative_types.count={negatives}",
        f"--corpora.train.augmenters.synonyms.rate={synonym_rate}",
        f"--paths.synonyms={synonyms}",
    ]
    minutes = train(config, output / "train.spacy", output / "dev.spacy", output, overrides)
    model_dir = trained_model(output)
    nlp = spacy.load(model_dir)
    dev = list(StudentCorpus(output / "dev.spacy", gold_preproc=True)(nlp))
    # The eval files ask type names the pool never saw: per-type thresholds cannot apply.
    thresholds = tune_thresholds(nlp, dev, per_type=False)
    thresholds.apply(nlp)
    nlp.to_disk(model_dir)
    names = select([EVAL_DATASETS], load_catalogue())
    evaluated = score_datasets(nlp, names, data_dir, ["all"])
    results = {
        "train_minutes": minutes,
        "threshold": thresholds.threshold,
        "pool": pool_stats,
        "eval": {name: {k: v for k, v in entry["all"].items() if k != "per_type"} for name, entry in evaluated.items()},
    }
    srsly.write_json(output / "zero_shot.json", results)
    found = list(results["eval"].values())
    typer.echo(f"average string F1 over {len(found)} eval files: {sum(r['string_f1'] for r in found) / len(found):.1f}")


@app.command()
def speed(
    model: Path = typer.Argument(..., help="A trained student pipeline"),
    eval_file: Path = typer.Option(..., help="UniNER eval file; every passage is asked all its types"),
    batch_size: int = typer.Option(32),
    baseline_batch_size: int = typer.Option(1, help="Baseline in the same run: passages per batch"),
    dtypes: str = typer.Option("float32,auto", help="Encoder dtypes to time (the first row is the baseline)"),
    limit: int = typer.Option(0, help="Use only the first N passages (0: all)"),
) -> None:
    """Passages per second with all of a dataset's types (as ``evaluate`` asks them), against
    a baseline batch size and encoder dtype in the same run, and peak memory."""
    import torch

    rows = []
    for dtype in dtypes.split(","):
        override = {"components": {"universal_ner_span": {"model": {"encoder_dtype": dtype}}}}
        nlp = spacy.load(model, config=override)
        docs, queries = read_uniner_eval(eval_file, nlp.vocab)
        docs = docs[: limit or None]
        types = list(dict.fromkeys(q.label for q in queries))
        for size in (baseline_batch_size, batch_size):
            predict(nlp, docs[:size], types, batch_size=size)  # warm-up
            start = time.perf_counter()
            predict(nlp, docs, types, batch_size=size)
            rows.append((dtype, size, len(docs) / (time.perf_counter() - start)))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    typer.echo(
        f"{len(docs)} passages x {len(types)} types, {torch.get_num_threads()} torch threads, peak RSS {peak_mb:.0f} MB"
    )
    typer.echo("| encoder dtype | batch size | passages/s | vs baseline |\n|---|---|---|---|")
    for dtype, size, rate in rows:
        typer.echo(f"| {dtype} | {size} | {rate:.1f} | {rate / rows[0][2]:.2f}x |")


# -- Students side by side ----------------------------------------------------------------
# Each student is scored in a process of its own (its peak RSS is the student's), with its
# threshold chosen on the pool's held-out dev docs, never on the eval files.


@app.command("score-student")
def score_student(
    model: str = typer.Argument(
        ...,
        help="Student pipeline folder, or 'shipped': spacy.blank('en') + add_pipe('universal_ner_span') "
        "as a new user would",
    ),
    output: Path = typer.Argument(..., help="JSON file for the student's scores"),
    data_dir: Path = typer.Option(..., help="Benchmark data folder (with uniner_eval/)"),
    pool: Optional[Path] = typer.Option(
        None, help="Pool folder whose dev.spacy chooses the global threshold (none: keep the student's own)"
    ),
    dev_sources: str = typer.Option("llm", help="Pool sources whose dev docs choose the threshold (llm, all or names)"),
    dev_limit: int = typer.Option(0, help="At most this many of those dev docs (0: all)"),
    datasets: str = typer.Option(EVAL_DATASETS, help="Comma-separated catalogue datasets or tags"),
    limit: int = typer.Option(0, help="Passages per dataset (0: all)"),
    batch_size: int = typer.Option(32),
) -> None:
    """One student on the eval datasets in both protocols, with passages/s and peak RSS."""
    import torch

    nlp = load_student(model)
    pipe = nlp.get_pipe("universal_ner_span")
    dev_span_f1 = None
    if pool is not None:
        stats = srsly.read_json(pool / "stats.json") if (pool / "stats.json").exists() else None
        dev = dev_from_sources(dev_examples(pool / "dev.spacy", nlp), dev_sources, stats, pool / "dev.spacy")
        thresholds = tune_thresholds(nlp, dev[: dev_limit or None], per_type=False)
        thresholds.apply(nlp)
        dev_span_f1 = 100 * thresholds.f1
    names = select(split_names(datasets), load_catalogue())
    row = {
        "path": model,
        "threshold": pipe.threshold,
        "type_thresholds": pipe.type_thresholds,
        "dev_span_f1": dev_span_f1,
        "limit": limit,
        "datasets": score_datasets(nlp, names, data_dir, list(PROTOCOLS), limit, batch_size),
        "threads": torch.get_num_threads(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    srsly.write_json(output, row)


def _pool_type_names(pool: Path) -> set:
    names = pool / "type_names.json"
    if names.exists():
        return {t.lower() for t in srsly.read_json(names)}

    from spacy_uniner.student.pool import type_names

    nlp = spacy.blank("en")
    counts = type_names(read_docbin(pool / "train.spacy", nlp.vocab))
    srsly.write_json(names, sorted(counts))
    return {t.lower() for t in counts}


@app.command()
def compare(
    data_dir: Path = typer.Option(..., help="Benchmark data folder (with uniner_eval/)"),
    pool: Path = typer.Option(
        Path("training/pool"), help="Pool folder (dev.spacy for the threshold; type names for the unseen-type recall)"
    ),
    student: List[str] = typer.Option([], help="NAME=PIPELINE (or NAME=shipped); repeatable"),
    output: Path = typer.Option(Path("benchmarks/results/compare"), help="Scores and compare.json go here"),
    dev_sources: str = typer.Option(
        "llm",
        help="Pool sources whose dev docs choose each student's threshold (llm, all or names; own: keep each "
        "student's released threshold, as users run it)",
    ),
    dev_limit: int = typer.Option(0, help="At most this many of those dev docs (0: all)"),
    limit: int = typer.Option(0, help="Passages per eval file (0: all; intermediate checkpoints only)"),
    datasets: str = typer.Option(EVAL_DATASETS, help="Comma-separated catalogue datasets or tags"),
    include: List[Path] = typer.Option([], help="Also show the rows of these compare.json files"),
) -> None:
    """One table: each student on the UniNER eval files in both protocols (all types together,
    each type alone) side by side: string and span F1, passages/s, peak RSS, the threshold
    (chosen on the pool's dev docs; `shipped` keeps its default, as a new user runs it) and
    the recall on eval type names that the pool never lists."""
    output.mkdir(parents=True, exist_ok=True)
    seen = _pool_type_names(pool)
    results = srsly.read_json(output / "compare.json") if (output / "compare.json").exists() else {}
    for spec in student:
        name, path = spec.split("=", 1)
        scores_path = output / f"{name}.scores.json"
        cmd = [sys.executable, __file__, "score-student", path, str(scores_path), "--data-dir", str(data_dir)]
        cmd += ["--datasets", datasets, "--limit", str(limit)]
        if path != "shipped" and dev_sources != "own":
            cmd += ["--pool", str(pool), "--dev-sources", dev_sources, "--dev-limit", str(dev_limit)]
        subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        row = srsly.read_json(scores_path)
        row["unseen_types"] = {
            protocol: {
                f"{dataset}:{label}": figures
                for dataset, entry in row["datasets"].items()
                for label, figures in entry[protocol]["per_type"].items()
                if label.lower() not in seen
            }
            for protocol in PROTOCOLS
        }
        results[name] = row
        srsly.write_json(output / "compare.json", results)
    for extra in include:
        results.update(srsly.read_json(extra))
    typer.echo(compare_table(results))


def _figures(row: Dict, names: List[str], protocol: str) -> Dict:
    """One student's table cells in one protocol: string F1 per dataset, averages, speed,
    unseen-type recall."""
    entries = [row["datasets"][n][protocol] for n in names]
    seconds = sum(e["passages"] / e["passages_per_s"] for e in entries)
    recalls = [v["recall"] for v in row["unseen_types"][protocol].values()]
    return {
        "files": [f"{e['string_f1']:.1f}" for e in entries],
        "string": f"{sum(e['string_f1'] for e in entries) / len(entries):.1f}",
        "span": f"{sum(e['span_f1'] for e in entries) / len(entries):.1f}",
        "rate": f"{sum(e['passages'] for e in entries) / seconds:.1f}",
        "unseen": f"{sum(recalls) / len(recalls):.1f}" if recalls else "-",
    }


def compare_table(results: Dict) -> str:
    """Markdown: one row per student; each figure as "all types together / each type alone":
    string F1 per eval dataset, average string and span F1, passages/s and unseen-type
    recall; then peak RSS and the threshold."""
    if not results:
        return ""
    for name, row in results.items():
        if "datasets" not in row:
            raise typer.BadParameter(f"{name}: a compare.json row without both protocols; run compare for it again")
    first = next(iter(results.values()))["datasets"]
    names = list(first)
    header = [
        "system",
        *(first[n]["paper_name"] or n for n in names),
        "avg string F1",
        "avg span F1",
        "passages/s",
        "unseen-type recall",
        "peak RSS MB",
        "threshold",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in results.items():
        figures = [_figures(row, names, protocol) for protocol in PROTOCOLS]
        cells = [name + (f" (first {row['limit']} per file)" if row.get("limit") else "")]
        cells += [" / ".join(f["files"][i] for f in figures) for i in range(len(names))]
        cells += [" / ".join(f[key] for f in figures) for key in ("string", "span", "rate", "unseen")]
        cells[-2] += f" ({row['threads']} thr.)"
        cells[-1] += f" ({len(row['unseen_types']['all'])} types)"
        cells += [f"{row['peak_rss_mb']:.0f}", f"{row['threshold']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    asked = " / ".join(PROTOCOLS.values())
    lines.append(f"\nEach figure: {asked} (the types asked per call; the paper asks each type alone).")
    return "\n".join(lines)


@app.command("unseen")
def unseen(output: Path = typer.Option(Path("benchmarks/results/compare")), system: str = typer.Option(...)) -> None:
    """Per-type string recall and F1 of one student on the eval type names absent from the pool."""
    row = srsly.read_json(output / "compare.json")[system]
    titles = " | ".join(f"{kind} ({p})" for p in PROTOCOLS for kind in ("recall", "F1"))
    lines = [f"| dataset : type | {titles} |", "|---|" + "---|" * 2 * len(PROTOCOLS)]
    for key in sorted(row["unseen_types"]["all"]):
        cells = [f"{row['unseen_types'][p][key][k]:.1f}" for p in PROTOCOLS for k in ("recall", "f1")]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    app()
