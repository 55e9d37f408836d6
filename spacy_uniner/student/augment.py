"""Augmenters of the student's training reader: one small registered step per change.

They are registered like spaCy's augmenters (``@augmenters = "spacy_uniner.lowercase.v1"``)
and listed, in the order they run, as ``[corpora.train.augmenters.NAME]`` blocks of the
reader ``spacy_uniner.StudentCorpus.v2``. Unlike spaCy's, which map an ``Example`` to
``Example`` objects, they change a :class:`Draft`: the reference doc, the type names it will
be asked and the renames still to apply. The type steps build on each other: a coarse name
chosen early is applied only at the end, so later steps still see the fine names that the
mentions carry. They draw from the reader's seeded generators (:class:`AugmentContext`), so
a run is reproducible, and those that need the whole corpus (type frequencies for negatives,
other mentions of a type) share one :class:`CorpusStatistics`, read once when first asked.

A sampled negative is never a type the doc's mentions could carry: not a broader or finer
name of a positive type (``hierarchy``), nor a type any of its mention strings has elsewhere
in the corpus (``Obama`` is a ``person`` here and a ``politician`` there, so ``politician``
is no negative for this doc). Asking a fine type together with its broader name teaches the
benchmark convention that the most specific asked type wins (``parent_types``).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple, Union

import numpy
import srsly
from spacy.tokens import Doc, Span
from spacy.util import registry

from ..data.docs import LABELS_ATTR, doc_types, is_partial
from ..data.negatives import NegativeSampler
from ..errors import Errors

# A type hierarchy or synonym table: a JSON file, or the mapping itself (null: none).
Source = Union[str, Path, Mapping, None]


@dataclass
class Draft:
    """A training doc on its way through the augmenters."""

    doc: Doc  # words and mentions; mentions keep their original type names until ``resolve``
    types: List[str]  # the type names to ask, before ``renames``
    renames: Dict[str, str] = field(default_factory=dict)  # type name -> the name asked instead

    @classmethod
    def from_doc(cls, doc: Doc) -> Draft:
        return cls(doc, doc_types(doc))

    def resolve(self) -> None:
        """Apply the pending renames: each name is asked once, under its new name, and the
        mentions carry the new names."""
        self.types = list(dict.fromkeys(self.renames.get(t, t) for t in self.types))
        if self.renames:
            doc = self.doc
            doc.ents = [Span(doc, e.start, e.end, label=self.renames.get(e.label_, e.label_)) for e in doc.ents]
            self.renames = {}

    def to_doc(self) -> Doc:
        """The augmented doc, its type names in ``doc._.uniner_labels``."""
        self.resolve()
        self.doc._.set(LABELS_ATTR, self.types)
        return self.doc


class CorpusStatistics:
    """What augmenters learn from the whole corpus, counted in one read when first asked."""

    def __init__(self, read_docs: Callable[[], Iterable[Doc]]) -> None:
        self._read_docs = read_docs
        self._counted: Optional[Tuple[NegativeSampler, Dict, Dict]] = None

    def _count(self) -> Tuple[NegativeSampler, Dict, Dict]:
        if self._counted is None:
            passages: Counter = Counter()
            pool: Dict[str, Dict[Tuple[str, ...], None]] = {}
            types: Dict[str, Dict[str, None]] = {}
            for doc in self._read_docs():
                if not is_partial(doc):  # types only partially annotated docs carry are no negatives elsewhere
                    passages.update({ent.label_ for ent in doc.ents})
                for ent in doc.ents:
                    pool.setdefault(ent.label_, {})[tuple(t.text for t in ent)] = None
                    types.setdefault(ent.text.lower(), {})[ent.label_] = None
            self._counted = (
                NegativeSampler(passages),
                {label: list(mentions) for label, mentions in pool.items()},
                {text: tuple(labels) for text, labels in types.items()},
            )
        return self._counted

    @property
    def sampler(self) -> NegativeSampler:
        """Draws types in proportion to the number of docs that mention them."""
        return self._count()[0]

    @property
    def mentions(self) -> Dict[str, List[Tuple[str, ...]]]:
        """Type name -> its distinct mentions (as word tuples), in corpus order."""
        return self._count()[1]

    @property
    def mention_types(self) -> Dict[str, Tuple[str, ...]]:
        """Lowercased mention text -> every type it is labelled with in the corpus."""
        return self._count()[2]


@dataclass
class AugmentContext:
    """What a reader shares with its augmenters: its generators and corpus statistics."""

    random: random.Random
    rng: numpy.random.Generator
    stats: CorpusStatistics


Augmenter = Callable[[Draft, AugmentContext], None]


@registry.augmenters("spacy_uniner.mention_replace.v1")
def mention_replace_augmenter(rate: float) -> Augmenter:
    """Replace each mention, with probability ``rate``, by the words of another mention of
    its type in the corpus (Dai & Adel 2020), so a small corpus is not learnt by heart."""
    _check_rate("spacy_uniner.mention_replace.v1", rate)

    def augment(draft: Draft, context: AugmentContext) -> None:
        if rate:
            draft.doc = replace_mentions(draft.doc, context.stats.mentions, rate, context.random)

    return augment


@registry.augmenters("spacy_uniner.lowercase.v1")
def lowercase_augmenter(rate: float) -> Augmenter:
    """Lowercase a doc's words with probability ``rate`` (queries, speech transcripts and
    chat are often lowercase)."""
    _check_rate("spacy_uniner.lowercase.v1", rate)

    def augment(draft: Draft, context: AugmentContext) -> None:
        if rate and context.random.random() < rate:
            draft.doc = lowercase(draft.doc)

    return augment


@registry.augmenters("spacy_uniner.coarse_types.v1")
def coarse_types_augmenter(hierarchy: Source, rate: float) -> Augmenter:
    """With probability ``rate`` per broader name of ``hierarchy`` (``{fine: broader}``),
    ask the doc's fine types under it by the broader name; their mentions take it too."""
    _check_rate("spacy_uniner.coarse_types.v1", rate)
    parents = read_hierarchy(hierarchy)

    def augment(draft: Draft, context: AugmentContext) -> None:
        if rate and parents:
            broad = {parents[t] for t in draft.types if t in parents}
            merged = {c for c in sorted(broad) if context.random.random() < rate}
            draft.renames.update({t: parents[t] for t in draft.types if parents.get(t) in merged})

    return augment


