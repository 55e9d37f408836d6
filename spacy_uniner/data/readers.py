"""Readers from benchmark file formats to spaCy ``Doc`` objects with gold entities.

Every reader returns docs whose gold mentions are labelled with natural-language types:
all mentions (nested and overlapping ones included) are in ``doc.spans["uniner_gold"]``,
and ``doc.ents`` holds the longest non-overlapping subset of them. Dataset tags are mapped
through ``label_map``; a tag absent from the map, or mapped to ``None`` (the "else"-like
classes such as MISC), is dropped. Nothing is dropped silently: :class:`ReadStats` counts
every dropped tag, overlap and unaligned mention, and :func:`read_docs` logs them.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from spacy.tokens import Doc, Span
from spacy.util import filter_spans
from spacy.vocab import Vocab

from ..errors import Errors, Warnings
from .docs import GOLD_SPANS_KEY, MENTIONS_ONLY, PARTIAL_KEY, copy_tokens

_QUESTION = ("What describes ", " in the text?")
_TEXT_PREFIX = "Text: "


@dataclass
class EvalQuery:
    """One (passage, type) query; ``gold`` is the eval file's raw JSON answer, if any."""

    doc_index: int
    label: str
    gold: str | None = None
    id: str | None = None


@dataclass
class ReadStats:
    """What a reader kept and dropped."""

    n_docs: int = 0
    n_mentions: int = 0
    n_ents: int = 0
    dropped_tags: Counter = field(default_factory=Counter)
    overlapping: int = 0
    unaligned: int = 0
    empty_tokens: int = 0
    pronouns: int = 0  # pronoun mentions of entity-typing data, dropped

    def __iadd__(self, other: "ReadStats") -> "ReadStats":
        self.n_docs += other.n_docs
        self.n_mentions += other.n_mentions
        self.n_ents += other.n_ents
        self.dropped_tags += other.dropped_tags
        self.overlapping += other.overlapping
        self.unaligned += other.unaligned
        self.empty_tokens += other.empty_tokens
        self.pronouns += other.pronouns
        return self

    def to_dict(self) -> dict:
        return {
            "docs": self.n_docs,
            "mentions": self.n_mentions,
            "ents": self.n_ents,
            "dropped_tags": dict(sorted(self.dropped_tags.items())),
            "overlapping_not_in_ents": self.overlapping,
            "unaligned": self.unaligned,
            "empty_tokens": self.empty_tokens,
            "pronoun_mentions": self.pronouns,
        }

    def log(self, source: str | Path) -> None:
        """Warn about everything that was dropped."""
        if self.dropped_tags:
            counts = ", ".join(f"{t}: {n}" for t, n in sorted(self.dropped_tags.items()))
            warnings.warn(Warnings.W803.format(source=source, counts=counts), stacklevel=2)
        if self.overlapping:
            warnings.warn(Warnings.W804.format(source=source, count=self.overlapping, key=GOLD_SPANS_KEY), stacklevel=2)
        if self.unaligned:
            warnings.warn(Warnings.W805.format(source=source, count=self.unaligned), stacklevel=2)
        if self.empty_tokens:
            warnings.warn(Warnings.W806.format(source=source, count=self.empty_tokens), stacklevel=2)
        if self.pronouns:
            warnings.warn(Warnings.W807.format(source=source, count=self.pronouns), stacklevel=2)


SpanTriple = tuple[int, int, str]


