"""Readers and catalogue against the benchmark files: counts of passages and mentions are
recomputed here from the raw files, independently of the readers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from spacy.vocab import Vocab
from weasel.util import get_checksum

from spacy_uniner.data.catalogue import load_catalogue, load_dataset, select
from spacy_uniner.data.metric import gold_answers, parse_reference_answer
from spacy_uniner.data.readers import (
    FORMATS,
    GOLD_SPANS_KEY,
    bio_spans,
    read_docs,
    read_uniner_eval,
    read_with_stats,
)

from conftest import DATA

EVAL_FILES = {  # file: (queries, passages, types) as published with the data
    "CrossNER_AI": (5603, 430, 13),
    "CrossNER_literature": (4576, 416, 11),
    "CrossNER_music": (5580, 457, 12),
    "CrossNER_politics": (5200, 650, 8),
    "CrossNER_science": (8688, 532, 16),
    "mit-restaurant": (12160, 1520, 8),
}


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.mark.parametrize("stem", EVAL_FILES)
def test_uniner_eval_reader_reproduces_the_files(shared_dir, stem):
    path = DATA / "uniner_eval" / f"{stem}.json"
    items = json.loads(path.read_text(encoding="utf8"))
    docs, queries = read_uniner_eval(path, Vocab())
    texts = list(dict.fromkeys(item["conversations"][0]["value"][len("Text: ") :] for item in items))
    n_queries, n_passages, n_types = EVAL_FILES[stem]
    assert (len(queries), len(docs), len({q.label for q in queries})) == (n_queries, n_passages, n_types)
    assert len(items) == n_queries and len(texts) == n_passages
    assert [doc.text for doc in docs] == texts  # tokenisation and text kept exactly
    for item, query in zip(items, queries):
        turns = item["conversations"]
        doc = docs[query.doc_index]
        assert turns[0]["value"] == "Text: " + doc.text
        assert turns[2]["value"] == f"What describes {query.label} in the text?"
        assert query.gold == turns[3]["value"] and query.id == item["id"]
        gold_texts = {s.text for s in doc.spans[GOLD_SPANS_KEY] if s.label_ == query.label}
        assert set(json.loads(query.gold)) <= gold_texts  # every mention placed
    # every placed mention comes from an answer of its passage
    answers = Counter()
    for q in queries:
        answers.update((q.doc_index, q.label, m) for m in set(json.loads(q.gold)))
    for i, doc in enumerate(docs):
        for span in doc.spans[GOLD_SPANS_KEY]:
            assert (i, span.label_, span.text) in answers
        assert set(doc.ents) <= set(doc.spans[GOLD_SPANS_KEY])


def _conll_counts(path: Path, tag_col: int, sep: str | None = None, comment: str | None = None):
    """Sentences and mentions by the conlleval rule (B-X, or I-X not after B-X/I-X)."""
    n_sents = n_mentions = 0
    previous = "O"
    in_sentence = False
    for line in path.read_text(encoding="utf8").splitlines():
        if not line.strip() or line.startswith("-DOCSTART-") or (comment and line.startswith(comment)):
            if not line.strip():
                in_sentence, previous = False, "O"
            continue
        if not in_sentence:
            n_sents, in_sentence = n_sents + 1, True
        tag = line.split(sep)[tag_col].strip()
        if tag.startswith("B-") or (tag.startswith("I-") and previous[2:] != tag[2:]):
            n_mentions += 1
        previous = tag
    return n_sents, n_mentions


COLUMN_FILES = [  # path, format, tag column, separator, comment prefix
    ("raw/crossner_ai/test.txt", "bio", -1, None, None),
    ("raw/bc5cdr/test.tsv", "bio", -1, None, None),
    ("raw/jnlpba/test.tsv", "bio", -1, None, None),
    ("raw/harveyner/tweets.test.bio", "bio", -1, None, None),
    ("raw/conllpp/conllpp_test.txt", "conll2003", 3, None, None),
    ("raw/mit-movie-eng/bio/test.txt", "bio_tag_first", 0, None, None),
    ("raw/mit-movie/trivia10k13test.bio", "bio_tag_first", 0, None, None),
    ("raw/wikiann_en/test", "wikiann", -1, None, None),
    ("raw/wikineural_en/test.conllu", "bio_indexed", 2, None, None),
    ("raw/multiconer2_en/en-dev.conll", "multiconer", -1, None, "# id "),
    ("raw/stackoverflow_ner/test.txt", "stackoverflow", 1, "\t", None),
]


@pytest.mark.parametrize("path,fmt,tag_col,sep,comment", COLUMN_FILES, ids=[c[0] for c in COLUMN_FILES])
def test_column_readers_count_sentences_and_mentions(shared_dir, path, fmt, tag_col, sep, comment):
    docs, queries, stats = read_with_stats(DATA / path, fmt, Vocab())
    assert queries is None
    assert (len(docs), stats.n_mentions) == _conll_counts(DATA / path, tag_col, sep, comment)
    assert stats.n_ents == stats.n_mentions and not stats.dropped_tags


def test_wikiann_prefix_and_token_texts(shared_dir):
    docs = read_docs(DATA / "raw/wikiann_en/test", "wikiann", Vocab())
    first = [line.split("\t")[0] for line in (DATA / "raw/wikiann_en/test").read_text().split("\n\n")[0].splitlines()]
    assert [t.text for t in docs[0]] == [w[3:] for w in first]
    assert not any(t.text.startswith("en:") for doc in docs[:200] for t in doc)


def test_genia_nested_mentions_all_kept(shared_dir):
    items = json.loads((DATA / "raw/genia/test.json").read_text())
    docs, _, stats = read_with_stats(DATA / "raw/genia/test.json", "genia_json", Vocab())
    assert len(docs) == len(items) == 1854
    assert stats.n_mentions == len({(i, tuple(m["index"]), m["type"]) for i, it in enumerate(items) for m in it["ner"]})
    assert stats.overlapping == stats.n_mentions - stats.n_ents > 0
    for doc, item in zip(docs, items):
        expected = {(min(m["index"]), max(m["index"]) + 1, m["type"]) for m in item["ner"]}
        assert {(s.start, s.end, s.label_) for s in doc.spans[GOLD_SPANS_KEY]} == expected


def test_pubtator_mentions_at_their_offsets(shared_dir):
    path = DATA / "raw/biored/Test.PubTator"
    raw = path.read_text(encoding="utf8").strip().split("\n\n")
    mentions = Counter()
    for block in raw:
        for line in block.splitlines():
            cols = line.split("\t")
            if len(cols) >= 5 and cols[1].isdigit():
                mentions[(cols[3], cols[4])] += 1
    docs, _, stats = read_with_stats(path, "pubtator", Vocab())
    found = Counter((s.text, s.label_) for doc in docs for s in doc.spans[GOLD_SPANS_KEY])
    assert found == mentions and stats.n_mentions == sum(mentions.values()) == 3535
    assert stats.unaligned == 0 and len(docs) > len(raw) == 100  # titles and sentences


def test_ie_instructions_char_offsets(shared_dir):
    path = DATA / "raw/mit-movie-eng/iuie/test.json"
    items = json.loads(path.read_text())
    docs = read_docs(path, "ie_instructions", Vocab())
    assert len(docs) == len(items) == 2442
    for doc, item in zip(docs, items):
        assert doc.text == item["sentence"]
        expected = {(e["pos"][0], e["pos"][1], e["type"]) for e in item["entities"]}
        assert {(s.start_char, s.end_char, s.label_) for s in doc.spans[GOLD_SPANS_KEY]} == expected


def test_csv_reader_e_ner(shared_dir):
    docs, _, stats = read_with_stats(DATA / "raw/e_ner/all.csv", "csv_bio", Vocab())
    assert len(docs) == 11644 and sum(len(d) for d in docs) == 403621  # the published sizes


def test_label_map_drops_and_counts(shared_dir, catalogue):
    spec = catalogue["crossner_ai"]
    path = DATA / "raw/crossner_ai/test.txt"
    docs, _, stats = read_with_stats(path, "bio", Vocab(), spec.label_map)
    n_misc = sum(1 for line in path.read_text().splitlines() if line.endswith("\tB-misc"))
    assert stats.dropped_tags == Counter({"misc": n_misc}) and n_misc > 0
    assert {s.label_ for d in docs for s in d.ents} <= set(spec.labels)
    assert "program language" in spec.labels and "organization" in spec.labels


def test_bio_decoding_schemes():
    assert bio_spans(["B-A", "I-A", "O", "I-B", "I-B", "B-B", "I-A"]) == [
        (0, 2, "A"),
        (3, 5, "B"),
        (5, 6, "B"),
        (6, 7, "A"),
    ]
    assert bio_spans(["S-A", "B-B", "E-B", "U-C", "L-C"]) == [(0, 1, "A"), (1, 3, "B"), (3, 4, "C"), (4, 5, "C")]
    assert bio_spans(["X", "X", "O", "Y"]) == [(0, 2, "X"), (3, 4, "Y")]  # IO tags


def test_reader_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown format 'nope'"):
        read_docs(tmp_path, "nope", Vocab())
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_docs(tmp_path / "missing.txt", "bio", Vocab())
    bad = tmp_path / "bad.txt"
    bad.write_text("token B-X\nlonely\n")
    with pytest.raises(ValueError, match="bad.txt:2: expected at least 2 columns"):
        read_docs(bad, "bio", Vocab())
    bad.write_text('[{"id": "x", "conversations": [{"from": "human", "value": "hello"}]}]')
    with pytest.raises(ValueError, match="item 0 is not a UniNER query"):
        read_uniner_eval(bad, Vocab())


def test_raw_crossner_agrees_with_the_eval_file(shared_dir, catalogue):
    """Gold strings from the CoNLL file + label map equal the eval file's answers."""
    vocab = Vocab()
    ev = load_dataset("uniner_crossner_ai", data_dir=DATA, vocab=vocab, catalogue=catalogue)
    raw = load_dataset("crossner_ai", data_dir=DATA, vocab=vocab, catalogue=catalogue)
    assert set(ev.labels) == set(raw.labels) and len(raw.queries) == len(ev.queries) == 5603
    by_text = {doc.text: doc for doc in raw.docs}
    agree = sum(
        sorted(parse_reference_answer(q.gold)) == sorted(gold_answers(by_text[ev.docs[q.doc_index].text], q.label))
        for q in ev.queries
    )
    assert agree >= len(ev.queries) - 4  # the eval file misses 4 sentence-final mentions


