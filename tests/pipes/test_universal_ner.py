"""Alignment, overlaps, windows and labels of the component, with scripted answers.

The backend here returns given answers (an outer boundary: what the model says); the real
Hugging Face path is exercised end to end in ``test_hf_backend.py``.
"""

import json
import re
from typing import Optional

import pytest
import spacy
from spacy import displacy
from spacy.tokens import Span
from spacy.training import Example

from spacy_uniner import protocol
from spacy_uniner.registry import registry

PASSAGE = re.compile(r"USER: Text: (.*) ASSISTANT: I've read this text\.</s>", re.S)
QUESTION = re.compile(r"^USER: What describes (.*) in the text\? ASSISTANT:$")


class ScriptedBackend:
    """Answers each entity type with a fixed list, or with the oracle mentions it sees."""

    def __init__(self, answers=None, oracle=None):
        self.answers = answers or {}
        self.oracle = oracle or {}
        self.prompts = []

    def generate(self, prompts):
        out = []
        for prefix, suffix in prompts:
            self.prompts.append(prefix + suffix)
            passage = PASSAGE.search(prefix).group(1)
            entity_type = QUESTION.match(suffix).group(1)
            if entity_type in self.oracle:
                out.append(json.dumps([m for m in self.oracle[entity_type] if m in passage]))
            else:
                out.append(self.answers.get(entity_type, "[]"))
        return out

    def count_tokens(self, texts, add_special_tokens=False):
        return [len(t.split()) + add_special_tokens for t in texts]

    @property
    def config(self):
        return {"answers": self.answers}


@registry.uniner_backends("test.Scripted.v1")
def make_scripted(answers: Optional[dict] = None, oracle: Optional[dict] = None) -> ScriptedBackend:
    return ScriptedBackend(answers, oracle)


def make_nlp(labels, answers=None, oracle=None, **config):
    nlp = spacy.blank("en")
    model = {"@uniner_backends": "test.Scripted.v1", "answers": answers or {}, "oracle": oracle or {}}
    nlp.add_pipe("universal_ner", config={"labels": labels, "model": model, **config})
    return nlp


def ents(doc):
    return [(e.text, e.label_, e.start_char) for e in doc.ents]


def test_every_occurrence_is_tagged():
    nlp = make_nlp(["person"], {"person": '["Obama"]'})
    doc = nlp("Obama spoke. Later Obama left, and Obama's aide stayed.")
    assert [e.start_char for e in doc.ents] == [0, 19, 35]
    assert {e.label_ for e in doc.ents} == {"person"}


def test_punctuation_and_unicode_mentions():
    nlp = make_nlp(["country", "city"], {"country": '["U.S."]', "city": '["Zürich", "東京"]'})
    doc = nlp("From the U.S. to Zürich (and 東京 ).")
    assert ents(doc) == [("U.S.", "country", 9), ("Zürich", "city", 17), ("東京", "city", 29)]


def test_mentions_not_in_text_or_inside_tokens_are_dropped_and_counted():
    nlp = make_nlp(["person"], {"person": '["Tim Cook", "Steve Jobs", "Cook"]'})
    doc = nlp("Tim Cook read a Cookbook.")
    assert ents(doc) == [("Tim Cook", "person", 0)]
    stats = nlp.get_pipe("universal_ner").stats
    assert stats["mentions_not_found"] == 1  # Steve Jobs
    # "Cook" matches inside "Tim Cook" (aligned) and inside "Cookbook" (not aligned):
    # it is aligned once, so it is not counted as unaligned; the span overlaps Tim Cook.
    assert [(s.text, s.start_char) for s in doc.spans["uniner"]] == [("Tim Cook", 0), ("Cook", 4)]


def test_mentions_match_across_line_breaks_and_runs_of_spaces():
    """Reports are hard-wrapped: the model answers a name on one line that the text breaks."""
    nlp = make_nlp(["person"], {"person": '["Barack Obama", "Angela  Merkel", "Steve Jobs"]'})
    doc = nlp("Barack\nObama met Angela Merkel and Barack   Obama.")
    assert ents(doc) == [
        ("Barack\nObama", "person", 0),
        ("Angela Merkel", "person", 17),
        ("Barack   Obama", "person", 35),
    ]
    assert nlp.get_pipe("universal_ner").stats["mentions_not_found"] == 1  # Steve Jobs


def test_mention_only_inside_a_token_is_unaligned():
    nlp = make_nlp(["food"], {"food": '["Cook"]'})
    doc = nlp("A Cookbook.")
    assert doc.ents == ()
    assert nlp.get_pipe("universal_ner").stats["mentions_unaligned"] == 1


def test_expand_alignment_mode_is_configurable():
    nlp = make_nlp(["food"], {"food": '["Cook"]'}, alignment_mode="expand")
    assert ents(nlp("A Cookbook.")) == [("Cookbook", "food", 2)]


