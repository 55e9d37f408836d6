"""Doc conventions every layer shares."""

from __future__ import annotations

from spacy.tokens import Doc
from spacy.vocab import Vocab

# doc.spans key of all gold mentions (nested and overlapping ones too; doc.ents keeps a
# non-overlapping subset).
GOLD_SPANS_KEY = "uniner_gold"


def copy_tokens(doc: Doc, vocab: Vocab | None = None) -> Doc:
    """A new doc with ``doc``'s words and spaces only (no annotation), in ``vocab``."""
    return Doc(vocab or doc.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
