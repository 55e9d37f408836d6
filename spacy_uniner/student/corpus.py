"""Training data for the student: DocBins whose docs carry their type names.

Each doc stores the type names it is annotated for in ``doc._.uniner_labels`` (saved with
``DocBin(store_user_data=True)``): a type in that list without a mention in ``doc.ents`` is
a known negative. The reader ``spacy_uniner.StudentCorpus.v1`` adds negative types sampled
in proportion to their frequency in the corpus (UniversalNER's scheme), can swap type
names for synonyms, finer or broader names, so the student learns from varied type texts,
and can replace mentions by other mentions of the same type from the corpus (mention
replacement, Dai & Adel 2020), so a small corpus is not learnt by heart.

A sampled negative is never a type the doc's mentions could carry: not a broader or finer
name of a positive type (``hierarchy``), nor a type any of its mention strings has elsewhere
in the corpus (``Obama`` is a ``person`` here and a ``politician`` there, so ``politician``
is no negative for this doc). Asking a fine type together with its broader name teaches
the benchmark convention that the most specific asked type wins (``parent_rate``).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy
import srsly
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.util import registry
from spacy.vocab import Vocab

from ..data.docs import LABELS_ATTR, copy_tokens, doc_types
from ..data.negatives import NegativeSampler, passage_frequencies
from ..errors import Errors


@registry.readers("spacy_uniner.StudentCorpus.v1")
def create_student_corpus(
    path: Union[str, Path],
    negatives: int = 0,
    synonyms: Optional[Union[str, Path]] = None,
    synonym_rate: float = 0.0,
    mention_replace_rate: float = 0.0,
    shuffle_types: bool = True,
    shuffle: bool = False,
    gold_preproc: bool = False,
    limit: int = 0,
    seed: int = 0,
    negative_ratio: float = 0.0,
    max_types: int = 0,
    hierarchy: Optional[Union[str, Path]] = None,
    coarse_rate: float = 0.0,
    type_dropout: float = 0.0,
    parent_rate: float = 0.0,
    lowercase_rate: float = 0.0,
    related_negatives: bool = False,
    subset_rate: float = 0.0,
) -> Callable[[Language], Iterator[Example]]:
    """Read student training data from DocBins written by ``to_docbin``.

    negatives: per doc, add up to this many absent types, drawn in proportion to their
        frequency in this corpus.
    synonyms: JSON file ``{type name: [other names]}``; with probability ``synonym_rate``
        each type name of a doc is replaced (in its queries and its mentions) by one of them.
    mention_replace_rate: probability that each mention is replaced by the words of
        another mention of the same type drawn from the corpus.
    shuffle_types: shuffle the order of each doc's type names.
    shuffle: shuffle the docs on every pass (use with ``[training] max_epochs = -1``, so
        that each epoch reads the corpus again and draws new negatives).
    gold_preproc: keep the data's tokens instead of re-tokenizing the text.
    negative_ratio: target share of negative types among a doc's types (GLiNER: ~0.5):
        the doc's known negatives first, then types drawn by frequency; 0 keeps
        ``negatives`` as a fixed count.
    max_types: at most this many type names per doc (positives first; 0: no limit).
    hierarchy: JSON file ``{fine type: coarse type}``; with probability ``coarse_rate`` per
        coarse name, all of a doc's fine types under it are merged into the coarse name.
    type_dropout: probability that a doc loses a random part of its type names (their
        mentions are then not asked), so the student does not rely on the full set.
    parent_rate: probability, per positive fine type, that its broader name (``hierarchy``)
        is asked as well; the fine type keeps its mentions (the most specific type wins).
    lowercase_rate: probability that a doc's words are lowercased (queries, speech
        transcripts and chat are often lowercase).
    related_negatives: also sample negatives that the doc's mention strings have elsewhere
        in the corpus (off by default: such negatives are often false). Broader and finer
        names of a positive type are never sampled.
    subset_rate: probability that a doc is asked only a random subset of its final type
        list, of a size drawn uniformly from 1 to its length (positives may be left out:
        their mentions are then not asked). Users ask one type, two or 25; without it a
        one-type query only ever comes from a passage with no entity, and the student
        learns to answer it with nothing.
    """
    if not isinstance(negatives, int) or negatives < 0:
        raise ValueError(Errors.E008.format(name="negatives", what="an integer >= 0", value=negatives))
    for name, rate in (
        ("synonym_rate", synonym_rate),
        ("mention_replace_rate", mention_replace_rate),
        ("coarse_rate", coarse_rate),
        ("type_dropout", type_dropout),
        ("parent_rate", parent_rate),
        ("lowercase_rate", lowercase_rate),
        ("subset_rate", subset_rate),
    ):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(Errors.E008.format(name=name, what="in [0, 1]", value=rate))
    return StudentCorpus(
        Path(path),
        negatives=negatives,
        synonyms=_read_synonyms(Path(synonyms)) if synonyms else {},
        synonym_rate=synonym_rate,
        mention_replace_rate=mention_replace_rate,
        shuffle_types=shuffle_types,
        shuffle=shuffle,
        gold_preproc=gold_preproc,
        limit=limit,
        seed=seed,
        negative_ratio=negative_ratio,
        max_types=max_types,
        hierarchy=dict(srsly.read_json(hierarchy)) if hierarchy else {},
        coarse_rate=coarse_rate,
        type_dropout=type_dropout,
        parent_rate=parent_rate,
        lowercase_rate=lowercase_rate,
        related_negatives=related_negatives,
        subset_rate=subset_rate,
    )


class StudentCorpus:
    """Iterate Examples whose docs carry (augmented) type names; see ``create_student_corpus``."""

    def __init__(
        self,
        path: Path,
        *,
        negatives: int = 0,
        synonyms: Optional[Dict[str, List[str]]] = None,
        synonym_rate: float = 0.0,
        mention_replace_rate: float = 0.0,
        shuffle_types: bool = True,
        shuffle: bool = False,
        gold_preproc: bool = False,
        limit: int = 0,
        seed: int = 0,
        negative_ratio: float = 0.0,
        max_types: int = 0,
        hierarchy: Optional[Dict[str, str]] = None,
        coarse_rate: float = 0.0,
        type_dropout: float = 0.0,
        parent_rate: float = 0.0,
        lowercase_rate: float = 0.0,
        related_negatives: bool = False,
        subset_rate: float = 0.0,
    ) -> None:
        if not path.exists():
            raise FileNotFoundError(Errors.E301.format(path=path))
        self.path = path
        self.negatives = negatives
        self.synonyms = synonyms or {}
        self.synonym_rate = synonym_rate
        self.mention_replace_rate = mention_replace_rate
        self.shuffle_types = shuffle_types
        self.shuffle = shuffle
        self.gold_preproc = gold_preproc
        self.limit = limit
        self.negative_ratio = negative_ratio
        self.max_types = max_types
        self.hierarchy = hierarchy or {}
        self.coarse_rate = coarse_rate
        self.type_dropout = type_dropout
        self.parent_rate = parent_rate
        self.lowercase_rate = lowercase_rate
        self.related_negatives = related_negatives
        self.subset_rate = subset_rate
        self.children: Dict[str, List[str]] = {}
        for fine, broad in self.hierarchy.items():
            self.children.setdefault(broad, []).append(fine)
        self.random = random.Random(seed)
        self.rng = numpy.random.default_rng(seed)
        self._sampler: Optional[NegativeSampler] = None
        self._mentions: Optional[Dict[str, List[Tuple[str, ...]]]] = None
        self._mention_types: Optional[Dict[str, Tuple[str, ...]]] = None

    def _files(self) -> List[Path]:
        return sorted(self.path.glob("**/*.spacy")) if self.path.is_dir() else [self.path]

    def _docs(self, vocab: Vocab) -> Iterator[Doc]:
        count = 0
        for path in self._files():
            for i, doc in enumerate(DocBin().from_disk(path).get_docs(vocab)):
                if not doc_types(doc):
                    raise ValueError(Errors.E302.format(index=i, path=path, attr=LABELS_ATTR))
                yield doc
                count += 1
                if self.limit and count >= self.limit:
                    return

    def __call__(self, nlp: Language) -> Iterator[Example]:
        sampling = bool(self.negatives or self.negative_ratio)
        if (sampling and self._sampler is None) or (self.mention_replace_rate and self._mentions is None):
            docs_once = list(self._docs(nlp.vocab))  # one read of the corpus for every statistic
            if sampling:
                self._sampler = NegativeSampler(passage_frequencies(docs_once))
                if not self.related_negatives:
                    self._mention_types = mention_types(docs_once)
            if self.mention_replace_rate:
                self._mentions = mention_pool(docs_once)
            del docs_once
        docs: Iterable[Doc] = self._docs(nlp.vocab)
        if self.shuffle:
            docs = list(docs)
            self.random.shuffle(docs)
        for reference in docs:
            reference = self._augment(reference)
            if self.gold_preproc:
                predicted = copy_tokens(reference, nlp.vocab)
            else:
                predicted = nlp.make_doc(reference.text)
            predicted._.set(LABELS_ATTR, reference._.get(LABELS_ATTR))
            yield Example(predicted, reference)

    def _augment(self, doc: Doc) -> Doc:
        if self.mention_replace_rate:
            doc = self._replace_mentions(doc)
        if self.lowercase_rate and self.random.random() < self.lowercase_rate:
            doc = lowercase(doc)
        types = doc_types(doc)
        rename: Dict[str, str] = {}
        if self.coarse_rate and self.hierarchy:
            broad = {self.hierarchy[t] for t in types if t in self.hierarchy}
            merged = {c for c in sorted(broad) if self.random.random() < self.coarse_rate}
            rename.update({t: self.hierarchy[t] for t in types if self.hierarchy.get(t) in merged})
        if self.type_dropout and len(types) > 1 and self.random.random() < self.type_dropout:
            keep = self.random.randint(1, len(types))
            types = self.random.sample(types, keep)
        if self.negative_ratio:
            types = self._ratio_types(doc, types, rename)
        elif self.negatives and self._sampler is not None:
            types += self._sampler.sample(self.rng, self.negatives, set(types) | self._related(doc))
        if self.parent_rate and self.hierarchy:
            labels = {e.label_ for e in doc.ents}
            parents = [self.hierarchy[t] for t in types if t in labels and t not in rename and t in self.hierarchy]
            types += [p for p in dict.fromkeys(parents) if p not in types and self.random.random() < self.parent_rate]
        if self.max_types and len(types) > self.max_types:
            positive = {rename.get(e.label_, e.label_) for e in doc.ents}
            ordered = sorted(types, key=lambda t: rename.get(t, t) not in positive)
            types = ordered[: self.max_types]
        if self.subset_rate and types and self.random.random() < self.subset_rate:
            types = self.random.sample(types, self.random.randint(1, len(types)))
        rename.update(
            {
                t: self.random.choice(self.synonyms[t])
                for t in types
                if t not in rename and t in self.synonyms and self.random.random() < self.synonym_rate
            }
        )
        types = list(dict.fromkeys(rename.get(t, t) for t in types))
        if self.shuffle_types:
            self.random.shuffle(types)
        if rename:
            doc.ents = [Span(doc, e.start, e.end, label=rename.get(e.label_, e.label_)) for e in doc.ents]
        doc._.set(LABELS_ATTR, types)
        return doc

    def _replace_mentions(self, doc: Doc) -> Doc:
        """A copy of ``doc`` where each mention is, with probability ``mention_replace_rate``,
        swapped for another mention of its type. Entities and span groups move with the
        words; a mention that a grouped span overlaps without matching it is kept."""
        grouped = [span for group in doc.spans.values() for span in group]
        boundary = list(range(len(doc) + 1))  # old token boundary -> new one
        words: List[str] = []
        spaces: List[bool] = []

        def copy(tokens: Span) -> None:
            for token in tokens:
                boundary[token.i] = len(words)
                words.append(token.text)
                spaces.append(bool(token.whitespace_))

        position = 0
        for ent in doc.ents:
            copy(doc[position : ent.start])
            original = tuple(t.text for t in ent)
            new = original
            choices = self._mentions.get(ent.label_, []) if self._mentions else []
            crossed = any(
                s.start < ent.end and ent.start < s.end and (s.start, s.end) != (ent.start, ent.end) for s in grouped
            )
            if len(choices) > 1 and not crossed and self.random.random() < self.mention_replace_rate:
                new = self.random.choice(choices)
            if new == original:
                copy(ent)
            else:
                boundary[ent.start] = len(words)
                words += new
                spaces += [True] * (len(new) - 1) + [bool(ent[-1].whitespace_)]
            position = ent.end
        copy(doc[position:])
        boundary[len(doc)] = len(words)
        new_doc = Doc(doc.vocab, words=words, spaces=spaces)
        new_doc.ents = [Span(new_doc, boundary[e.start], boundary[e.end], label=e.label_) for e in doc.ents]
        for name, group in doc.spans.items():
            new_doc.spans[name] = [Span(new_doc, boundary[s.start], boundary[s.end], label=s.label_) for s in group]
        new_doc._.set(LABELS_ATTR, doc._.get(LABELS_ATTR))
        return new_doc

    def _ratio_types(self, doc: Doc, types: List[str], rename: Dict[str, str]) -> List[str]:
        """The doc's positive types plus negatives making up ``negative_ratio`` of the
        list: its own known negatives first, then types drawn by corpus frequency."""
        labels = {e.label_ for e in doc.ents}
        positives = [t for t in types if t in labels]
        known = [t for t in types if t not in labels]
        wanted = max(1, round(len(positives) * self.negative_ratio / max(1e-6, 1.0 - self.negative_ratio)))
        self.random.shuffle(known)
        negatives = known[:wanted]
        if len(negatives) < wanted and self._sampler is not None:
            taken = set(types) | set(rename.values()) | self._related(doc)
            negatives += self._sampler.sample(self.rng, wanted - len(negatives), taken)
        return positives + negatives

    def _related(self, doc: Doc) -> set:
        """Types the doc's mentions could carry, so never sampled as its negatives: the
        broader and finer names of its positive types and, unless ``related_negatives``,
        every type its mention strings have elsewhere in the corpus."""
        labels = {e.label_ for e in doc.ents}
        related = {self.hierarchy[t] for t in labels if t in self.hierarchy}
        related.update(c for t in labels for c in self.children.get(t, ()))
        if self._mention_types is not None:
            related.update(t for e in doc.ents for t in self._mention_types.get(e.text.lower(), ()))
        return related


def dev_examples(
    path: Union[str, Path], nlp: Language, max_types: int = 25, negative_ratio: float = 0.5, seed: int = 0
) -> List[Example]:
    """Held-out examples asked as training asks: each doc's positive types, then as many of
    its known negatives, at most ``max_types`` (a fixed seed: every system and every run
    is asked the same lists). Some pool passages list hundreds of types."""
    corpus = StudentCorpus(
        Path(path),
        negative_ratio=negative_ratio,
        max_types=max_types,
        shuffle_types=False,
        gold_preproc=True,
        seed=seed,
    )
    return list(corpus(nlp))


def lowercase(doc: Doc) -> Doc:
    """A copy of ``doc`` with lowercased words; entities, span groups and type names kept."""
    new_doc = Doc(doc.vocab, words=[t.lower_ for t in doc], spaces=[bool(t.whitespace_) for t in doc])
    new_doc.ents = [Span(new_doc, e.start, e.end, label=e.label_) for e in doc.ents]
    for name, group in doc.spans.items():
        new_doc.spans[name] = [Span(new_doc, s.start, s.end, label=s.label_) for s in group]
    new_doc._.set(LABELS_ATTR, doc._.get(LABELS_ATTR))
    return new_doc


def mention_types(docs: Iterable[Doc]) -> Dict[str, Tuple[str, ...]]:
    """Lowercased mention text -> every type it is labelled with in ``docs``."""
    found: Dict[str, Dict[str, None]] = {}
    for doc in docs:
        for ent in doc.ents:
            found.setdefault(ent.text.lower(), {})[ent.label_] = None
    return {text: tuple(labels) for text, labels in found.items()}


def mention_pool(docs: Iterable[Doc]) -> Dict[str, List[Tuple[str, ...]]]:
    """The distinct mentions (as word tuples) of each type in ``docs``."""
    pool: Dict[str, Dict[Tuple[str, ...], None]] = {}
    for doc in docs:
        for ent in doc.ents:
            pool.setdefault(ent.label_, {})[tuple(t.text for t in ent)] = None
    return {label: list(mentions) for label, mentions in pool.items()}


def _read_synonyms(path: Path) -> Dict[str, List[str]]:
    data = srsly.read_json(path)
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in data.values()
    ):
        raise ValueError(Errors.E304.format(path=path))
    return {k: v for k, v in data.items() if v}
