"""The shipped pretrained student: offline, no training, weights without code."""

from __future__ import annotations

import json
import math
import struct

import numpy
import pytest
import spacy
import srsly
from spacy.util import load_config

import spacy_uniner.pipes.span.component  # noqa: F401
from spacy_uniner.data.docs import to_docbin
from spacy_uniner.pipes.span.model import (
    DEFAULT_PRETRAINED,
    PRETRAINED_DIR,
    PRETRAINED_META,
    pretrained_path,
)
from spacy_uniner.pipes.span.weights import WEIGHTS_INDEX_NAME, weight_files
from spacy_uniner.student.average import average_students
from spacy_uniner.student.cli import student_export
from spacy_uniner.student.selection import shared_threshold

from conftest import ROOT, day_docs

SHIPPED = PRETRAINED_DIR / DEFAULT_PRETRAINED


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("universal_ner_span", config={"labels": ["person", "city"]})
    return nlp


def test_shipped_weights_are_small_tensors_only():
    tensor_files = weight_files(SHIPPED)
    files = sorted(p.name for p in SHIPPED.iterdir())
    index = [WEIGHTS_INDEX_NAME] if len(tensor_files) > 1 else []
    assert files == sorted(["README.md", PRETRAINED_META, *index, *(p.name for p in tensor_files)])
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) < 50e6
    assert all(p.stat().st_size <= 16e6 for p in tensor_files)  # each released file at most 16 MB
    for path in tensor_files:
        raw = path.read_bytes()
        (header_size,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + header_size])  # safetensors: a JSON header, then raw tensor bytes
        assert {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"F16"}
        assert b"\x80\x04" not in raw[:2] and not raw.startswith(b"PK")  # not a pickle or a zip
    meta = json.loads((SHIPPED / PRETRAINED_META).read_text())
    assert meta["model"]["max_width"] == 12 and "training_data" in meta


def test_targeted_config_and_project_name_the_shipped_student():
    assert (
        load_config(ROOT / "configs" / "student.cfg")["components"]["universal_ner_span"]["model"]["pretrained"]
        == DEFAULT_PRETRAINED
    )
    released = srsly.read_yaml(ROOT / "project.yml")["vars"]["released_dir"]
    assert released.rsplit("/", 1)[-1] == DEFAULT_PRETRAINED


def test_fresh_pipe_finds_entities_with_no_training(nlp):
    doc = nlp("Barack Obama was born in Honolulu and later moved to Chicago.")
    found = {(e.text, e.label_) for e in doc.ents}
    assert ("Barack Obama", "person") in found
    assert ("Honolulu", "city") in found or ("Chicago", "city") in found
    scores = dict(((s.text, s.label_), p) for s, p in zip(doc.spans["uniner"], doc.spans["uniner"].attrs["scores"]))
    assert scores[("Barack Obama", "person")] > 0.7  # a margin over the 0.5 threshold
    assert ("was born", "person") not in scores and ("Barack Obama", "city") not in scores


def test_any_type_names_at_call_time(nlp):
    doc = nlp.get_pipe("universal_ner_span")(
        nlp.make_doc("Apple released the iPhone in California."), labels=["company", "product"]
    )
    labels = {e.text: e.label_ for e in doc.ents}
    assert labels.get("Apple") == "company"


def test_pretrained_name_errors():
    with pytest.raises(OSError, match="E622"):
        pretrained_path("no-such-student")


def _docs_from(nlp, source: str, n: int):
    return day_docs(nlp, n, source=source, both=True)


