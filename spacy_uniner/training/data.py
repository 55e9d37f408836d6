"""Conversations to training tensors, with the reference loss masking.

A conversation (released Pile-NER format, ``{"id", "conversations": [{"from", "value"}]}``)
is rendered by :func:`spacy_uniner.protocol.training_segments`. The full string is
tokenized once and labels are built from character offsets: a token is a target when it
covers any character of an assistant segment `` {answer}</s>``. Everything after
``ASSISTANT:`` is therefore supervised, as in the reference (FastChat) masking: the space
before the answer (usually merged into the answer's first token), every answer including
``I've read this text.``, and the turn end, which becomes the tokenizer's EOS token. The
system line, user turns, ``ASSISTANT:`` and tokens added by the tokenizer (BOS) are masked.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import srsly
from tqdm import tqdm

from .. import protocol
from ..errors import Errors, Warnings

IGNORE_INDEX = -100
Conversation = List[Dict[str, str]]


@dataclass
class Encoded:
    """One tokenized conversation.

    ``turns``/``turns_dropped``: assistant turns kept/left out by truncation;
    ``straddling``: kept target tokens that also cover prompt text (a tokenizer merge
    across ``ASSISTANT:`` and the answer); they are trained as answer tokens.
    """

    input_ids: List[int]
    labels: List[int]
    turns: int
    turns_dropped: int
    straddling: int


def read_conversations(path: str | Path) -> List[Dict[str, Any]]:
    """Read ``.json`` (a list, like the released ``train.json``) or ``.jsonl`` records."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E711.format(path=path))
    if path.suffix == ".jsonl":
        records = list(srsly.read_jsonl(path))
    elif path.suffix == ".json":
        records = srsly.read_json(path)
    else:
        raise ValueError(Errors.E712.format(path=path))
    if not isinstance(records, list):
        raise ValueError(Errors.E713.format(path=path, type_name=type(records).__name__))
    for n, record in enumerate(records):
        validate_record(record, where=f"{path}, record {n} (id {_record_id(record)!r})")
    return records


def validate_record(record: Any, where: str) -> None:
    """Check the Pile-NER shape: passage, acknowledgement, then (question, answer) pairs."""
    turns = record.get("conversations") if isinstance(record, dict) else None
    if not isinstance(turns, list) or not turns:
        raise ValueError(Errors.E714.format(where=where))
    if len(turns) % 2:
        raise ValueError(Errors.E715.format(where=where, n=len(turns)))
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            raise ValueError(Errors.E716.format(where=where, index=i))
    try:
        protocol.training_segments(turns)
    except ValueError as e:
        raise ValueError(Errors.E717.format(where=where, error=e)) from e


def shuffle_queries(turns: Sequence[Dict[str, str]], rng: random.Random) -> Conversation:
    """Shuffle the (question, answer) pairs after the passage and its acknowledgement."""
    head, pairs = list(turns[:2]), [list(turns[i : i + 2]) for i in range(2, len(turns), 2)]
    rng.shuffle(pairs)
    return head + [turn for pair in pairs for turn in pair]


def turn_end_token(tokenizer) -> str:
    """The text that ends an assistant turn in training: the tokenizer's EOS token.

    That is the protocol's ``</s>`` for LLaMA-family tokenizers; others (e.g. Qwen2) end
    each turn with their own EOS, which is what generation stops at.
    """
    if tokenizer.eos_token is None:
        raise ValueError(Errors.E718)
    return tokenizer.eos_token


def encode(turns: Sequence[Dict[str, str]], tokenizer, max_length: Optional[int] = None) -> Optional[Encoded]:
    """Tokenize one conversation and mask everything but the assistant turns.

    With ``max_length`` (in tokens, BOS included), trailing turns that do not fit entirely
    are dropped: an answer is never cut. Returns ``None`` when not even the first assistant
    turn fits.
    """
    eos = turn_end_token(tokenizer)
    text, targets = "", []
    for segment, is_target in protocol.training_segments(turns):
        if is_target:
            segment = segment[: -len(protocol.TURN_END)] + eos
            targets.append((len(text), len(text) + len(segment)))
        text += segment
    encoding = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
    ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
    labels = [IGNORE_INDEX] * len(ids)
    turn_ends: List[int] = []
    straddling: List[int] = []
    t = 0
    for i, (start, end) in enumerate(offsets):
        if start == end:
            continue  # added by the tokenizer (BOS/EOS): not part of the text
        while t < len(targets) and targets[t][1] <= start:
            t += 1
        if t == len(targets):
            break
        if end > targets[t][0]:
            labels[i] = ids[i]
            if start < targets[t][0]:
                straddling.append(i)
            if end == targets[t][1]:
                if ids[i] != tokenizer.eos_token_id or start != end - len(eos):
                    raise ValueError(
                        Errors.E719.format(
                            eos=eos,
                            eos_id=tokenizer.eos_token_id,
                            token=tokenizer.convert_ids_to_tokens(ids[i]),
                        )
                    )
                turn_ends.append(i)
    if len(turn_ends) != len(targets):
        raise ValueError(Errors.E720.format(found=len(turn_ends), expected=len(targets)))
    limit = len(ids) if max_length is None else max_length
    kept = [i for i in turn_ends if i < limit]
    if not kept:
        return None
    cut = kept[-1] + 1
    return Encoded(
        ids[:cut],
        labels[:cut],
        turns=len(kept),
        turns_dropped=len(targets) - len(kept),
        straddling=sum(i < cut for i in straddling),
    )


