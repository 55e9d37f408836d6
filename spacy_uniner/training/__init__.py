"""Fine-tuning UniversalNER students: masking, datasets, typed config and the Trainer recipe."""

from .config import (
    DataConfig,
    LoraSettings,
    ModelConfig,
    ScratchModelConfig,
    TrainConfig,
    load_config,
)
from .data import ConversationDataset, PaddingCollator, encode, read_conversations
from .trainer import TRAINING_RECORD, train

__all__ = [
    "ConversationDataset",
    "DataConfig",
    "LoraSettings",
    "ModelConfig",
    "PaddingCollator",
    "ScratchModelConfig",
    "TRAINING_RECORD",
    "TrainConfig",
    "encode",
    "load_config",
    "read_conversations",
    "train",
]
