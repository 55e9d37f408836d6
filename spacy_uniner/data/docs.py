"""Doc conventions every layer shares."""

from __future__ import annotations

from typing import Optional, Union

from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

# doc.spans key of all gold mentions (nested and overlapping ones too; doc.ents keeps a
# non-overlapping subset).
GOLD_SPANS_KEY = "uniner_gold"


def copy_tokens(tokens: Union[Doc, Span], vocab: Optional[Vocab] = None) -> Doc:
    """A new doc with the words and spaces of ``tokens`` only (no annotation), in ``vocab``.
    A span's copy ends without trailing white space."""
    spaces = [bool(t.whitespace_) for t in tokens]
    if isinstance(tokens, Span) and spaces:
        spaces[-1] = False
    return Doc(vocab or tokens.vocab, words=[t.text for t in tokens], spaces=spaces)
