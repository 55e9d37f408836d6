import pytest

from spacy_uniner.labels import normalize_labels


def test_list_uses_text_as_label_and_keeps_order():
    assert list(normalize_labels(["person", "organization"]).items()) == [
        ("person", "person"),
        ("organization", "organization"),
    ]


def test_mapping_maps_label_to_question_text():
    assert normalize_labels({"ORG": "organization"}) == {"ORG": "organization"}


@pytest.mark.parametrize(
    "labels,message",
    [
        ([], "E001"),
        ({}, "E001"),
        (["person", " "], "E002"),
        (["person", 3], "E002"),
        ({"ORG": ""}, "E002"),
        (["person", "person"], "E003"),
        ({"ORG": "organization", "COMPANY": "organization"}, "E004"),
    ],
)
def test_invalid_labels_raise_clear_errors(labels, message):
    with pytest.raises(ValueError, match=message):
        normalize_labels(labels)


def test_wrong_type():
    with pytest.raises(TypeError, match="E005"):
        normalize_labels("person")
