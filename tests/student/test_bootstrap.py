"""Paired bootstrap of two `student select` records over the dev docs they scored."""

from __future__ import annotations

import random

import numpy
import pytest
import spacy
import srsly
import typer
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example
from typer.testing import CliRunner

from spacy_uniner.__main__ import app
from spacy_uniner.data.docs import to_docbin
from spacy_uniner.student.bootstrap import paired_bootstrap
from spacy_uniner.student.cli import student_select
from spacy_uniner.student.threshold import ner_counts

from conftest import day_docs

pytestmark = pytest.mark.usefixtures("one_torch_thread")
PROTOCOLS = ("all types", "each type alone")


def test_doc_counts_sum_to_spacys_ner_f1():
    """Random gold and predictions, some gold tokens unannotated (neither right nor wrong)."""
    nlp = spacy.blank("en")
    draw = random.Random(0)
    examples = []
    for i in range(60):
        words = [f"w{j}" for j in range(12)]
        gold, pred = Doc(nlp.vocab, words=words), Doc(nlp.vocab, words=words)
        starts = sorted(draw.sample(range(0, 12, 2), 3))
        gold.ents = [Span(gold, s, s + 1, label=draw.choice("AB")) for s in starts]
        if i % 3 == 0:  # some of its other tokens are not annotated
            gold.set_ents(
                [], missing=[gold[t.i : t.i + 1] for t in gold if t.ent_iob_ == "O"][:4], default="unmodified"
            )
        pred.ents = [Span(pred, s, s + draw.choice((1, 2)), label=draw.choice("AB")) for s in starts]
        examples.append(Example(pred, gold))
    tp, fp, fn = numpy.sum([ner_counts(eg) for eg in examples], axis=0)
    assert tp and fp and fn
    assert 2 * tp / (2 * tp + fp + fn) == pytest.approx(get_ner_prf(examples)["ents_f"])


def record(per_source):
    """A select record whose protocols both hold ``per_source``'s doc counts."""
    return {
        "score": 0.0,
        **{p: {"doc_counts": {s: [list(c) for c in counts] for s, counts in per_source.items()}} for p in PROTOCOLS},
    }


def test_a_student_better_on_every_doc_wins_every_resample_and_equals_tie():
    rng = numpy.random.default_rng(0)
    base = {s: [(int(rng.integers(0, 5)), 2, 2) for _ in range(40)] for s in ("a", "b")}
    better = {s: [(tp + 1, fp, fn) for tp, fp, fn in docs] for s, docs in base.items()}
    result = paired_bootstrap(record(better), record(base), samples=200)
    assert result.share_better == 1.0 and 0 < result.low <= result.difference <= result.high
    same = paired_bootstrap(record(base), record(base), samples=200)
    assert same.difference == same.low == same.high == 0.0 and same.share_better == 0.0
    # one doc's win among 80 is within the noise
    nearly = {s: [list(c) for c in docs] for s, docs in base.items()}
    nearly["a"][0][0] += 1
    close = paired_bootstrap(record(nearly), record(base), samples=500)
    assert close.low <= 0.0 < close.difference <= close.high


def test_bootstrap_checks_its_records():
    docs = {"a": [(1, 0, 0)] * 5}
    with pytest.raises(ValueError, match="E642"):
        paired_bootstrap({"score": 0.5, "all types": {"macro_span_f1": 0.5}}, record(docs))
    with pytest.raises(ValueError, match="E643"):
        paired_bootstrap(record(docs), record({"a": [(1, 0, 0)] * 6}))
    with pytest.raises(ValueError, match="E644"):
        paired_bootstrap(record(docs), record(docs), samples=0)


def test_select_writes_doc_counts_that_bootstrap_reads(shipped_student, tmp_path, capsys):
    docs = day_docs(shipped_student, 3, source="a") + day_docs(shipped_student, 3, source="b")
    to_docbin(docs).to_disk(tmp_path / "dev.spacy")
    student_select(tmp_path / "dev.spacy", ["v=shipped"], 50, 1, "both", tmp_path / "v.json", 0, "", 200)
    assert "Paired bootstrap" not in capsys.readouterr().out  # one candidate: nothing to compare
    student_select(tmp_path / "dev.spacy", ["w=shipped", "x=shipped"], 50, 1, "both", tmp_path / "w.json", 0, "", 200)
    printed = capsys.readouterr().out
    assert "Paired bootstrap: 200 resamples" in printed and "+0.00" in printed  # the best against the other
    v = srsly.read_json(tmp_path / "v.json")["v"]
    for protocol in PROTOCOLS:  # the counts give the recorded F1 of each source at the chosen threshold
        for source, f1 in v[protocol]["sources"].items():
            tp, fp, fn = numpy.sum(v[protocol]["doc_counts"][source], axis=0)
            assert len(v[protocol]["doc_counts"][source]) == 3
            assert 2 * tp / max(1, 2 * tp + fp + fn) == pytest.approx(f1)
    both = [f"w={tmp_path / 'w.json'}", f"v={tmp_path / 'v.json'}"]
    result = CliRunner().invoke(app, ["student", "bootstrap", str(tmp_path / "v.json"), *both])
    assert result.exit_code == 0, result.output
    assert result.output.count("[+0.00, +0.00]") == 2  # two rows, the same student: no difference
    ambiguous = CliRunner().invoke(app, ["student", "bootstrap", str(tmp_path / "v.json"), str(tmp_path / "w.json")])
    assert ambiguous.exit_code != 0 and "E645" in ambiguous.output
    wrong = CliRunner().invoke(app, ["student", "bootstrap", str(tmp_path / "v.json"), f"z={tmp_path / 'w.json'}"])
    assert wrong.exit_code != 0 and "E645" in wrong.output  # no candidate z among w, x
    renamed = CliRunner().invoke(
        app, ["student", "bootstrap", f"new={tmp_path / 'v.json'}", f"w={tmp_path / 'w.json'}"]
    )
    assert renamed.exit_code == 0 and "resamples new wins" in renamed.output  # one candidate: NAME labels it
    missing = CliRunner().invoke(app, ["student", "bootstrap", str(tmp_path / "v.json"), str(tmp_path / "no.json")])
    assert missing.exit_code != 0 and "E646" in missing.output
    srsly.write_json(tmp_path / "other.json", {"v": [1, 2]})
    other = CliRunner().invoke(app, ["student", "bootstrap", str(tmp_path / "v.json"), str(tmp_path / "other.json")])
    assert other.exit_code != 0 and "E646" in other.output
    with pytest.raises(typer.BadParameter, match="E643"):
        from spacy_uniner.student.cli import student_bootstrap

        student_select(tmp_path / "dev.spacy", ["y=shipped"], 50, 1, "all", tmp_path / "y.json", 0, "", 0)
        student_bootstrap(str(tmp_path / "v.json"), [str(tmp_path / "y.json")], 10, 0)
