"""benchmarks/deferred_interaction.py: the first layers read each type name and the text apart."""

from __future__ import annotations

import types

import numpy
import pytest
import spacy
import srsly
from typer.testing import CliRunner

from spacy_uniner.data.docs import to_docbin
from spacy_uniner.pipes.span.batch import ENT_MARKER, SEP_MARKER

from conftest import day_docs, load_benchmark

pytestmark = pytest.mark.usefixtures("exact_torch")
NAME = "universal_ner_span"
TEXT = "Ann Lee met the novelist Bo Chen in Paris on Monday ."
OTHERS = {f"o{i}": name for i, name in enumerate(["city", "writer", "country", "date", "company"])}


@pytest.fixture(scope="module")
def deferred():
    return load_benchmark("deferred_interaction")


def student_with(deferred, joint_layers):
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(NAME, config={"model": {"encoder_dtype": "float32"}})
    pipe.ensure_model()
    if joint_layers is not None:
        shim = pipe.model.shims[0]
        ids = shim.tokenizer.convert_tokens_to_ids([ENT_MARKER, SEP_MARKER])
        shim._model.encode = types.MethodType(deferred.deferred_encode(joint_layers, *ids), shim._model)
    return nlp, pipe


def person_logits(pipe, doc, others=None):
    """The model's scores of ``person`` asked first, then ``others`` in their order (the
    component itself reads any order in one canonical order)."""
    (scores,) = pipe.model.predict([(doc, ["person", *(others or {}).values()])])
    return numpy.asarray(scores.logits)[:, 0]


def test_all_layers_joint_is_the_student_and_none_reads_each_name_apart(deferred):
    nlp, plain = student_with(deferred, None)
    doc = nlp.make_doc(TEXT)
    _, every = student_with(deferred, 6)
    numpy.testing.assert_allclose(person_logits(every, doc), person_logits(plain, doc), atol=1e-4)
    _, apart = student_with(deferred, 0)
    alone = person_logits(apart, doc)
    assert numpy.abs(alone - person_logits(plain, doc)).max() > 0.1
    # Read apart in every layer, a name's scores no longer depend on which other names are
    # asked beside it (the same names in another order: the text's positions stay the same).
    shuffled = dict(reversed(list(OTHERS.items())))
    numpy.testing.assert_allclose(person_logits(apart, doc, shuffled), person_logits(apart, doc, OTHERS), atol=1e-4)
    assert numpy.abs(person_logits(plain, doc, shuffled) - person_logits(plain, doc, OTHERS)).max() > 1e-3


def test_the_command_prints_each_depth_and_writes_select_records(deferred, tmp_path):
    to_docbin(day_docs(spacy.blank("en"), 2, source="wiki")).to_disk(tmp_path / "dev.spacy")
    args = [
        str(tmp_path / "dev.spacy"),
        "--joint-layers",
        "6,0",
        "--min-docs",
        "1",
        "--output",
        str(tmp_path / "r.json"),
    ]
    result = CliRunner().invoke(deferred.app, args)
    assert result.exit_code == 0, result.output
    records = srsly.read_json(tmp_path / "r.json")
    assert set(records) == {"k6", "k0"} and all(0 <= r["score"] <= 1 for r in records.values())
    assert "lower of the two" in result.output
