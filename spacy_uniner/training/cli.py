"""``python -m spacy_uniner train CONFIG [OUTPUT] [--section.key value ...]``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

CONTEXT_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def train_command(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training config (.yml or .json)."),
    output: Optional[Path] = typer.Argument(
        None, help="Output folder (sets training.output_dir; default: the config's)."
    ),
    train_file: Optional[Path] = typer.Option(
        None, "--train-file", help="Conversations .json/.jsonl (sets data.train_file)."
    ),
    resume: Optional[str] = typer.Option(
        None, "--resume", help="A checkpoint folder, or 'last' for the latest in the output folder."
    ),
) -> None:
    """Fine-tune a student on conversation data. Any setting can be overridden with
    dotted options, e.g. --training.learning_rate 1e-4 --model.lora.r 8 --data.max_length 512."""
    from wasabi import msg

    from .config import load_config, parse_overrides
    from .trainer import TRAINING_RECORD, train

    try:
        overrides = parse_overrides(ctx.args)
        if output is not None:
            overrides["training.output_dir"] = str(output)
        if train_file is not None:
            overrides["data.train_file"] = str(train_file)
        config = load_config(config_path, overrides)
    except (ValueError, FileNotFoundError) as e:
        msg.fail("Invalid training config", str(e), exits=1)
    output_dir = train(config, resume_from_checkpoint=True if resume == "last" else resume)
    if config.training.should_save:
        msg.good(
            f"Saved model to {output_dir}",
            f"Settings and data hash: {output_dir / TRAINING_RECORD}",
        )


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""
    app.command("train", context_settings=CONTEXT_SETTINGS)(train_command)