@registry.augmenters("spacy_uniner.type_dropout.v1")
def type_dropout_augmenter(rate: float) -> Augmenter:
    """With probability ``rate``, keep a random part (1 to all) of a doc's type names; the
    mentions of those dropped are not asked, so the student does not rely on the full set."""
    _check_rate("spacy_uniner.type_dropout.v1", rate)

    def augment(draft: Draft, context: AugmentContext) -> None:
        types = draft.types
        if rate and len(types) > 1 and context.random.random() < rate:
            keep = context.random.randint(1, len(types))
            draft.types = context.random.sample(types, keep)

    return augment


@registry.augmenters("spacy_uniner.negative_types.v1")
def negative_types_augmenter(
    ratio: float = 0.0,
    count: int = 0,
    hierarchy: Source = None,
    allow_related: bool = False,
    neighbours: Source = None,
    near: float = 0.0,
    related_known: float = 0.0,
) -> Augmenter:
    """Ask types the doc has no mention of, drawn in proportion to the number of docs that
    mention them (UniversalNER's scheme).

    ratio: the share of negatives among a doc's types (GLiNER: ~0.5): the doc's positive
        types, then its own known negatives, then drawn types to make up the share.
    count: instead, add this many drawn types to all of the doc's type names.
    hierarchy: ``{fine: broader}``; the broader and finer names of a positive type are never
        drawn.
    allow_related: also draw types that the doc's mention strings carry elsewhere in the
        corpus (off by default: such negatives are often false).
    neighbours: ``{type: [near types]}`` (``student neighbours`` writes the pool's).
    near: the chance that a drawn negative is a neighbour of one of the doc's positive types
        instead of a frequency draw (hard negatives: asked alone, a close name must answer
        nothing); the same exclusions apply.
    related_known: the chance that a doc's own known negatives (types its source annotates
        and it has no mention of) are taken related first instead of at random: a sibling of
        a positive type under ``hierarchy`` (`athlete` for a `politician`) or one of its
        ``neighbours``. They are true negatives of the doc: asked alone, a sibling should
        answer nothing.
    """
    name = "spacy_uniner.negative_types.v1"
    if not 0.0 <= ratio < 1.0:
        raise ValueError(Errors.E305.format(setting="ratio", name=name, what="in [0, 1)", value=ratio))
    if not isinstance(count, int) or count < 0:
        raise ValueError(Errors.E305.format(setting="count", name=name, what="an integer >= 0", value=count))
    if ratio and count:
        raise ValueError(Errors.E307.format(ratio=ratio, count=count))
    _check_rate(name, near, setting="near")
    _check_rate(name, related_known, setting="related_known")
    parents = read_hierarchy(hierarchy)
    nearby = read_neighbours(neighbours)
    if near and not nearby:
        raise ValueError(Errors.E641.format(near=near))
    children: Dict[str, List[str]] = {}
    for fine, broad in parents.items():
        children.setdefault(broad, []).append(fine)

    def related(doc: Doc, stats: CorpusStatistics) -> Set[str]:
        """Types the doc's mentions could carry, so never its negatives."""
        labels = {e.label_ for e in doc.ents}
        found = {parents[t] for t in labels if t in parents}
        found.update(c for t in labels for c in children.get(t, ()))
        if not allow_related:
            found.update(t for e in doc.ents for t in stats.mention_types.get(e.text.lower(), ()))
        return found

    def close_to(positives: List[str]) -> Set[str]:
        """The siblings (same broader name) and neighbours of ``positives``."""
        broader = {parents[t] for t in positives if t in parents}
        close = {c for b in broader for c in children.get(b, ())}
        close.update(n for t in positives for n in nearby.get(t, ()))
        return close

    def draw(draft: Draft, context: AugmentContext, k: int, taken: Set[str]) -> List[str]:
        """``k`` negatives not in ``taken``: each a neighbour of a positive type with
        probability ``near``, else (or when none is left) a frequency draw."""
        n_near = sum(context.random.random() < near for _ in range(k)) if near and nearby else 0
        drawn: List[str] = []
        if n_near:
            labels = {e.label_ for e in draft.doc.ents}
            options = [n for t in sorted(labels) for n in nearby.get(t, ()) if n not in taken]
            options = list(dict.fromkeys(options))
            drawn = context.random.sample(options, min(n_near, len(options)))
        return drawn + context.stats.sampler.sample(context.rng, k - len(drawn), taken | set(drawn))

    def augment(draft: Draft, context: AugmentContext) -> None:
        if is_partial(draft.doc):
            return  # only its listed types are known: any other type may be unannotated there
        if ratio:
            labels = {e.label_ for e in draft.doc.ents}
            positives = [t for t in draft.types if t in labels]
            known = [t for t in draft.types if t not in labels]
            wanted = max(1, round(len(positives) * ratio / max(1e-6, 1.0 - ratio)))
            context.random.shuffle(known)
            if related_known and context.random.random() < related_known:
                close = close_to(positives)
                known.sort(key=lambda t: t not in close)  # stable: the rest stay shuffled
            negatives = known[:wanted]
            if len(negatives) < wanted:
                taken = set(draft.types) | set(draft.renames.values()) | related(draft.doc, context.stats)
                negatives += draw(draft, context, wanted - len(negatives), taken)
            draft.types = positives + negatives
        elif count:
            taken = set(draft.types) | related(draft.doc, context.stats)
            draft.types += draw(draft, context, count, taken)

    return augment