class _Builder:
    """Makes docs from words and token spans, mapping labels and counting drops."""

    def __init__(self, vocab: Vocab, label_map: dict[str, str | None] | None):
        self.vocab = vocab
        self.label_map = label_map
        self.stats = ReadStats()
        self.docs: list[Doc] = []
        self._tokenizer = None

    def label(self, tag: str) -> str | None:
        if self.label_map is None:
            return tag
        label = self.label_map.get(tag)
        if label is None:
            self.stats.dropped_tags[tag] += 1
        return label

    def add(self, words: list[str], spans: Iterable[SpanTriple], spaces: list[bool] | None = None) -> Doc:
        if spaces is None:
            spaces = [True] * (len(words) - 1) + [False]
        doc = Doc(self.vocab, words=words, spaces=spaces)
        mapped = {(s, e, lab) for s, e, tag in spans if (lab := self.label(tag)) is not None}
        return self.add_doc(doc, [Span(doc, s, e, label=lab) for s, e, lab in sorted(mapped)])

    def add_doc(self, doc: Doc, gold: list[Span]) -> Doc:
        doc.spans[GOLD_SPANS_KEY] = gold
        doc.ents = filter_spans(gold)
        self.stats.n_docs += 1
        self.stats.n_mentions += len(gold)
        self.stats.n_ents += len(doc.ents)
        self.stats.overlapping += len(gold) - len(doc.ents)
        self.docs.append(doc)
        return doc

    def add_text(self, text: str, char_spans: Iterable[tuple[int, int, str]]) -> Doc:
        """Add a doc tokenised so that every mention boundary is a token boundary."""
        return self.add_doc(*self.doc_from_text(text, char_spans))

    def doc_from_text(self, text: str, char_spans: Iterable[tuple[int, int, str]]) -> tuple[Doc, list[Span]]:
        char_spans = list(char_spans)
        doc = self.tokenize(text, {o for s, e, _ in char_spans for o in (s, e)})
        gold: list[Span] = []
        for start, end, tag in char_spans:
            label = self.label(tag)
            if label is None:
                continue
            span = doc.char_span(start, end, label=label)
            if span is None or len(span) == 0:
                self.stats.unaligned += 1
            elif span not in gold:
                gold.append(span)
        return doc, sorted(gold)

    def tokenize(self, text: str, boundaries: set[int]) -> Doc:
        if self._tokenizer is None:
            import spacy

            self._tokenizer = spacy.blank("en", vocab=self.vocab).tokenizer
        words: list[str] = []
        spaces: list[bool] = []
        cuts = sorted({0, len(text)} | {b for b in boundaries if 0 < b < len(text)})
        for start, end in zip(cuts, cuts[1:]):
            segment = text[start:end]
            if words and not spaces[-1] and segment.startswith(" "):
                spaces[-1] = True
                segment = segment[1:]
            for token in self._tokenizer(segment):
                words.append(token.text)
                spaces.append(bool(token.whitespace_))
        return Doc(self.vocab, words=words, spaces=spaces)


def bio_spans(tags: list[str]) -> list[SpanTriple]:
    """Decode BIO/IOB1/BIOES tags (``B-``, ``I-``, ``E-``/``L-``, ``S-``/``U-``; a bare tag
    other than ``O`` is read as inside). ``I-X`` after ``O`` or another type starts a mention."""
    spans: list[SpanTriple] = []
    start, current = 0, None
    for i, tag in enumerate(list(tags) + ["O"]):
        if tag == "O":
            prefix, label = "O", None
        elif tag[1:2] == "-":
            prefix, label = tag[0].upper(), tag[2:]
        else:
            prefix, label = "I", tag
        if prefix in ("O", "B", "S", "U") or label != current:
            if current is not None:
                spans.append((start, i, current))
            start, current = i, label
        if prefix in ("E", "L", "S", "U") and current is not None:
            spans.append((start, i + 1, current))
            current = None
    return spans


