"""Near negatives: the pool's table of near type names and the sampler that draws from it."""

from __future__ import annotations

import pytest
import spacy
import srsly
from spacy.tokens import Span
from typer.testing import CliRunner

from spacy_uniner.__main__ import app
from spacy_uniner.data.docs import LABELS_ATTR, PARTIAL_KEY, to_docbin
from spacy_uniner.pipes.span.model import DEFAULT_ENCODER
from spacy_uniner.student.augment import negative_types_augmenter
from spacy_uniner.student.corpus import StudentCorpus
from spacy_uniner.student.neighbours import embed_type_names, pool_type_names, type_neighbours

NAMES = [
    "band", "Band", "music group", "musical instrument", "song", "album", "disease", "cancer",
    "virus", "organization", "media organization", "person", "city", "river",
]  # fmt: skip


def doc_with(nlp, text, ents, partial=False):
    doc = nlp.make_doc(text)
    doc.ents = [Span(doc, s, e, label=label) for s, e, label in ents]
    doc._.set(LABELS_ATTR, sorted({label for _, _, label in ents}))
    if partial:
        doc.user_data[PARTIAL_KEY] = True
    return doc


def test_neighbours_are_near_but_not_the_same_name():
    table = type_neighbours(
        NAMES,
        DEFAULT_ENCODER,
        k=4,
        min_similarity=0.3,
        max_similarity=0.8,
        synonyms={"band": ["music group"]},
        broad=["person"],
        cotyped={("disease", "cancer"), ("cancer", "disease")},
    )
    vectors = dict(zip(NAMES, embed_type_names(NAMES, DEFAULT_ENCODER)))
    for name, near in table.items():
        cosines = [float(vectors[name] @ vectors[n]) for n in near]
        assert all(0.3 <= c < 0.8 for c in cosines) and cosines == sorted(cosines, reverse=True)
        assert 1 <= len(near) <= 4 and name not in near
    assert "Band" not in table["band"] and "music group" not in table["band"]  # case variant, synonym
    assert "person" not in table and all("person" not in near for near in table.values())  # a coarse name
    assert "cancer" not in table.get("disease", [])  # co-typed on a mention somewhere
    assert "organization" not in table.get("media organization", [])  # its words nest in the other's
    assert "musical instrument" in table["band"]  # a near, different name stays
    with pytest.raises(ValueError, match="E638"):
        type_neighbours(NAMES, DEFAULT_ENCODER, min_similarity=0.9, max_similarity=0.8)
    with pytest.raises(ValueError, match="E639"):
        type_neighbours(NAMES, DEFAULT_ENCODER, k=0)


def test_pool_type_names_count_only_fully_annotated_docs_and_pair_co_typed_names(tmp_path):
    nlp = spacy.blank("en")
    docs = [
        doc_with(nlp, "Lung cancer spread", [(0, 2, "disease")]),
        doc_with(nlp, "lung cancer cells", [(0, 2, "cancer")]),
        doc_with(nlp, "The Nile flows", [(1, 2, "river")], partial=True),
    ]
    to_docbin(docs).to_disk(tmp_path / "train.spacy")
    counts, cotyped = pool_type_names(tmp_path / "train.spacy")
    assert counts == {"disease": 1, "cancer": 1}  # the partial doc draws no negatives
    assert ("disease", "cancer") in cotyped and ("cancer", "disease") in cotyped
    assert not any("river" in pair for pair in cotyped)


def near_corpus(tmp_path, near, neighbours):
    """Many docs of frequent types; a band doc whose mention is a politician elsewhere;
    `musical instrument` is rare."""
    nlp = spacy.blank("en")
    docs = [doc_with(nlp, f"Ann {i} met Bo", [(0, 1, "person"), (3, 4, "person")]) for i in range(30)]
    docs += [doc_with(nlp, f"in Paris {i}", [(1, 2, f"type {i % 10}")]) for i in range(100)]
    docs += [doc_with(nlp, "a guitar solo", [(1, 2, "musical instrument")])]
    docs += [doc_with(nlp, "Obama won", [(0, 1, "politician")]), doc_with(nlp, "Obama played", [(0, 1, "band")])]
    docs += [doc_with(nlp, "Obama played live", [(0, 1, "band")], partial=True)]
    to_docbin(docs).to_disk(tmp_path / "train.spacy")
    augmenter = negative_types_augmenter(ratio=0.75, neighbours=neighbours, near=near)
    return nlp, StudentCorpus(tmp_path / "train.spacy", augmenters=[augmenter], seed=0)