def test_case_insensitive_option():
    answers = {"org": '["apple"]'}
    assert ents(make_nlp(["org"], answers)("Apple and APPLE.")) == []
    doc = make_nlp(["org"], answers, case_sensitive=False)("Apple and APPLE.")
    assert ents(doc) == [("Apple", "org", 0), ("APPLE", "org", 10)]


def test_longest_span_wins_then_label_order_and_all_candidates_kept():
    answers = {
        "city": '["New York"]',
        "location": '["New York City"]',
        "place": '["New York City"]',
    }
    nlp = make_nlp(["city", "place", "location"], answers)
    doc = nlp("I love New York City.")
    assert ents(doc) == [("New York City", "place", 7)]
    assert sorted((s.text, s.label_) for s in doc.spans["uniner"]) == [
        ("New York", "city"),
        ("New York City", "location"),
        ("New York City", "place"),
    ]


def test_label_order_breaks_ties_between_equal_length_overlaps():
    answers = {"a": '["New York"]', "b": '["York City"]'}
    assert ents(make_nlp(["b", "a"], answers)("New York City")) == [("York City", "b", 4)]
    assert ents(make_nlp(["a", "b"], answers)("New York City")) == [("New York", "a", 0)]


@pytest.mark.parametrize("overwrite,expected", [(False, "OLD"), (True, "person")])
def test_existing_entities_kept_or_overwritten(overwrite, expected):
    nlp = make_nlp(["person"], {"person": '["Tim Cook"]'}, overwrite_ents=overwrite)
    doc = nlp.make_doc("Tim Cook spoke.")
    doc.ents = [Span(doc, 0, 1, label="OLD")]
    doc = nlp.get_pipe("universal_ner")(doc)
    assert [e.label_ for e in doc.ents] == [expected]


def test_spacy_span_filter_by_registry_name():
    nlp = make_nlp(
        ["a", "b"],
        {"a": '["New York"]', "b": '["York City"]'},
        ents_filter={"@misc": "spacy.first_longest_spans_filter.v1"},
    )
    assert ents(nlp("New York City")) == [("New York", "a", 0)]


def test_long_doc_windows_find_entity_across_the_cut():
    words = [f"w{i}" for i in range(60)]
    # Windows hold what the prompt around the passage leaves of the 50 "tokens" (words
    # here); without overlap the first cut falls inside the name.
    cut = 50 - ScriptedBackend().count_tokens([protocol.inference_prompt("", "person")], True)[0]
    words[cut - 1 : cut + 2] = ["Barack", "Hussein", "Obama"]
    text = " ".join(words)
    oracle = {"person": ["Barack Hussein Obama"]}
    nlp = make_nlp(["person"], oracle=oracle, max_input_length=50, window_overlap=8)
    doc = nlp(text)
    backend = nlp.get_pipe("universal_ner").model
    assert len(backend.prompts) > 1
    assert all(n <= 50 for n in backend.count_tokens(backend.prompts))
    assert ents(doc) == [("Barack Hussein Obama", "person", text.index("Barack"))]
    # Without overlap the cut splits the name and it is lost: the test can fail.
    no_overlap = make_nlp(["person"], oracle=oracle, max_input_length=50, window_overlap=0)
    assert ents(no_overlap(text)) == []


def test_sentence_windows_follow_sentence_boundaries():
    sents = [" ".join(f"s{i}w{j}" for j in range(8)) + " ." for i in range(8)]
    nlp = make_nlp(["thing"], {"thing": "[]"}, max_input_length=50)
    nlp.add_pipe("sentencizer", first=True)
    nlp(" ".join(sents))
    passages = [PASSAGE.search(p).group(1) for p in nlp.get_pipe("universal_ner").model.prompts]
    assert len(passages) > 1
    assert all(p.endswith(" .") for p in passages)
    assert " ".join(passages) == " ".join(sents)


def test_labels_per_call_and_per_doc():
    answers = {"person": '["Ada"]', "language": '["Python"]'}
    nlp = make_nlp(["person"], answers)
    text = "Ada writes Python."
    assert ents(nlp(text)) == [("Ada", "person", 0)]
    cfg = {"universal_ner": {"labels": {"LANG": "language"}}}
    assert ents(nlp(text, component_cfg=cfg)) == [("Python", "LANG", 11)]
    docs = list(nlp.pipe([text, text], component_cfg=cfg))
    assert [ents(d) for d in docs] == [[("Python", "LANG", 11)]] * 2
    doc = nlp.make_doc(text)
    doc._.uniner_labels = ["person", "language"]
    assert [e.label_ for e in nlp.get_pipe("universal_ner")(doc).ents] == ["person", "language"]
    nlp.get_pipe("universal_ner").set_labels(["language"])
    assert ents(nlp(text)) == [("Python", "language", 11)]
    assert doc._.uniner_answers == {"person": ["Ada"], "language": ["Python"]}


