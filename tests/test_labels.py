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


def test_a_list_asks_spacy_label_codes_as_type_names_with_a_warning():
    with pytest.warns(UserWarning, match=r"W002.*'PER', 'GPE'"):
        labels = normalize_labels(["PER", "GPE", "city"])
    assert labels == {"PER": "person", "GPE": "country, city or state", "city": "city"}
    assert list(labels) == ["PER", "GPE", "city"]  # the labels (ent.label_) and their order are kept


def test_a_mapping_is_asked_as_written(recwarn):
    assert normalize_labels({"PER": "PER", "ORG": "company"}) == {"PER": "PER", "ORG": "company"}
    assert not [w for w in recwarn if "W002" in str(w.message)]


def test_a_code_and_its_type_name_in_one_list_ask_the_same_question():
    with pytest.warns(UserWarning, match="W002"), pytest.raises(ValueError, match="E004"):
        normalize_labels(["PER", "person"])
