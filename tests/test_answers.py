import pytest

from spacy_uniner.answers import parse_answer


@pytest.mark.parametrize(
    "text,mentions",
    [
        ('["Barack Obama", "Paris"]', ["Barack Obama", "Paris"]),
        ("[]", []),
        ('Sure! ["Paris"] is the answer.', ["Paris"]),
        ('["x"] ["y"]', ["x"]),
        ('["Paris", "Paris", " Rome "]', ["Paris", "Rome"]),
        ('["Zürich", "東京"]', ["Zürich", "東京"]),
        ('["say \\"hi\\""]', ['say "hi"']),
        ('[1999, "IBM"]', ["1999", "IBM"]),
    ],
)
def test_well_formed_lists(text, mentions):
    parsed = parse_answer(text)
    assert parsed.mentions == mentions
    assert not parsed.malformed and not parsed.truncated


def test_truncated_list_keeps_complete_strings():
    parsed = parse_answer('["Barack Obama", "Tim Co')
    assert parsed.mentions == ["Barack Obama"]
    assert parsed.truncated and not parsed.malformed


@pytest.mark.parametrize("text", ["", "nonsense", '["a" "b"]', '{"a": 1}', '["a"} ]'])
def test_malformed_answers_give_nothing(text):
    parsed = parse_answer(text)
    assert parsed.mentions == []
    assert parsed.malformed


def test_non_string_items_are_skipped_and_counted():
    parsed = parse_answer('["a", ["x", "y"], null, {"k": 1}, true, ""]')
    assert parsed.mentions == ["a"]
    assert parsed.skipped_items == 5


@pytest.mark.parametrize(
    "text,mentions,skipped",
    [('["IBM", 7, ["x"]', ["IBM", "7"], 1), ('["a", "b", ', ["a", "b"], 0), ('["a"', ["a"], 0)],
)
def test_truncated_after_complete_items(text, mentions, skipped):
    parsed = parse_answer(text)
    assert (parsed.mentions, parsed.skipped_items, parsed.truncated) == (mentions, skipped, True)