def test_near_negatives_are_drawn_from_the_positive_types_neighbours(tmp_path):
    neighbours = {"band": ["musical instrument", "politician"]}
    asked = {}
    for near in (0.0, 1.0):
        nlp, corpus = near_corpus(tmp_path, near, neighbours)
        asked[near] = []
        for _ in range(20):  # each pass draws new negatives
            for eg in corpus(nlp):
                if eg.reference.text.startswith("Obama played"):
                    asked[near].append(eg.reference._.get(LABELS_ATTR))
    partial = [types for types in asked[1.0] if len(types) == 1]
    assert len(partial) == 20 and all(types == ["band"] for types in partial)  # partial docs: no negatives
    full = [types for types in asked[1.0] if len(types) > 1]
    assert len(full) == 20 and all("musical instrument" in types for types in full)
    # the band's mention is a `politician` elsewhere: never its negative, near or not
    assert not any("politician" in types for types in asked[1.0] + asked[0.0])
    by_frequency = sum("musical instrument" in types for types in asked[0.0] if len(types) > 1)
    assert by_frequency <= 5  # a frequency draw seldom picks the rare near name


def test_related_known_negatives_come_first(tmp_path):
    """A source annotating 12 types: with ``related_known`` 1, a politician passage's 3 known
    negatives are its siblings under the hierarchy and its neighbour; at 0, chance picks."""
    nlp = spacy.blank("en")
    schema = ["politician", "athlete", "artist", "cleric"] + [f"thing {i}" for i in range(7)] + ["song"]
    docs = []
    for i in range(40):
        doc = doc_with(nlp, f"Obama {i} spoke", [(0, 1, "politician")])
        doc._.set(LABELS_ATTR, schema)  # every type of the source is annotated: the rest are true negatives
        docs.append(doc)
    to_docbin(docs).to_disk(tmp_path / "train.spacy")
    hierarchy = {"politician": "person", "athlete": "person", "artist": "person", "cleric": "person"}
    negatives = {}
    for related in (0.0, 1.0):
        augmenter = negative_types_augmenter(
            ratio=0.75, hierarchy=hierarchy, neighbours={"politician": ["song"]}, related_known=related
        )
        corpus = StudentCorpus(tmp_path / "train.spacy", augmenters=[augmenter], seed=0)
        negatives[related] = [set(eg.reference._.get(LABELS_ATTR)) - {"politician"} for eg in corpus(nlp)]
    close = {"athlete", "artist", "cleric", "song"}
    assert all(len(n) == 3 and n <= close for n in negatives[1.0])  # 3 of the 4 close names, no other
    assert all(len(n) == 3 and n <= set(schema) for n in negatives[0.0])
    assert sum(n <= close for n in negatives[0.0]) <= 8  # by chance: C(4,3)/C(11,3) = 2.4% of 40


@pytest.mark.parametrize(
    "settings,match",
    [
        ({"ratio": 0.5, "related_known": 2.0}, "E305.*`related_known`"),
        ({"ratio": 0.5, "near": 1.5}, "E305.*`near`"),
        ({"ratio": 0.5, "near": 0.5}, "E641"),
        ({"ratio": 0.5, "near": 0.5, "neighbours": {"band": "song"}}, "E640"),
    ],
)
def test_near_negative_settings_are_checked(settings, match):
    with pytest.raises(ValueError, match=match):
        negative_types_augmenter(**settings)


def test_neighbours_command_writes_the_pool_table(tmp_path):
    nlp = spacy.blank("en")
    rows = [("Muse played", "band"), ("a guitar solo", "musical instrument"), ("Ann sang", "person")]
    rows += [("the song Yellow", "song"), ("Lung cancer", "disease")]
    to_docbin([doc_with(nlp, text, [(0, 1, label)]) for text, label in rows]).to_disk(tmp_path / "train.spacy")
    srsly.write_json(tmp_path / "hierarchy.json", {"singer": "person"})
    srsly.write_json(tmp_path / "synonyms.json", {"song": ["track"]})
    result = CliRunner().invoke(app, ["student", "neighbours", str(tmp_path), "--min-similarity", "0.2"])
    assert result.exit_code == 0, result.output
    table = srsly.read_json(tmp_path / "neighbours.json")
    assert "musical instrument" in table["band"] and "person" not in table
    bad = CliRunner().invoke(app, ["student", "neighbours", str(tmp_path), "--k", "0"])
    assert bad.exit_code != 0 and "E639" in bad.output
    empty = CliRunner().invoke(app, ["student", "neighbours", str(tmp_path / "nowhere")])
    assert empty.exit_code != 0 and "E301" in empty.output
