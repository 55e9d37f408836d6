"""benchmarks/student_topic.py: the passage's closeness to each type name added at decoding."""

from __future__ import annotations

import numpy
import pytest
import srsly
from spacy.tokens import Span
from typer.testing import CliRunner

from spacy_uniner.data.docs import LABELS_ATTR, SOURCE_KEY, to_docbin

from conftest import load_benchmark

pytestmark = pytest.mark.usefixtures("exact_torch")
TEXT = "The senator Ann Lee won the election and spoke to parliament ."


@pytest.fixture(scope="module")
def topic():
    return load_benchmark("student_topic")


@pytest.fixture(scope="module")
def embed(topic):
    return topic.SentenceEmbedder(topic.DEFAULT_ENCODER)


def test_embeddings_are_unit_vectors_cached_and_put_politics_near_politician(embed):
    vectors = embed([TEXT, "politician", "athlete", TEXT]).numpy()
    assert numpy.allclose(numpy.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert numpy.array_equal(vectors[0], vectors[3]) and len(embed._cache) == 3
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1


def test_the_topic_term_is_added_to_each_asked_names_logits(topic, embed, shipped_student):
    pipe = shipped_student.get_pipe("universal_ner_span")
    doc = shipped_student.make_doc(TEXT)
    asked = {"P": "politician", "A": "athlete"}
    cache = topic.TopicCandidates(shipped_student, embed)
    scores = pipe.span_scores([doc], [asked])[0]
    plain = pipe.candidates(scores, asked, floor=0.01)
    assert cache.source(0.0)([doc], [asked], 0.01)[0] == plain
    cos = (embed(["politician", "athlete"]) @ embed([TEXT])[0]).numpy()
    shifted = numpy.asarray(scores.logits) + 5.0 * cos[None, :]
    expected = pipe.candidates(topic.SpanScores(scores.starts, scores.ends, shifted), asked, floor=0.01)
    found = cache.source(5.0)([doc], [asked], 0.01)[0]
    assert found == expected and found != plain
    ann = [c for c in found if (c[0], c[1]) == (2, 4)]
    before = {c[2]: c[3] for c in plain if (c[0], c[1]) == (2, 4)}
    assert ann and all(c[3] > before.get(c[2], 0.0) for c in ann if c[2] == "P")


def test_command_scores_each_weight_against_none(topic, shipped_student, tmp_path):
    docs = []
    for source in ("a", "b"):
        for i in range(3):
            doc = shipped_student.make_doc(f"{TEXT[:-2]} on day {i} .")
            doc.ents = [Span(doc, 2, 4, label="politician")]
            doc._.set(LABELS_ATTR, ["politician", "athlete"])
            doc.user_data[SOURCE_KEY] = source
            docs.append(doc)
    to_docbin(docs).to_disk(tmp_path / "dev.spacy")
    base = [str(tmp_path / "dev.spacy"), "v=shipped", "--min-docs", "3"]
    result = CliRunner().invoke(topic.app, [*base, "--alphas", "1e-9,8", "--output", str(tmp_path / "t.json")])
    assert result.exit_code == 0, result.output
    records = srsly.read_json(tmp_path / "t.json")
    assert set(records) == {"v", "v topic 1e-09", "v topic 8"}
    assert records["v topic 1e-09"]["score"] == records["v"]["score"] and "+0.00" in result.output
    for bad in ("0", "x", " , "):
        failed = CliRunner().invoke(topic.app, [*base, "--alphas", bad])
        assert failed.exit_code != 0 and "--alphas" in failed.output


def test_the_relative_term_is_the_names_closeness_less_its_neighbours(topic, embed, shipped_student):
    cache = topic.TopicCandidates(shipped_student, embed, {"politician": ["athlete", "scientist"]})
    term = cache.topic(TEXT, ["politician", "city"])
    cos = (embed(["politician", "athlete", "scientist"]) @ embed([TEXT])[0]).numpy()
    assert term[0] == pytest.approx(cos[0] - (cos[1] + cos[2]) / 2, abs=1e-6) and term[0] > 0
    assert term[1] == 0.0  # no neighbours: no term
    plain = topic.TopicCandidates(shipped_student, embed).topic(TEXT, ["politician", "city"])
    assert plain[0] == pytest.approx(cos[0], abs=1e-6) and plain[1] != 0.0


def test_the_centred_term_removes_the_passage_and_name_means(topic, embed, shipped_student):
    names, passages = ["politician", "athlete", "city"], ["A match was won .", "Rain fell all day ."]
    cache = topic.TopicCandidates(shipped_student, embed, reference=(names, passages))
    term = cache.topic(TEXT, ["politician", "river"])
    n, q, p, a = (embed(x) for x in (names, passages, [TEXT], ["politician", "river"]))
    expected = (a @ p[0]) - (n @ p[0]).mean() - (q @ a.T).mean(0) + (q @ n.T).mean()
    assert numpy.allclose(term, expected.numpy(), atol=1e-6)
    on_reference = numpy.stack([cache.topic(text, names) for text in passages])
    assert on_reference.mean() == pytest.approx(0.0, abs=1e-6)  # centred on its own reference
    assert numpy.allclose(on_reference.mean(0), 0.0, atol=1e-6) and numpy.allclose(on_reference.mean(1), 0.0, atol=1e-6)


def test_a_fitted_gate_weights_the_topic_by_name(topic):
    rng = numpy.random.default_rng(0)
    n = 4000
    names = numpy.eye(2)[rng.integers(0, 2, n)]  # two names, one-hot embeddings
    z, c = rng.normal(0, 2, n), rng.uniform(-0.5, 0.5, n)
    true = z + 8.0 * c * names[:, 0]  # the topic counts for the first name only
    gold = (rng.uniform(size=n) < 1 / (1 + numpy.exp(-true))).astype(float)
    gate = topic.fit_gate(z, c, names, gold, l2=1e-4)
    alpha = gate.alpha(numpy.eye(2))
    assert alpha[0] > 5.0 and abs(alpha[1]) < 2.0 and 0.8 < gate.scale < 1.2 and abs(gate.bias) < 0.3


def test_a_gate_applied_at_decoding(topic, embed, shipped_student):
    cache = topic.TopicCandidates(shipped_student, embed)
    doc = shipped_student.make_doc(TEXT)
    asked = {"P": "politician", "A": "athlete"}
    none = topic.Gate(1.0, numpy.zeros(384), 0.0, 0.0)
    assert cache.source(gate=none)([doc], [asked], 0.01) == cache.source(0.0)([doc], [asked], 0.01)
    flat = topic.Gate(1.0, numpy.zeros(384), 5.0, 0.0)
    assert cache.source(gate=flat)([doc], [asked], 0.01) == cache.source(5.0)([doc], [asked], 0.01)


def test_command_fits_a_gate_on_pool_train_passages(topic, shipped_student, tmp_path):
    docs = []
    for i, (source, name) in enumerate([("a", "politician"), ("b", "athlete")] * 3):
        doc = shipped_student.make_doc(f"{TEXT[:-2]} on day {i} .")
        doc.ents = [Span(doc, 2, 4, label=name)]
        doc._.set(LABELS_ATTR, ["politician", "athlete"])
        doc.user_data[SOURCE_KEY] = source
        docs.append(doc)
    (tmp_path / "pool").mkdir()
    to_docbin(docs).to_disk(tmp_path / "pool" / "train.spacy")
    to_docbin(docs).to_disk(tmp_path / "dev.spacy")
    args = [str(tmp_path / "dev.spacy"), "v=shipped", "--min-docs", "3", "--alphas", "5"]
    out = str(tmp_path / "g.json")
    result = CliRunner().invoke(topic.app, [*args, "--gate-from", str(tmp_path / "pool"), "--output", out])
    assert result.exit_code == 0, result.output
    assert set(srsly.read_json(out)) == {"v", "v topic 5", "v topic learned gate"}
    assert "Gate fitted on" in result.output and "of 6 train passages" in result.output
    missing = CliRunner().invoke(topic.app, [*args, "--gate-from", str(tmp_path)])
    assert missing.exit_code != 0 and "no train.spacy" in missing.output


def test_cached_span_scores_compute_each_query_once(shipped_student):
    from spacy_uniner.student.threshold import CachedSpanScores

    pipe = shipped_student.get_pipe("universal_ner_span")
    cache = CachedSpanScores(pipe)
    doc, other = shipped_student.make_doc(TEXT), shipped_student.make_doc("Bo Chen ran in Paris .")
    asked = {"P": "politician"}
    (first,) = cache([doc], [asked])
    again, new, alone = cache([doc, other, doc], [asked, asked, {"A": "athlete"}])
    assert again is first and new is not first and alone is not first
    assert numpy.allclose(numpy.asarray(first.logits), numpy.asarray(pipe.span_scores([doc], [asked])[0].logits))
