"""End to end: evaluate pipelines on small slices and check every output against the files."""

from __future__ import annotations

import json

import pytest
import spacy
import srsly
from typer.testing import CliRunner

from spacy_uniner.__main__ import app
from spacy_uniner.data.catalogue import load_dataset
from spacy_uniner.data.metric import string_prf

from conftest import DATA

LIMIT = 12


@pytest.fixture(scope="module")
def ruler_dir(tmp_path_factory, shared_dir):
    """A rule-based pipeline that knows some of the gold mentions, plus one wrong pattern."""
    ds = load_dataset("uniner_crossner_ai", data_dir=DATA)
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    patterns = [{"label": e.label_, "pattern": e.text} for d in ds.docs[:LIMIT] for e in d.ents[::2]]
    patterns.append({"label": "person", "pattern": "Gaussian"})
    patterns.append({"label": "PERSON", "pattern": "Typical"})  # not a dataset type
    ruler.add_patterns(patterns)
    path = tmp_path_factory.mktemp("ruler")
    nlp.to_disk(path)
    return path


def _run(*args):
    result = CliRunner().invoke(app, ["evaluate", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_evaluate_pipeline_writes_all_outputs(tmp_path, ruler_dir):
    out = tmp_path / "out"
    _run(ruler_dir, "uniner_crossner_ai,bc5cdr", out, "--data-dir", DATA, "--limit", LIMIT, "--errors-per-page", 3)
    metrics = srsly.read_json(out / "metrics.json")
    assert list(metrics["datasets"]) == ["uniner_crossner_ai", "bc5cdr"]
    for name in metrics["datasets"]:
        assert (out / "errors" / f"{name}.html").read_text().count("<h2") == 6  # 3 gold + 3 predicted
    assert (out / "f1.png").read_bytes()[:4] == b"\x89PNG"
    table = (out / "metrics.md").read_text()
    assert "| uniner_crossner_ai | general | 12 | 156 |" in table and "53.5 | 52.4 |" in table

    # recompute the paper metric from the dump with the reference functions
    records = list(srsly.read_jsonl(out / "predictions" / "uniner_crossner_ai.jsonl"))
    assert len(records) == LIMIT
    items = json.loads((DATA / "uniner_eval" / "CrossNER_AI.json").read_text())
    texts = {r["text"]: r for r in records}
    preds, golds = [], []
    for item in items:
        record = texts.get(item["conversations"][0]["value"][len("Text: ") :])
        if record is None:
            continue
        label = item["conversations"][2]["value"][len("What describes ") : -len(" in the text?")]
        preds.append(json.dumps([text for *_, lab, text in record["pred"] if lab == label]))
        golds.append(item["conversations"][3]["value"])
    expected = string_prf(preds, golds)
    got = metrics["datasets"]["uniner_crossner_ai"]
    assert got["queries"] == len(golds) == LIMIT * 13
    counts = {k: got["string"][k] for k in ("n_correct", "n_pred", "n_gold")}
    assert counts == {"n_correct": expected.n_correct, "n_pred": expected.n_pred, "n_gold": expected.n_gold}
    assert got["string"]["f"] == pytest.approx(expected.f1, abs=1e-9)
    assert 0 < expected.f1 < 1
    n_typical = sum(r["text"].split().count("Typical") for r in records)
    assert got["dropped_predictions"] == {"PERSON": n_typical} and n_typical > 0

    # span-level strict micro F1 from the dumped offsets
    gold = {(r["index"], s, e, lab) for r in records for s, e, lab, _ in r["gold"]}
    pred = {(r["index"], s, e, lab) for r in records for s, e, lab, _ in r["pred"]}
    p, r = len(gold & pred) / len(pred), len(gold & pred) / len(gold)
    assert got["spans"]["ents_f"] == pytest.approx(2 * p * r / (p + r))
    assert metrics["overall"]["string_f"] == pytest.approx(
        (got["string"]["f"] + metrics["datasets"]["bc5cdr"]["string"]["f"]) / 2
    )
    assert metrics["domains"]["biomed"]["datasets"] == ["bc5cdr"]


def test_nlp_evaluate_with_the_scorer_equals_the_benchmark_metric(shared_dir, ruler_dir):
    from spacy.training import Example

    from spacy_uniner.evaluation.evaluate import evaluate_dataset

    config = {"components.entity_ruler.scorer": {"@scorers": "spacy_uniner.scorer.v1"}}
    nlp = spacy.load(ruler_dir, config=config)
    ruler = nlp.get_pipe("entity_ruler")
    patterns = [p for p in ruler.patterns if p["label"] != "PERSON"]  # dataset types only
    ruler.clear()
    ruler.add_patterns(patterns)
    ds = load_dataset("crossner_ai", data_dir=DATA, vocab=nlp.vocab)
    result = evaluate_dataset(nlp, ds, limit=LIMIT)
    assert 0 < result.string.f1 < 1
    scores = nlp.evaluate([Example(nlp.make_doc(d.text), d) for d in ds.docs[:LIMIT]])
    assert scores["uniner_f"] == result.string.f1 and scores["ents_f"] == result.spans["ents_f"]


def test_evaluate_model_through_universal_ner(tmp_path, tiny_llama_dir, shared_dir):
    out = tmp_path / "out"
    _run(
        tiny_llama_dir,
        "uniner_mit_restaurant",
        out,
        "--data-dir",
        DATA,
        "--limit",
        2,
        "--model.max_new_tokens",
        4,
        "--model.batch_size=8",
    )
    metrics = srsly.read_json(out / "metrics.json")
    assert metrics["meta"]["overrides"] == {"model.max_new_tokens": 4, "model.batch_size": 8}
    assert metrics["datasets"]["uniner_mit_restaurant"]["queries"] == 2 * 8
    records = list(srsly.read_jsonl(out / "predictions" / "uniner_mit_restaurant.jsonl"))
    labels = {"Amenity", "Cuisine", "Dish", "Hours", "Location", "Price", "Rating", "Restaurant Name"}
    assert [set(r["answers"]) for r in records] == [labels, labels]


def test_unknown_dataset_fails_clearly(tmp_path, ruler_dir):
    result = CliRunner().invoke(app, ["evaluate", str(ruler_dir), "nope", str(tmp_path)])
    assert result.exit_code == 1 and "Unknown dataset or tag 'nope'" in result.output
