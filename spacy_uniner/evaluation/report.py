"""Evaluation outputs: metrics.json, a Markdown table, a bar chart, predictions, error pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import srsly
from spacy import displacy
from spacy.tokens import Span
from wasabi import MarkdownRenderer

from ..colors import DISPLACY_COLORS, register_label_colors
from ..data import resource_path
from ..data.metric import ANSWERS_ATTR
from .breakdown import FALSE_NEGATIVES, FALSE_POSITIVES
from .evaluate import PROTOCOLS, DatasetResult, predicted_spans, summarize

DEFAULT_PAPER_RESULTS = resource_path("paper_results.json")


def load_paper_results(path: str | Path | None = None) -> dict[str, Any]:
    """The paper's published F1s (shipped ``paper_results.json`` by default); empty if absent."""
    path = Path(path) if path is not None else DEFAULT_PAPER_RESULTS
    return srsly.read_json(path) if path.exists() else {}


def paper_scores(paper: dict[str, Any], paper_name: str | None) -> dict[str, float]:
    """Published F1 (%) per compared system for one dataset column, e.g. ``AI``."""
    if not paper or paper_name is None:
        return {}
    systems = paper.get("zero_shot", {}).get("systems", {})
    out = {}
    for system in paper.get("compare", []):
        value = systems.get(system, {}).get("f1", {}).get(paper_name)
        if value is not None:
            out[system] = value
    return out


def _spans(spans: list[Span]) -> list[list]:
    return [[e.start_char, e.end_char, e.label_, e.text] for e in spans]


def prediction_records(result: DatasetResult) -> list[dict[str, Any]]:
    """One JSON record per passage: text, gold and predicted entities, raw answers."""
    records = []
    for i, eg in enumerate(result.examples):
        pred = eg.predicted
        record = {
            "dataset": result.name,
            "index": i,
            "text": eg.reference.text,
            "gold": _spans(eg.reference.ents),
            "pred": _spans(predicted_spans(pred)),
        }
        if pred.has_extension(ANSWERS_ATTR) and pred._.get(ANSWERS_ATTR) is not None:
            record["answers"] = pred._.get(ANSWERS_ATTR)
        records.append(record)
    return records


def _columns(protocols: list[str]) -> list[tuple[str, str]]:
    """(protocol, column title suffix) of the score columns: no suffix for one protocol."""
    return [(p, f" ({p})" if len(protocols) > 1 else "") for p in protocols]


def markdown_table(summary: dict[str, Any], paper: dict[str, Any]) -> str:
    """Per-dataset, per-domain and overall F1 (%) of each protocol side by side, with the
    paper's numbers where they match."""
    systems = paper.get("compare", [])
    columns = _columns(summary["protocols"])
    head = ["dataset", "domain", "passages", "queries"]
    for _, suffix in columns:
        head += [f"P{suffix}", f"R{suffix}", f"F1{suffix}", f"span F1{suffix}"]
    head += [f"{s} (paper)" for s in systems]
    rows = []
    for name, d in summary["datasets"].items():
        published = paper_scores(paper, d["paper_name"])
        row = [name, d["domain"], str(d["passages"]), str(d["queries"])]
        for protocol, _ in columns:
            scores = d["protocols"].get(protocol)
            if scores is None:
                row += [""] * 4
                continue
            row += [f"{100 * scores['string'][k]:.1f}" for k in ("p", "r", "f")]
            row += [f"{100 * scores['spans']['ents_f']:.1f}"]
        row += [f"{published[s]:.1f}" if s in published else "" for s in systems]
        rows.append(row)

    def averages(avg: dict[str, Any]) -> list[str]:
        cells = []
        for protocol, _ in columns:
            scores = avg["protocols"].get(protocol)
            f1s = [f"{100 * scores[k]:.1f}" for k in ("string_f", "spans_f")] if scores else ["", ""]
            cells += ["", "", *f1s]
        return cells

    domain_paper = paper.get("domain_average", {})
    for domain, avg in summary["domains"].items():
        row = [f"*{domain} (avg)*", domain, "", ""] + averages(avg)
        row += [str(domain_paper.get(s, {}).get(domain, "")) for s in systems]
        rows.append(row)
    if summary["overall"]:
        rows.append(["**overall (avg)**", "", "", ""] + averages(summary["overall"]) + [""] * len(systems))
    md = MarkdownRenderer()
    md.add(md.table(rows, head))
    asked = ", ".join(f"`{p}` ({PROTOCOLS[p]})" for p in summary["protocols"])
    md.add(
        "F1 in %. P/R/F1: the paper's string metric (normalised mention strings per passage "
        "and type); span F1: strict span-level micro-F1 (spaCy Scorer). Averages are means "
        "of dataset F1s. Paper columns: published zero-shot/domain numbers. Types asked per "
        f"call: {asked}; the paper asks each type alone."
    )
    return md.text + "\n"


