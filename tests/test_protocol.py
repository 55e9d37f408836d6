from spacy_uniner import protocol

from conftest import FIXTURES, read_jsonl


def test_inference_prompts_match_every_fixture_line(shared_dir):
    rows = read_jsonl(FIXTURES / "uniner_prompts.jsonl")
    assert len(rows) == 127
    for row in rows:
        assert protocol.inference_prompt(row["text"], row["entity_type"]) == row["prompt"]


def test_prefix_and_suffix_compose_the_prompt(shared_dir):
    for row in read_jsonl(FIXTURES / "uniner_prompts.jsonl"):
        prefix = protocol.passage_prefix(row["text"])
        assert prefix.endswith("I've read this text.</s>")
        assert prefix + protocol.query_suffix(row["entity_type"]) == row["prompt"]


def test_training_conversations_match_fixture(shared_dir):
    rows = read_jsonl(FIXTURES / "uniner_train_conversations.jsonl")
    assert rows
    for row in rows:
        convo = protocol.conversation(row["text"], row["turns"])
        assert convo == row["conversations"]
        assert protocol.training_text(convo) == row["training_text"]
        targets = [text for text, is_target in protocol.training_segments(convo) if is_target]
        gpt_turns = [turn["value"] for turn in convo if turn["from"] == "gpt"]
        assert targets == [f" {value}</s>" for value in gpt_turns]


def test_supervised_first_turn():
    convo = protocol.conversation("Paris is nice.", [("city", ["Paris"])], dataset="mit-restaurant")
    assert convo[0]["value"] == "Dataset: mit-restaurant \n Text: Paris is nice."


def test_answers_keep_unicode_unescaped():
    assert protocol.answer(["Zürich", "東京"]) == '["Zürich", "東京"]'
