"""Instruction data: fixture-exact conversations, negative sampling, supervised variant, CLI."""

from __future__ import annotations

from collections import Counter

import pytest
import spacy
import srsly
from spacy.tokens import Span
from typer.testing import CliRunner

from spacy_uniner import protocol
from spacy_uniner.__main__ import app
from spacy_uniner.distill.gold_teacher import format_answer, load_annotations
from spacy_uniner.distill.instructions import (
    AnnotatedPassage,
    examples_from_records,
    instruction_data,
    supervised_data,
)
from spacy_uniner.distill.stats import data_stats
from spacy_uniner.training.data import read_conversations

from conftest import FIXTURES, ROOT, read_jsonl

EMBEDDED = ROOT / "assets" / "embedded" / "pilener_sample.jsonl"


def _pairs(conversations):
    return [(conversations[i]["value"], conversations[i + 1]["value"]) for i in range(2, len(conversations), 2)]


def test_conversations_match_fixture_bytes(shared_dir):
    """Our conversations hold exactly the fixture's turns (query order is shuffled)."""
    rows = read_jsonl(FIXTURES / "uniner_train_conversations.jsonl")
    examples = [
        AnnotatedPassage(str(i), row["text"], [(m, t) for t, mentions in row["turns"] for m in mentions])
        for i, row in enumerate(rows)
    ]
    for seed in range(5):
        for row, item in zip(rows, instruction_data(examples, negatives=0, seed=seed), strict=True):
            ours, gold = item["conversations"], row["conversations"]
            assert ours[:2] == gold[:2]
            positives = [pair for pair in _pairs(gold) if pair[1] != "[]"]
            assert sorted(_pairs(ours)) == sorted(positives)
            # put back in the fixture's order (negatives from the fixture): byte-identical training text
            rank = {pair: k for k, pair in enumerate(_pairs(gold))}
            reordered = sorted(_pairs(ours) + [p for p in _pairs(gold) if p[1] == "[]"], key=rank.__getitem__)
            turns = ours[:2] + [{"from": f, "value": v} for q, a in reordered for f, v in (("human", q), ("gpt", a))]
            assert turns == gold
            assert protocol.training_text(turns) == row["training_text"]


def test_negatives_in_built_data_follow_frequency():
    """Seeded end-to-end run: negatives of 'a' passages drawn from b:c:d = 250:100:50."""
    counts = {"a": 600, "b": 250, "c": 100, "d": 50}
    examples = [
        AnnotatedPassage(f"{t}{i}", f"Mention {t}{i} here.", [(f"{t}{i}", t)])
        for t, n in counts.items()
        for i in range(n)
    ]
    data = instruction_data(examples, negatives=1, seed=7)
    assert data == instruction_data(examples, negatives=1, seed=7)
    assert data != instruction_data(examples, negatives=1, seed=8)
    negatives = Counter()
    positions = Counter()
    for item in data:
        conv = item["conversations"]
        assert len(conv) == 6
        for k, (question, answer) in enumerate(_pairs(conv)):
            if answer == "[]":
                positions[k] += 1
                if item["id"].startswith("a"):
                    negatives[question] += 1
    assert sum(negatives.values()) == 600
    for etype, p in {"b": 250 / 400, "c": 100 / 400, "d": 50 / 400}.items():
        share = negatives[protocol.question(etype)] / 600
        assert abs(share - p) < 0.08  # 600 draws: sd <= 0.02
    assert positions[0] > 300 and positions[1] > 300  # query order is shuffled


def test_records_parsing_and_stats():
    records = [
        {
            "id": "1",
            "text": "Ann met Bob in Paris.",
            "response": '[("Ann", "person"), ("Bob", "person"), ("Paris", "city")]',
        },
        {
            "id": "2",
            "text": "Bob left.",
            "response": '[("Bob", "person"), ("Mars", "planet"), ("left", "NA")]',
        },
        {"id": "3", "text": "Nothing.", "response": "[]"},
        {"id": "4", "text": "Broken.", "response": '[("Broken", "thing"', "error": "unparseable"},
        {"id": "5", "text": "No answer.", "response": None},
    ]
    examples, counts = examples_from_records(records)
    assert [e.id for e in examples] == ["1", "2"]
    assert counts == {
        "records": 5,
        "unparseable": 2,
        "no_entities": 1,
        "dropped_absent_mention": 1,
        "dropped_else_type": 1,
    }
    stats = data_stats(examples, counts)
    assert (stats["passages"], stats["entities"], stats["distinct_types"]) == (2, 4, 2)
    assert stats["head"] == [["person", 3], ["city", 1]]
    assert stats["frequency_bands"]["top_1pct"] == {"types": 1, "mention_share": 0.75}
    assert stats["dropped_pairs"] == {"absent_mention": 1, "else_type": 1}


def test_supervised_variant():
    nlp = spacy.blank("en")
    doc = nlp("Ann met Bob and Ann in Paris .")
    doc.ents = [
        Span(doc, 0, 1, "person"),
        Span(doc, 2, 3, "person"),
        Span(doc, 4, 5, "person"),
        Span(doc, 6, 7, "city"),
    ]
    empty = nlp("Nothing here .")
    data = supervised_data([doc, empty], "toy", labels=["person", "city", "country"], seed=0)
    assert [item["id"] for item in data] == ["toy-0", "toy-1"]
    conv = data[0]["conversations"]
    assert conv[0] == {"from": "human", "value": "Dataset: toy \n Text: Ann met Bob and Ann in Paris ."}
    assert dict(_pairs(conv)) == {
        "What describes person in the text?": '["Ann", "Bob", "Ann"]',
        "What describes city in the text?": '["Paris"]',
        "What describes country in the text?": "[]",
    }
    assert set(dict(_pairs(data[1]["conversations"])).values()) == {"[]"}
    with pytest.raises(ValueError, match="no labels"):
        supervised_data([empty], "toy")


def test_build_data_cli_output_is_trainer_readable(tmp_path):
    annotations = load_annotations(EMBEDDED)
    records = [{"id": f"p{i}", "text": t, "response": format_answer(p)} for i, (t, p) in enumerate(annotations.items())]
    srsly.write_jsonl(tmp_path / "ann.jsonl", records)
    result = CliRunner().invoke(
        app,
        [
            "build-data",
            str(tmp_path / "ann.jsonl"),
            str(tmp_path / "train.json"),
            "--negatives",
            "3",
            "--stats",
            str(tmp_path / "stats.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = read_conversations(tmp_path / "train.json")
    assert len(data) == len(annotations)
    assert set(data[0]) == {"id", "conversations"}
    stats = srsly.read_json(tmp_path / "stats.json")
    assert stats["passages"] == len(annotations)
    assert stats["entities"] == sum(len(p) for p in annotations.values())
    queries = sum((len(item["conversations"]) - 2) // 2 for item in data)
    positives = sum(len({t for _, t in p}) for p in annotations.values())
    assert queries == positives + 3 * len(data)
