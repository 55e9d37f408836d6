"""Hugging Face ``transformers`` backend: a causal LM from the hub or a local folder."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence

from tqdm import tqdm

from .. import protocol
from ..errors import Errors
from ..forking import fork_safe_torch
from ..registry import registry
from .decoding import SharedPrefixDecoder, encode_queries, plan_chunks
from .loading import load_tokenizer
from .loading import torch_dtype as resolve_dtype

logger = logging.getLogger(__name__)


class HuggingFaceBackend:
    """Greedy decoding with ``AutoModelForCausalLM``, many prompts per batch, left padding.

    With ``prefix_sharing`` (default) each passage is encoded once for all its questions
    and rows leave the batch when their answer is complete (:mod:`.decoding`); chunks hold
    at most ``batch_size`` rows and ``max_batch_tokens`` padded tokens. Without it, prompts
    are sorted by length and batched through ``model.generate``. Either way answers come
    back in prompt order and equal those of one-prompt-at-a-time decoding.
    """

    def __init__(
        self,
        name: str,
        *,
        torch_dtype: str = "auto",
        device: Optional[str] = None,
        device_map: Optional[str] = None,
        batch_size: int = 16,
        max_new_tokens: int = 256,
        revision: Optional[str] = None,
        trust_remote_code: bool = False,
        prefix_sharing: bool = True,
        max_batch_tokens: int = 65536,
        stop_at_list_end: bool = True,
        progress: bool = False,
        model_kwargs: Optional[Dict[str, Any]] = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        positive = (
            ("batch_size", batch_size),
            ("max_new_tokens", max_new_tokens),
            ("max_batch_tokens", max_batch_tokens),
        )
        for key, value in positive:
            if not isinstance(value, int) or value < 1:
                raise ValueError(Errors.E008.format(name=key, what="a positive integer", value=value))
        dtype = resolve_dtype(torch_dtype)
        self.name = name
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.prefix_sharing = prefix_sharing
        self.max_batch_tokens = max_batch_tokens
        self.progress = progress
        self._settings = {
            "name": name,
            "torch_dtype": torch_dtype,
            "device": device,
            "device_map": device_map,
            "revision": revision,
            "model_kwargs": dict(model_kwargs or {}),
        }
        load_kwargs: Dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
        self.tokenizer = load_tokenizer(name, padding_side="left", **load_kwargs)
        try:
            self.model = AutoModelForCausalLM.from_pretrained(
                name, torch_dtype=dtype, device_map=device_map, **load_kwargs, **(model_kwargs or {})
            )
        except (OSError, ValueError) as e:
            raise OSError(Errors.E009.format(name=name, error=e)) from e
        if device_map is None:
            device = device or ("cuda" if torch.cuda.is_available() else "cpu")
            self.model.to(device)
        self.model.eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.unk_token or self.tokenizer.eos_token
        self.stop_token_ids = self._stop_token_ids()
        self.decoder = SharedPrefixDecoder(self.model, self.tokenizer, self.stop_token_ids, stop_at_list_end)
        self.prompt_tokens = 0
        self.generated_tokens = 0

    @property
    def config(self) -> Dict[str, Any]:
        return dict(self._settings)

    @property
    def params(self) -> Dict[str, Any]:
        """Generation settings that change answers (part of an answer cache's key)."""
        return {"max_new_tokens": self.max_new_tokens, "stop_at_list_end": self.decoder.stop_at_list_end}

    def _stop_token_ids(self) -> List[int]:
        ids = [self.tokenizer.eos_token_id]
        turn_end = self.tokenizer.convert_tokens_to_ids(protocol.TURN_END)
        if turn_end is not None and turn_end != self.tokenizer.unk_token_id:
            ids.append(turn_end)
        return sorted({i for i in ids if i is not None})

    def count_tokens(self, texts: List[str], add_special_tokens: bool = False) -> List[int]:
        encoded = self.tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]
        return [len(ids) for ids in encoded]

    def generate(self, prompts: Sequence[tuple[str, str]]) -> List[str]:
        fork_safe_torch()
        if self.prefix_sharing:
            return self._generate_shared(prompts)
        return self._generate_per_query(prompts)

    def _generate_shared(self, prompts: Sequence[tuple[str, str]]) -> List[str]:
        queries = encode_queries(self.tokenizer, prompts)
        chunks = plan_chunks(queries, self.batch_size, self.max_batch_tokens, self.max_new_tokens)
        answers: List[str] = [""] * len(prompts)
        for chunk in tqdm(chunks, desc="generate", unit="chunk", disable=not self.progress):
            for query, ids in zip(chunk, self.decoder.decode_chunk(chunk, self.max_new_tokens)):
                self.prompt_tokens += len(query.prefix) + len(query.suffix)
                self.generated_tokens += len(ids)
                answers[query.index] = self.tokenizer.decode(ids, skip_special_tokens=True).strip()
        return answers

    def _generate_per_query(self, prompts: Sequence[tuple[str, str]]) -> List[str]:
        import torch

        texts = [prefix + suffix for prefix, suffix in prompts]
        lengths = self.count_tokens(texts) if texts else []
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        answers: List[str] = [""] * len(texts)
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        bar = tqdm(batches, desc="generate", unit="batch", disable=not self.progress)
        for batch in bar:
            inputs = self.tokenizer([texts[i] for i in batch], return_tensors="pt", padding=True)
            inputs = inputs.to(self.model.device)
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs,
                    do_sample=False,
                    num_beams=1,
                    max_new_tokens=self.max_new_tokens,
                    eos_token_id=self.stop_token_ids,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            self.prompt_tokens += int(inputs["attention_mask"].sum())
            for i, row in zip(batch, new_tokens):
                kept = _until_stop(row.tolist(), self.stop_token_ids)
                self.generated_tokens += len(kept)
                answers[i] = self.tokenizer.decode(kept, skip_special_tokens=True).strip()
        return answers


