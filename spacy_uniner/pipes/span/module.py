"""The torch module of the span/type matcher: an encoder plus span and type heads.

Each type is represented by the hidden state of its ``<<ENT>>`` marker plus the mean of its
name's sub-words (read with the text, or alone with separate or late type encoding), each span (up to
``max_width`` tokens) by the first sub-word of its first token and the last sub-word of its
last token. A span/type score is
``q_t . gelu(A h_start + B h_end + w_width)``, an MLP over the span whose output layer is
folded into the type projection, so scoring every (span, type) pair costs one small matrix
product. A learned word-shape embedding, zero at start, is added to the text's sub-words.
With late type encoding a name read alone then attends to its window's text
(:class:`NameContext`) before the type head. The encoder may run under bf16 autocast
(``encoder_dtype``); the heads stay in fp32.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

import torch
from torch import nn

from .batch import N_SHAPES

ENCODER_DTYPES = ("auto", "float32", "bfloat16")


@lru_cache(maxsize=None)
def resolve_encoder_dtype(name: str, device_type: str = "cpu") -> torch.dtype:
    """``auto``: bf16 where the device computes it natively (CPUs with AVX512-BF16 or AMX,
    CUDA GPUs with bf16), else fp32. Cached: the forward pass asks on every call."""
    if name == "bfloat16":
        return torch.bfloat16
    if name == "float32":
        return torch.float32
    if device_type == "cuda":
        native = torch.cuda.is_bf16_supported()
    else:
        native = bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return torch.bfloat16 if native else torch.float32


class NameContext(nn.Module):
    """Late interaction: each name's state, read alone, attends to the text of its window
    (one pre-norm cross-attention block, no attention between names, so a name's query
    depends on the text but not on the other names asked). Its output starts at zero, so
    the weights of a student that read names separately start unchanged."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        nn.init.zeros_(self.attention.out_proj.weight)
        nn.init.zeros_(self.attention.out_proj.bias)

    def forward(self, names: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """names (W, T, D), text (W, L, D), text_mask (W, L) -> names (W, T, D) that have read the text."""
        read, _ = self.attention(self.norm(names), text, text, key_padding_mask=text_mask == 0, need_weights=False)
        return names + read


class SpanTypeModule(nn.Module):
    """The torch part: encoder plus span and type heads."""

    def __init__(
        self,
        encoder: nn.Module,
        max_width: int,
        hidden_width: int,
        dropout: float,
        word_shapes: bool = True,
        encoder_dtype: str = "float32",
        name_context: bool = False,
    ):
        super().__init__()
        self.encoder_dtype = encoder_dtype
        width = encoder.config.hidden_size
        self.encoder = encoder
        self.shapes = nn.Embedding(N_SHAPES, width) if word_shapes else None
        if self.shapes is not None:
            nn.init.zeros_(self.shapes.weight)
        self.dropout = nn.Dropout(dropout)
        self.start = nn.Linear(width, hidden_width)
        self.end = nn.Linear(width, hidden_width, bias=False)
        self.width_embed = nn.Embedding(max_width, hidden_width)
        self.types = nn.Sequential(
            nn.Linear(width, hidden_width), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_width, hidden_width)
        )
        heads = encoder.config.num_attention_heads
        self.context = NameContext(width, heads) if name_context else None
        # Start from a low prior: almost every (span, type) pair is a negative.
        self.bias = nn.Parameter(torch.full((1,), -5.0))
        self.max_width = max_width

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, shape_ids: torch.Tensor) -> torch.Tensor:
        """The encoder's hidden states (fp32, after dropout), word shapes added to the inputs."""
        device_type = input_ids.device.type
        dtype = resolve_encoder_dtype(self.encoder_dtype, device_type)
        with torch.autocast(device_type, dtype=dtype, enabled=dtype != torch.float32):
            if self.shapes is None:
                hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            else:
                embeds = self.encoder.get_input_embeddings()(input_ids) + self.shapes(shape_ids)
                hidden = self.encoder(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        return self.dropout(hidden.float())

    def name_rows(self, name_ids: torch.Tensor, name_mask: torch.Tensor, name_pool: torch.Tensor) -> torch.Tensor:
        """Names encoded alone, ``[CLS] <<ENT>> name [SEP]``: the marker's hidden state plus
        the mean of the name's sub-words. Separate: (U, H) type queries, through the type
        head; late: (U, D) states, which read the text before the type head."""
        names = self.encode(name_ids, name_mask, torch.zeros_like(name_ids))  # the prompt's shape class
        states = names[:, 1] + torch.einsum("um,umd->ud", name_pool, names)
        return states if self.context is not None else self.types(states)

    def forward(
        self,
        input_ids: torch.Tensor,  # (W, L)
        attention_mask: torch.Tensor,  # (W, L)
        type_pos: torch.Tensor,  # (W, T) positions of the <<ENT>> markers (separate, late: indices into the names)
        type_pool: torch.Tensor,  # (W, T, L) mean-pooling weights over each type name's sub-words
        word_start: torch.Tensor,  # (W, N) first sub-word of each token
        word_end: torch.Tensor,  # (W, N) last sub-word of each token
        shape_ids: torch.Tensor,  # (W, L) word-shape class of each sub-word
        name_ids: Optional[torch.Tensor] = None,  # (U, M) separate type encoding: each name alone
        name_mask: Optional[torch.Tensor] = None,  # (U, M)
        name_pool: Optional[torch.Tensor] = None,  # (U, M) mean-pooling weights over the name's sub-words
        name_rows: Optional[torch.Tensor] = None,  # instead of the three above, their ``name_rows``
    ) -> torch.Tensor:
        """Return logits of shape (W, N, max_width, T): span (n, n + k) against type t."""
        hidden = self.encode(input_ids, attention_mask, shape_ids)
        dim = hidden.shape[-1]

        def gather(pos: torch.Tensor) -> torch.Tensor:
            return torch.gather(hidden, 1, pos.unsqueeze(-1).expand(-1, -1, dim))

        if name_ids is not None:  # separate or late encoding, in training
            name_rows = self.name_rows(name_ids, name_mask, name_pool)
        if name_rows is not None and self.context is not None:  # late: each name reads its window
            queries = self.types(self.context(name_rows[type_pos], hidden, attention_mask))
        elif name_rows is not None:  # separate
            queries = name_rows[type_pos]
        else:
            queries = self.types(gather(type_pos) + torch.bmm(type_pool, hidden))  # (W, T, H)
        starts = self.start(gather(word_start))  # (W, N, H)
        ends = self.end(gather(word_end))  # (W, N, H)
        n_words = word_start.shape[1]
        offsets = torch.arange(n_words, device=hidden.device).unsqueeze(1)
        end_idx = (offsets + torch.arange(self.max_width, device=hidden.device)).clamp(max=n_words - 1)
        spans = starts.unsqueeze(2) + ends[:, end_idx] + self.width_embed.weight  # (W, N, K, H)
        spans = self.dropout(nn.functional.gelu(spans))
        return torch.einsum("wnkh,wth->wnkt", spans, queries) + self.bias