@registry.augmenters("spacy_uniner.parent_types.v1")
def parent_types_augmenter(hierarchy: Source, rate: float) -> Augmenter:
    """With probability ``rate`` per positive fine type, also ask its broader name
    (``hierarchy``: ``{fine: broader}``); the fine type keeps its mentions (the most
    specific asked type wins)."""
    _check_rate("spacy_uniner.parent_types.v1", rate)
    parents = read_hierarchy(hierarchy)

    def augment(draft: Draft, context: AugmentContext) -> None:
        if rate and parents:
            labels = {e.label_ for e in draft.doc.ents}
            found = [parents[t] for t in draft.types if t in labels and t not in draft.renames and t in parents]
            draft.types += [p for p in dict.fromkeys(found) if p not in draft.types and context.random.random() < rate]

    return augment


@registry.augmenters("spacy_uniner.max_types.v1")
def max_types_augmenter(max_types: int) -> Augmenter:
    """Ask at most ``max_types`` type names per doc, positive types first (0: no limit).
    Some pool passages list hundreds."""
    if not isinstance(max_types, int) or max_types < 0:
        raise ValueError(
            Errors.E305.format(
                setting="max_types", name="spacy_uniner.max_types.v1", what="an integer >= 0", value=max_types
            )
        )

    def augment(draft: Draft, context: AugmentContext) -> None:
        if max_types and len(draft.types) > max_types:
            renames = draft.renames
            positive = {renames.get(e.label_, e.label_) for e in draft.doc.ents}
            ordered = sorted(draft.types, key=lambda t: renames.get(t, t) not in positive)
            draft.types = ordered[:max_types]

    return augment


@registry.augmenters("spacy_uniner.type_subset.v1")
def type_subset_augmenter(rate: float, one_type: float = 0.0) -> Augmenter:
    """With probability ``rate``, ask only a random subset of a doc's type names, of a size
    drawn uniformly from 1 to all (positives may be left out: their mentions are then not
    asked). Users ask one type, two or 25; without it a one-type query only ever comes from
    a passage with no entity, and the student learns to answer it with nothing. With
    probability ``one_type``, a subset is a single type, as the paper's protocol asks."""
    _check_rate("spacy_uniner.type_subset.v1", rate)
    _check_rate("spacy_uniner.type_subset.v1", one_type, setting="one_type")

    def augment(draft: Draft, context: AugmentContext) -> None:
        types, draw = draft.types, context.random
        if rate and types and draw.random() < rate:
            size = 1 if one_type and draw.random() < one_type else draw.randint(1, len(types))
            draft.types = draw.sample(types, size)

    return augment


