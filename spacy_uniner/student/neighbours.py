"""Type names near each other in meaning, for near negatives (``negative_types.v1``'s ``near``).

Frequency-drawn negatives are mostly common, far types: a music passage is asked ``disease``
and ``gene``, seldom ``musical instrument``. Asked one type alone, a student that never saw a
close name as a negative claims every mention of the neighbouring type. A type's neighbours
are the names whose sentence embeddings (mean-pooled, of the default encoder) are close but
not too close: above ``max_similarity`` names are mostly synonyms or spelling variants
(``disease`` / ``illness``). Names a mention could carry too (synonyms, broader or finer
names, names seen on one mention string) are never neighbours.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from spacy.vocab import Vocab

from ..data.docs import read_docbin
from ..errors import Errors
from .augment import CorpusStatistics

if TYPE_CHECKING:
    import torch

_WORD = re.compile(r"\w+")
NEIGHBOURS = "neighbours.json"  # the pool's table, read by `student pretrain` when present


def pool_type_names(train: Path, max_types: int = 50) -> Tuple[Counter, Set[Tuple[str, str]]]:
    """The negative sampler's view of ``train`` (:class:`CorpusStatistics`): type name ->
    passages mentioning it, over the docs that take drawn negatives (not partially annotated),
    and the co-typed pairs, lowercased: two names that label one mention string anywhere
    (``cancer`` / ``disease``), so neither is a safe negative for the other. Strings with
    ``max_types`` or more names (``it``) are no evidence."""
    stats = CorpusStatistics(lambda: read_docbin(train, Vocab()))
    counts = Counter(dict(zip(stats.sampler.types, (int(w) for w in stats.sampler.weights))))
    cotyped = set()
    for labels in stats.mention_types.values():
        names = {label.lower() for label in labels}
        if 1 < len(names) < max_types:
            cotyped.update((a, b) for a in names for b in names)
    return counts, cotyped


class SentenceEmbedder:
    """Unit-length mean-pooled embeddings of a frozen sentence encoder (the default encoder's
    packaged copy when installed), cached by text; texts over ``max_length`` sub-words are cut."""

    def __init__(self, encoder: str, max_length: int = 256, batch_size: int = 256):
        from transformers import AutoModel, AutoTokenizer

        from ..pipes.span.model import resolve_encoder

        path = resolve_encoder(encoder)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.max_length = max_length
        self.batch_size = batch_size
        self._cache: Dict[str, "torch.Tensor"] = {}

    def __call__(self, texts: Sequence[str], progress: bool = False) -> "torch.Tensor":
        """One row per text."""
        import torch
        from tqdm import tqdm

        new = [t for t in dict.fromkeys(texts) if t not in self._cache]
        starts = range(0, len(new), self.batch_size)
        with torch.no_grad():
            for start in tqdm(starts, desc="Embedding texts", unit="batch", disable=not progress):
                chunk = new[start : start + self.batch_size]
                inputs = self.tokenizer(
                    chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
                )
                hidden = self.model(**inputs).last_hidden_state
                mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
                self._cache.update(zip(chunk, pooled))
        if not texts:
            return torch.zeros((0, self.model.config.hidden_size))
        return torch.stack([self._cache[t] for t in texts])


def embed_type_names(names: Sequence[str], encoder: str, batch_size: int = 256) -> "torch.Tensor":
    """Unit-length mean-pooled embeddings of ``names`` (one row each), with a progress bar."""
    return SentenceEmbedder(encoder, batch_size=batch_size)(names, progress=True)


def type_neighbours(
    names: Sequence[str],
    encoder: str,
    k: int = 10,
    min_similarity: float = 0.45,
    max_similarity: float = 0.8,
    synonyms: Optional[Mapping[str, List[str]]] = None,
    broad: Sequence[str] = (),
    cotyped: Collection[Tuple[str, str]] = (),
) -> Dict[str, List[str]]:
    """``{name: up to k nearest other names}``, nearest first, keeping only cosine
    similarities in ``[min_similarity, max_similarity)``. Never a neighbour: a case variant,
    a name ``synonyms`` pairs with it, a ``cotyped`` one (lowercased pairs), or one whose
    words contain the other's (``media organization`` / ``organization``). ``broad`` names
    (a hierarchy's coarse ones) neither have nor are neighbours: theirs are mostly finer
    names, which their mentions may carry. Names without a neighbour are left out."""
    if not 0.0 <= min_similarity < max_similarity <= 1.0:
        raise ValueError(Errors.E638.format(low=min_similarity, high=max_similarity))
    if k < 1:
        raise ValueError(Errors.E639.format(k=k))
    coarse = {n.lower() for n in broad}
    names = [n for n in dict.fromkeys(names) if n.lower() not in coarse]
    if len(names) < 2:
        return {}
    same = linked_names([name, *others] for name, others in (synonyms or {}).items())
    words = [frozenset(_WORD.findall(n.lower())) for n in names]
    similarity = embed_type_names(names, encoder)
    similarity = similarity @ similarity.T
    table: Dict[str, List[str]] = {}
    for i, name in enumerate(names):
        excluded = same.get(name.lower(), set()) | {name.lower()}
        near = [
            names[j]
            for j in similarity[i].argsort(descending=True).tolist()
            if min_similarity <= float(similarity[i, j]) < max_similarity
            and names[j].lower() not in excluded
            and (name.lower(), names[j].lower()) not in cotyped
            and not _nested(words[i], words[j])
        ][:k]
        if near:
            table[name] = near
    return table


def linked_names(groups: Iterable[Iterable[str]]) -> Dict[str, Set[str]]:
    """Lowercased name -> the other names it shares a group with (synonyms, or a fine name and
    its broader one), lowercased."""
    linked: Dict[str, Set[str]] = {}
    for group in groups:
        names = {n.lower() for n in group}
        for name in names:
            linked.setdefault(name, set()).update(names - {name})
    return linked


def _nested(a: frozenset, b: frozenset) -> bool:
    """Whether the words of one name contain the other's (a broader or finer name)."""
    return bool(a and b) and (a <= b or b <= a)
