"""Doc conventions every layer shares: the type names a doc asks (``doc._.uniner_labels``),
their DocBins, gold span groups and token copies."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Union

from spacy.tokens import Doc, DocBin, Span
from spacy.vocab import Vocab

from ..labels import LabelsInput

# doc.spans key of all gold mentions (nested and overlapping ones too; doc.ents keeps a
# non-overlapping subset).
GOLD_SPANS_KEY = "uniner_gold"

LABELS_ATTR = "uniner_labels"
_LABELS_KEY = ("._.", LABELS_ATTR, None, None)
# DocBins of span-student training data written by spacy-uniner 0.1 keep the types there.
_LEGACY_TYPES_KEY = ("._.", "uniner_types", None, None)


def _get_labels(doc: Doc) -> Optional[LabelsInput]:
    return doc.user_data.get(_LABELS_KEY, doc.user_data.get(_LEGACY_TYPES_KEY))


def _set_labels(doc: Doc, value: Optional[LabelsInput]) -> None:
    doc.user_data[_LABELS_KEY] = value


if not Doc.has_extension(LABELS_ATTR):
    Doc.set_extension(LABELS_ATTR, getter=_get_labels, setter=_set_labels)


def doc_types(doc: Doc) -> List[str]:
    """The type texts a doc is annotated for (``doc._.uniner_labels``)."""
    types = doc._.get(LABELS_ATTR) or []
    return list(types.values()) if isinstance(types, dict) else list(types)


# doc.user_data key (kept by to_docbin) of the pool source a training or dev doc comes from.
SOURCE_KEY = "pool_source"

# doc.user_data key (kept by to_docbin) of a partially annotated doc: only its listed types
# are annotated (guideline examples: True); with MENTIONS_ONLY, only its annotated mentions
# are (entity typing: one typed mention per line, so another mention of a listed type in the
# sentence is unannotated, not a negative).
PARTIAL_KEY = "uniner_partial"
MENTIONS_ONLY = "mentions"


def is_partial(doc: Doc) -> bool:
    """Whether only the doc's listed types are annotated, so no other type may be asked of
    it as a negative (its unannotated mentions could carry that type)."""
    return bool(doc.user_data.get(PARTIAL_KEY, False))


def only_mentions_known(doc: Doc) -> bool:
    """Whether only the doc's annotated mentions are known: a span that overlaps none of
    them is neither a positive nor a negative of any listed type (entity typing)."""
    return doc.user_data.get(PARTIAL_KEY) == MENTIONS_ONLY


def read_docbin(path: Union[str, Path], vocab: Vocab) -> Iterator[Doc]:
    """The docs of a ``.spacy`` file, as ``DocBin.get_docs`` gives them, user data included.
    ``get_docs`` decodes each doc's user data with ``srsly.msgpack_loads``, which looks up the
    registered msgpack decoders (entry points included) on every call: about 0.4 ms a doc, most
    of the time of reading a pool. Here they are looked up once per file."""
    import srsly

    docbin = DocBin().from_disk(path)
    user_data, docbin.user_data = docbin.user_data, []  # get_docs then leaves user data to us
    hook = None
    for decoder in srsly.msgpack.msgpack_decoders.get_all().values():
        hook = functools.partial(decoder, chain=hook)
    for i, doc in enumerate(docbin.get_docs(vocab)):
        if i < len(user_data) and user_data[i] is not None:  # as get_docs: srsly.msgpack_loads(use_list=False)
            doc.user_data.update(
                srsly.msgpack.unpackb(user_data[i], raw=False, use_list=False, object_hook=hook, object_pairs_hook=None)
            )
        yield doc


def to_docbin(docs: Iterable[Doc], types: Optional[Sequence[str]] = None) -> DocBin:
    """Pack docs into a DocBin that keeps their type names.

    ``types`` sets the type names of docs that have none; a doc's entity labels are added
    to its type names, so a doc always lists every type it has mentions of.
    """
    docbin = DocBin(attrs=["ORTH", "ENT_IOB", "ENT_TYPE"], store_user_data=True)
    for doc in docs:
        names = doc_types(doc) or list(types or [])
        for ent in doc.ents:
            if ent.label_ not in names:
                names.append(ent.label_)
        doc._.set(LABELS_ATTR, names)
        docbin.add(doc)
    return docbin


def copy_tokens(tokens: Union[Doc, Span], vocab: Optional[Vocab] = None) -> Doc:
    """A new doc with the words and spaces of ``tokens`` only (no annotation), in ``vocab``.
    A span's copy ends without trailing white space."""
    spaces = [bool(t.whitespace_) for t in tokens]
    if isinstance(tokens, Span) and spaces:
        spaces[-1] = False
    return Doc(vocab or tokens.vocab, words=[t.text for t in tokens], spaces=spaces)
