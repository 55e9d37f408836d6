"""Typed training configuration, loaded from YAML/JSON and overridable from the command line.

A config file has four top-level keys::

    model:    ModelConfig     (base checkpoint or a LLaMA initialised from config; LoRA)
    data:     DataConfig      (conversation file, max_length, per-epoch query shuffling)
    training: transformers.TrainingArguments fields, passed through unchanged
    effective_batch_size: optional; sets gradient_accumulation_steps from the world size

Overrides use dotted paths: ``{"training.learning_rate": 1e-4, "model.lora.r": 8}``.
Values are converted to the annotated type of the field, so ``2e-5`` (a string to YAML)
becomes a float and ``"3"`` from the command line an int.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

import srsly

from ..errors import Errors

# Defaults of ours where transformers' differ: no experiment tracker unless asked for.
TRAINING_DEFAULTS: Dict[str, Any] = {"report_to": "none"}


@dataclass
class ScratchModelConfig:
    """A LLaMA initialised from config, with a byte-level BPE trained on the training data."""

    vocab_size: int = 2000
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: Optional[int] = None
    max_position_embeddings: int = 2048


@dataclass
class LoraSettings:
    """Train low-rank adapters (peft) instead of all weights; merged into the saved model."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: Union[str, List[str]] = "all-linear"
    load_in_4bit: bool = False  # QLoRA: NF4 base weights (needs bitsandbytes and CUDA)


@dataclass
class ModelConfig:
    """The student: any ``AutoModelForCausalLM`` checkpoint, or ``scratch`` when none is given."""

    name_or_path: Optional[str] = None
    scratch: ScratchModelConfig = field(default_factory=ScratchModelConfig)
    torch_dtype: str = "float32"  # dtype of the loaded weights; mixed precision: training.bf16
    attn_implementation: Optional[str] = None  # for name_or_path; from scratch: the default
    trust_remote_code: bool = False
    lora: Optional[LoraSettings] = None


@dataclass
class DataConfig:
    """Conversations in the released Pile-NER format (``.json`` list or ``.jsonl``)."""

    train_file: Optional[str] = None
    max_length: int = 1024
    shuffle_queries: bool = True


@dataclass
class TrainConfig:
    """A whole training run; ``training`` holds the ``transformers.TrainingArguments``."""

    training: Any
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    effective_batch_size: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-serialisable record of every setting, TrainingArguments included."""
        return {
            "model": dataclasses.asdict(self.model),
            "data": dataclasses.asdict(self.data),
            "effective_batch_size": self.effective_batch_size,
            "training": self.training.to_dict(),
        }


def load_config(path: Union[str, Path, None] = None, overrides: Optional[Mapping[str, Any]] = None) -> TrainConfig:
    """Read a ``.yml``/``.yaml``/``.json`` config, apply dotted overrides and validate."""
    data: Dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(Errors.E701.format(path=path))
        if path.suffix in (".yml", ".yaml"):
            data = srsly.read_yaml(path) or {}
        elif path.suffix == ".json":
            data = srsly.read_json(path)
        else:
            raise ValueError(Errors.E702.format(path=path))
        if not isinstance(data, dict):
            raise ValueError(Errors.E703.format(path=path, type_name=type(data).__name__))
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value)
    return config_from_dict(data)


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig`; unknown keys and ill-typed values raise ``ValueError``."""
    from transformers import TrainingArguments

    data = dict(data)
    training = {**TRAINING_DEFAULTS, **(data.pop("training", None) or {})}
    if not training.get("output_dir"):
        raise ValueError(Errors.E704)
    config = _build(TrainConfig, {**data, "training": None}, "")
    config.training = _build(TrainingArguments, training, "training")
    if config.effective_batch_size is not None and config.effective_batch_size < 1:
        raise ValueError(
            Errors.E008.format(
                name="effective_batch_size", what="a positive integer", value=config.effective_batch_size
            )
        )
    if config.data.max_length < 1:
        raise ValueError(
            Errors.E008.format(name="data.max_length", what="a positive integer", value=config.data.max_length)
        )
    if config.model.lora is not None and config.model.name_or_path is None:
        raise ValueError(Errors.E706)
    return config


def parse_overrides(args: Sequence[str]) -> Dict[str, Any]:
    """Parse ``--section.key value``, ``--section.key=value`` and bare ``--flag`` (true).

    Values are read as YAML (``null``, ``true``, ``[a, b]``, numbers); strings stay strings.
    """
    overrides: Dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise ValueError(Errors.E707.format(arg=arg))
        key, sep, value = arg[2:].partition("=")
        if not sep:
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                value, i = args[i + 1], i + 1
            else:
                value = "true"
        overrides[key.replace("-", "_")] = srsly.yaml_loads(value) if value.strip() else value
        i += 1
    return overrides


def apply_effective_batch_size(args, effective_batch_size: int) -> None:
    """Set ``gradient_accumulation_steps`` so that per-device batch x devices x steps matches."""
    per_step = args.per_device_train_batch_size * args.world_size
    if effective_batch_size % per_step:
        raise ValueError(
            Errors.E708.format(
                effective=effective_batch_size,
                per_device=args.per_device_train_batch_size,
                world=args.world_size,
                per_step=per_step,
            )
        )
    args.gradient_accumulation_steps = effective_batch_size // per_step


def _set_dotted(data: Dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = data
    for name in parents:
        if not isinstance(node.get(name), dict):
            node[name] = {}
        node = node[name]
    node[leaf] = value


# Ours, not HfArgumentParser or TRL's: they take no nested dataclasses (model.lora.r), give no typo hints.
def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(Errors.E709.format(where=where or "config", type_name="a mapping", value=data))
    hints = get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(known))
    if unknown:
        suggestions = ""
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=3)
            if close:
                suggestions += f" Did you mean {' or '.join(_join(where, c) for c in close)}?"
        raise ValueError(
            Errors.E710.format(
                names=", ".join(_join(where, k) for k in unknown),
                hints=suggestions,
                where=where or "at the top level",
                valid=", ".join(known) if len(known) <= 12 else f"the fields of {cls.__name__}",
            )
        )
    values = {k: _coerce(v, hints[k], _join(where, k)) for k, v in data.items()}
    try:
        return cls(**values)
    except ValueError as e:  # the class's own checks, e.g. TrainingArguments.__post_init__
        raise ValueError(Errors.E705.format(where=where or "config", error=e)) from e


def _coerce(value: Any, tp: Any, where: str) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if len(options) != 1:
            return value  # e.g. Union[str, list]: passed through for the target to validate
        tp = options[0]
    if dataclasses.is_dataclass(tp):
        return value if isinstance(value, tp) else _build(tp, {} if value is None else value, where)
    try:
        if tp is bool and not isinstance(value, bool):
            raise TypeError
        if tp is int and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise TypeError
            return int(value)
        if tp is float and not isinstance(value, bool):
            return float(value)
        if tp is str and not isinstance(value, str):
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(Errors.E709.format(where=where, type_name=getattr(tp, "__name__", tp), value=value)) from None
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