def span_errors_table(summary: dict[str, Any]) -> str:
    """Per dataset and protocol: each kind of false positive as a share of the predicted
    spans, each kind of false negative as a share of the gold mentions, span F1 with and
    without the predictions on another type's mention, and the most frequent wrong types."""
    head = ["dataset", "protocol", "predicted", "gold"]
    head += [f"FP {kind.replace('_', ' ')}" for kind in FALSE_POSITIVES]
    head += [f"FN {kind.replace('_', ' ')}" for kind in FALSE_NEGATIVES]
    head += ["span F1", "span F1 without wrong type", "most wrong types (predicted → gold)"]
    rows = []
    for name, d in summary["datasets"].items():
        for protocol, scores in d["protocols"].items():
            errors = scores["span_errors"]
            fp, fn = errors["false_positives"], errors["false_negatives"]
            predicted = errors["correct"] + sum(fp.values())
            gold = errors["correct"] + sum(fn.values())
            row = [name, protocol, str(predicted), str(gold)]
            row += [f"{100 * fp[k] / predicted:.1f}" if predicted else "" for k in FALSE_POSITIVES]
            row += [f"{100 * fn[k] / gold:.1f}" if gold else "" for k in FALSE_NEGATIVES]
            row += [f"{100 * errors[k]:.1f}" for k in ("f1", "f1_without_wrong_type")]
            row += ["; ".join(f"{pred} → {gold} {n}" for pred, gold, n in errors["confusions"][:3])]
            rows.append(row)
    md = MarkdownRenderer()
    md.add(md.title(2, "Span errors"))
    md.add(md.table(rows, head))
    md.add(
        "FP columns: % of the predicted spans; FN columns: % of the gold mentions. wrong type: "
        "the words of a gold mention of another type; boundary: overlaps a mention of its type "
        "without matching it; other type overlap: overlaps only other types' mentions; spurious: "
        "overlaps none. FN other type: its words were predicted under another type. Span F1 "
        "without wrong type: as if a prediction on another type's mention were no error. Most "
        "wrong types: the three most frequent (all in metrics.json, `confusions`)."
    )
    return md.text + "\n"


def bar_chart(summary: dict[str, Any], paper: dict[str, Any], path: Path, title: str) -> None:
    """Grouped bars per dataset: this run's string F1 next to the paper's published F1s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["datasets"])
    systems = paper.get("compare", [])
    series = {
        f"this run{suffix}": [100 * summary["datasets"][n]["protocols"][p]["string"]["f"] for n in names]
        for p, suffix in _columns(summary["protocols"])
    }
    for system in systems:
        series[f"{system} (paper)"] = [
            paper_scores(paper, summary["datasets"][n]["paper_name"]).get(system) for n in names
        ]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(names) + 2), 4.5))
    for k, (label, values) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * width for i, v in enumerate(values) if v is not None]
        ys = [v for v in values if v is not None]
        bars = ax.bar(xs, ys, width, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("F1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def error_page(result: DatasetResult, n: int) -> str:
    """displaCy HTML with gold and predicted entities of the first ``n`` passages (in the
    ``single`` protocol two types' answers may overlap: their shared words show twice)."""
    docs = []
    labels = set()
    for i, eg in enumerate(result.examples[:n]):
        gold = {(e.start_char, e.end_char, e.label_) for e in eg.reference.ents}
        pred = {(e.start_char, e.end_char, e.label_) for e in predicted_spans(eg.predicted)}
        status = "match" if gold == pred else f"{len(gold - pred)} missed, {len(pred - gold)} spurious"
        for kind, doc in (("gold", eg.reference), ("predicted", eg.predicted)):
            docs.append(
                {
                    "text": doc.text,
                    "ents": [
                        {"start": s, "end": e, "label": lab} for s, e, lab in sorted(gold if kind == "gold" else pred)
                    ],
                    "title": f"{result.name} #{i} {kind}" + (f" ({status})" if kind == "predicted" else ""),
                }
            )
        labels |= {lab for *_, lab in gold | pred}
    register_label_colors(sorted(labels))
    return displacy.render(
        docs,
        style="ent",
        manual=True,
        page=True,
        jupyter=False,
        options={"colors": dict(DISPLACY_COLORS)},
    )


def write_report(
    results: Sequence[DatasetResult],
    output_dir: str | Path,
    *,
    meta: dict[str, Any] | None = None,
    paper: dict[str, Any] | None = None,
    n_error_pages: int = 50,
) -> dict[str, Any]:
    """Write metrics.json, metrics.md, f1.png, predictions/*.jsonl and errors/*.html (of the
    first protocol; ``NAME.single.jsonl`` and ``NAME.single.html`` of the second)."""
    output_dir = Path(output_dir)
    (output_dir / "predictions").mkdir(parents=True, exist_ok=True)
    (output_dir / "errors").mkdir(parents=True, exist_ok=True)
    paper = load_paper_results() if paper is None else paper
    summary = {"meta": meta or {}, **summarize(results)}
    srsly.write_json(output_dir / "metrics.json", summary)
    table = markdown_table(summary, paper) + "\n" + span_errors_table(summary)
    (output_dir / "metrics.md").write_text(table, encoding="utf8")
    bar_chart(summary, paper, output_dir / "f1.png", Path(str((meta or {}).get("model", ""))).name)
    first = summary["protocols"][0] if results else None
    for result in results:
        stem = result.name if result.protocol == first else f"{result.name}.{result.protocol}"
        srsly.write_jsonl(output_dir / "predictions" / f"{stem}.jsonl", prediction_records(result))
        html = error_page(result, n_error_pages)
        (output_dir / "errors" / f"{stem}.html").write_text(html, encoding="utf8")
    return summary