def test_export_picks_the_threshold_on_open_type_dev_docs_and_loads_back(tmp_path):
    """`student export` chooses the threshold on the LLM-annotated dev docs, folds it into
    the bias and writes weights that a fresh pipe loads with the same scores (fp16)."""
    model_cfg = {
        "@architectures": "spacy_uniner.SpanTypeMatcher.v1",
        "pretrained": None,
        "freeze_vocab": True,
        "encoder_dtype": "float32",
    }
    nlp = spacy.blank("en")
    nlp.add_pipe("universal_ner_span", config={"labels": ["person", "city"], "model": model_cfg})
    nlp.initialize()
    nlp.to_disk(tmp_path / "model")
    to_docbin(_docs_from(nlp, "pile", 3) + _docs_from(nlp, "conll", 5)).to_disk(tmp_path / "dev.spacy")
    stats = {
        "passages": 8,
        "mentions": 24,
        "type_names": 2,
        "sources": {
            "pile": {"llm_annotated": True, "passages": 3, "license": "test"},
            "conll": {"llm_annotated": False, "passages": 5, "license": "test"},
        },
    }
    srsly.write_json(tmp_path / "stats.json", stats)
    out = tmp_path / "released"
    student_export(
        tmp_path / "model",
        out,
        dev=tmp_path / "dev.spacy",
        pool_stats=tmp_path / "stats.json",
        dev_sources="llm",
        limit=0,
        name="t",
        max_shard_size="16MB",
        threshold_from=[],
    )
    meta = srsly.read_json(out / PRETRAINED_META)
    assert meta["dev_docs"] == 3 and meta["dev_sources"] == ["pile"]
    shift = math.log(meta["threshold_on_dev"] / (1 - meta["threshold_on_dev"]))
    loaded = spacy.blank("en")
    loaded.add_pipe(
        "universal_ner_span", config={"labels": ["person", "city"], "model": {**model_cfg, "pretrained": str(out)}}
    )
    loaded.initialize()
    docs = _docs_from(nlp, "x", 2)
    before, after = (
        numpy.concatenate([s.logits.ravel() for s in p.span_scores(docs, [p.label_map(d) for d in docs])])
        for p in (spacy.load(tmp_path / "model").get_pipe("universal_ner_span"), loaded.get_pipe("universal_ner_span"))
    )
    assert before.size > 50
    assert numpy.abs(after - (before - shift)).max() < 0.1  # fp16 weights, threshold folded into the bias
    with pytest.raises(ValueError, match="E624"):
        student_export(
            tmp_path / "model",
            tmp_path / "x",
            dev=tmp_path / "dev.spacy",
            pool_stats=None,
            dev_sources="wikiann",
            limit=0,
            name="t",
            max_shard_size="16MB",
            threshold_from=[],
        )


def _select_record(all_types: dict, alone: dict) -> dict:
    """A `student select` record of one candidate: per protocol, source F1 by threshold."""
    return {
        "score": 0.0,
        "all types": {"by_threshold": {"a": all_types, "b": all_types}},
        "each type alone": {"by_threshold": {"a": alone, "b": alone}},
    }