def test_catalogue_files_are_the_shared_copies(shared_dir, catalogue):
    assert len(catalogue) >= 30 and set(FORMATS) >= {s.format for s in catalogue.values()}
    for spec in catalogue.values():
        for files in spec.splits.values():
            for f in files:
                assert f.url.startswith("https://raw.githubusercontent.com/") and len(f.md5) == 32
                assert get_checksum(DATA / f.path) == f.md5, f.path


def test_load_dataset_queries_and_errors(shared_dir, catalogue):
    ds = load_dataset("bc5cdr", "test", DATA, catalogue=catalogue)
    assert ds.labels == ["chemical", "disease"] and len(ds.queries) == 2 * len(ds.docs) == 2 * 4797
    with pytest.raises(ValueError, match=r"\[E801\].*has no split 'dev'"):
        load_dataset("uniner_crossner_ai", "dev", DATA, catalogue=catalogue)
    with pytest.raises(ValueError, match=r"\[E808\] Unknown dataset 'nope'"):
        load_dataset("nope", "test", DATA, catalogue=catalogue)
    with pytest.raises(FileNotFoundError, match="weasel run fetch-data"):
        load_dataset("bc5cdr", "test", DATA / "elsewhere", catalogue=catalogue)


def test_select(catalogue):
    assert select(["zero-shot"], catalogue)[:6] == [
        "uniner_crossner_ai",
        "uniner_crossner_literature",
        "uniner_crossner_music",
        "uniner_crossner_politics",
        "uniner_crossner_science",
        "uniner_mit_restaurant",
    ]
    with pytest.raises(ValueError, match=r"\[E807\] Unknown dataset or tag 'nope'"):
        select(["nope"], catalogue)
