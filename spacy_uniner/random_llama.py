"""Randomly initialised LLaMA checkpoints: from-scratch students and offline test models.

A small LLaMA with a tokenizer trained on the corpus (the tiny CPU training recipe), and a
LLaMA-1-style folder with the released models' sentencepiece tokenizer (tests, benchmarks).
Each is an ordinary Hugging Face model folder that loads with ``from_pretrained`` like any
released checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from . import protocol

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1000):
    """Train a byte-level BPE tokenizer with LLaMA's special tokens, padding on the left."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    protocol_text = [protocol.inference_prompt("", "")]
    tok.train_from_iterator(list(texts) + protocol_text, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_input_names=["input_ids", "attention_mask"],
        padding_side="left",
        **SPECIAL_TOKENS,
    )


def init_llama(
    tokenizer,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 2048,
    seed: int = 0,
):
    """A LLaMA with random weights sized for ``tokenizer``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 4 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def build_tiny_model(texts: Iterable[str], output_dir: str | Path, vocab_size: int = 1000, **model_kwargs) -> Path:
    """Train a tokenizer on ``texts``, initialise a LLaMA and save both to ``output_dir``."""
    output_dir = Path(output_dir)
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    model = init_llama(tokenizer, **model_kwargs)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir


def build_llama1_folder(
    output_dir: str | Path,
    tokenizer_model: str | Path,
    dtype: str = "float32",
    seed: int = 0,
    device: str = "cpu",
    **config_kwargs,
) -> Path:
    """Write a LLaMA-1-style checkpoint folder with random weights.

    The folder holds what ``yahma/llama-7b-hf`` and the released UniNER checkpoints ship:
    the sentencepiece ``tokenizer.model``, a ``tokenizer_config.json`` naming
    ``LlamaTokenizer``, ``special_tokens_map.json`` and no ``tokenizer.json``. Weights are
    random (normal, std 0.02; norms 1), sized by ``config_kwargs`` (``LlamaConfig`` fields;
    ``vocab_size`` defaults to the 32,000 pieces of the LLaMA tokenizer), created directly
    in ``dtype`` on ``device`` so that a 7B shape needs no fp32 copy.
    """
    import shutil

    import srsly
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "vocab_size": 32000,
        "hidden_size": 64,
        "intermediate_size": 172,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 2048,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "tie_word_embeddings": False,
        **config_kwargs,
    }
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        with torch.device("meta"):
            model = LlamaForCausalLM(LlamaConfig(**settings))
    finally:
        torch.set_default_dtype(default_dtype)
    # Non-persistent buffers (rotary frequencies) are not saved; from_pretrained rebuilds them.
    model = model.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 1:  # RMSNorm weights
                param.fill_(1.0)
            else:
                param.normal_(0.0, 0.02, generator=generator)
    model.generation_config.pad_token_id = settings["pad_token_id"]
    model.save_pretrained(output_dir)
    shutil.copyfile(tokenizer_model, output_dir / "tokenizer.model")
    specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    srsly.write_json(
        output_dir / "tokenizer_config.json",
        {
            "tokenizer_class": "LlamaTokenizer",
            "model_max_length": settings["max_position_embeddings"],
            "add_bos_token": True,
            "add_eos_token": False,
            "clean_up_tokenization_spaces": False,
            "padding_side": "left",
            **specials,
        },
    )
    srsly.write_json(output_dir / "special_tokens_map.json", specials)
    return output_dir
