"""The student model and tokenizer: a pretrained causal LM, or a LLaMA initialised from config."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple

from .. import random_llama
from ..backends.loading import load_tokenizer, torch_dtype
from ..errors import Errors
from .config import LoraSettings, ModelConfig


def load_causal_lm(
    config: ModelConfig, texts: Iterable[str], seed: int, tokenizer_dir: Optional[Path] = None
) -> Tuple[Any, Any]:
    """Return ``(tokenizer, model)``.

    A from-scratch model gets a tokenizer trained on ``texts``, or the one saved in
    ``tokenizer_dir`` (a checkpoint being resumed).
    """
    if config.name_or_path is None:
        shape = config.scratch
        if tokenizer_dir is not None:
            tokenizer = load_tokenizer(str(tokenizer_dir))
        else:
            tokenizer = random_llama.train_tokenizer(texts, vocab_size=shape.vocab_size)
        model = random_llama.init_llama(
            tokenizer,
            hidden_size=shape.hidden_size,
            num_layers=shape.num_layers,
            num_heads=shape.num_heads,
            intermediate_size=shape.intermediate_size,
            max_position_embeddings=shape.max_position_embeddings,
            seed=seed,
        )
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        return tokenizer, model
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(config.name_or_path, trust_remote_code=config.trust_remote_code)
    kwargs: Dict[str, Any] = {"torch_dtype": torch_dtype(config.torch_dtype)}
    if config.attn_implementation:
        kwargs["attn_implementation"] = config.attn_implementation
    if config.lora is not None and config.lora.load_in_4bit:
        kwargs["quantization_config"] = _nf4_config()
    model = AutoModelForCausalLM.from_pretrained(
        config.name_or_path, trust_remote_code=config.trust_remote_code, **kwargs
    )
    return tokenizer, model


def add_lora(model, settings: LoraSettings, gradient_checkpointing: bool):
    """Wrap ``model`` with trainable LoRA adapters (k-bit preparation for QLoRA)."""
    try:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    except ImportError as e:
        raise ImportError(Errors.E722) from e
    if settings.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    elif gradient_checkpointing:
        model.enable_input_require_grads()
    lora = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def merge_lora(config: ModelConfig, adapter_dir: Path, output_dir: Path) -> None:
    """Load the base unquantized, merge the adapters into it and save a plain model folder."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(
        config.name_or_path,
        torch_dtype=torch_dtype(config.torch_dtype),
        trust_remote_code=config.trust_remote_code,
    )
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    merged.save_pretrained(output_dir)


def _nf4_config():
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        raise ImportError(Errors.E723) from e
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
