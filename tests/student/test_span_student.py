"""The universal_ner_span student: training, serialisation, decoding, data and errors."""

from __future__ import annotations

import pickle
import random
import warnings
from pathlib import Path

import numpy
import pytest
import spacy
import srsly
import torch
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import load_config, load_model_from_config
from thinc.api import Adam

from spacy_uniner.data.docs import LABELS_ATTR, to_docbin
from spacy_uniner.pipes.span.batch import (
    ENT_MARKER,
    SHAPE_DIGIT,
    SHAPE_LOWER,
    SHAPE_MIXED,
    SHAPE_OTHER,
    SHAPE_TITLE,
    SHAPE_UPPER,
    length_chunks,
    make_batch,
    word_shape,
)
from spacy_uniner.pipes.span.model import (
    PRETRAINED_META,
    SpanScores,
    build_span_type_matcher,
    student_tensors,
    type_encoding,
    write_pretrained,
)
from spacy_uniner.spans import token_windows
from spacy_uniner.student.corpus import StudentCorpus
from spacy_uniner.student.threshold import tune_thresholds

ROOT = Path(__file__).resolve().parents[2]
NAME = "universal_ner_span"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_student(labels=(), **model_cfg) -> spacy.Language:
    """A student over the bare encoder (with a small head) for tests of the mechanism."""
    nlp = spacy.blank("en")
    # From the bare encoder: these tests are about the mechanism, not the shipped weights.
    config = {
        "labels": list(labels),
        "model": {
            "@architectures": "spacy_uniner.SpanTypeMatcher.v1",
            "pretrained": None,
            "freeze_vocab": False,
            **model_cfg,
        },
    }
    nlp.add_pipe(NAME, config=config)
    return nlp


def span_scores(nlp, docs):
    pipe = nlp.get_pipe(NAME)
    return pipe.span_scores(docs, [pipe.label_map(doc) for doc in docs])


def annotate(pipe, doc, scores, label_map=None):
    """Decode ``scores`` onto ``doc`` through the component's public steps (no existing ents)."""
    label_map = label_map or pipe.label_map(doc)
    candidates = [(Span(doc, s, e, label=label), p) for s, e, label, p in pipe.candidates(scores, label_map)]
    doc.ents = []
    pipe.set_annotations(doc, candidates, list(label_map))


@pytest.fixture(scope="module")
def politics(shared_dir):
    """The 12 shortest CrossNER politics training sentences with gold entities and type names."""
    from spacy_uniner.data.readers import read_docs

    vocab = spacy.blank("en").vocab
    label_map = {
        "person": "person",
        "politician": "politician",
        "country": "country",
        "politicalparty": "political party",
        "organisation": "organization",
        "location": "location",
        "election": "election",
        "event": "event",
    }
    docs = read_docs(shared_dir / "data" / "raw" / "crossner_politics" / "train.txt", "bio", vocab, label_map)
    docs = sorted((d for d in docs if d.ents), key=len)[:12]
    types = sorted(label_map.values())
    for doc in docs:
        doc._.set(LABELS_ATTR, types)
    return docs


