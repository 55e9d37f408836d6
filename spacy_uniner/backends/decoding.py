"""Greedy decoding that encodes each passage once for all of its questions.

Queries on one passage share the prompt prefix (system line, passage, acknowledgement).
The prefixes of a chunk are prefilled once, left-padded together; their KV cache is
gathered to one row per question; the questions are appended (left-padded, so the pads
sit between prefix and question and are masked out) and all answers are decoded as one
batch. Rows leave the batch as soon as they stop, so finished answers cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Set, Tuple

import torch

from ..answers import answer_is_complete


@dataclass
class EncodedQuery:
    index: int
    prefix: Tuple[int, ...]
    suffix: List[int]


def encode_queries(tokenizer, prompts: Sequence[Tuple[str, str]]) -> List[EncodedQuery]:
    """Token ids of each prompt, split where it stops sharing tokens with its prefix alone.

    The split is taken from the tokenization of the whole prompt, so the model sees the
    same ids as without sharing even where a tokenizer merges across the seam.
    """
    prefix_ids: Dict[str, List[int]] = {}
    encoded = []
    for i, (prefix, suffix) in enumerate(prompts):
        if prefix not in prefix_ids:
            prefix_ids[prefix] = tokenizer(prefix)["input_ids"]
        shared = prefix_ids[prefix]
        full = tokenizer(prefix + suffix)["input_ids"]
        n = 0
        while n < min(len(shared), len(full) - 1) and shared[n] == full[n]:
            n += 1
        encoded.append(EncodedQuery(i, tuple(full[:n]), full[n:]))
    return encoded


def plan_chunks(
    queries: List[EncodedQuery], max_rows: int, max_tokens: int, max_new_tokens: int
) -> List[List[EncodedQuery]]:
    """Group queries by prefix, longest prefixes first, into chunks whose padded size
    (rows x (prefix + question + answer tokens)) stays within ``max_tokens``."""
    groups: Dict[Tuple[int, ...], List[EncodedQuery]] = {}
    for query in queries:
        groups.setdefault(query.prefix, []).append(query)
    ordered = sorted(groups.values(), key=lambda g: -len(g[0].prefix))
    chunks: List[List[EncodedQuery]] = []
    current: List[EncodedQuery] = []
    longest_prefix = longest_suffix = 0
    for group in ordered:
        for query in sorted(group, key=lambda q: -len(q.suffix)):
            p = max(longest_prefix, len(query.prefix))
            s = max(longest_suffix, len(query.suffix))
            rows = len(current) + 1
            if current and (rows > max_rows or rows * (p + s + max_new_tokens) > max_tokens):
                chunks.append(current)
                current, p, s = [], len(query.prefix), len(query.suffix)
            current.append(query)
            longest_prefix, longest_suffix = p, s
    if current:
        chunks.append(current)
    return chunks


def _left_pad(rows: List[Sequence[int]], pad_id: int) -> Tuple[torch.Tensor, torch.Tensor]:
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
    return ids, mask


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.cumsum(-1) - 1).clamp(min=0)


class SharedPrefixDecoder:
    """Greedy decoding of UniversalNER queries with prefix reuse and early stopping."""

    def __init__(self, model, tokenizer, stop_token_ids: Sequence[int], stop_at_list_end: bool = True):
        self.model = model
        self.tokenizer = tokenizer
        self.stop_token_ids = set(stop_token_ids)
        self.stop_at_list_end = stop_at_list_end
        self._closing_ids: Set[int] = {
            i for token, i in tokenizer.get_vocab().items() if "]" in tokenizer.convert_tokens_to_string([token])
        }
        self.prefill_tokens = 0

    def _finished(self, tokens: List[int], max_new_tokens: int) -> bool:
        if tokens[-1] in self.stop_token_ids or len(tokens) >= max_new_tokens:
            return True
        if self.stop_at_list_end and tokens[-1] in self._closing_ids:
            return answer_is_complete(self.tokenizer.decode(tokens, skip_special_tokens=True))
        return False

    @torch.inference_mode()
    def decode_chunk(self, chunk: List[EncodedQuery], max_new_tokens: int) -> List[List[int]]:
        """Generated token ids (stop token excluded) for each query of ``chunk``, in order."""
        from transformers import DynamicCache

        device = self.model.device
        pad_id = self.tokenizer.pad_token_id
        prefixes = list(dict.fromkeys(q.prefix for q in chunk))
        prefix_ids, prefix_mask = _left_pad(prefixes, pad_id)
        cache = DynamicCache()
        if prefix_ids.shape[1]:
            self.model(
                input_ids=prefix_ids.to(device),
                attention_mask=prefix_mask.to(device),
                position_ids=_positions(prefix_mask).to(device),
                past_key_values=cache,
                use_cache=True,
            )
            self.prefill_tokens += int(prefix_mask.sum())
            rows = torch.tensor([prefixes.index(q.prefix) for q in chunk], device=device)
            cache.batch_select_indices(rows)
            prefix_mask = prefix_mask[rows.cpu()]
        else:
            prefix_mask = torch.zeros((len(chunk), 0), dtype=torch.long)
        suffix_ids, suffix_mask = _left_pad([q.suffix for q in chunk], pad_id)
        self.prefill_tokens += int(suffix_mask.sum())
        mask = torch.cat([prefix_mask, suffix_mask], dim=1).to(device)
        step_ids = suffix_ids.to(device)
        step_positions = _positions(mask)[:, prefix_mask.shape[1] :]
        active = list(range(len(chunk)))
        outputs: List[List[int]] = [[] for _ in chunk]
        while active:
            logits = self.model(
                input_ids=step_ids,
                attention_mask=mask,
                position_ids=step_positions,
                past_key_values=cache,
                use_cache=True,
            ).logits[:, -1, :]
            next_ids = logits.argmax(-1)
            keep = []
            for row, (query_row, token) in enumerate(zip(active, next_ids.tolist())):
                outputs[query_row].append(token)
                if not self._finished(outputs[query_row], max_new_tokens):
                    keep.append(row)
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=device)
                cache.batch_select_indices(index)
                mask, next_ids = mask[index], next_ids[index]
                active = [active[row] for row in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            step_ids = next_ids[:, None]
            step_positions = mask.sum(-1, keepdim=True) - 1
        return [[t for t in out if t not in self.stop_token_ids] for out in outputs]
