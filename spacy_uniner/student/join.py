"""Joined passages: short training passages read together as one doc without sentence
boundaries, as the student reads a long doc that has none (windows of several sentences).

``spacy_uniner.join_passages.v1`` is the ``join`` step of the reader
``spacy_uniner.StudentCorpus.v2``; it runs over the stream of docs before the augmenters::

    [corpora.train.join]
    @misc = "spacy_uniner.join_passages.v1"
    rate = 0.2

Only docs annotated alike are joined: the same pool source and the same type names, each
fully annotated (a partially annotated doc's other mentions are unknown, so a joined doc
could not tell its negatives). Every doc is read once, alone or in one joined doc.
"""

from __future__ import annotations

import random
from typing import Callable, Dict, Hashable, Iterable, Iterator, List, Optional, Tuple

from spacy.attrs import SENT_START
from spacy.tokens import Doc
from spacy.util import registry

from ..data.docs import LABELS_ATTR, SOURCE_KEY, doc_types, is_partial
from ..errors import Errors

Joiner = Callable[[Iterable[Doc], random.Random], Iterator[Doc]]

# A doc waits for partners at most this many docs of the stream, then is read as far as joined.
MAX_WAIT = 256


@registry.misc("spacy_uniner.join_passages.v1")
def join_passages(rate: float = 0.2, max_passages: int = 4, max_words: int = 96) -> Joiner:
    """With probability ``rate``, a doc waits for the next docs annotated alike and is read
    with them as one doc: 2 to ``max_passages`` passages (drawn per joined doc), at most
    ``max_words`` words in all. A doc of ``max_words`` or more is read alone."""
    name = "spacy_uniner.join_passages.v1"
    if not 0.0 <= rate <= 1.0:
        raise ValueError(Errors.E310.format(setting="rate", name=name, what="in [0, 1]", value=rate))
    if not isinstance(max_passages, int) or max_passages < 2:
        raise ValueError(
            Errors.E310.format(setting="max_passages", name=name, what="an integer >= 2", value=max_passages)
        )
    if not isinstance(max_words, int) or max_words < 2:
        raise ValueError(Errors.E310.format(setting="max_words", name=name, what="an integer >= 2", value=max_words))

    def join(docs: Iterable[Doc], draw: random.Random) -> Iterator[Doc]:
        waiting: Dict[Hashable, Tuple[int, int, List[Doc]]] = {}  # key -> (opened at, size, docs)
        for position, doc in enumerate(docs):
            while waiting:  # the oldest group first (dicts keep insertion order)
                key = next(iter(waiting))
                if position - waiting[key][0] <= MAX_WAIT:
                    break
                yield joined(waiting.pop(key)[2])
            key = join_key(doc)
            if key is None or len(doc) >= max_words:
                yield doc
            elif key in waiting:
                _, size, members = waiting[key]
                if sum(len(d) for d in members) + len(doc) > max_words:
                    yield joined(waiting.pop(key)[2])
                    yield doc
                else:
                    members.append(doc)
                    if len(members) >= size:
                        yield joined(waiting.pop(key)[2])
            elif rate and draw.random() < rate:
                waiting[key] = (position, draw.randint(2, max_passages), [doc])
            else:
                yield doc
        for _, _, members in waiting.values():
            yield joined(members)

    return join


def join_key(doc: Doc) -> Optional[Hashable]:
    """What docs must share to be joined (None: never joined): source and type names."""
    if is_partial(doc):
        return None
    return doc.user_data.get(SOURCE_KEY), tuple(sorted(doc_types(doc)))


def joined(docs: List[Doc]) -> Doc:
    """One doc of ``docs`` in order, with their mentions, source and type names."""
    if len(docs) == 1:
        return docs[0]
    attrs = [a for a in Doc._get_array_attrs() if a != SENT_START]  # no boundary at the joins
    doc = Doc.from_docs(docs, ensure_whitespace=True, attrs=attrs, exclude=["user_data", "tensor"])
    doc.user_data.update({k: v for k, v in docs[0].user_data.items() if isinstance(k, str)})
    doc._.set(LABELS_ATTR, docs[0]._.get(LABELS_ATTR))
    return doc