@registry.augmenters("spacy_uniner.synonyms.v1")
def synonyms_augmenter(synonyms: Source, rate: float) -> Augmenter:
    """With probability ``rate``, ask each type name that is not renamed yet by one of its
    synonyms (``{type name: [other names]}``); its mentions take the synonym too."""
    _check_rate("spacy_uniner.synonyms.v1", rate)
    table = read_synonyms(synonyms)

    def augment(draft: Draft, context: AugmentContext) -> None:
        renames, draw = draft.renames, context.random
        renames.update(
            {t: draw.choice(table[t]) for t in draft.types if t not in renames and t in table and draw.random() < rate}
        )

    return augment


@registry.augmenters("spacy_uniner.shuffle_types.v1")
def shuffle_types_augmenter() -> Augmenter:
    """Shuffle the order of a doc's type names (after applying the renames so far)."""

    def augment(draft: Draft, context: AugmentContext) -> None:
        draft.resolve()
        context.random.shuffle(draft.types)

    return augment


def replace_mentions(doc: Doc, pool: Mapping[str, List[Tuple[str, ...]]], rate: float, draw: random.Random) -> Doc:
    """A copy of ``doc`` where each mention is, with probability ``rate``, swapped for another
    mention of its type in ``pool``. Entities and span groups move with the words; a mention
    that a grouped span overlaps without matching it is kept."""
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
        choices = pool.get(ent.label_, [])
        crossed = any(
            s.start < ent.end and ent.start < s.end and (s.start, s.end) != (ent.start, ent.end) for s in grouped
        )
        if len(choices) > 1 and not crossed and draw.random() < rate:
            new = draw.choice(choices)
        if new == original:
            copy(ent)
        else:
            boundary[ent.start] = len(words)
            words += new
            spaces += [True] * (len(new) - 1) + [bool(ent[-1].whitespace_)]
        position = ent.end
    copy(doc[position:])
    boundary[len(doc)] = len(words)
    new_doc = Doc(doc.vocab, words=words, spaces=spaces, user_data=dict(doc.user_data))
    new_doc.ents = [Span(new_doc, boundary[e.start], boundary[e.end], label=e.label_) for e in doc.ents]
    for name, group in doc.spans.items():
        new_doc.spans[name] = [Span(new_doc, boundary[s.start], boundary[s.end], label=s.label_) for s in group]
    new_doc._.set(LABELS_ATTR, doc._.get(LABELS_ATTR))
    return new_doc


def lowercase(doc: Doc) -> Doc:
    """A copy of ``doc`` with lowercased words; entities, span groups and type names kept."""
    new_doc = Doc(
        doc.vocab,
        words=[t.lower_ for t in doc],
        spaces=[bool(t.whitespace_) for t in doc],
        user_data=dict(doc.user_data),
    )
    new_doc.ents = [Span(new_doc, e.start, e.end, label=e.label_) for e in doc.ents]
    for name, group in doc.spans.items():
        new_doc.spans[name] = [Span(new_doc, s.start, s.end, label=s.label_) for s in group]
    new_doc._.set(LABELS_ATTR, doc._.get(LABELS_ATTR))
    return new_doc


def read_hierarchy(source: Source) -> Dict[str, str]:
    """``{fine type: broader type}`` from a JSON file or a mapping (None: empty)."""
    if source is None:
        return {}
    data = srsly.read_json(source) if isinstance(source, (str, Path)) else source
    if not isinstance(data, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(Errors.E308.format(path=source if isinstance(source, (str, Path)) else "the mapping given"))
    return dict(data)


def read_synonyms(source: Source) -> Dict[str, List[str]]:
    """``{type name: [other names]}`` from a JSON file or a mapping (None: empty); names
    without synonyms are left out."""
    return _read_name_lists(source, Errors.E304)


def read_neighbours(source: Source) -> Dict[str, List[str]]:
    """``{type name: [near names]}`` (``student neighbours``) from a JSON file or a mapping
    (None: empty)."""
    return _read_name_lists(source, Errors.E640)


def _read_name_lists(source: Source, error: str) -> Dict[str, List[str]]:
    if source is None:
        return {}
    data = srsly.read_json(source) if isinstance(source, (str, Path)) else source
    if not isinstance(data, Mapping) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in data.values()
    ):
        raise ValueError(error.format(path=source if isinstance(source, (str, Path)) else "the mapping given"))
    return {k: v for k, v in data.items() if v}


def _check_rate(name: str, rate: float, setting: str = "rate") -> None:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(Errors.E305.format(setting=setting, name=name, what="in [0, 1]", value=rate))