def _until_stop(ids: List[int], stop_ids: List[int]) -> List[int]:
    for n, token in enumerate(ids):
        if token in stop_ids:
            return ids[:n]
    return ids


@registry.uniner_backends("spacy_uniner.HuggingFace.v1")
def make_hf_backend(
    name: str = "Universal-NER/UniNER-7B-type",
    torch_dtype: str = "auto",
    device: Optional[str] = None,
    device_map: Optional[str] = None,
    batch_size: int = 16,
    max_new_tokens: int = 256,
    revision: Optional[str] = None,
    trust_remote_code: bool = False,
    prefix_sharing: bool = True,
    max_batch_tokens: int = 65536,
    stop_at_list_end: bool = True,
    progress: bool = False,
    model_kwargs: Optional[Dict[str, Any]] = None,
) -> HuggingFaceBackend:
    """A local or hub causal LM run with ``transformers`` (greedy decoding).

    name (str): hub name or local folder (``save_pretrained`` layout, LLaMA-1 style included).
    torch_dtype (str): ``auto``, ``float32``, ``float16`` or ``bfloat16``.
    device (Optional[str]): e.g. ``cuda:0``; defaults to ``cuda`` when available. Ignored
        with ``device_map``.
    device_map (Optional[str]): e.g. ``auto`` to spread the model over the GPUs.
    batch_size (int): rows per forward pass.
    max_new_tokens (int): answer cap (the paper's 256).
    revision (Optional[str]), trust_remote_code (bool): as in ``from_pretrained``.
    prefix_sharing (bool): encode each passage once for all its questions.
    max_batch_tokens (int): padded tokens per chunk (bounds memory on long inputs).
    stop_at_list_end (bool): stop a row once its answer is a complete JSON list.
    progress (bool): a tqdm bar over chunks.
    model_kwargs (Optional[dict]): further ``from_pretrained`` arguments, e.g.
        ``{"attn_implementation": "sdpa"}`` or a ``quantization_config``.
    """
    return HuggingFaceBackend(
        name,
        torch_dtype=torch_dtype,
        device=device,
        device_map=device_map,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        revision=revision,
        trust_remote_code=trust_remote_code,
        prefix_sharing=prefix_sharing,
        max_batch_tokens=max_batch_tokens,
        stop_at_list_end=stop_at_list_end,
        progress=progress,
        model_kwargs=model_kwargs,
    )