def examples_for(nlp, docs):
    out = []
    for doc in docs:
        predicted = Doc(nlp.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
        predicted._.set(LABELS_ATTR, doc._.get(LABELS_ATTR))
        out.append(Example(predicted, doc))
    return out


@pytest.fixture(scope="module")
def trained(politics, tmp_path_factory):
    """A student trained for a few steps, before/after losses and F1, saved to disk."""
    torch.manual_seed(0)
    random.seed(0)
    nlp = small_student(save_dtype="float32")  # exact round trips; fp16 saving is tested apart
    examples = examples_for(nlp, politics)
    nlp.initialize(lambda: examples)
    before = nlp.evaluate(examples_for(nlp, politics))["ents_f"] or 0.0
    optimizer = Adam(3e-4, grad_clip=1.0, use_averages=False)
    losses = []
    for _ in range(40):
        batch = random.sample(examples, 4)
        losses.append(nlp.update(batch, sgd=optimizer, losses={})[NAME])
    after = nlp.evaluate(examples_for(nlp, politics))["ents_f"]
    path = tmp_path_factory.mktemp("student") / "model"
    nlp.to_disk(path)
    return {"nlp": nlp, "path": path, "losses": losses, "before": before, "after": after}


def test_training_lowers_loss_and_improves_f1(trained):
    losses = trained["losses"]
    assert numpy.mean(losses[-10:]) < 0.5 * numpy.mean(losses[:10])
    assert trained["after"] > trained["before"] + 0.2


def test_save_load_gives_identical_predictions(trained, politics):
    nlp, loaded = trained["nlp"], spacy.load(trained["path"])
    docs = [doc.copy() for doc in politics[:4]]
    before = span_scores(nlp, docs)
    after = span_scores(loaded, docs)
    for a, b in zip(before, after):
        numpy.testing.assert_array_equal(a.starts, b.starts)
        numpy.testing.assert_allclose(a.logits, b.logits, rtol=1e-5, atol=1e-5)
    text = " ".join(t.text for t in politics[0])
    labels = {"PER": "politician", "GPE": "country"}
    ents = [(e.start_char, e.end_char, e.label_) for e in nlp(text, component_cfg={NAME: {"labels": labels}}).ents]
    assert ents == [
        (e.start_char, e.end_char, e.label_) for e in loaded(text, component_cfg={NAME: {"labels": labels}}).ents
    ]
    assert {label for *_, label in ents} <= {"PER", "GPE"}
    from_bytes = small_student().from_bytes(nlp.to_bytes())
    numpy.testing.assert_allclose(span_scores(from_bytes, docs)[0].logits, before[0].logits, rtol=1e-5, atol=1e-5)


def test_fp16_saving_keeps_the_decisions(trained, politics, tmp_path):
    """The default save_dtype halves a trained pipeline on disk; probabilities move by less
    than 0.02 and the entities on the training domain stay the same."""
    nlp = trained["nlp"]
    half = small_student(save_dtype="float16").from_bytes(nlp.to_bytes())
    half.to_disk(tmp_path / "fp16")
    loaded = spacy.load(tmp_path / "fp16")
    size = lambda p: sum(f.stat().st_size for f in p.rglob("*") if f.is_file())  # noqa: E731
    assert size(tmp_path / "fp16") < 0.6 * size(trained["path"])
    docs = [doc.copy() for doc in politics[:8]]
    for a, b in zip(span_scores(nlp, docs), span_scores(loaded, docs)):
        assert numpy.abs(1 / (1 + numpy.exp(-a.logits)) - 1 / (1 + numpy.exp(-b.logits))).max() < 0.02
    texts = [" ".join(t.text for t in doc) for doc in politics]
    cfg = {NAME: {"labels": politics[0]._.get(LABELS_ATTR)}}

    def ents(pipeline):
        return [[(e.start, e.end, e.label_) for e in d.ents] for d in pipeline.pipe(texts, component_cfg=cfg)]

    assert ents(nlp) == ents(loaded)
    assert any(ents(nlp))


def test_word_shapes_let_the_uncased_encoder_see_capitals(trained, politics):
    shapes = {
        "the": SHAPE_LOWER,
        "Obama": SHAPE_TITLE,
        "A": SHAPE_TITLE,
        "NASA": SHAPE_UPPER,
        "iPhone": SHAPE_MIXED,
        "McDonald": SHAPE_MIXED,
        "2019": SHAPE_DIGIT,
        "F-16": SHAPE_DIGIT,
        ",": SHAPE_OTHER,
        "élan": SHAPE_LOWER,
    }
    assert {w: word_shape(w) for w in shapes} == shapes
    words = [t.text for t in politics[0]]
    assert any(w != w.lower() for w in words)
    types = politics[0]._.get(LABELS_ATTR)

    def logits(nlp, lowercase):
        doc = Doc(nlp.vocab, words=[w.lower() if lowercase else w for w in words])
        doc._.set(LABELS_ATTR, types)
        return span_scores(nlp, [doc])[0].logits

    # Same sub-word ids either way (the tokenizer lowercases): only the shapes tell them apart.
    assert not numpy.allclose(logits(trained["nlp"], False), logits(trained["nlp"], True), atol=1e-4)
    blind = small_student(labels=["person"], word_shapes=False)
    blind.initialize()
    numpy.testing.assert_allclose(logits(blind, False), logits(blind, True), rtol=1e-5, atol=1e-5)


def test_threshold_is_tuned_on_dev_and_saved(trained, politics, tmp_path):
    nlp = spacy.load(trained["path"])
    examples = examples_for(nlp, politics[:8])
    chosen = tune_thresholds(nlp, examples, per_type=False)
    best, f_scores = chosen.threshold, chosen.f_by_threshold
    assert chosen.type_thresholds == {} and chosen.f1 == f_scores[best]
    assert best in f_scores and f_scores[best] == max(f_scores.values())
    pipe = nlp.get_pipe(NAME)
    pipe.threshold = best
    nlp.to_disk(tmp_path / "tuned")
    assert spacy.load(tmp_path / "tuned").get_pipe(NAME).threshold == pytest.approx(best)
    pipe.threshold = best
    assert nlp.evaluate(examples)["ents_f"] == pytest.approx(f_scores[best])


def test_per_type_thresholds_never_lower_dev_f1_and_are_saved(trained, politics, tmp_path):
    nlp = spacy.load(trained["path"])
    examples = examples_for(nlp, politics)
    chosen = tune_thresholds(nlp, examples, min_support=2)
    assert chosen.f1 >= chosen.f_by_threshold[chosen.threshold]
    assert set(chosen.type_thresholds) <= set(politics[0]._.get(LABELS_ATTR))
    chosen.apply(nlp)
    assert nlp.evaluate(examples)["ents_f"] == pytest.approx(chosen.f1)
    nlp.to_disk(tmp_path / "tuned")
    loaded = spacy.load(tmp_path / "tuned").get_pipe(NAME)
    assert loaded.type_thresholds == pytest.approx(chosen.type_thresholds) and loaded.threshold == pytest.approx(
        chosen.threshold
    )
    assert tune_thresholds(nlp, examples, per_type=False).type_thresholds == {}


def scored(nlp, words, spans_and_probs, labels):
    """Hand-made scores: logit(p) for the given (start, end, type) entries, -20 elsewhere."""
    doc = Doc(nlp.vocab, words=words)
    starts, ends = zip(*[(s, e) for s in range(len(words)) for e in range(s + 1, len(words) + 1)])
    logits = numpy.full((len(starts), len(labels)), -20.0, dtype="float32")
    for (start, end, label), p in spans_and_probs.items():
        row = list(zip(starts, ends)).index((start, end))
        logits[row, labels.index(label)] = numpy.log(p / (1 - p))
    return doc, SpanScores(numpy.asarray(starts), numpy.asarray(ends), logits)


def test_threshold_and_overlap_decoding():
    nlp = small_student(labels=["person", "city"])
    pipe = nlp.get_pipe(NAME)
    probs = {
        (0, 2, "person"): 0.9,
        (1, 2, "person"): 0.7,
        (1, 2, "city"): 0.8,
        (3, 4, "city"): 0.4,
        (4, 5, "city"): 0.6,
    }
    doc, scores = scored(nlp, ["Ann", "Lee", "in", "New", "York"], probs, ["person", "city"])
    pipe.threshold = 0.5
    annotate(pipe, doc, scores)
    group = doc.spans["uniner"]
    assert sorted((s.start, s.end, s.label_) for s in group) == sorted(k for k, p in probs.items() if p >= 0.5)
    assert sorted(group.attrs["scores"], reverse=True) == pytest.approx([0.9, 0.8, 0.7, 0.6])
    assert [(e.start, e.end, e.label_) for e in doc.ents] == [(0, 2, "person"), (4, 5, "city")]
    pipe.threshold = 0.3
    annotate(pipe, doc, scores)
    assert (3, 4, "city") in [(e.start, e.end, e.label_) for e in doc.ents]
    # A per-type threshold overrides the global one for that type name only.
    pipe.threshold = 0.5
    pipe.type_thresholds = {"city": 0.3, "person": 0.95}
    annotate(pipe, doc, scores)
    assert [(e.start, e.end, e.label_) for e in doc.ents] == [(1, 2, "city"), (3, 4, "city"), (4, 5, "city")]
    # ... matched by type text, whatever spaCy label asks it.
    annotate(pipe, doc, scores, {"PER": "person", "LOC": "city"})
    assert {e.label_ for e in doc.ents} == {"LOC"} and len(doc.spans["uniner"]) == 3


def test_existing_ents_are_kept_without_overwrite():
    nlp = small_student(labels=["person"])
    pipe = nlp.get_pipe(NAME)
    pipe.overwrite_ents = False
    doc, scores = scored(nlp, ["Ann", "Lee", "met", "Bo"], {(0, 2, "person"): 0.9, (3, 4, "person"): 0.9}, ["person"])
    doc.ents = [Span(doc, 1, 2, label="ORG")]
    label_map = pipe.label_map(doc)
    pipe.set_annotations(
        doc,
        [(Span(doc, s, e, label=label), p) for s, e, label, p in pipe.candidates(scores, label_map)],
        list(label_map),
    )
    assert [(e.start, e.end, e.label_) for e in doc.ents] == [(1, 2, "ORG"), (3, 4, "person")]


def test_docs_are_scored_in_length_groups_with_the_scores_of_each_alone(politics):
    lengths = [5, 40, 3, 41, 2, 300, 7]
    chunks = length_chunks(lengths, 100)
    assert sorted(i for chunk in chunks for i in chunk) == list(range(len(lengths)))
    assert all(len(c) == 1 or max(lengths[i] for i in c) * len(c) <= 100 for c in chunks)
    assert [5] in chunks and {1, 3} in [set(c) for c in chunks]  # the long doc alone, 40 and 41 together
    nlp = small_student(labels=["person"], encoder_dtype="float32")  # fp32: padding then moves no score beyond rounding
    nlp.initialize()
    docs = [doc.copy() for doc in politics[:6]]
    assert len({len(d) for d in docs}) > 1
    together = span_scores(nlp, docs)
    for doc, scores in zip(docs, together):
        (alone,) = span_scores(nlp, [doc])
        numpy.testing.assert_array_equal(scores.starts, alone.starts)
        numpy.testing.assert_allclose(scores.logits, alone.logits, rtol=1e-4, atol=1e-4)


def test_long_docs_are_windowed_without_losing_spans():
    assert token_windows([1] * 10, 0, 10, budget=4, overlap=2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    nlp = small_student(labels=["person"], max_length=48, max_width=4, window_overlap=8)
    nlp.initialize()
    words = ("Ann Lee met Bo Chen in Paris and then flew home . " * 12).split()
    doc = Doc(nlp.vocab, words=words)
    (scores,) = span_scores(nlp, [doc])
    expected = {(s, e) for s in range(len(words)) for e in range(s + 1, min(s + 4, len(words)) + 1)}
    assert set(zip(scores.starts.tolist(), scores.ends.tolist())) == expected
    assert scores.logits.shape == (len(expected), 1) and numpy.isfinite(scores.logits).all()


def test_labels_from_call_doc_and_config():
    nlp = small_student(labels=["person"])
    nlp.initialize()
    pipe = nlp.get_pipe(NAME)
    doc = nlp.make_doc("Ann Lee lives in Paris")
    assert pipe.label_map(doc) == {"person": "person"}
    assert pipe.label_map(doc, {"LOC": "city"}) == {"LOC": "city"}
    doc._.set(LABELS_ATTR, ["city", "country"])
    assert list(pipe.label_map(doc, {"LOC": "city"})) == ["city", "country"]
    unlabelled = small_student()
    with pytest.raises(ValueError, match="E001"):
        unlabelled(unlabelled.make_doc("no labels anywhere"))


@pytest.mark.parametrize(
    "cfg,match",
    [
        ({"max_width": 0}, "E008"),
        ({"window_overlap": 4, "max_width": 8}, "window_overlap"),
        ({"dropout": 1.5}, "dropout"),
        ({"encoder_dtype": "float16"}, "encoder_dtype"),
        ({"type_encoding": "cross"}, "E008.*type_encoding"),
    ],
)
def test_bad_model_config_errors(cfg, match):
    with pytest.raises(ValueError, match=match):
        build_span_type_matcher(**cfg)


def test_bf16_encoder_scores_match_fp32(politics):
    """The same weights under bf16 autocast (the ``auto`` default on CPUs with AMX or
    AVX512-BF16) give nearly the same logits as fp32."""
    labels = ["person", "location", "political party"]
    fp32 = small_student(labels=labels, encoder_dtype="float32")
    fp32.initialize()
    bf16 = small_student(labels=labels, encoder_dtype="bfloat16")
    bf16.initialize()
    bf16.get_pipe(NAME).model.from_bytes(fp32.get_pipe(NAME).model.to_bytes())
    docs = [fp32.make_doc(doc.text) for doc in politics[:6]]
    logits = [numpy.concatenate([s.logits.ravel() for s in span_scores(nlp, docs)]) for nlp in (fp32, bf16)]
    assert logits[0].shape == logits[1].shape and logits[0].size > 100
    assert not numpy.array_equal(logits[0], logits[1])  # bf16 did run
    spread = logits[0].max() - logits[0].min()
    assert numpy.abs(logits[0] - logits[1]).max() < 0.1 * spread


def test_bad_component_settings_errors(tmp_path):
    with pytest.raises(ValueError, match="E202"):
        small_student(labels=["person"]).get_pipe(NAME).threshold = 1.5
    for bad in ({"person": 0.0}, {"": 0.3}, {"person": "high"}, ["person"]):
        with pytest.raises(ValueError, match="E204"):
            small_student(labels=["person"]).get_pipe(NAME).type_thresholds = bad
    with pytest.raises(ValueError, match="E204"):
        nlp = spacy.blank("en")
        nlp.add_pipe(NAME, config={"labels": ["person"], "type_thresholds": {"person": 2}})
    with pytest.raises(ValueError, match="E003"):
        small_student(labels=["person", "person"])
    nlp = small_student(labels=["person"], encoder=str(tmp_path / "missing"))
    with pytest.raises(OSError, match="E404"):
        nlp.initialize()
    nlp = small_student(labels=[" ".join(["entity"] * 40)], max_length=64)
    nlp.initialize()
    with pytest.raises(ValueError, match="E403"):
        nlp("A short text.")


def test_training_config_resolves(tmp_path):
    nlp = spacy.blank("en")
    doc = nlp.make_doc("Ann met Bo")
    doc.ents = [Span(doc, 0, 1, label="person")]
    to_docbin([doc]).to_disk(tmp_path / "d.spacy")
    config = load_config(
        ROOT / "configs" / "student.cfg",
        interpolate=True,
        overrides={"paths.train": str(tmp_path / "d.spacy"), "paths.dev": str(tmp_path / "d.spacy")},
    )
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    assert nlp.pipe_names == [NAME]
    from spacy.util import resolve_dot_names

    train_corpus, dev_corpus = resolve_dot_names(nlp.config, ["corpora.train", "corpora.dev"])
    (example,) = list(train_corpus(nlp))
    assert example.predicted._.get(LABELS_ATTR) == ["person"]


def test_spacy_train_gives_a_pipeline_that_answers_its_types(tmp_path):
    """`spacy train configs/student.cfg`, as a user targets a domain: the trained pipeline
    answers the training data's types when called without labels, and the training's scores
    include the paper's string metric."""
    from spacy.cli.train import train

    nlp = spacy.blank("en")
    docs = []
    for first, last, city in [("Ann", "Lee", "Paris"), ("Bo", "Chen", "Oslo"), ("Cy", "Diaz", "Lima")]:
        doc = nlp.make_doc(f"{first} {last} flew to {city} on Monday .")
        doc.ents = [Span(doc, 0, 2, label="person"), Span(doc, 4, 5, label="city")]
        docs.append(doc)
    to_docbin(docs).to_disk(tmp_path / "d.spacy")
    overrides = {
        "paths.train": str(tmp_path / "d.spacy"),
        "paths.dev": str(tmp_path / "d.spacy"),
        "training.max_steps": 2,
        "training.eval_frequency": 1,
        "system.seed": 0,
    }
    train(ROOT / "configs" / "student.cfg", tmp_path / "out", overrides=overrides)
    trained = spacy.load(tmp_path / "out" / "model-last")
    assert trained.get_pipe(NAME).labels == {"city": "city", "person": "person"}
    doc = trained("Ann Lee flew to Paris on Monday .")  # no labels given: the trained types
    assert {e.label_ for e in doc.ents} <= {"person", "city"}
    performance = srsly.read_json(tmp_path / "out" / "model-last" / "meta.json")["performance"]
    assert performance["uniner_f"] > 0.5 and performance["ents_f"] > 0.5


def test_distill_and_convert_commands(tmp_path):
    import srsly
    import typer
    from typer.testing import CliRunner

    from spacy_uniner.student.cli import register

    app = typer.Typer()
    register(app)
    teacher = spacy.blank("en")
    teacher.add_pipe("entity_ruler").add_patterns(
        [
            {"label": "PERSON", "pattern": "Ann Lee"},
            {"label": "GPE", "pattern": "Paris"},
            {"label": "DATE", "pattern": "today"},
        ]
    )
    teacher.to_disk(tmp_path / "teacher")
    srsly.write_jsonl(tmp_path / "corpus.jsonl", [{"text": "Ann Lee is in Paris today."}, {"text": "Nobody here."}])
    result = CliRunner().invoke(
        app,
        [
            "student",
            "distill",
            str(tmp_path / "teacher"),
            str(tmp_path / "corpus.jsonl"),
            str(tmp_path / "d.spacy"),
            "--labels",
            '{"PERSON": "person", "GPE": "city"}',
        ],
    )
    assert result.exit_code == 0, result.output
    assert "other_label:DATE" in result.output
    docs = [eg.reference for eg in StudentCorpus(tmp_path / "d.spacy")(spacy.blank("en"))]
    assert [[(e.text, e.label_) for e in d.ents] for d in docs] == [[("Ann Lee", "person"), ("Paris", "city")], []]
    assert all(d._.get(LABELS_ATTR) == ["person", "city"] for d in docs)

    records = [
        {
            "text": "Bo met Ann in Rome.",
            "entities": [["Ann", "person"], ["Bo", "person"], ["Rome", "city"], ["Oslo", "city"]],
        }
    ]
    srsly.write_jsonl(tmp_path / "r.jsonl", records)
    result = CliRunner().invoke(
        app, ["student", "convert-records", str(tmp_path / "r.jsonl"), str(tmp_path / "r.spacy")]
    )
    assert result.exit_code == 0, result.output
    assert "not_found" in result.output
    (doc,) = [eg.reference for eg in StudentCorpus(tmp_path / "r.spacy")(spacy.blank("en"))]
    assert [(e.text, e.label_) for e in doc.ents] == [("Bo", "person"), ("Ann", "person"), ("Rome", "city")]


def test_only_spans_near_a_known_mention_count_in_an_entity_typing_doc(trained):
    """Entity typing annotates one mention per line: in such a doc (``MENTIONS_ONLY``) another
    span is no negative, so only the spans that overlap the typed mention get a gradient."""
    from spacy_uniner.data.docs import MENTIONS_ONLY, PARTIAL_KEY

    nlp = trained["nlp"]
    pipe = nlp.get_pipe(NAME)
    words = "Obama met Merkel in Berlin on Monday".split()
    grads = {}
    for flag in (None, MENTIONS_ONLY):
        reference = Doc(nlp.vocab, words=words)
        reference.ents = [Span(reference, 2, 3, label="person")]
        reference._.set(LABELS_ATTR, ["person"])
        if flag:
            reference.user_data[PARTIAL_KEY] = flag
        predicted = Doc(nlp.vocab, words=words)
        predicted._.set(LABELS_ATTR, ["person"])
        example = Example(predicted, reference)
        scores = pipe.span_scores([predicted], [pipe.label_map(reference)])
        loss, (grad,) = pipe.get_loss([example], scores)
        grads[flag] = (scores[0], numpy.asarray(grad), loss)
    full, full_loss = grads[None][1], grads[None][2]
    s, e = numpy.asarray(grads[None][0].starts), numpy.asarray(grads[None][0].ends)
    masked, masked_loss = grads[MENTIONS_ONLY][1], grads[MENTIONS_ONLY][2]
    overlaps = (s < 3) & (e > 2)
    assert (full != 0).all()  # fully annotated: "Obama" is a known negative of person
    assert (masked[~overlaps] == 0).all() and (masked[overlaps] != 0).all()
    numpy.testing.assert_allclose(masked[overlaps], full[overlaps])
    assert 0 < masked_loss < full_loss


# -- separate type encoding (a bi-encoder): each name read alone, the text without them --
BI_TEXT = "Ann Lee met the novelist Bo Chen in Paris and Lyon on Monday ."
OTHERS = [f"type {i}" for i in range(40)] + ["city", "writer"]


def batch_of(nlp, doc, types, encoding):
    pipe = nlp.get_pipe(NAME)
    attrs = pipe.model.attrs
    args = (attrs["max_width"], attrs["max_length"], attrs["window_overlap"], attrs["window_length"], 25)
    return make_batch(pipe.model.shims[0].tokenizer, [(doc, types)], attrs["suggester"], *args, encoding)


@pytest.fixture(scope="module")
def separate(exact_torch):
    torch.manual_seed(0)
    nlp = small_student(labels=["person"], encoder_dtype="float32", type_encoding="separate", save_dtype="float32")
    nlp.initialize()
    return nlp


def test_a_type_scores_the_same_whatever_else_is_asked(separate):
    """Read separately, a type's score of a span is the same asked alone or among 42 others;
    read jointly, the other names in the prompt move it."""
    doc = separate.make_doc(BI_TEXT)
    (alone,) = span_scores(separate, [doc])
    pipe = separate.get_pipe(NAME)
    pipe.model.shims[0]._name_cache.clear()  # computed again, among other (longer) names
    (among,) = pipe.span_scores([doc], [{n: n for n in ["person", *OTHERS]}])
    numpy.testing.assert_allclose(among.logits[:, 0], alone.logits[:, 0], rtol=1e-5, atol=1e-5)
    torch.manual_seed(0)
    joint = small_student(labels=["person"], encoder_dtype="float32")
    joint.initialize()
    (j_alone,) = span_scores(joint, [doc])
    (j_among,) = joint.get_pipe(NAME).span_scores([doc], [{n: n for n in ["person", *OTHERS]}])
    assert numpy.abs(j_among.logits[:, 0] - j_alone.logits[:, 0]).max() > 1e-3


def test_the_text_is_encoded_once_and_each_name_once(separate):
    doc = separate.make_doc(BI_TEXT)
    types = ["person", *OTHERS, "person"[::-1]]
    tokenizer = separate.get_pipe(NAME).model.shims[0].tokenizer
    ent = tokenizer.convert_tokens_to_ids(ENT_MARKER)
    batch = batch_of(separate, doc, types, "separate")
    ids, names = batch.tensors[0], batch.name_tensors[0]
    assert ids.shape[0] == 1 and ent not in ids[0].tolist()  # one window, no type prompt
    assert batch.names == sorted(set(types)) and names.shape[0] == len(types)
    assert all(row.tolist().count(ent) == 1 for row in names)
    joint = batch_of(separate, doc, types, "joint")
    assert joint.tensors[0].shape[0] == 2 and not joint.name_tensors  # 43 types: two groups of at most 25
    none, one = separate.get_pipe(NAME).span_scores([doc, doc], [{}, {"city": "city"}])  # a doc asking nothing
    assert none.logits.shape[1] == 0 and one.logits.shape[1] == 1 and len(one.starts) == len(none.starts) > 0
    assert batch_of(separate, doc, [], "separate").tensors == ()


@pytest.mark.parametrize("encoding", ["separate", "late"])
def test_separate_training_lowers_the_loss(politics, encoding):
    torch.manual_seed(0)
    random.seed(0)
    nlp = small_student(type_encoding=encoding)
    examples = examples_for(nlp, politics)
    nlp.initialize(lambda: examples)
    optimizer = Adam(3e-4, grad_clip=1.0, use_averages=False)
    (before,) = span_scores(nlp, politics[:1])  # the names' queries are cached for prediction
    losses = [nlp.update(random.sample(examples, 4), sgd=optimizer, losses={})[NAME] for _ in range(30)]
    assert numpy.mean(losses[-5:]) < 0.5 * numpy.mean(losses[:5])
    (after,) = span_scores(nlp, politics[:1])  # an update drops the cached queries
    nlp.get_pipe(NAME).model.shims[0]._name_cache.clear()
    (fresh,) = span_scores(nlp, politics[:1])
    assert numpy.abs(after.logits - before.logits).max() > 1e-3
    numpy.testing.assert_allclose(after.logits, fresh.logits, rtol=1e-5, atol=1e-5)
    block = nlp.get_pipe(NAME).model.shims[0]._model.context
    assert (block is None) == (encoding == "separate")
    if block is not None:  # the late block learned: its output is no longer zero
        assert block.attention.out_proj.weight.abs().max() > 0


def release(nlp, folder, encoding):
    """Write ``nlp``'s student as a released folder whose meta says ``encoding``."""
    shim = nlp.get_pipe(NAME).model.shims[0]
    meta = {"name": encoding, "encoder": shim.cfg["encoder"], "model": {"type_encoding": encoding}}
    return write_pretrained(student_tensors(shim._model, 0, torch.float32), folder, meta)


def read_released(folder, asked):
    """A pipeline over a released student read with ``type_encoding = asked``, and whether it warned W204."""
    nlp = spacy.blank("en")
    model = {"pretrained": str(folder), "encoder_dtype": "float32", "freeze_vocab": False, "type_encoding": asked}
    pipe = nlp.add_pipe(NAME, config={"labels": ["person"], "model": model})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe.ensure_model()
    return nlp, any("W204" in str(w.message) for w in caught)


def assert_saved_and_pickled(nlp, encoding, path, atol):
    (before,) = span_scores(nlp, [nlp.make_doc(BI_TEXT)])
    nlp.to_disk(path)
    for loaded in (spacy.load(path), pickle.loads(pickle.dumps(nlp))):
        assert type_encoding(loaded.get_pipe(NAME).model) == encoding
        (after,) = span_scores(loaded, [loaded.make_doc(BI_TEXT)])
        numpy.testing.assert_allclose(after.logits, before.logits, rtol=1e-5, atol=atol)
    return before


def test_the_encoding_is_saved_pickled_and_read_from_a_released_student(separate, tmp_path):
    before = assert_saved_and_pickled(separate, "separate", tmp_path / "pipe", 1e-5)
    # A released student says how it reads names; a pipe over it reads them so unless told otherwise.
    folder = release(separate, tmp_path / "released", "separate")
    assert srsly.read_json(folder / PRETRAINED_META)["model"]["type_encoding"] == "separate"
    for asked, warns in ((None, False), ("separate", False), ("joint", True)):
        nlp, warned = read_released(folder, asked)
        assert type_encoding(nlp.get_pipe(NAME).model) == (asked or "separate")
        assert warned == warns
    (released,) = span_scores(nlp, [nlp.make_doc(BI_TEXT)])  # read jointly: other scores
    assert numpy.abs(released.logits - before.logits).max() > 1e-3


# -- late type encoding: names read alone, then each attends to its window's text --
def zero_block(nlp):
    block = nlp.get_pipe(NAME).model.shims[0]._model.context
    with torch.no_grad():
        saved = block.attention.out_proj.weight.clone()
        block.attention.out_proj.weight.zero_()
    return saved


@pytest.fixture(scope="module")
def late(exact_torch):
    torch.manual_seed(0)
    nlp = small_student(labels=["person"], encoder_dtype="float32", type_encoding="late", save_dtype="float32")
    nlp.initialize()
    block = nlp.get_pipe(NAME).model.shims[0]._model.context
    assert block.attention.out_proj.weight.abs().max() == 0  # at start, the block adds nothing
    with torch.no_grad():  # as after training: its output no longer zero
        torch.nn.init.normal_(block.attention.out_proj.weight, std=0.2)
    return nlp


def test_late_names_read_the_text_but_not_each_other(late):
    """Read late, a type's score is the same alone or among 42 other names (the names do not
    attend to each other; fp32 round-off aside, as the matrices' shapes differ); the block
    changes the scores, and with its output at zero they are those of the same weights read
    separately."""
    doc = late.make_doc(BI_TEXT)
    (alone,) = span_scores(late, [doc])
    pipe = late.get_pipe(NAME)
    pipe.model.shims[0]._name_cache.clear()
    (among,) = pipe.span_scores([doc], [{n: n for n in ["person", *OTHERS]}])
    numpy.testing.assert_allclose(among.logits[:, 0], alone.logits[:, 0], rtol=1e-5, atol=1e-4)
    separate = small_student(labels=["person"], encoder_dtype="float32", type_encoding="separate")
    separate.initialize()
    state = {k: v for k, v in pipe.model.shims[0]._model.state_dict().items() if not k.startswith("context.")}
    separate.get_pipe(NAME).model.shims[0]._model.load_state_dict(state)
    (read_apart,) = span_scores(separate, [doc])
    saved = zero_block(late)
    try:
        (unread,) = span_scores(late, [doc])
    finally:
        with torch.no_grad():
            pipe.model.shims[0]._model.context.attention.out_proj.weight.copy_(saved)
    numpy.testing.assert_allclose(unread.logits, read_apart.logits, rtol=1e-5, atol=1e-4)
    assert numpy.abs(alone.logits - read_apart.logits).max() > 1e-3


def test_late_encoding_is_saved_pickled_and_read_from_a_released_student(late, tmp_path):
    before = assert_saved_and_pickled(late, "late", tmp_path / "pipe", 1e-4)
    folder = release(late, tmp_path / "released", "late")
    for asked, warns in ((None, False), ("separate", True)):
        nlp, warned = read_released(folder, asked)
        assert warned == warns
        assert (nlp.get_pipe(NAME).model.shims[0]._model.context is None) == warns  # read separately: no block
        (released,) = span_scores(nlp, [nlp.make_doc(BI_TEXT)])
        assert numpy.allclose(released.logits, before.logits, rtol=1e-5, atol=1e-4) == (not warns)


def test_a_separate_student_is_read_late_without_a_warning(separate, tmp_path):
    """The late block starts at zero over a bi-encoder's weights: the same scores, no W204."""
    nlp, warned = read_released(release(separate, tmp_path / "bi", "separate"), "late")
    assert not warned
    (as_late,) = span_scores(nlp, [nlp.make_doc(BI_TEXT)])
    (as_separate,) = span_scores(separate, [separate.make_doc(BI_TEXT)])
    numpy.testing.assert_allclose(as_late.logits, as_separate.logits, rtol=1e-5, atol=1e-4)