def _blocks(path: Path, comment: str | None = None) -> Iterator[list[tuple[int, str]]]:
    """Blank-line separated blocks of ``(line number, line)``, ``-DOCSTART-`` blocks skipped."""
    block: list[tuple[int, str]] = []
    with path.open(encoding="utf8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                if block:
                    yield block
                block = []
            elif not (comment and line.startswith(comment)):
                block.append((number, line))
    if block:
        yield block


def _column_reader(
    token_col: int,
    tag_col: int,
    sep: str | None = None,
    token_prefix: str = "",
    comment: str | None = None,
    min_cols: int = 2,
) -> Callable[[Path, _Builder], None]:
    """A reader for one-token-per-line files; ``sep=None`` splits on any white space."""

    def read(path: Path, builder: _Builder) -> None:
        for block in _blocks(path, comment):
            words, tags = [], []
            for number, line in block:
                if line.startswith("-DOCSTART-"):
                    continue
                cols = line.split(sep)
                if len(cols) < min_cols:
                    raise ValueError(Errors.E810.format(path=path, line=number, columns=min_cols, text=line))
                word, tag = cols[token_col].strip(), cols[tag_col].strip()
                if token_prefix and word.startswith(token_prefix):
                    word = word[len(token_prefix) :]
                if not word:
                    builder.stats.empty_tokens += 1
                    continue
                words.append(word)
                tags.append(tag)
            if words:
                builder.add(words, bio_spans(tags))

    return read


def _read_csv_bio(path: Path, builder: _Builder) -> None:
    """``token,TAG`` rows; a blank line or a row with an empty token ends the sentence (E-NER)."""
    words: list[str] = []
    tags: list[str] = []
    with path.open(encoding="utf8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            word, sep, tag = line.rpartition(",")
            if line.strip() and not sep:
                raise ValueError(Errors.E811.format(path=path, line=number, text=line))
            if word.startswith("-DOCSTART-"):
                continue
            if word.strip():
                words.append(word.strip())
                tags.append(tag.strip())
            elif words:
                builder.add(words, bio_spans(tags))
                words, tags = [], []
    if words:
        builder.add(words, bio_spans(tags))


def _read_json(path: Path):
    with path.open(encoding="utf8") as f:
        return json.load(f)


def _read_genia(path: Path, builder: _Builder) -> None:
    """JSON list of ``{"sentence": [tokens], "ner": [{"index": [token ids], "type"}]}``."""
    for item in _read_json(path):
        spans = []
        for mention in item["ner"]:
            index = sorted(mention["index"])
            if index != list(range(index[0], index[-1] + 1)):
                builder.stats.unaligned += 1  # discontinuous mention
                continue
            spans.append((index[0], index[-1] + 1, mention["type"]))
        builder.add(list(item["sentence"]), spans)


def _read_gliner(path: Path, builder: _Builder) -> None:
    """JSON list of ``{"tokenized_text": [tokens], "ner": [[start, end inclusive, type]]}``."""
    for item in _read_json(path):
        builder.add(list(item["tokenized_text"]), [(s, e + 1, t) for s, e, t in item["ner"]])


def _read_ie_instructions(path: Path, builder: _Builder) -> None:
    """InstructUIE JSON list of ``{"sentence", "entities": [{"name", "type", "pos": [s, e]}]}``."""
    for item in _read_json(path):
        spans = [(e["pos"][0], e["pos"][1], e["type"]) for e in item["entities"]]
        builder.add_text(item["sentence"], spans)


def _read_pubtator(path: Path, builder: _Builder) -> None:
    """PubTator documents, split into the title and the abstract's sentences."""
    from spacy.pipeline import Sentencizer

    sentencizer = Sentencizer()
    with path.open(encoding="utf8") as f:
        raw_docs = f.read().strip().split("\n\n")
    for raw in raw_docs:
        title = abstract = ""
        mentions = []
        for line in raw.splitlines():
            if "|t|" in line[:20]:
                title = line.split("|t|", 1)[1]
            elif "|a|" in line[:20]:
                abstract = line.split("|a|", 1)[1]
            else:
                cols = line.split("\t")
                if len(cols) >= 5 and cols[1].isdigit():
                    mentions.append((int(cols[1]), int(cols[2]), cols[4]))
        offset = len(title) + 1
        in_title = [m for m in mentions if m[1] <= len(title)]
        in_abstract = [(s - offset, e - offset, t) for s, e, t in mentions if s >= offset]
        builder.stats.unaligned += len(mentions) - len(in_title) - len(in_abstract)
        builder.add_text(title, in_title)
        doc, gold = builder.doc_from_text(abstract, in_abstract)
        for sent in _sentences(sentencizer(doc), gold):
            sub = copy_tokens(sent, builder.vocab)
            builder.add_doc(
                sub,
                [
                    Span(sub, s.start - sent.start, s.end - sent.start, s.label_)
                    for s in gold
                    if sent.start <= s.start and s.end <= sent.end
                ],
            )


def _sentences(doc: Doc, gold: Iterable[Span]) -> Iterator[Span]:
    """The doc's sentences, merged where a gold mention crosses a boundary."""
    inside = {i for span in gold for i in range(span.start + 1, span.end)}
    start = 0
    for sent in doc.sents:
        if sent.end < len(doc) and sent.end in inside:
            continue
        yield doc[start : sent.end]
        start = sent.end


def parse_uniner_eval_items(path: Path) -> Iterator[tuple[str, str, str, str | None]]:
    """``(passage, type, raw gold answer, id)`` per item of a UniNER conversation file."""
    for i, item in enumerate(_read_json(path)):
        turns = item.get("conversations", []) if isinstance(item, dict) else []
        values = [t.get("value", "") for t in turns]
        if (
            len(values) != 4
            or not values[0].startswith(_TEXT_PREFIX)
            or not (values[2].startswith(_QUESTION[0]) and values[2].endswith(_QUESTION[1]))
        ):
            raise ValueError(Errors.E812.format(path=path, index=i))
        entity_type = values[2][len(_QUESTION[0]) : -len(_QUESTION[1])]
        yield values[0][len(_TEXT_PREFIX) :], entity_type, values[3], item.get("id")


def _place(words: list[str], mention: str) -> list[tuple[int, int]]:
    """Token offsets of every occurrence of a space-tokenised mention."""
    target = mention.split(" ")
    n = len(target)
    return [(i, i + n) for i in range(len(words) - n + 1) if words[i : i + n] == target]


def _read_uniner_eval(path: Path, builder: _Builder) -> list[EvalQuery]:
    base = len(builder.docs)
    passages: dict[str, int] = {}
    mentions: list[set[tuple[str, str]]] = []
    queries = []
    for passage, entity_type, gold, query_id in parse_uniner_eval_items(path):
        index = passages.setdefault(passage, len(passages))
        if index == len(mentions):
            mentions.append(set())
        label = builder.label(entity_type)
        if label is None:
            continue
        queries.append(EvalQuery(base + index, label, gold, query_id))
        try:
            answers = json.loads(gold)
        except json.JSONDecodeError as err:
            raise ValueError(Errors.E813.format(path=path, query=query_id, answer=gold)) from err
        mentions[index].update((label, m) for m in answers if isinstance(m, str) and m)
    for passage, found in zip(passages, mentions):
        words = passage.split(" ")
        if "" in words:
            raise ValueError(Errors.E814.format(path=path, passage=passage))
        spans = []
        for label, mention in sorted(found):
            places = _place(words, mention)
            if not places:
                builder.stats.unaligned += 1
            spans.extend((s, e, label) for s, e in places)
        builder.add(words, spans)
    return queries


_READERS: dict[str, Callable[[Path, _Builder], object]] = {
    # token<TAB or space>tag (CrossNER, BC5CDR, WNUT, ...); the tag is the last column
    "bio": _column_reader(token_col=0, tag_col=-1),
    "conll": _column_reader(token_col=0, tag_col=-1),  # alias of "bio"
    # CoNLL-2003: token POS chunk NER (IOB1 or IOB2), -DOCSTART- markers
    "conll2003": _column_reader(token_col=0, tag_col=3, min_cols=4),
    # MIT Movie/Restaurant .bio: tag first
    "bio_tag_first": _column_reader(token_col=-1, tag_col=0),
    # WikiANN: en:token<TAB>tag
    "wikiann": _column_reader(token_col=0, tag_col=-1, token_prefix="en:"),
    # WikiNEuRal ".conllu": index<TAB>token<TAB>tag
    "bio_indexed": _column_reader(token_col=1, tag_col=2, min_cols=3),
    # MultiCoNER: "# id ..." lines, then token _ _ tag
    "multiconer": _column_reader(token_col=0, tag_col=-1, comment="# id ", min_cols=4),
    # StackOverflow NER: token<TAB>tag<TAB>token<TAB>markdown tag
    "stackoverflow": _column_reader(token_col=0, tag_col=1, sep="\t", min_cols=2),
    # E-NER all.csv: token,TAG with ",O" rows between sentences
    "csv_bio": _read_csv_bio,
    "genia_json": _read_genia,
    "gliner_json": _read_gliner,
    "ie_instructions": _read_ie_instructions,
    "pubtator": _read_pubtator,
    "uniner_eval": _read_uniner_eval,
}
FORMATS = tuple(_READERS)


def read_with_stats(
    path: str | Path, fmt: str, vocab: Vocab, label_map: dict[str, str | None] | None = None
) -> tuple[list[Doc], list[EvalQuery] | None, ReadStats]:
    """Read a file (or every file of a folder, in name order) in format ``fmt``.

    Returns the docs, the eval file's queries (``None`` for other formats) and the counts.
    """
    path = Path(path)
    if fmt not in _READERS:
        raise ValueError(Errors.E815.format(fmt=fmt, formats=", ".join(FORMATS)))
    if not path.exists():
        raise FileNotFoundError(Errors.E816.format(path=path))
    builder = _Builder(vocab, label_map)
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    queries = None
    for file in files:
        result = _READERS[fmt](file, builder)
        if isinstance(result, list):
            queries = (queries or []) + result
    return builder.docs, queries, builder.stats


def read_docs(path: str | Path, fmt: str, vocab: Vocab, label_map: dict[str, str | None] | None = None) -> list[Doc]:
    """Read gold docs in format ``fmt`` (one of :data:`FORMATS`), logging what was dropped."""
    docs, _, stats = read_with_stats(path, fmt, vocab, label_map)
    stats.log(path)
    return docs


def read_uniner_eval(path: str | Path, vocab: Vocab) -> tuple[list[Doc], list[EvalQuery]]:
    """Read a UniNER conversation file: one doc per distinct passage (space-tokenised, gold
    mentions placed at every occurrence) and the file's queries, in file order."""
    docs, queries, stats = read_with_stats(path, "uniner_eval", vocab)
    stats.log(path)
    return docs, queries or []


# -- Readers of the open-type training pool (spacy_uniner.student.pool) -------------------
# A doc whose source lists the types it was asked for (mentions or not) keeps them in
# ``doc.user_data[QUERIED_TYPES_KEY]``; a listed type without a mention is a known negative.
QUERIED_TYPES_KEY = "uniner_queried_types"


def _mention_offsets(text: str, mention: str) -> list[tuple[int, int]]:
    """Character offsets of every occurrence of ``mention`` that is not inside a word."""
    out, start = [], 0
    mention = mention.strip()
    if not mention:
        return out
    while (i := text.find(mention, start)) >= 0:
        end = i + len(mention)
        before = text[i - 1] if i else " "
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() and mention[0].isalnum()) and not (after.isalnum() and mention[-1].isalnum()):
            out.append((i, end))
        start = i + 1
    return out


def _read_pilener_jsonl(path: Path, builder: _Builder) -> None:
    """SLIMER's Pile-NER JSON lines: one (passage, type) query per line,
    ``{"doc_question_pairID": "passage:query", "tagName", "input", "output": "[mentions]"}``.
    Queries are grouped by passage; mentions are placed at every occurrence; queried types
    without a mention (``[]``) are kept as the doc's known negatives."""
    passages: dict[str, tuple[str, dict[str, list[str]]]] = {}
    with path.open(encoding="utf8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            key = str(row["doc_question_pairID"]).split(":")[0]
            text, types = passages.setdefault(key, (row["input"], {}))
            try:
                mentions = json.loads(row["output"]) if isinstance(row["output"], str) else row["output"]
            except json.JSONDecodeError:
                builder.stats.dropped_tags[row["tagName"]] += 1
                continue
            types.setdefault(row["tagName"], []).extend(m for m in mentions if isinstance(m, str))
    for text, types in passages.values():
        spans = []
        for etype, mentions in types.items():
            found = False
            for mention in dict.fromkeys(mentions):
                places = _mention_offsets(text, mention)
                found = found or bool(places)
                builder.stats.unaligned += not places
                spans += [(s, e, etype) for s, e in places]
        doc = builder.add_text(text, spans)
        doc.user_data[QUERIED_TYPES_KEY] = [builder.label(t) for t in types if builder.label(t)]


def _read_fewnerd_json(path: Path, builder: _Builder) -> None:
    """The Few-NERD sample in InstructUIE's event format: a list of
    ``{"sent", "event_list": [{"type", "trigger": {"start", "end"}}]}`` (token offsets into the
    space-tokenised ``sent``) or an object ``{label: [items]}`` of them."""
    data = _read_json(path)
    items = [i for group in data.values() for i in group] if isinstance(data, dict) else data
    seen = set()
    for item in items:
        if item["sent"] in seen:
            continue
        seen.add(item["sent"])
        words = item["sent"].split()
        spans = [(e["trigger"]["start"], e["trigger"]["end"], e["type"]) for e in item.get("event_list", [])]
        builder.add(words, [s for s in spans if 0 <= s[0] < s[1] <= len(words)])


def _read_figer_json(path: Path, builder: _Builder) -> None:
    """FIGER JSON lines ``{"tokens", "mentions": [{"start", "end", "labels": [/a/b, ...]}]}``
    (end exclusive). Each mention gets its most specific label (the longest path)."""
    with path.open(encoding="utf8") as f:
        for line in f:
            if not line.strip():
                continue
            item = json.loads(line)
            spans = []
            for m in item["mentions"]:
                labels = sorted(m["labels"], key=lambda name: (-name.count("/"), name))
                if labels:
                    spans.append((m["start"], m["end"], labels[0]))
            builder.add(list(item["tokens"]), spans)


def _read_sofc(path: Path, builder: _Builder) -> None:
    """SOFC-Exp: one article's ``annotations/entity_types_and_slots/PMCxxx.csv``
    (``sentence_id, token_id, begin, end, entity BIO, slot BIO``; offsets relative to the
    sentence), with its ``annotations/sentences/PMCxxx.csv`` and ``texts/PMCxxx.txt`` found
    from it. Reads the entity-type column of the annotated (experiment) sentences."""
    if path.parent.name != "entity_types_and_slots":
        return
    root = path.parents[2]
    text = (root / "texts" / f"{path.stem}.txt").read_text(encoding="utf8")
    sentences = {}
    for line in (root / "annotations" / "sentences" / path.name).read_text(encoding="utf8").splitlines():
        cols = line.split("\t")
        if len(cols) >= 4 and cols[0].isdigit():
            sentences[cols[0]] = int(cols[2])
    tokens: dict[str, list[tuple[int, int, str]]] = {}
    for line in path.read_text(encoding="utf8").splitlines():
        cols = line.split("\t")
        if len(cols) >= 5 and cols[0].isdigit():
            tokens.setdefault(cols[0], []).append((int(cols[2]), int(cols[3]), cols[4]))
    for sid, toks in tokens.items():
        if sid not in sentences:
            continue
        base = sentences[sid]
        words = [text[base + s : base + e] for s, e, _ in toks]
        if not all(w.strip() for w in words):
            builder.stats.unaligned += 1
            continue
        builder.add(words, bio_spans([t for *_, t in toks]))


def _read_brat_folder(path: Path, builder: _Builder) -> None:
    """A brat ``.ann`` file next to its ``.txt`` (SoMeSci): ``T`` lines give typed character
    spans (discontinuous ones are dropped); the text is split into sentences."""
    from spacy.pipeline import Sentencizer

    if path.suffix != ".ann":
        return
    text = path.with_suffix(".txt").read_text(encoding="utf8")
    spans = []
    for line in path.read_text(encoding="utf8").splitlines():
        cols = line.split("\t")
        if not line.startswith("T") or len(cols) < 2:
            continue
        head = cols[1].split(" ")
        if ";" in cols[1] or len(head) != 3:
            builder.stats.unaligned += 1
            continue
        spans.append((int(head[1]), int(head[2]), head[0]))
    doc, gold = builder.doc_from_text(text, spans)
    for sent in _sentences(Sentencizer()(doc), gold):
        words = [t.text for t in sent if not t.is_space]
        if not words:
            continue
        keep = [t for t in sent if not t.is_space]
        index = {t.i: j for j, t in enumerate(keep)}
        spaces = [bool(t.whitespace_) for t in keep]
        sub = Doc(builder.vocab, words=words, spaces=spaces)
        inner = []
        for s in gold:
            if sent.start <= s.start and s.end <= sent.end and s[0].i in index and s[-1].i in index:
                inner.append(Span(sub, index[s[0].i], index[s[-1].i] + 1, s.label_))
        builder.add_doc(sub, inner)


_READERS.update(
    {
        # token<TAB>tag where tags may contain spaces (GNER's Pile-NER BIO conversion)
        "bio_tab": _column_reader(token_col=0, tag_col=1, sep="\t", min_cols=2),
        "pilener_jsonl": _read_pilener_jsonl,
        "fewnerd_json": _read_fewnerd_json,
        "figer_json": _read_figer_json,
        "sofc": _read_sofc,
        "brat": _read_brat_folder,
    }
)
FORMATS = tuple(_READERS)


# -- Partially annotated sources: only the keyed mention or type of each line is annotated --
# Such a doc lists only its annotated types (``QUERIED_TYPES_KEY``) and is flagged
# ``doc.user_data[PARTIAL_KEY]`` (see ``spacy_uniner.data.docs.is_partial``).
_PTB_BRACKETS = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}
# Entity-typing data types pronouns too ("he": person, man, politician); NER gold never marks
# them, so such mentions are dropped (and counted).
PRONOUNS = frozenset(
    "i me my mine myself you your yours yourself yourselves he him his himself she her hers herself "
    "it its itself we us our ours ourselves they them their theirs themselves one".split()
)


def _add_partial(
    builder: _Builder, doc: Doc, typed: dict[str, list[tuple[int, int]]], mentions_only: bool = False
) -> None:
    """Add ``doc`` for its annotated types (type -> token spans; no span: a known negative),
    flagged partial (``mentions_only``: only these mentions are known, not every mention of
    the types). A span has one label, so types whose mentions overlap go to separate copies
    of the doc, each listing only its own types with all of their mentions."""
    groups: list[tuple[list[str], set[int]]] = []
    for label, spans in typed.items():
        tokens = {i for s, e in spans for i in range(s, e)}
        group = next((g for g in groups if not g[1] & tokens), None)
        if group is None:
            groups.append(([label], tokens))
        else:
            group[0].append(label)
            group[1].update(tokens)
    for i, (labels, _) in enumerate(groups):
        copy = doc if i == 0 else copy_tokens(doc, builder.vocab)
        gold = sorted({(s, e, label) for label in labels for s, e in typed[label]})
        builder.add_doc(copy, [Span(copy, s, e, label=label) for s, e, label in gold])
        copy.user_data[QUERIED_TYPES_KEY] = labels
        copy.user_data[PARTIAL_KEY] = MENTIONS_ONLY if mentions_only else True


def _read_ufet(path: Path, builder: _Builder) -> None:
    """Ultra-Fine Entity Typing JSON lines ``{"left_context_token", "mention_span",
    "right_context_token", "y_str": [types]}``: one typed mention per line, the rest of the
    sentence unannotated (flagged ``MENTIONS_ONLY``). Lines of one sentence are merged; a
    type's underscores become spaces; pronoun mentions are dropped (counted in
    ``ReadStats.pronouns``)."""
    sentences: dict[tuple[str, ...], dict[str, list[tuple[int, int]]]] = {}
    with path.open(encoding="utf8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                left, right = list(item["left_context_token"]), list(item["right_context_token"])
                mention, types = str(item["mention_span"]).split(), list(item["y_str"])
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ValueError(Errors.E817.format(path=path, line=number, error=err)) from err
            words = tuple(_PTB_BRACKETS.get(w, w) for w in left + mention + right)
            typed = sentences.setdefault(words, {})
            if not mention or not all(words):
                builder.stats.unaligned += 1
                continue
            if " ".join(mention).lower() in PRONOUNS:
                builder.stats.pronouns += 1
                continue
            span = (len(left), len(left) + len(mention))
            for tag in types:
                label = builder.label(str(tag).replace("_", " ").strip())
                if label and span not in typed.setdefault(label, []):
                    typed[label].append(span)
    for words, typed in sentences.items():
        if typed:
            doc = Doc(builder.vocab, words=list(words), spaces=[True] * (len(words) - 1) + [False])
            _add_partial(builder, doc, typed, mentions_only=True)


def _guideline_items(path: Path) -> Iterator[tuple[str, dict]]:
    """``(type, entry)`` of a Pile-NER guideline file (E822 if it is not one)."""
    data = _read_json(path)
    keys = {"positive_adv_sentences", "negative_sentences"}
    if not isinstance(data, dict):
        raise ValueError(Errors.E822.format(path=path, key="(top level)"))
    for key, entry in data.items():
        if not isinstance(entry, dict) or not keys & entry.keys():
            raise ValueError(Errors.E822.format(path=path, key=key))
        yield str(entry.get("named_entity") or key), entry


def _read_pilener_guidelines(path: Path, builder: _Builder) -> None:
    """SLIMER's Pile-NER guideline examples: a JSON object keyed by type, each entry with
    ``positive_adv_sentences`` (``{"sentence", "positive occurrences"}``) or
    ``negative_sentences`` (``{"sentence", "explanation"}``: no mention of the type). Only
    the keyed type is annotated, so each sentence lists just that type (a negative one is a
    known negative for it); a type whose occurrences are not all found in the sentence is
    left out (counted as unaligned)."""
    sentences: dict[str, dict[str, list[tuple[int, int]]]] = {}
    for name, entry in _guideline_items(path):
        label = builder.label(name)
        for item in entry.get("positive_adv_sentences", []) + entry.get("negative_sentences", []):
            text = item.get("sentence", item.get("adversarial_sentence")) if isinstance(item, dict) else None
            if not isinstance(text, str):
                raise ValueError(Errors.E822.format(path=path, key=name))
            if label is None or not text.strip():
                continue
            places = [_mention_offsets(text, m) for m in dict.fromkeys(item.get("positive occurrences", []))]
            if not all(places):
                builder.stats.unaligned += sum(not p for p in places)
                continue
            sentences.setdefault(text, {}).setdefault(label, []).extend(o for p in places for o in p)
    for text, typed in sentences.items():
        doc = builder.tokenize(text, {o for spans in typed.values() for s, e in spans for o in (s, e)})
        tokens: dict[str, list[tuple[int, int]]] = {}
        for label, spans in typed.items():
            found = [doc.char_span(s, e) for s, e in spans]
            if all(found):
                tokens[label] = [(span.start, span.end) for span in found]
            else:
                builder.stats.unaligned += sum(span is None for span in found)
        if tokens:
            _add_partial(builder, doc, tokens)


def read_definitions(path: str | Path, fmt: str, label_map: dict[str, str | None] | None = None) -> dict[str, str]:
    """Type name -> definition text from a file of a format that gives them (``{}`` for the
    others): the ``annotation_guidelines`` ``Definition`` of a Pile-NER guideline file."""
    if fmt != "pilener_guidelines":
        return {}
    out = {}
    for name, entry in _guideline_items(Path(path)):
        label = name if label_map is None else label_map.get(name)
        definition = (entry.get("annotation_guidelines") or {}).get("Definition")
        if label and isinstance(definition, str) and definition.strip():
            out[label] = definition.strip()
    return out


_READERS.update({"ufet_json": _read_ufet, "pilener_guidelines": _read_pilener_guidelines})
FORMATS = tuple(_READERS)
