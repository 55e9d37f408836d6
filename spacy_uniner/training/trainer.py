"""Fine-tune a causal LM on UniversalNER conversations with ``transformers.Trainer``.

The result is a Hugging Face model folder (weights, tokenizer) that the ``universal_ner``
component loads by path, with ``uniner_training.json`` beside it: every setting, the
md5 checksum of the training data (weasel's), the seed, library versions and the data statistics.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import srsly
from wasabi import msg
from weasel.util import get_checksum

from .. import __version__, protocol
from ..errors import Errors
from .config import TrainConfig, apply_effective_batch_size
from .data import ConversationDataset, PaddingCollator, read_conversations
from .model import add_lora, load_causal_lm, merge_lora

TRAINING_RECORD = "uniner_training.json"


def train(
    config: TrainConfig,
    resume_from_checkpoint: Union[str, Path, bool, None] = None,
    callbacks: Sequence[Any] = (),
) -> Path:
    """Train, save the final model to ``training.output_dir`` and return that path.

    ``resume_from_checkpoint``: a ``checkpoint-N`` folder, or ``True`` for the latest one
    in the output folder. Checkpoints are written as ``training.save_strategy`` says.
    ``callbacks``: extra ``transformers.TrainerCallback`` objects.
    """
    from transformers import Trainer, TrainerCallback, set_seed

    args = config.training
    if config.data.train_file is None:
        raise ValueError(Errors.E724)
    checkpoint = resolve_checkpoint(resume_from_checkpoint, args.output_dir)
    set_seed(args.seed)
    records = read_conversations(config.data.train_file)
    texts = (protocol.training_text(r["conversations"]) for r in records)
    tokenizer, model = load_causal_lm(config.model, texts, seed=args.seed, tokenizer_dir=checkpoint)
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is not None and config.data.max_length > positions:
        raise ValueError(Errors.E725.format(max_length=config.data.max_length, positions=positions))
    if config.model.lora is not None:
        model = add_lora(model, config.model.lora, args.gradient_checkpointing)
    dataset = ConversationDataset(
        records,
        tokenizer,
        max_length=config.data.max_length,
        shuffle=config.data.shuffle_queries,
        seed=args.seed,
        progress=args.should_log and not args.disable_tqdm,
    )
    if config.effective_batch_size is not None:
        apply_effective_batch_size(args, config.effective_batch_size)
    if args.should_log:
        stats = dataset.stats
        batch = args.per_device_train_batch_size * args.world_size * args.gradient_accumulation_steps
        msg.info(
            f"Training on {len(dataset)} conversations: {stats['turns']} assistant turns, "
            f"{stats['target_tokens']:,} of {stats['tokens']:,} tokens in the loss (epoch 0); "
            f"effective batch {batch}."
        )

    class ReshuffleQueries(TrainerCallback):
        def on_epoch_begin(self, args, state, control, **kwargs):
            dataset.set_epoch(int(state.epoch + 1e-6))

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=PaddingCollator(pad_id, pad_to_multiple_of=8 if args.device.type == "cuda" else None),
        processing_class=tokenizer,
        callbacks=[ReshuffleQueries(), *callbacks],
    )
    result = trainer.train(resume_from_checkpoint=None if checkpoint is None else str(checkpoint))
    output_dir = Path(args.output_dir)
    if config.model.lora is None:
        trainer.save_model(str(output_dir))
    else:
        trainer.save_model(str(output_dir / "adapter"))
        if args.should_save:
            merge_lora(config.model, output_dir / "adapter", output_dir)
            tokenizer.save_pretrained(output_dir)
    trainer.accelerator.wait_for_everyone()
    if args.should_save:
        record = training_record(config, dataset.stats, result.metrics, trainer.state)
        srsly.write_json(output_dir / TRAINING_RECORD, record)
    return output_dir


def resolve_checkpoint(resume: Union[str, Path, bool, None], output_dir: str) -> Optional[Path]:
    """``True``: the latest ``checkpoint-N`` in ``output_dir``; a path: that checkpoint."""
    from transformers.trainer_utils import get_last_checkpoint

    if resume is None or resume is False:
        return None
    if resume is True:
        last = get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None
        if last is None:
            raise FileNotFoundError(Errors.E726.format(output_dir=output_dir))
        return Path(last)
    if not (Path(resume) / "trainer_state.json").exists():
        raise FileNotFoundError(Errors.E727.format(path=resume))
    return Path(resume)


def training_record(config: TrainConfig, stats: Dict[str, int], metrics: Dict[str, Any], state) -> Dict[str, Any]:
    """What ``uniner_training.json`` holds: settings, data hash, seed, versions, results."""
    import accelerate
    import torch
    import transformers

    versions = {
        "spacy_uniner": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
    }
    if config.model.lora is not None:
        import peft

        versions["peft"] = peft.__version__
    return {
        "base_model": config.model.name_or_path,
        "seed": config.training.seed,
        "data": {
            "train_file": str(config.data.train_file),
            "md5": get_checksum(config.data.train_file),  # weasel's checksum, as in project.lock
            **stats,
        },
        "config": config.to_dict(),
        "result": {
            "global_step": state.global_step,
            **metrics,
            "log_history": [entry for entry in state.log_history if "loss" in entry],
        },
        "versions": versions,
    }
