"""Training data for the student: DocBins whose docs carry their type names.

Each doc stores the type names it is annotated for in ``doc._.uniner_labels`` (saved with
``DocBin(store_user_data=True)``): a type in that list without a mention in ``doc.ents`` is
a known negative. The reader ``spacy_uniner.StudentCorpus.v2`` reads the docs and runs its
``augmenters`` (:mod:`spacy_uniner.student.augment`) over each in order: sampled negative
types, synonyms, coarse or broader names, dropped or subsets of type names, lowercased
words and replaced mentions, so the student learns from varied type texts and a small
corpus is not learnt by heart::

    [corpora.train]
    @readers = "spacy_uniner.StudentCorpus.v2"
    path = ${paths.train}
    seed = ${system.seed}

    [corpora.train.augmenters]

    [corpora.train.augmenters.negative_types]
    @augmenters = "spacy_uniner.negative_types.v1"
    ratio = 0.5

    [corpora.train.augmenters.shuffle_types]
    @augmenters = "spacy_uniner.shuffle_types.v1"
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Union

import numpy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry
from spacy.vocab import Vocab

from ..data.docs import LABELS_ATTR, SOURCE_KEY, copy_tokens, doc_types, read_docbin
from ..errors import Errors
from .augment import (
    AugmentContext,
    Augmenter,
    CorpusStatistics,
    Draft,
    max_types_augmenter,
    negative_types_augmenter,
)
from .join import Joiner

# In the order they run; one augmenter may stand alone.
Augmenters = Union[Mapping[str, Augmenter], Sequence[Augmenter], Augmenter, None]


@registry.readers("spacy_uniner.StudentCorpus.v2")
def create_student_corpus(
    path: Union[str, Path],
    # Any, not Augmenter: confection checks the blocks' types before it builds them.
    augmenters: Optional[Mapping[str, Any]] = None,
    shuffle: bool = False,
    gold_preproc: bool = False,
    limit: int = 0,
    seed: int = 0,
    sources: Union[str, Sequence[str]] = (),
    join: Optional[Any] = None,
) -> Callable[[Language], Iterator[Example]]:
    """Read student training data from DocBins written by ``to_docbin``.

    augmenters: registered augmenters (``[corpora.train.augmenters.NAME]`` blocks), run in
        the order given over each doc; none leaves the docs as written.
    shuffle: shuffle the docs on every pass (use with ``[training] max_epochs = -1``, so
        that each epoch reads the corpus again and draws new augmentations).
    gold_preproc: keep the data's tokens instead of re-tokenizing the text.
    limit: read at most this many docs (0: all).
    seed: seeds the generators that the shuffle and the augmenters draw from.
    sources: read only the docs of these pool sources (``student pool`` names, a list or one
        comma-separated string; none: all), e.g. a last stage on the LLM-annotated passages alone.
    join: a registered join step (``[corpora.train.join]``, e.g.
        ``spacy_uniner.join_passages.v1``) that reads some docs annotated alike as one doc
        without sentence boundaries, before the augmenters run; none reads each doc alone.
    """
    return StudentCorpus(
        Path(path),
        augmenters=augmenters,
        shuffle=shuffle,
        gold_preproc=gold_preproc,
        limit=limit,
        seed=seed,
        sources=sources,
        join=join,
    )


def source_names(sources: Union[str, Sequence[str]]) -> Set[str]:
    """Pool source names from a list or one comma-separated string (as ``--set`` gives it)."""
    names = sources.split(",") if isinstance(sources, str) else sources
    return {name.strip() for name in names if name.strip()}


class StudentCorpus:
    """Iterate Examples whose docs carry (augmented) type names; see ``create_student_corpus``."""

    def __init__(
        self,
        path: Path,
        *,
        augmenters: Augmenters = None,
        shuffle: bool = False,
        gold_preproc: bool = False,
        limit: int = 0,
        seed: int = 0,
        sources: Union[str, Sequence[str]] = (),
        join: Optional[Joiner] = None,
    ) -> None:
        if not path.exists():
            raise FileNotFoundError(Errors.E301.format(path=path))
        if callable(augmenters):
            augmenters = [augmenters]
        named = dict(augmenters) if isinstance(augmenters, Mapping) else dict(enumerate(augmenters or ()))
        for key, augmenter in named.items():
            if not callable(augmenter):
                raise TypeError(Errors.E306.format(key=key, type_name=type(augmenter).__name__))
        if join is not None and not callable(join):
            raise TypeError(Errors.E311.format(type_name=type(join).__name__))
        self.path = path
        self.join = join
        self.augmenters: List[Augmenter] = list(named.values())
        self.shuffle = shuffle
        self.gold_preproc = gold_preproc
        self.limit = limit
        self.sources = source_names(sources)
        self.random = random.Random(seed)
        self.rng = numpy.random.default_rng(seed)
        self._stats: Optional[CorpusStatistics] = None

    def _files(self) -> List[Path]:
        return sorted(self.path.glob("**/*.spacy")) if self.path.is_dir() else [self.path]

    def _docs(self, vocab: Vocab) -> Iterator[Doc]:
        count = found = 0
        for path in self._files():
            for i, doc in enumerate(read_docbin(path, vocab)):
                if self.sources and doc.user_data.get(SOURCE_KEY) not in self.sources:
                    continue
                found += 1
                if not doc_types(doc):
                    raise ValueError(Errors.E302.format(index=i, path=path, attr=LABELS_ATTR))
                yield doc
                count += 1
                if self.limit and count >= self.limit:
                    return
        if self.sources and not found:
            raise ValueError(Errors.E309.format(sources=sorted(self.sources), path=self.path))

    def __call__(self, nlp: Language) -> Iterator[Example]:
        if self._stats is None:  # counted once, on the first pass that needs them
            vocab = nlp.vocab
            self._stats = CorpusStatistics(lambda: self._docs(vocab))
        context = AugmentContext(self.random, self.rng, self._stats)
        docs: Iterable[Doc] = self._docs(nlp.vocab)
        if self.shuffle:
            docs = list(docs)
            self.random.shuffle(docs)
        if self.join is not None:
            docs = self.join(docs, self.random)
        for reference in docs:
            draft = Draft.from_doc(reference)
            for augment in self.augmenters:
                augment(draft, context)
            reference = draft.to_doc()
            if self.gold_preproc:
                predicted = copy_tokens(reference, nlp.vocab)
            else:
                predicted = nlp.make_doc(reference.text)
            predicted._.set(LABELS_ATTR, reference._.get(LABELS_ATTR))
            yield Example(predicted, reference)


def dev_examples(
    path: Union[str, Path], nlp: Language, max_types: int = 25, negative_ratio: float = 0.5, seed: int = 0
) -> List[Example]:
    """Held-out examples asked as training asks: each doc's positive types, then as many of
    its known negatives, at most ``max_types`` (a fixed seed: every system and every run
    is asked the same lists). Some pool passages list hundreds of types."""
    augmenters = [negative_types_augmenter(ratio=negative_ratio), max_types_augmenter(max_types)]
    return list(StudentCorpus(Path(path), augmenters=augmenters, gold_preproc=True, seed=seed)(nlp))