def test_malformed_answers_are_counted_and_warned():
    nlp = make_nlp(["person", "org"], {"person": "I cannot answer", "org": '["IBM", 7, ["x"]'})
    with pytest.warns(UserWarning, match=r"\[W001\]"):
        doc = nlp("IBM hired Ada.")
    stats = nlp.get_pipe("universal_ner").stats
    assert stats["malformed_answers"] == 1 and stats["truncated_answers"] == 1
    assert ents(doc) == [("IBM", "org", 0)]


def test_label_and_config_errors():
    nlp = make_nlp(None, {})
    with pytest.raises(ValueError, match="E001"):
        nlp("text")
    with pytest.raises(ValueError, match="E003"):
        make_nlp(["a", "a"])
    with pytest.raises(ValueError, match="E006"):
        make_nlp(["a"], alignment_mode="fuzzy")
    with pytest.raises(ValueError, match="E007"):
        make_nlp(["a"], max_input_length=5)("some text")


def test_error_handler_applies_in_pipe():
    nlp = make_nlp(None, {})
    failed = []
    nlp.set_error_handler(lambda name, proc, docs, e: failed.extend(docs))
    assert list(nlp.pipe(["a", "b"])) == []
    assert [d.text for d in failed] == ["a", "b"]


def test_initialize_takes_labels_and_scorer_reports_ents():
    nlp = make_nlp(None, {"person": '["Ada"]'})
    doc = nlp.make_doc("Ada met Bob.")
    gold = Example.from_dict(doc, {"entities": [(0, 3, "person"), (8, 11, "person")]})
    nlp.initialize(lambda: [gold])
    assert nlp.get_pipe("universal_ner").labels == {"person": "person"}
    scores = nlp.evaluate([gold])
    assert scores["ents_p"] == 1.0 and scores["ents_r"] == 0.5
    assert scores["uniner_p"] == pytest.approx(1.0) and scores["uniner_r"] == pytest.approx(0.5)


def test_displacy_uses_distinct_colours_for_our_labels():
    # Label names no other test uses: colours are registered once per label, process-wide.
    nlp = make_nlp(
        ["scripting dialect", "nlp toolkit"], {"scripting dialect": '["Python"]', "nlp toolkit": '["spaCy"]'}
    )
    html = displacy.render(nlp("Python runs spaCy."), style="ent")
    colours = re.findall(r"background: (#[0-9a-f]{6})", html)
    assert len(colours) == 2 and colours[0] != colours[1]
    assert "#ddd" not in html


def test_per_doc_labels_round_trip_through_docbins_and_read_older_ones():
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    doc = nlp("Ann lives in Rome")
    doc._.uniner_labels = ["person", "city"]
    (copy,) = DocBin(store_user_data=True, docs=[doc]).get_docs(nlp.vocab)
    assert list(copy._.uniner_labels) == ["person", "city"]
    old = nlp("Bo left")
    old.user_data[("._.", "uniner_types", None, None)] = ["person"]  # as spacy-uniner 0.1 wrote them
    (copy,) = DocBin(store_user_data=True, docs=[old]).get_docs(nlp.vocab)
    assert list(copy._.uniner_labels) == ["person"]


def test_predict_leaves_the_docs_unchanged():
    nlp = make_nlp(["person"], {"person": '["Ada"]'})
    pipe = nlp.get_pipe("universal_ner")
    doc = nlp.make_doc("Ada writes Python.")
    (answers,) = pipe.predict([doc], [pipe.label_map(doc)])
    assert doc._.uniner_answers is None and not doc.ents and pipe.spans_key not in doc.spans
    assert answers.parsed == {"person": ["Ada"]}
    pipe.set_annotations(doc, answers, ["person"])
    assert doc._.uniner_answers == {"person": ["Ada"]} and ents(doc) == [("Ada", "person", 0)]


def test_gold_label_codes_are_asked_as_type_names():
    """Gold ents labelled with spaCy codes (PER) set labels whose question is the type name."""
    nlp = make_nlp(None, {"person": '["Ada"]'})
    doc = nlp.make_doc("Ada met Bob.")
    gold = Example.from_dict(doc, {"entities": [(0, 3, "PER")]})
    with pytest.warns(UserWarning, match="W002"):
        nlp.initialize(lambda: [gold])
    ner = nlp.get_pipe("universal_ner")
    assert ner.labels == {"PER": "person"}
    assert ents(nlp("Ada met Bob.")) == [("Ada", "PER", 0)]
    assert QUESTION.match(ner.model.prompts[-1].split("</s>")[-1]).group(1) == "person"