class ConversationDataset:
    """A map-style dataset of conversations, tokenized on access.

    Query order is reshuffled every epoch (deterministically from ``seed``, the epoch and
    the index, so a resumed run sees the same data); call :meth:`set_epoch` before each
    epoch. Conversations whose first assistant turn does not fit ``max_length`` are dropped
    at construction, with a warning.
    """

    def __init__(
        self,
        records: Sequence[Dict[str, Any]],
        tokenizer,
        max_length: int = 1024,
        shuffle: bool = True,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        if max_length < 1:
            raise ValueError(Errors.E008.format(name="max_length", what="a positive integer", value=max_length))
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.records: List[Conversation] = []
        self.stats = {
            "conversations": len(records),
            "too_long": 0,
            "truncated": 0,
            "turns": 0,
            "turns_dropped": 0,
            "tokens": 0,
            "target_tokens": 0,
            "straddling_tokens": 0,
        }
        too_long: List[Any] = []
        for record in tqdm(records, desc="tokenize", unit="conv", disable=not progress):
            encoded = encode(self._order(record["conversations"], len(self.records)), tokenizer, max_length)
            if encoded is None:
                too_long.append(_record_id(record))
                continue
            self.records.append(record["conversations"])
            self.stats["turns"] += encoded.turns
            self.stats["turns_dropped"] += encoded.turns_dropped
            self.stats["truncated"] += encoded.turns_dropped > 0
            self.stats["tokens"] += len(encoded.input_ids)
            self.stats["target_tokens"] += sum(label != IGNORE_INDEX for label in encoded.labels)
            self.stats["straddling_tokens"] += encoded.straddling
        self.stats["too_long"] = len(too_long)
        if too_long:
            ids = ", ".join(map(repr, too_long[:5])) + (", ..." if len(too_long) > 5 else "")
            warnings.warn(
                Warnings.W701.format(dropped=len(too_long), total=len(records), max_length=max_length, ids=ids),
                stacklevel=2,
            )
        if self.stats["truncated"]:
            warnings.warn(
                Warnings.W702.format(
                    count=self.stats["truncated"],
                    max_length=max_length,
                    dropped=self.stats["turns_dropped"],
                ),
                stacklevel=2,
            )
        if self.stats["straddling_tokens"]:
            warnings.warn(Warnings.W703.format(count=self.stats["straddling_tokens"]), stacklevel=2)
        if not self.records:
            raise ValueError(Errors.E721.format(max_length=max_length))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self, turns: Sequence[Dict[str, str]], index: int) -> Conversation:
        if not self.shuffle:
            return list(turns)
        return shuffle_queries(turns, random.Random(f"{self.seed}-{self.epoch}-{index}"))

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Dict[str, List[int]]:
        encoded = encode(self._order(self.records[index], index), self.tokenizer, self.max_length)
        assert encoded is not None  # the first turn fits: checked at construction
        return {"input_ids": encoded.input_ids, "labels": encoded.labels}


@dataclass
class PaddingCollator:
    """Right-pad ``input_ids`` (with the pad token, else EOS) and ``labels`` (with -100)."""

    pad_token_id: int
    pad_to_multiple_of: Optional[int] = None

    def __call__(self, features: Sequence[Dict[str, List[int]]]) -> Dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = torch.full((len(features), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(features), width), dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            input_ids[row, :n] = torch.tensor(f["input_ids"])
            labels[row, :n] = torch.tensor(f["labels"])
            attention_mask[row, :n] = 1
        return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


def _record_id(record: Any) -> Any:
    return record.get("id") if isinstance(record, dict) else None