def test_export_takes_the_threshold_select_scores_best_in_both_protocols(tmp_path):
    """Two dev views: the first alone prefers 0.5 (its lower of two: 0.5 against 0.4), the
    mean over both prefers 0.7 (0.6 against 0.4); the release folds 0.7, not the dev choice."""
    flat = _select_record({"0.5": 0.6, "0.7": 0.7}, {"0.5": 0.5, "0.7": 0.4})
    nested = _select_record({"0.5": 0.3, "0.7": 0.8}, {"0.5": 0.3, "0.7": 0.9})
    assert shared_threshold([flat]) == (0.5, pytest.approx(0.5))
    assert shared_threshold([flat, nested]) == (0.7, pytest.approx(0.6))
    srsly.write_json(tmp_path / "flat.json", {"cand": flat})
    srsly.write_json(tmp_path / "nested.json", {"cand": nested})
    model_cfg = {"@architectures": "spacy_uniner.SpanTypeMatcher.v1", "freeze_vocab": True, "encoder_dtype": "float32"}
    nlp = spacy.blank("en")
    nlp.add_pipe("universal_ner_span", config={"labels": ["person", "city"], "model": model_cfg})
    nlp.initialize()
    nlp.to_disk(tmp_path / "model")
    to_docbin(_docs_from(nlp, "pile", 3)).to_disk(tmp_path / "dev.spacy")
    kwargs = dict(dev=tmp_path / "dev.spacy", pool_stats=None, dev_sources="all", limit=0, max_shard_size="16MB")
    student_export(tmp_path / "model", tmp_path / "dev-chosen", name="d", threshold_from=[], **kwargs)
    views = [tmp_path / "flat.json", tmp_path / "nested.json"]
    student_export(tmp_path / "model", tmp_path / "shared", name="s", threshold_from=views, **kwargs)
    dev_chosen, shared = (srsly.read_json(tmp_path / n / PRETRAINED_META) for n in ("dev-chosen", "shared"))
    assert shared["threshold_on_dev"] == pytest.approx(0.7)  # srsly reads 0.7 back as 0.7000000000000001
    assert shared["threshold_from_select"]["dev_threshold_instead"] == dev_chosen["threshold_on_dev"]
    assert shared["threshold_from_select"]["mean_lower_of_two_protocols"] == pytest.approx(0.6)
    bias = {}
    for name in ("dev-chosen", "shared"):
        loaded = spacy.blank("en")
        config = {"labels": ["person"], "model": {**model_cfg, "pretrained": str(tmp_path / name)}}
        loaded.add_pipe("universal_ner_span", config=config)
        loaded.initialize()
        bias[name] = float(loaded.get_pipe("universal_ner_span").model.shims[0]._model.bias)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    expected = logit(0.7) - logit(dev_chosen["threshold_on_dev"])
    # fp16 bias: steps of 1/128 near -12
    assert bias["dev-chosen"] - bias["shared"] == pytest.approx(expected, abs=1e-2)
    srsly.write_json(tmp_path / "two.json", {"cand": flat, "other": nested})
    with pytest.raises(ValueError, match="E637"):
        student_export(tmp_path / "model", tmp_path / "x", name="x", threshold_from=[tmp_path / "two.json"], **kwargs)


def test_export_keeps_what_the_weights_started_from(tmp_path):
    """A student exported from a soup names the soup's parents; one continued from a released
    student names it: the release's metadata loses neither."""
    model_cfg = {"@architectures": "spacy_uniner.SpanTypeMatcher.v1", "freeze_vocab": True, "encoder_dtype": "float32"}

    def export(pretrained, name: str) -> dict:
        nlp = spacy.blank("en")
        config = {"labels": ["person", "city"], "model": {**model_cfg, "pretrained": pretrained}}
        nlp.add_pipe("universal_ner_span", config=config)
        nlp.initialize()
        nlp.to_disk(tmp_path / f"pipe-{name}")
        kwargs = dict(pool_stats=None, dev_sources="all", limit=0, name=name, max_shard_size="16MB", threshold_from=[])
        student_export(tmp_path / f"pipe-{name}", tmp_path / name, dev=tmp_path / "dev.spacy", **kwargs)
        return srsly.read_json(tmp_path / name / PRETRAINED_META)

    to_docbin(_docs_from(spacy.blank("en"), "pile", 3)).to_disk(tmp_path / "dev.spacy")
    assert "started_from" not in export(None, "a")
    assert export(str(tmp_path / "a"), "b")["started_from"] == {"name": "a"}
    average_students([str(tmp_path / "a"), str(tmp_path / "b")], tmp_path / "soup", name="soup")
    started = export(str(tmp_path / "soup"), "c")["started_from"]
    assert started["name"] == "soup"
    assert [s["name"] for s in started["averaged_from"]] == ["a", "b"]
    # a chain keeps every link: a student continued from c names c and what c started from,
    # and a soup of soups names the inner soup's parents
    assert export(str(tmp_path / "c"), "d")["started_from"]["started_from"]["name"] == "soup"
    _, meta = average_students([str(tmp_path / "soup"), str(tmp_path / "a")], tmp_path / "soup2")
    assert [s["name"] for s in meta["averaged_from"][0]["averaged_from"]] == ["a", "b"]
